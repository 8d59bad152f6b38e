// The shared routing tables and the matching of one message to its deliveries.
#include "gateway/broker/router.hpp"

#include <optional>
#include <string>
#include <vector>

namespace perch::gateway {

std::unique_lock<std::shared_mutex> router::exclusive_section() {
    std::unique_lock lock(subscriptions_mutex_);
    exclusive_sections_.fetch_add(1, std::memory_order_relaxed);
    return lock;
}

route_result router::route(const mqtt::message_ptr& content, std::span<delivery_batch> outbox,
                           mqtt::match_output& scratch) {
    route_result result;
    if (content->is_retained) {
        std::lock_guard lock(retained_mutex_);
        result.retained = retained_.apply(content->topic_name, content, content->payload.empty());
    }

    const std::optional<mqtt::subscriber_id> publisher =
        content->origin != 0 ? std::optional<mqtt::subscriber_id>(content->origin) : std::nullopt;
    std::shared_lock lock(subscriptions_mutex_);
    subscriptions_.match(content->topic_name, scratch, publisher);
    for (const mqtt::match_result& match : scratch.subscribers()) {
        delivery_batch& batch = outbox[worker_of(match.subscriber)];
        delivery& target = batch.emplace_back();
        target.subscriber = match.subscriber;
        target.content = content;
        target.granted_qos = match.maximum_qos;
        target.is_retain_as_published = match.is_retain_as_published;
        if (!match.subscription_ids.empty()) {
            target.subscription_ids.assign(match.subscription_ids.begin(),
                                           match.subscription_ids.end());
        }
        ++result.delivery_count;
    }
    // One member of each shared group receives the message, in turn (MQTT 5.0 section 4.8.2).
    for (const mqtt::shared_match& group : scratch.shared_groups()) {
        if (group.members.empty()) {
            continue;
        }
        const mqtt::subscription_entry& member =
            group.members[group.rotation % group.members.size()];
        delivery_batch& batch = outbox[worker_of(member.subscriber)];
        delivery& target = batch.emplace_back();
        target.subscriber = member.subscriber;
        target.content = content;
        target.granted_qos = member.options.maximum_qos;
        target.is_retain_as_published = member.options.is_retain_as_published;
        if (member.subscription_id) {
            target.subscription_ids.push_back(*member.subscription_id);
        }
        ++result.delivery_count;
    }
    return result;
}

bool router::subscribe(mqtt::subscriber_id subscriber, std::string_view topic_filter,
                       const mqtt::subscription_options& options,
                       std::optional<std::uint32_t> subscription_id) {
    const auto lock = exclusive_section();
    return subscriptions_.subscribe(subscriber, topic_filter, options, subscription_id);
}

bool router::subscribe(mqtt::subscriber_id subscriber, const mqtt::parsed_filter& filter,
                       const mqtt::subscription_options& options,
                       std::optional<std::uint32_t> subscription_id) {
    const auto lock = exclusive_section();
    return subscriptions_.subscribe(subscriber, filter, options, subscription_id);
}

void router::subscribe(mqtt::subscriber_id subscriber, std::span<subscription_change> changes) {
    if (changes.empty()) {
        return;
    }
    const auto lock = exclusive_section();
    for (subscription_change& change : changes) {
        change.is_new = subscriptions_.subscribe(subscriber, change.filter, change.options,
                                                 change.subscription_id);
    }
}

bool router::holds(mqtt::subscriber_id subscriber, std::string_view topic_filter,
                   const mqtt::subscription_options& options) const {
    std::shared_lock lock(subscriptions_mutex_);
    const mqtt::subscription_entry* held = subscriptions_.find(subscriber, topic_filter);
    return held != nullptr && held->options == options && !held->subscription_id;
}

bool router::unsubscribe(mqtt::subscriber_id subscriber, std::string_view topic_filter) {
    const auto lock = exclusive_section();
    return subscriptions_.unsubscribe(subscriber, topic_filter);
}

std::vector<bool> router::unsubscribe(mqtt::subscriber_id subscriber,
                                      std::span<const std::string> topic_filters) {
    std::vector<bool> existed;
    existed.reserve(topic_filters.size());
    if (topic_filters.empty()) {
        return existed;
    }
    const auto lock = exclusive_section();
    for (const std::string& topic_filter : topic_filters) {
        existed.push_back(subscriptions_.unsubscribe(subscriber, topic_filter));
    }
    return existed;
}

std::size_t router::unsubscribe_some(mqtt::subscriber_id subscriber, std::size_t limit) {
    const auto lock = exclusive_section();
    return subscriptions_.unsubscribe_some(subscriber, limit);
}

void router::unsubscribe_all(mqtt::subscriber_id subscriber) {
    const auto lock = exclusive_section();
    subscriptions_.unsubscribe_all(subscriber);
}

void router::move_subscriptions(mqtt::subscriber_id from, mqtt::subscriber_id to,
                                const mqtt::subscription_table& table) {
    const auto lock = exclusive_section();
    // What the index holds beyond the session's own table (the chat layer's server-side
    // subscriptions) moves as it is: the session must not miss a message between the move and
    // its new connection holding them again, nor write them to the store again.
    struct carried {
        std::string topic_filter;
        mqtt::subscription_options options;
        std::optional<std::uint32_t> subscription_id;
    };
    std::vector<carried> held_beyond_table;
    for (std::string& topic_filter : subscriptions_.filters_of(from)) {
        if (table.contains(topic_filter)) {
            continue;
        }
        if (const mqtt::subscription_entry* entry = subscriptions_.find(from, topic_filter)) {
            held_beyond_table.push_back(
                {std::move(topic_filter), entry->options, entry->subscription_id});
        }
    }
    subscriptions_.unsubscribe_all(from);
    for (const carried& held : held_beyond_table) {
        subscriptions_.subscribe(to, held.topic_filter, held.options, held.subscription_id);
    }
    for (const auto& [topic_filter, held] : table) {
        const auto subscription_id = held.subscription_id != 0
                                         ? std::optional<std::uint32_t>(held.subscription_id)
                                         : std::nullopt;
        subscriptions_.subscribe(to, topic_filter, held.options, subscription_id);
    }
}

void router::collect_retained(std::string_view topic_filter,
                              std::vector<mqtt::message_ptr>& out) const {
    std::lock_guard lock(retained_mutex_);
    retained_.match(topic_filter, [&out](std::string_view, const mqtt::message_ptr& content) {
        out.push_back(content);
    });
}

std::size_t router::subscription_count() const {
    std::shared_lock lock(subscriptions_mutex_);
    return subscriptions_.subscription_count();
}

std::size_t router::retained_count() const {
    std::lock_guard lock(retained_mutex_);
    return retained_.size();
}

} // namespace perch::gateway
