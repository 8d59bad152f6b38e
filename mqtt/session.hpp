// Protocol state machine of one MQTT client (3.1.1 and 5.0): bytes, packets, deliveries and time
// in; packets to send and decisions for the gateway out. Knows nothing about sockets, threads,
// clocks, storage or logging.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <variant>
#include <vector>

#include "mqtt/bytes.hpp"
#include "mqtt/deadline.hpp"
#include "mqtt/decoder.hpp"
#include "mqtt/inflight_window.hpp"
#include "mqtt/lazy_deque.hpp"
#include "mqtt/lazy_map.hpp"
#include "mqtt/lazy_vector.hpp"
#include "mqtt/message.hpp"
#include "mqtt/packet.hpp"
#include "mqtt/publish_sink.hpp"
#include "mqtt/reason_code.hpp"
#include "mqtt/subscription_options.hpp"
#include "mqtt/topic_alias.hpp"

namespace perch::mqtt {

/// What the server allows every client (from configuration). Defaults are the shipped defaults.
struct session_limits {
    /// Receive Maximum announced in CONNACK: unacknowledged QoS 1/2 PUBLISH packets the client may
    /// have outstanding towards the server. 1024 keeps a fast publisher busy without letting it
    /// pile up unbounded work; the protocol default (65535) is not announced.
    std::uint16_t receive_maximum = 1024;
    /// Topic Alias Maximum announced in CONNACK (aliases the client may set); 0 disables.
    std::uint16_t topic_alias_maximum = 64;
    /// Largest packet the server accepts, fixed header included; announced in CONNACK (5.0).
    std::uint32_t maximum_packet_size = 1024 * 1024;
    /// Largest first packet (the CONNECT), fixed header included, while no CONNECT has been
    /// accepted: refused as soon as its fixed header shows the size, so that a client that has
    /// not logged in cannot make the server hold more than this. 16 KiB holds a CONNECT with
    /// credentials, a will and properties.
    std::uint32_t max_connect_packet_size = 16 * 1024;
    /// Highest QoS the server accepts in PUBLISH and Will.
    qos maximum_qos = qos::exactly_once;
    bool is_retain_available = true;
    bool is_wildcard_subscription_available = true;
    bool is_subscription_identifier_available = true;
    bool is_shared_subscription_available = true;
    /// When set, replaces the client's Keep Alive and is sent as Server Keep Alive (5.0 only).
    std::optional<std::uint16_t> server_keep_alive_seconds;
    /// How long a new connection may take to send CONNECT.
    std::chrono::milliseconds connect_timeout{10'000};
    /// Upper bound for the Session Expiry Interval a 5.0 client asks for, and the interval given
    /// to a 3.1.1 session with Clean Session 0 (0xFFFFFFFF: never expires).
    std::uint32_t maximum_session_expiry_interval = 0xFFFF'FFFF;
    /// Cap on QoS 1/2 deliveries in flight to one client, whatever its Receive Maximum; the only
    /// window a 3.1.1 client has.
    std::uint16_t outbound_inflight_maximum = 1024;
    /// Aliases the server itself assigns to topics it sends (capped by the client's Topic Alias
    /// Maximum; session::choose_topic_alias); 0 sends every topic in full.
    std::uint16_t outbound_topic_alias_maximum = 16;
    /// Outbound messages held while the client's Receive Maximum window is full or the client is
    /// away; past either bound QoS 0 is dropped first, then handle_delivery reports queue_full.
    std::size_t max_queued_messages = 1000;
    std::size_t max_queued_bytes = 16 * 1024 * 1024;
    /// Whether QoS 0 messages are queued for a disconnected client (3.1.1 3.1.2.4 allows either).
    bool is_queueing_qos0_offline = false;
};

/// One subscription the session holds (filter in session_state::subscriptions).
struct subscription {
    /// Requested options; maximum_qos is the granted QoS.
    subscription_options options;
    /// Subscription Identifier (5.0), 0 when none [MQTT-3.8.2.1.2].
    std::uint32_t subscription_id = 0;
    bool operator==(const subscription&) const = default;
};

/// Topic filter -> subscription; one pointer while empty.
using subscription_table = lazy_map<std::string, subscription, std::less<>>;

/// A delivery waiting for room in the client's Receive Maximum window or for the client to
/// reconnect. The message is not yet assigned a packet identifier.
struct queued_delivery {
    message_ptr content;
    /// The QoS to send with (already downgraded to the granted QoS).
    qos qos_level = qos::at_most_once;
    /// The RETAIN flag to send with.
    bool is_retained = false;
    std::vector<std::uint32_t> subscription_ids;
};

/// Inbound QoS 2 packet identifier the server holds until PUBREL (MQTT 4.3.3, method B).
struct inbound_qos2 {
    std::uint16_t packet_id = 0;
    /// False while routing (complete_publish) is pending, true once PUBREC was sent.
    bool is_pubrec_sent = false;
    bool operator==(const inbound_qos2&) const = default;
};

/// The part of a session that outlives its network connection [MQTT-3.1.2-4 (3.1.1), 4.1 (5.0)]
/// and that a store persists. Movable; handed from one connection's session to the next.
struct session_state {
    std::string client_id;
    protocol_version version = protocol_version::v5;
    /// Seconds the state is kept after the connection closes; 0xFFFFFFFF: forever.
    std::uint32_t session_expiry_interval = 0;
    /// Topic filter -> subscription.
    subscription_table subscriptions;
    /// Outbound QoS 1/2 deliveries sent and not yet fully acknowledged, oldest first.
    inflight_window inflight;
    /// Outbound deliveries not yet sent, oldest first.
    lazy_deque<queued_delivery> queued;
    /// Sum of payload and topic sizes of `queued`, for max_queued_bytes.
    std::size_t queued_bytes = 0;
    /// Inbound QoS 2 identifiers awaiting PUBREL, sorted by packet_id.
    lazy_vector<inbound_qos2> inbound_qos2_received;
    /// Grows whenever a delivery leaves `queued` (sent, expired, dropped), enters, changes stage in
    /// or leaves `inflight`, or the state is replaced; appends to `queued` leave it alone. An
    /// observer that mirrors the deliveries (the gateway's store ledger) compares it with the
    /// value it last saw and skips its comparison when only appends happened.
    std::uint64_t change_count = 0;
};

/// How one subscription asks for a message to be delivered (from the router's match).
struct delivery_options {
    /// The subscription's granted QoS; the delivery goes out at min(message QoS, this)
    /// [MQTT-3.8.4-8 (5.0), MQTT-3.8.4-6 (3.1.1)].
    qos granted_qos = qos::exactly_once;
    /// No Local: skip messages this connection published [MQTT-3.8.3-3 (5.0)].
    bool is_no_local = false;
    /// Retain As Published [MQTT-3.3.1-12, MQTT-3.3.1-13 (5.0)].
    bool is_retain_as_published = false;
    /// True for a retained message sent because a subscription was made: its RETAIN flag is kept
    /// [MQTT-3.3.1-8 (3.1.1), MQTT-3.3.1-9 (5.0)].
    bool is_retained_at_subscribe = false;
    /// Subscription Identifiers of the matching subscriptions (5.0); read during the call only.
    std::span<const std::uint32_t> subscription_ids;
};

/// What happened to one handle_delivery.
enum class delivery_outcome : std::uint8_t {
    /// A PUBLISH was queued as send_packet.
    sent,
    /// Held until the Receive Maximum window has room or the client reconnects.
    queued,
    /// No Local subscription and the message came from this connection; nothing to do.
    skipped_no_local,
    /// The message expired before it could be sent (counted).
    dropped_expired,
    /// Larger than the client's Maximum Packet Size (counted) [MQTT-3.1.2-25 (5.0)].
    dropped_too_large,
    /// QoS 0 dropped because the queue is full or the client is away (counted).
    dropped_qos0,
    /// QoS 1/2 that does not fit the queue. Not counted as lost: a persistent session's gateway
    /// spills it to the store; for a connected non-persistent session the session has also queued
    /// DISCONNECT 0x97 Quota exceeded and close_connection.
    queue_full,
    /// The session is closed or expired; nothing was kept.
    closed,
};

/// Send this packet, encoded at session::version().
struct send_packet {
    packet content;
    bool operator==(const send_packet&) const = default;
};

/// A valid CONNECT arrived: authenticate, find any existing session for its client id (take it
/// over), then call accept_connect or refuse_connect. Holds the CONNECT (credentials included).
/// Always answered, even when the connection is lost meanwhile, so that a session taken over
/// from another connection is not lost.
struct connect_requested {
    connect request;
    bool operator==(const connect_requested&) const = default;
};

/// Route an inbound application message. For QoS 1/2 call complete_publish(packet_id, ...) once it
/// is routed (and committed where the durability contract requires); packet_id is 0 for QoS 0.
struct route_publish {
    message_ptr content;
    std::uint16_t packet_id = 0;
    bool operator==(const route_publish&) const = default;
};

/// Check and apply a SUBSCRIBE (authorization, subscription index, retained messages), then call
/// complete_subscribe with one reason per entry. Filters and options are already validated.
struct subscribe_requested {
    subscribe request;
    bool operator==(const subscribe_requested&) const = default;
};

/// Apply an UNSUBSCRIBE, then call complete_unsubscribe with one reason per filter.
struct unsubscribe_requested {
    unsubscribe request;
    bool operator==(const unsubscribe_requested&) const = default;
};

/// Publish the session's Will Message now [MQTT-3.1.2-8].
struct publish_will {
    message_ptr content;
    bool operator==(const publish_will&) const = default;
};

/// Close the network connection. Any CONNACK or DISCONNECT to send was queued before this as
/// send_packet. `reason` says why (success for a client DISCONNECT); `rule` names the normative
/// statement behind it, empty when none.
struct close_connection {
    reason_code reason = reason_code::success;
    std::string_view rule;
    bool operator==(const close_connection&) const = default;
};

/// The session has ended (expiry, or clean start elsewhere): discard its subscriptions and stored
/// state. Comes after any publish_will.
struct session_expired {
    bool operator==(const session_expired&) const = default;
};

/// One decision for the gateway.
using session_action =
    std::variant<send_packet, connect_requested, route_publish, subscribe_requested,
                 unsubscribe_requested, publish_will, close_connection, session_expired>;

/// The gateway's answer to connect_requested when the client may connect.
struct connect_acceptance {
    /// The stored session to resume; empty for a new session. Ignored (and the session reported as
    /// new) when the CONNECT had Clean Start 1 [MQTT-3.1.2-4 (5.0), MQTT-3.1.2-6 (3.1.1)].
    std::optional<session_state> restored;
    /// The client identifier the server chose when CONNECT had an empty one; if empty then, the
    /// session makes one from its connection id [MQTT-3.1.3-6 (3.1.1, 5.0)].
    std::string assigned_client_identifier;
    /// Extra CONNACK properties (5.0), such as response_information or reason_string. Those the
    /// session sets itself (limits, assigned identifier, keep alive) overwrite these.
    properties connack_properties;
};

/// Where the state machine stands (see the theory of operation in session.cpp).
enum class session_phase : std::uint8_t {
    awaiting_connect,
    authorizing,
    connected,
    disconnected,
    closed,
};

/// Counts of what the session refused or dropped; nothing is lost silently.
struct session_counters {
    std::uint64_t dropped_qos0 = 0;
    std::uint64_t dropped_expired = 0;
    std::uint64_t dropped_too_large = 0;
    std::uint64_t queue_full = 0;
    std::uint64_t protocol_violations = 0;
    bool operator==(const session_counters&) const = default;
};

/// One client's protocol endpoint and session state.
///
/// Feed it with handle_* and the gateway's completion calls, then drain poll_action() until it
/// returns empty and re-arm a timer at poll_deadline(). Every call is on the owning worker thread.
/// Bad input is never an exception: it becomes send_packet (CONNACK/DISCONNECT where the protocol
/// level allows) followed by close_connection, and the session stops reading.
class session {
public:
    /// A new network connection accepted at `now`; `connection_id` identifies it (No Local,
    /// message origin) and must not be 0.
    session(const session_limits& limits, std::uint64_t connection_id, time_point now);
    /// The same with `limits` shared, not copied: every connection accepted under one
    /// configuration holds the same ones.
    static session sharing_limits(std::shared_ptr<const session_limits> limits,
                                  std::uint64_t connection_id, time_point now);

    session(session&&) = default;
    session& operator=(session&&) = default;
    session(const session&) = delete;
    session& operator=(const session&) = delete;
    ~session();

    // ---- inputs --------------------------------------------------------------------------

    /// Bytes read from the connection. Partial packets are buffered; every complete packet is
    /// decoded at the negotiated protocol level with limits().maximum_packet_size and handled.
    /// Ignored once the connection is closing.
    void handle_bytes(byte_view bytes, time_point now);

    /// One decoded packet (what handle_bytes does for each packet; public for tests).
    void handle_packet(const packet& received, time_point now);

    /// A message matched one of this session's subscriptions. While connected it is sent or
    /// queued; while disconnected QoS 1/2 (and QoS 0 if configured) are queued for the next
    /// connection. Before accept_connect and after the session ended the answer is `closed`.
    delivery_outcome handle_delivery(const message_ptr& content, const delivery_options& options,
                                     time_point now);

    /// A timer armed at poll_deadline() fired (or any later time).
    void handle_deadline(time_point now);

    /// The network connection closed without this session deciding so (reset, EOF, write error).
    void handle_connection_lost(time_point now);

    /// Server-initiated disconnect with `reason` (server_shutting_down, session_taken_over, ...):
    /// DISCONNECT at level 5 once connected, then close_connection. The Will is handled as for a
    /// lost connection [MQTT-3.1.2-8]. No effect unless a connection is open.
    void shutdown(reason_code reason, time_point now);

    /// The gateway accepted the CONNECT (only valid in phase authorizing): sends CONNACK first
    /// [MQTT-3.2.0-1], resends the restored in-flight messages, then queued ones. If the
    /// connection was lost or shut down meanwhile, the session is installed and at once treated
    /// as disconnected (nothing is sent; Will and expiry as for a lost connection).
    void accept_connect(connect_acceptance acceptance, time_point now);

    /// The gateway refused the CONNECT with a failure `reason`: CONNACK with it (mapped to a 3.1.1
    /// return code at level 4), then close_connection [MQTT-3.2.2-5 (3.1.1), MQTT-3.2.2-7 (5.0)].
    void refuse_connect(reason_code reason, time_point now);

    /// Routing of the inbound QoS 1/2 PUBLISH `packet_id` finished with `reason` (success,
    /// no_matching_subscribers or a failure). Acknowledgements go out in the order the PUBLISH
    /// packets arrived. Unknown ids are ignored.
    void complete_publish(std::uint16_t packet_id, reason_code reason, time_point now);

    /// The SUBSCRIBE `packet_id` was applied: one reason per entry, in order. Granted entries join
    /// state().subscriptions; SUBACK goes out [MQTT-3.8.4-1].
    void complete_subscribe(std::uint16_t packet_id, std::vector<reason_code> reasons,
                            time_point now);

    /// The UNSUBSCRIBE `packet_id` was applied: one reason per filter, in order. Successful ones
    /// leave state().subscriptions; UNSUBACK goes out [MQTT-3.10.4-4].
    void complete_unsubscribe(std::uint16_t packet_id, std::vector<reason_code> reasons,
                              time_point now);

    /// Hands the session state to the connection that resumes it (takeover with Clean Start 0).
    /// A Will still waiting for its delay is cancelled [MQTT-3.1.3-9 (5.0)]. Afterwards this
    /// session is closed and holds no state.
    session_state take_state(time_point now);

    /// Ends the session now (a new connection with Clean Start 1 for the same client id, or an
    /// administrator): a pending Will is published, then session_expired. Afterwards closed.
    void discard_session(time_point now);

    // ---- outputs -------------------------------------------------------------------------

    /// The next decision, oldest first; empty when there is nothing to do.
    std::optional<session_action> poll_action();

    /// The gateway's output to this client is over its limit (`is_blocked`), or has room again.
    /// While blocked no new QoS 1/2 PUBLISH is sent: deliveries queue as if the Receive Maximum
    /// window were full (and past the queue's bounds handle_delivery reports queue_full); QoS 0
    /// and resends are not held. Unblocking sends what the window allows, oldest first.
    void set_output_blocked(bool is_blocked, time_point now);
    /// True while the gateway's output is over its limit (set_output_blocked).
    bool is_output_blocked() const { return is_output_blocked_; }

    /// Gives `out`, an outbound PUBLISH this session produced, a Topic Alias (5.0, when the client
    /// allows aliases and the server's outbound cap is above 0). The gateway calls it at the moment
    /// it commits `out` to this connection's output, once per PUBLISH and in the order they are
    /// written, and never for a PUBLISH it drops: a mapping is only relied on once the packet that
    /// set it is on its way. The first PUBLISH of a topic keeps its topic name and gets a new alias
    /// while one is free, later ones get the alias and an empty topic name; once all are taken, the
    /// policy of outbound_topic_aliases applies. Left unchanged: a resend (DUP: aliases do not
    /// outlive a connection [MQTT-3.3.2-7 (5.0)], so a resend always names its topic), a PUBLISH
    /// that already has an alias, and a new mapping that would not fit the client's Maximum Packet
    /// Size.
    void choose_topic_alias(publish& out);

    /// Routes outbound deliveries straight to `sink` (null: through poll_action only) whenever
    /// no action is waiting to be polled. The sink must outlive the session or be reset first.
    void set_publish_sink(publish_sink* sink) { publish_sink_ = sink; }

    /// When handle_deadline must be called next (connect timeout, keep alive, will delay, session
    /// expiry); empty when no timer is needed. Expired queued messages are dropped when reached.
    std::optional<time_point> poll_deadline() const;

    // ---- accessors -----------------------------------------------------------------------

    session_phase phase() const { return phase_; }
    /// True between accept_connect and the end of the network connection.
    bool is_connected() const { return phase_ == session_phase::connected; }
    /// The client identifier (assigned one included); empty before CONNECT.
    const std::string& client_id() const { return state_.client_id; }
    /// The protocol level to encode at (level 5 until CONNECT says otherwise).
    protocol_version version() const { return state_.version; }
    std::uint64_t connection_id() const { return connection_id_; }
    bool is_clean_start() const { return is_clean_start_; }
    /// The keep alive in force (the server's override when set), 0 when disabled.
    std::uint16_t keep_alive_seconds() const { return keep_alive_seconds_; }
    /// True while a Will Message is held (not yet published or discarded).
    bool has_will() const { return extras_ != nullptr && extras_->will != nullptr; }
    std::uint32_t session_expiry_interval() const { return state_.session_expiry_interval; }
    /// True when the session outlives its connection (Session Expiry Interval > 0).
    bool is_persistent() const { return state_.session_expiry_interval > 0; }
    const session_limits& limits() const { return *limits_; }
    /// What was refused or dropped so far (all zero until something was). Read it again after
    /// each call into the session: the reference may not follow later counting.
    const session_counters& counters() const;
    /// The state a store persists.
    const session_state& state() const { return state_; }
    /// Inbound QoS 1/2 PUBLISH packets not yet answered with PUBACK or PUBCOMP (the count the
    /// server's Receive Maximum bounds). A gateway may stop reading while this is high.
    std::size_t inbound_inflight() const;
    /// True while any of the delivery and acknowledgement queues holds storage; each releases it
    /// when it drains, so an idle session holds none (what a logged-in chat user costs).
    bool holds_queue_storage() const {
        return inbound_acks_.has_storage() || state_.queued.has_storage() ||
               state_.inflight.entries().has_storage();
    }

private:
    /// An inbound QoS 1/2 PUBLISH whose acknowledgement waits for complete_publish; kept in
    /// arrival order so acknowledgements leave in that order.
    struct inbound_ack {
        std::uint16_t packet_id = 0;
        qos qos_level = qos::at_least_once;
        bool is_complete = false;
        reason_code reason = reason_code::success;
    };
    /// A SUBSCRIBE or UNSUBSCRIBE waiting for complete_subscribe / complete_unsubscribe.
    struct pending_request {
        std::uint16_t packet_id = 0;
        bool is_subscribe = true;
        /// Per original entry: the reason the session decided itself, or empty when the entry
        /// went to the gateway.
        std::vector<std::optional<reason_code>> decided;
        /// Entries / filters sent to the gateway, in order.
        std::vector<subscribe_entry> entries;
        std::vector<std::string> topic_filters;
        std::uint32_t subscription_id = 0;
    };
    /// State most connections never need, allocated on first use (see rare()) and released when
    /// it holds nothing again: a plain idle client carries one null pointer instead.
    struct extras {
        /// The Will Message, held until it is published or discarded.
        std::unique_ptr<will_message> will;
        /// Will Delay Interval (5.0); the Will is due at will_deadline once disconnected.
        std::uint32_t will_delay_seconds = 0;
        deadline will_deadline;
        /// When a disconnected session expires [MQTT-4.1.0-2 (5.0)].
        deadline session_deadline;
        /// SUBSCRIBE and UNSUBSCRIBE requests the gateway has not answered yet, by packet id (an
        /// id is held by one request at a time). Keyed rather than listed: a client that pipelines
        /// thousands of SUBSCRIBEs in one read must not make each one scan and shift the others.
        std::unordered_map<std::uint16_t, pending_request> pending_requests;
        /// Packets handed to handle_packet while the CONNECT is being authorized.
        std::vector<packet> deferred_packets;
        /// Topic Alias tables of this network connection, made when the first alias is used.
        std::optional<inbound_topic_aliases> inbound_aliases;
        std::optional<outbound_topic_aliases> outbound_aliases;
        session_counters counters;
    };
    /// What one turn (handle_* calls, then poll_action until empty) holds: the decisions not yet
    /// polled and the tail of a partial packet. Taken from a per-thread set of spare blocks when a
    /// turn starts producing and given back once every action was polled and no tail is left, so
    /// an idle session holds nothing and a busy one allocates nothing per turn.
    struct turn {
        /// Decisions not yet polled: actions[next_action..].
        std::vector<session_action> actions;
        std::size_t next_action = 0;
        /// Bytes of a packet that has not fully arrived.
        byte_vector input;
    };
    /// Gives a turn block back to the thread's spare blocks (or frees it when enough are spare).
    struct turn_recycler {
        void operator()(turn* block) const noexcept;
    };

    /// The rule id for the negotiated level, where the two specifications number it differently.
    std::string_view rule(std::string_view v5_rule, std::string_view v311_rule) const;
    static qos lower_qos(qos a, qos b);

    /// The rarely used state, made on first call.
    extras& rare();
    /// Drops the rarely used state when it holds nothing worth keeping.
    void release_rare_if_unused();
    /// Counters to increment (made on first call; counters() reads without making them).
    session_counters& tally() { return rare().counters; }
    /// The client's Topic Alias table for this connection, made on first call.
    inbound_topic_aliases& inbound_aliases();
    /// This turn's block, taken from the thread's spare blocks when the session holds none.
    turn& current_turn();
    /// Gives the turn block back when every action was polled and no partial packet is held.
    void end_turn_if_idle();
    /// True while an action waits to be polled.
    bool has_pending_actions() const {
        return turn_ != nullptr && turn_->next_action != turn_->actions.size();
    }
    /// Erases the first `used` bytes of the held partial packet.
    void consume_input(std::size_t used);

    void push(session_action action);
    void send(packet content);
    void close(reason_code reason, std::string_view rule);
    void fail(reason_code reason, std::string_view rule, time_point now);
    std::size_t decode_input(byte_view input, time_point now);
    void on_malformed(const protocol_violation& violation, time_point now);
    void arm_keep_alive(time_point now);

    void on_connect(const connect& request, time_point now);
    properties connack_properties(properties extra, bool is_assigned) const;
    void on_publish(const publish& received, time_point now);
    void acknowledge(const inbound_ack& done, time_point now);
    void on_puback(const puback& received, time_point now);
    void on_pubrec(const pubrec& received, time_point now);
    void on_pubrel(const pubrel& received, time_point now);
    void on_pubcomp(const pubcomp& received, time_point now);
    bool is_request_id_in_use(std::uint16_t packet_id) const;
    void on_subscribe(const subscribe& received, time_point now);
    /// Removes and returns the pending SUBSCRIBE (or UNSUBSCRIBE) with `packet_id`, if any.
    std::optional<pending_request> take_pending_request(std::uint16_t packet_id, bool is_subscribe);
    void finish_subscribe(pending_request request, std::vector<reason_code> reasons);
    void on_unsubscribe(const unsubscribe& received, time_point now);
    void finish_unsubscribe(pending_request request, std::vector<reason_code> reasons);
    void on_disconnect(const disconnect& received, time_point now);

    void end_connection(time_point now, bool is_will_discarded);
    void publish_will_now(time_point now);
    void end_session();

    bool can_send_qos12() const;
    delivery_outcome enqueue(queued_delivery delivery, time_point now);
    void drain_queue(time_point now);
    publish build_publish(const message& content, qos qos_level, bool is_retained,
                          std::span<const std::uint32_t> subscription_ids, std::uint16_t packet_id,
                          bool is_duplicate, time_point now) const;
    bool fits_client(const publish& out) const;
    delivery_outcome transmit(queued_delivery delivery, time_point now);
    void resend_inflight(time_point now);

    struct shared_limits_tag {};
    session(shared_limits_tag, std::shared_ptr<const session_limits> limits,
            std::uint64_t connection_id, time_point now);

    std::shared_ptr<const session_limits> limits_;
    std::uint64_t connection_id_ = 0;
    session_state state_;

    session_phase phase_ = session_phase::awaiting_connect;
    bool is_clean_start_ = true;
    bool is_closing_ = false;
    bool is_session_expiry_zero_at_connect_ = true;
    bool is_response_information_requested_ = false;
    /// Set by the gateway while its output to the client is over its limit (set_output_blocked).
    bool is_output_blocked_ = false;
    std::uint16_t keep_alive_seconds_ = 0;
    /// min(the client's Topic Alias Maximum, the server's outbound cap); 0 sends no aliases.
    std::uint16_t outbound_topic_alias_maximum_ = 0;

    // Limits the client announced in CONNECT (5.0 defaults otherwise).
    std::uint16_t client_receive_maximum_ = 65535;
    std::uint32_t client_maximum_packet_size_ = max_packet_size;

    lazy_deque<inbound_ack> inbound_acks_;
    /// Null while unused; see extras.
    std::unique_ptr<extras> extras_;
    /// Null between turns; see turn.
    std::unique_ptr<turn, turn_recycler> turn_;
    publish_sink* publish_sink_ = nullptr;

    /// The CONNECT timeout while awaiting CONNECT, the keep-alive limit while connected: the two
    /// never apply at once, so they share one slot.
    deadline phase_deadline_;
};

} // namespace perch::mqtt
