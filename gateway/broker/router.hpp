// Decides who receives each message: the shared subscription index and the retained messages,
// each behind its own lock. Knows nothing about sockets or sessions; it fills per-worker delivery
// batches that the caller hands over.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/broker/delivery.hpp"
#include "mqtt/message.hpp"
#include "mqtt/retained_tree.hpp"
#include "mqtt/session.hpp"
#include "mqtt/subscription_tree.hpp"

namespace perch::gateway {

/// What route() did with one message.
struct route_result {
    /// Deliveries appended to the outbox.
    std::size_t delivery_count = 0;
    /// What happened to the retained message of the topic (when the message was retained).
    std::optional<mqtt::retained_update> retained;
};

/// One subscription for the batch form of router::subscribe.
struct subscription_change {
    /// Views the caller's characters, which must outlive the call.
    mqtt::parsed_filter filter;
    mqtt::subscription_options options;
    std::optional<std::uint32_t> subscription_id;
    /// Set by router::subscribe: true when the subscription is new [MQTT-3.8.4-3].
    bool is_new = false;
};

/// The routing tables shared by every worker. Thread-safe: matching takes a shared lock on the
/// subscription index and holds it only while matching (never while encoding or writing);
/// subscribe and unsubscribe take it exclusively, once per packet or slice rather than once per
/// filter. Retained messages have their own mutex.
class router {
public:
    router() = default;
    router(const router&) = delete;
    router& operator=(const router&) = delete;

    /// Matches `content` against every subscription and appends one delivery per target to
    /// outbox[worker_of(target)]; `outbox` must have one batch per worker. Shared groups get one
    /// member per message, round robin. No Local subscriptions of content->origin are skipped
    /// [MQTT-3.8.3-3]. A retained message also updates the retained store [MQTT-3.3.1-5];
    /// `scratch` is the calling thread's reusable match buffer.
    route_result route(const mqtt::message_ptr& content, std::span<delivery_batch> outbox,
                       mqtt::match_output& scratch);

    /// Adds or replaces a subscription; true when it is new [MQTT-3.8.4-3].
    bool subscribe(mqtt::subscriber_id subscriber, std::string_view topic_filter,
                   const mqtt::subscription_options& options,
                   std::optional<std::uint32_t> subscription_id);
    /// The same with `filter` already parsed (a SUBSCRIBE parses each filter once).
    bool subscribe(mqtt::subscriber_id subscriber, const mqtt::parsed_filter& filter,
                   const mqtt::subscription_options& options,
                   std::optional<std::uint32_t> subscription_id);

    /// Applies every change in `changes`, in order, in one exclusive section of the index (a
    /// SUBSCRIBE packet's filters, a restored session's): a worker matching meanwhile waits once
    /// rather than once per filter. Sets each change's is_new as the single form returns it (a
    /// filter named twice is new the first time only).
    void subscribe(mqtt::subscriber_id subscriber, std::span<subscription_change> changes);

    /// True when `subscriber` holds `topic_filter` with exactly `options` and no Subscription
    /// Identifier: subscribing again would change nothing.
    bool holds(mqtt::subscriber_id subscriber, std::string_view topic_filter,
               const mqtt::subscription_options& options) const;

    /// Removes one subscription; true when it existed [MQTT-3.10.4-1].
    bool unsubscribe(mqtt::subscriber_id subscriber, std::string_view topic_filter);

    /// Removes the subscriptions of `subscriber` to each of `topic_filters` in one exclusive
    /// section (an UNSUBSCRIBE packet's filters); element i of the result is true when the
    /// subscription to topic_filters[i] existed.
    std::vector<bool> unsubscribe(mqtt::subscriber_id subscriber,
                                  std::span<const std::string> topic_filters);

    /// Removes every subscription of `subscriber` in one exclusive section. A session's removal
    /// uses unsubscribe_some instead, which bounds the section.
    void unsubscribe_all(mqtt::subscriber_id subscriber);

    /// Subscriptions unsubscribe_some removes per exclusive section by default: tens of
    /// microseconds of holding the index, where a storm connection's 1,000 filters at once held
    /// it for about 350 (docs/DECISIONS.md "A session's subscriptions removed in slices").
    static constexpr std::size_t removal_slice = 64;

    /// Removes at most `limit` subscriptions of `subscriber` in one exclusive section; returns
    /// how many it still holds (0: all gone). The caller runs it again, between other work,
    /// until it returns 0.
    std::size_t unsubscribe_some(mqtt::subscriber_id subscriber, std::size_t limit = removal_slice);

    /// Re-registers the subscriptions of a session that moved from id `from` to id `to` in one
    /// exclusive section, so that no message published meanwhile misses the session: those of
    /// `table` (the session's own), and the ones `from` holds beyond it (held for it by the
    /// chat layer) as they are.
    void move_subscriptions(mqtt::subscriber_id from, mqtt::subscriber_id to,
                            const mqtt::subscription_table& table);

    /// Appends the retained messages whose topic matches `topic_filter` (without "$share/...").
    void collect_retained(std::string_view topic_filter, std::vector<mqtt::message_ptr>& out) const;

    /// Exclusive sections of the subscription index taken so far (each change holds the workers'
    /// matching back once): one per SUBSCRIBE or UNSUBSCRIBE packet, one per removal slice.
    std::uint64_t exclusive_section_count() const {
        return exclusive_sections_.load(std::memory_order_relaxed);
    }

    /// Number of subscriptions, for $SYS.
    std::size_t subscription_count() const;
    /// Number of retained messages, for $SYS.
    std::size_t retained_count() const;

private:
    /// Takes subscriptions_mutex_ exclusively and counts the section.
    std::unique_lock<std::shared_mutex> exclusive_section();

    // Owner: shared by all workers. Lock: subscriptions_mutex_ (shared for match, exclusive for
    // changes, through exclusive_section()).
    mutable std::shared_mutex subscriptions_mutex_;
    mqtt::subscription_tree subscriptions_;
    /// Counted under the exclusive lock; read without it.
    std::atomic<std::uint64_t> exclusive_sections_{0};
    // Owner: shared by all workers. Lock: retained_mutex_.
    mutable std::mutex retained_mutex_;
    mqtt::retained_tree<mqtt::message_ptr> retained_;
};

} // namespace perch::gateway
