// The plain records the store keeps: sessions, subscriptions, messages, queue entries, inbound
// QoS 2 packet identifiers and retained messages. Knows nothing about MQTT packets or SQL: the
// gateway converts its own types to and from these.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace perch::store {

/// Owned bytes (payloads, and property blocks the gateway encodes and the store never reads).
using byte_vector = std::vector<std::uint8_t>;

/// The will message of a session, kept with it until it is published or discarded.
struct stored_will {
    std::string topic;
    byte_vector payload;
    std::uint8_t qos = 0;
    bool is_retained = false;
    /// Will properties as the gateway encodes them; opaque to the store.
    byte_vector properties;
    /// Seconds between the end of the connection and publication of the will (5.0).
    std::uint32_t will_delay_interval_s = 0;
    bool operator==(const stored_will&) const = default;
};

/// One persistent session.
struct stored_session {
    std::string client_id;
    /// 4 = MQTT 3.1.1, 5 = MQTT 5.0.
    std::uint8_t protocol_level = 4;
    std::uint32_t session_expiry_interval_s = 0;
    /// When the session ends if its client stays away (Unix time, ms): the time its connection
    /// ended plus its Session Expiry Interval. 0 while it is connected, and for a session that
    /// never expires. load() deletes a session whose time has passed.
    std::uint64_t expires_at_unix_ms = 0;
    /// When its last connection ended (Unix time, ms); 0 while it is connected. A will's delay
    /// counts from here.
    std::uint64_t disconnected_at_unix_ms = 0;
    /// The packet identifier the session's in-flight window allocates next.
    std::uint16_t next_packet_id = 1;
    /// The will still owed for this session, if any. After a restart every session with a will is
    /// a pending will: the gateway decides when to publish it.
    std::optional<stored_will> will;
    /// Whose session this is: the chat user it belongs to, or empty for a client outside the chat
    /// layer. Absent for a session stored before owners were recorded (its client id then names
    /// its owner). A session is never resumed by another identity.
    std::optional<std::string> owner;
    bool operator==(const stored_session&) const = default;
};

/// One subscription of a session; (client_id, topic_filter) is its key.
struct stored_subscription {
    std::string client_id;
    std::string topic_filter;
    /// The subscription options byte as the SUBSCRIBE packet carries it (QoS, No Local, Retain As
    /// Published, Retain Handling).
    std::uint8_t options = 0;
    /// The Subscription Identifier (5.0); 0 for none.
    std::uint32_t subscription_id = 0;
    bool operator==(const stored_subscription&) const = default;
};

/// One application message. A queued message is kept once however many queues hold it.
struct stored_message {
    /// Assigned by the store at enqueue (increasing, never 0); the caller's value is ignored there.
    /// Identifiers of messages that were never written may be handed out again after a restart.
    std::uint64_t message_id = 0;
    std::string topic;
    byte_vector payload;
    /// The QoS the message was published with.
    std::uint8_t qos = 0;
    /// The RETAIN flag it was published with.
    bool is_retained = false;
    /// PUBLISH properties as the gateway encodes them; opaque to the store.
    byte_vector properties;
    /// When the message expires (Unix time, ms); 0 = never.
    std::uint64_t expiry_unix_ms = 0;
    /// When the broker received it (Unix time, ms).
    std::uint64_t created_unix_ms = 0;
    bool operator==(const stored_message&) const = default;
};

/// Where a queued delivery stands. The numeric values are stored on disk: never renumber.
enum class delivery_state : std::uint8_t {
    /// Not sent yet (or sent as QoS 0 material still owed); has no packet identifier.
    queued = 0,
    /// QoS 1 PUBLISH sent, PUBACK awaited.
    awaiting_puback = 1,
    /// QoS 2 PUBLISH sent, PUBREC awaited.
    awaiting_pubrec = 2,
    /// QoS 2 PUBREL sent, PUBCOMP awaited.
    awaiting_pubcomp = 3,
};

/// A recipient of an enqueued message: whose queue, and how the message is delivered there.
struct queue_target {
    std::string client_id;
    /// The QoS of this delivery (already reduced to the granted QoS).
    std::uint8_t qos = 0;
    /// The RETAIN flag this delivery carries.
    bool is_retained = false;
    /// Subscription Identifiers of the matching subscriptions (5.0).
    std::vector<std::uint32_t> subscription_ids;
    bool operator==(const queue_target&) const = default;
};

/// One row of a session's queue: a message owed to one client.
struct queue_entry {
    std::string client_id;
    /// Assigned by the store at enqueue: unique in the store and increasing, so a session's queue
    /// in sequence order is its delivery order. Never 0. Like message identifiers, sequences of
    /// entries that were never written may be handed out again after a restart.
    std::uint64_t sequence = 0;
    std::uint64_t message_id = 0;
    /// The packet identifier once sent; 0 while queued.
    std::uint16_t packet_id = 0;
    delivery_state state = delivery_state::queued;
    std::uint8_t qos = 0;
    bool is_retained = false;
    std::vector<std::uint32_t> subscription_ids;
    bool operator==(const queue_entry&) const = default;
};

/// A QoS 2 PUBLISH received from a client whose PUBREL has not arrived yet [MQTT-4.3.3-10 (5.0)]:
/// a resent PUBLISH with this packet identifier must not be delivered again.
struct stored_inbound_qos2 {
    std::string client_id;
    std::uint16_t packet_id = 0;
    bool operator==(const stored_inbound_qos2&) const = default;
};

/// A queue entry and the message it delivers. Entries of one message share one stored_message.
struct loaded_queue_entry {
    queue_entry entry;
    std::shared_ptr<const stored_message> message;
};

/// Everything the store holds for one session.
struct loaded_session {
    stored_session session;
    /// Ordered by topic filter.
    std::vector<stored_subscription> subscriptions;
    /// In delivery order (by sequence): in-flight entries first as they were sent, then queued.
    std::vector<loaded_queue_entry> queue;
    /// Packet identifiers of inbound QoS 2 messages awaiting PUBREL, ascending.
    std::vector<std::uint16_t> inbound_qos2_packet_ids;
};

/// The whole durable state, as load() returns it at start-up.
struct loaded_state {
    /// Ordered by client identifier. Sessions with `session.will` set are the pending wills.
    std::vector<loaded_session> sessions;
    /// Retained messages ordered by topic.
    std::vector<stored_message> retained;
    /// Queued entries and retained messages removed by this load because they had expired.
    std::uint64_t expired_messages = 0;
    /// Sessions this load deleted because their expiry time had passed while the store was
    /// closed, ordered by client identifier; those carrying a will still owe it (the will is
    /// published no later than the end of its session).
    std::vector<stored_session> expired_sessions;
};

} // namespace perch::store
