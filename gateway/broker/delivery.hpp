// A message on its way to one subscriber on some worker, and the batches such deliveries travel
// in between workers. Plain values; the router fills them, the target worker consumes them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "mqtt/message.hpp"
#include "mqtt/subscription_options.hpp"
#include "mqtt/subscription_tree.hpp"

namespace perch::gateway {

/// Bits of a subscriber id that name the worker owning the session; the rest is a sequence
/// number. A session that moves to another worker gets a new id there.
inline constexpr unsigned worker_index_bits = 10;
/// The largest number of workers subscriber ids can tell apart.
inline constexpr std::size_t max_workers = std::size_t{1} << worker_index_bits;

/// The worker that owns the session with id `subscriber`.
constexpr std::size_t worker_of(mqtt::subscriber_id subscriber) {
    return static_cast<std::size_t>(subscriber & (max_workers - 1));
}

/// The id of the `sequence`-th session created on worker `worker_index`.
constexpr mqtt::subscriber_id make_subscriber_id(std::uint64_t sequence, std::size_t worker_index) {
    return (sequence << worker_index_bits) | static_cast<std::uint64_t>(worker_index);
}

/// One message for one subscriber: the shared message plus what the matching subscriptions ask.
struct delivery {
    mqtt::subscriber_id subscriber = 0;
    /// Shared by every delivery of the message; never copied.
    mqtt::message_ptr content;
    /// Highest QoS granted among the matching subscriptions.
    mqtt::qos granted_qos = mqtt::qos::at_most_once;
    bool is_retain_as_published = false;
    /// True for a retained message sent because a subscription was just made.
    bool is_retained_at_subscribe = false;
    /// Subscription Identifiers of the matching subscriptions (5.0); usually empty, so no
    /// allocation.
    std::vector<std::uint32_t> subscription_ids;
    /// The entry of the recipient's store queue holding this delivery; 0 when it is not stored
    /// (the recipient is not a persistent session, or QoS 0).
    std::uint64_t store_sequence = 0;
    /// A QoS 1 chat message to a chat user's persistent session: not in the store queue, its
    /// history row backs it (chat_cursors.hpp).
    bool is_history_backed = false;
};

/// Deliveries for the sessions of one worker, handed over with one post.
using delivery_batch = std::vector<delivery>;

} // namespace perch::gateway
