// The durable store as the rest of Perch sees it: operations on sessions, subscriptions, queues
// and retained messages, with a completion per operation. No SQL or backend type appears here.
//
// Theory of operation. Callers submit operations from any thread; a submit never waits for the
// disk. Each operation's completion fires exactly once: with ok after the operation is durable
// (for the SQLite store: after the group commit that carries it), or with a failure status. The
// gateway acknowledges to a client (PUBACK, PUBREC, SUBACK, CONNACK of a persistent session) only
// from an ok completion. Operations are applied in submission order.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "store/records.hpp"
#include "store/store_counters.hpp"
#include "store/store_open_error.hpp"
#include "store/store_options.hpp"
#include "store/store_status.hpp"

namespace perch::store {

/// What enqueue() decided, known before the operation is written.
struct enqueue_receipt {
    /// The identifier the store gave the message (0 when every target was refused).
    std::uint64_t message_id = 0;
    /// One per target, in the order given: the sequence of its new queue entry, or 0 when the
    /// target's queue was at its cap and the message was not queued for it.
    std::vector<std::uint64_t> sequences;
    /// How many targets were refused for quota.
    std::size_t refused_for_quota = 0;
};

/// Receives what read_queue() found: ok, or the failure of a write submitted before the read (the
/// entries are then what is durable so far). Runs on the store's thread.
using queue_read_completion =
    std::function<void(const store_status& status, std::vector<loaded_queue_entry> entries)>;

/// The durable store. Every member is safe to call from any thread.
class message_store {
public:
    virtual ~message_store() = default;

    /// Returns everything the store holds, after deleting the sessions whose expires_at_unix_ms
    /// is set and at or before `now_unix_ms` (with all they own; returned in expired_sessions),
    /// and queued entries (not yet sent) and retained messages whose expiry is at or before
    /// `now_unix_ms` [MQTT-3.3.2-5 (5.0)].
    /// Operations submitted earlier are written first. Meant for start-up. Throws
    /// store_open_error when the state cannot be read.
    virtual loaded_state load(std::uint64_t now_unix_ms) = 0;

    /// Creates or replaces the session record with the same client identifier.
    virtual void save_session(stored_session session, store_completion done = {}) = 0;

    /// Deletes a session with its subscriptions, queue entries and inbound QoS 2 identifiers;
    /// messages no other queue holds go too. Unknown identifiers are not an error.
    virtual void delete_session(std::string client_id, store_completion done = {}) = 0;

    /// Creates or replaces the subscription (client_id, topic_filter).
    virtual void add_subscription(stored_subscription subscription, store_completion done = {}) = 0;

    /// Deletes the subscription (client_id, topic_filter) if it exists.
    virtual void remove_subscription(std::string client_id, std::string topic_filter,
                                     store_completion done = {}) = 0;

    /// Queues `message` for each target, one shared message row for all of them. A target whose
    /// queue is at its cap (store_options::max_queued_messages / max_queued_bytes) is refused:
    /// its sequence in the receipt is 0 and refused_for_quota counts it, and the caller must not
    /// acknowledge the publish as delivered to it. The message identifier and sequences are
    /// assigned at once; `done` fires when the accepted entries are durable.
    virtual enqueue_receipt enqueue(const std::vector<queue_target>& targets,
                                    stored_message message, store_completion done = {}) = 0;

    /// Reads up to `max_count` entries of the queue of `client_id` whose sequence is above
    /// `after_sequence`, in sequence order, with their messages, once every operation submitted
    /// before the call is written (it may also see some submitted after). Entries are enqueued in
    /// sequence order: a read that sees an entry sees every entry of lower sequence that was not
    /// acknowledged. For a session whose queue the gateway does not hold in memory.
    virtual void read_queue(std::string client_id, std::uint64_t after_sequence,
                            std::size_t max_count, queue_read_completion done) = 0;

    /// Records that the entry `sequence` of `client_id` was sent with `packet_id` and now stands
    /// at `state` (also for PUBREC → PUBREL: awaiting_pubcomp). Unknown entries are ignored.
    virtual void mark_sent(std::string client_id, std::uint64_t sequence, std::uint16_t packet_id,
                           delivery_state state, store_completion done = {}) = 0;

    /// Deletes the entry `sequence` of `client_id` (its delivery is complete, or abandoned); the
    /// message goes when no queue holds it any more. An entry acknowledged before its enqueue was
    /// written is never written. Unknown entries are ignored.
    virtual void ack(std::string client_id, std::uint64_t sequence, store_completion done = {}) = 0;

    /// Creates or replaces the retained message of `message.topic`.
    virtual void put_retained(stored_message message, store_completion done = {}) = 0;

    /// Deletes the retained message of `topic` if there is one.
    virtual void clear_retained(std::string topic, store_completion done = {}) = 0;

    /// Records an inbound QoS 2 packet identifier awaiting PUBREL.
    virtual void add_inbound_qos2(stored_inbound_qos2 record, store_completion done = {}) = 0;

    /// Forgets an inbound QoS 2 packet identifier (PUBREL received).
    virtual void remove_inbound_qos2(stored_inbound_qos2 record, store_completion done = {}) = 0;

    /// Deletes queued entries not yet sent whose message expired at or before `now_unix_ms`
    /// [MQTT-3.3.2-5 (5.0)], and expired retained messages; counted in expired_messages.
    virtual void expire_messages(std::uint64_t now_unix_ms, store_completion done = {}) = 0;

    /// Blocks until every operation submitted before the call has completed (committed or
    /// failed).
    virtual void flush() = 0;

    /// A snapshot of the counters.
    virtual store_counters counters() const = 0;
};

/// Opens the store `options` describe: the memory store for durability_level::none, otherwise
/// the SQLite store at options.path. Throws store_open_error when it cannot be opened.
std::unique_ptr<message_store> open_message_store(const store_options& options);

} // namespace perch::store
