// Relay copies out, checks of relay copies in, and the device counts of the other origins.
#include "gateway/chat/chat_relay.hpp"

#include <algorithm>
#include <charconv>

#include "gateway/chat/chat_directory.hpp"
#include "gateway/chat/chat_policy.hpp"
#include "gateway/chat/chat_topic.hpp"

namespace perch::gateway {
namespace {

std::uint64_t number_property(const mqtt::message& content, std::string_view name) {
    for (const mqtt::user_property& property : content.props.user_properties) {
        if (property.name == name) {
            std::uint64_t value = 0;
            std::from_chars(property.value.data(), property.value.data() + property.value.size(),
                            value);
            return value;
        }
    }
    return 0;
}

/// The message a verified relay copy routes here: as the origin routed it.
mqtt::message_ptr routed_copy(relay_message& message) {
    auto content = std::make_shared<mqtt::message>();
    content->topic_name = std::move(message.topic);
    content->payload = mqtt::shared_bytes::copy_of(mqtt::byte_view(message.payload));
    content->qos_level = message.qos >= 2   ? mqtt::qos::exactly_once
                         : message.qos == 1 ? mqtt::qos::at_least_once
                                            : mqtt::qos::at_most_once;
    content->props.payload_format_indicator = message.payload_format_indicator;
    content->props.content_type = std::move(message.content_type);
    content->props.response_topic = std::move(message.response_topic);
    content->props.correlation_data = std::move(message.correlation_data);
    for (auto& [name, value] : message.user_properties) {
        content->props.user_properties.push_back({std::move(name), std::move(value)});
    }
    return content;
}

} // namespace

std::string relay_topic(std::string_view origin, std::string_view kind) {
    std::string topic = "chat/relay/";
    topic += origin;
    topic += '/';
    topic += kind;
    return topic;
}

void chat_relay::set_origin(std::string origin) {
    origin_ = std::move(origin);
}

void chat_relay::set_key(std::vector<std::uint8_t> key) {
    key_ = std::move(key);
}

mqtt::message_ptr chat_relay::make_relay_copy(std::string_view kind,
                                              const relay_envelope& envelope) const {
    auto content = std::make_shared<mqtt::message>();
    content->topic_name = relay_topic(origin_, kind);
    content->payload =
        mqtt::shared_bytes::copy_of(mqtt::byte_view(encode_relay_envelope(envelope, key_)));
    content->qos_level = mqtt::qos::at_least_once;
    return content;
}

mqtt::message_ptr chat_relay::offer(const mqtt::message& stamped, std::string_view conversation,
                                    std::uint64_t id, std::string_view sender) const {
    if (!is_enabled()) {
        return nullptr;
    }
    relay_message message;
    message.origin = origin_;
    message.conversation = std::string(conversation);
    message.id = id;
    message.ts_unix_ms = number_property(stamped, "ts");
    message.sender = std::string(sender);
    message.topic = stamped.topic_name;
    message.qos = static_cast<std::uint8_t>(stamped.qos_level);
    message.payload_format_indicator = stamped.props.payload_format_indicator;
    message.content_type = stamped.props.content_type;
    message.response_topic = stamped.props.response_topic;
    message.correlation_data = stamped.props.correlation_data;
    for (const mqtt::user_property& property : stamped.props.user_properties) {
        message.user_properties.emplace_back(property.name, property.value);
    }
    const mqtt::byte_view payload = stamped.payload.view();
    message.payload.assign(payload.begin(), payload.end());
    return make_relay_copy("message", message);
}

mqtt::message_ptr chat_relay::presence_update(std::string_view user, std::uint64_t devices) const {
    if (!is_enabled()) {
        return nullptr;
    }
    relay_presence presence;
    presence.origin = origin_;
    presence.device_counts.emplace_back(std::string(user), devices);
    return make_relay_copy("presence", presence);
}

mqtt::message_ptr
chat_relay::presence_snapshot(std::vector<std::pair<std::string, std::uint64_t>> counts,
                              bool asks_snapshots) const {
    if (!is_enabled()) {
        return nullptr;
    }
    relay_presence presence;
    presence.origin = origin_;
    presence.is_snapshot = true;
    presence.asks_snapshots = asks_snapshots;
    presence.device_counts = std::move(counts);
    return make_relay_copy("presence", presence);
}

relay_outcome chat_relay::drop(std::string reason) {
    dropped_.fetch_add(1, std::memory_order_relaxed);
    return relay_drop{std::move(reason)};
}

relay_outcome chat_relay::accept(std::string_view topic_name, mqtt::byte_view payload,
                                 const chat_directory& directory, std::uint64_t now_unix_ms) {
    const chat_topic topic = parse_chat_topic(topic_name);
    if (topic.kind != chat_topic_kind::relay) {
        return drop("not a relay topic");
    }
    if (topic.origin == origin_) {
        // Ours, come back: history and the local subscribers have it already.
        return drop("this gateway's own origin");
    }
    auto decoded = decode_relay_envelope(payload, key_);
    if (auto* refusal = std::get_if<relay_refusal>(&decoded)) {
        return drop(std::move(refusal->reason));
    }
    relay_envelope& envelope = std::get<relay_envelope>(decoded);
    if (auto* message = std::get_if<relay_message>(&envelope)) {
        if (topic.relay_kind != "message") {
            return drop("a message on a presence topic");
        }
        return check_message(std::move(*message), topic.origin, directory, now_unix_ms);
    }
    const relay_presence& presence = std::get<relay_presence>(envelope);
    if (topic.relay_kind != "presence" || presence.origin != topic.origin) {
        return drop("the envelope's origin or kind is not its topic's");
    }
    return apply_presence(presence);
}

relay_outcome chat_relay::check_message(relay_message message, std::string_view topic_origin,
                                        const chat_directory& directory,
                                        std::uint64_t now_unix_ms) {
    if (message.origin != topic_origin) {
        return drop("the envelope's origin is not its topic's");
    }
    const chat_topic stamped = parse_chat_topic(message.topic);
    if (conversation_of(stamped) != message.conversation || stamped.sender != message.sender ||
        message.id == 0) {
        return drop("the envelope's topic, conversation, sender and id disagree");
    }
    // The sender rules of docs/CHAT.md, as here and now: an unknown user, a room the sender is
    // not a member of or muted in, an unknown recipient.
    if (!chat_may_publish(directory, message.sender, message.topic)) {
        return drop("sender '" + message.sender + "' may not post on '" + message.topic + "'");
    }
    if (directory.bans()->find({message.sender, {}, {}}, now_unix_ms) != nullptr) {
        return drop("sender '" + message.sender + "' is banned");
    }
    relayed_message relayed;
    relayed.conversation = std::move(message.conversation);
    relayed.id = message.id;
    relayed.origin = std::move(message.origin);
    relayed.content = routed_copy(message);
    return relayed;
}

relayed_presence chat_relay::apply_presence(const relay_presence& presence) {
    relayed_presence applied;
    applied.origin = presence.origin;
    applied.asks_snapshot = presence.asks_snapshots;
    std::lock_guard lock(counts_mutex_);
    auto& counts = counts_by_origin_[presence.origin];
    if (presence.is_snapshot) {
        for (const auto& [user, count] : counts) {
            applied.changed_users.push_back(user);
        }
        counts.clear();
    }
    for (const auto& [user, count] : presence.device_counts) {
        const auto found = counts.find(user);
        const std::uint64_t before = found == counts.end() ? 0 : found->second;
        if (count == 0) {
            if (found != counts.end()) {
                counts.erase(found);
            }
        } else {
            counts.insert_or_assign(user, count);
        }
        if (before != count || presence.is_snapshot) {
            applied.changed_users.push_back(user);
        }
    }
    if (counts.empty()) {
        counts_by_origin_.erase(presence.origin);
    }
    std::sort(applied.changed_users.begin(), applied.changed_users.end());
    applied.changed_users.erase(
        std::unique(applied.changed_users.begin(), applied.changed_users.end()),
        applied.changed_users.end());
    return applied;
}

std::uint64_t chat_relay::remote_device_count(std::string_view user) const {
    std::lock_guard lock(counts_mutex_);
    std::uint64_t total = 0;
    for (const auto& [origin, counts] : counts_by_origin_) {
        if (const auto found = counts.find(user); found != counts.end()) {
            total += found->second;
        }
    }
    return total;
}

std::vector<std::string> chat_relay::forget_remote_counts() {
    std::vector<std::string> changed;
    std::lock_guard lock(counts_mutex_);
    for (const auto& [origin, counts] : counts_by_origin_) {
        for (const auto& [user, count] : counts) {
            changed.push_back(user);
        }
    }
    counts_by_origin_.clear();
    std::sort(changed.begin(), changed.end());
    changed.erase(std::unique(changed.begin(), changed.end()), changed.end());
    return changed;
}

} // namespace perch::gateway
