// Session state machine for one MQTT client. Knows nothing about sockets, threads or clocks.
//
// Theory of operation
// -------------------
// A session is one client's protocol endpoint. Inputs are bytes (or decoded packets), deliveries
// from the router, timer expiry and the gateway's answers to earlier requests; outputs are queued
// session_actions. Nothing here blocks or calls out: every decision is an action.
//
// Phases and the events that move them (anything not listed is ignored in that phase):
//
//   phase             event                              next phase     actions
//   ----------------  ---------------------------------  -------------  -------------------------
//   awaiting_connect  valid CONNECT                      authorizing    connect_requested
//                     CONNECT refused by session rules   closed         CONNACK(fail), close
//                     any other packet [MQTT-3.1.0-1]    closed         close
//                     malformed bytes                    closed         close (CONNACK 0x01 or 0x02
//                                                                       first, see on_malformed)
//                     first packet over                  closed         close (CONNACK 0x95 first
//                       max_connect_packet_size                         for a 5.0 CONNECT)
//                     connect timeout, lost, shutdown    closed         close
//   authorizing       accept_connect                     connected      CONNACK, resends, queue
//                     refuse_connect                     closed         CONNACK(fail), close
//                     bytes / packets                    authorizing    held until accepted
//                     connection lost / shutdown         authorizing    (close); the answer then
//                                                                       settles it: accept ->
//                                                                       disconnected*, refuse ->
//                                                                       closed, nothing sent
//   connected         PUBLISH, acks, SUBSCRIBE, ...      connected      session_publish.cpp and
//                                                                       session_subscribe.cpp
//                     protocol violation                 disconnected*  DISCONNECT (5.0), close
//                     DISCONNECT from the client         disconnected*  close
//                     keep alive expiry                  disconnected*  DISCONNECT 0x8D, close
//                     connection lost / shutdown         disconnected*  (DISCONNECT,) close
//   disconnected      delivery                           disconnected   queued (QoS 1/2)
//                     will delay expiry                  disconnected   publish_will
//                     session expiry [MQTT-4.1.0-2]      closed         publish_will?, expired
//                     take_state (resumed elsewhere)     closed         (will cancelled)
//                     discard_session                    closed         publish_will?, expired
//   closed            nothing
//
//   * closed instead, with publish_will? and session_expired, when the Session Expiry Interval
//     is 0: the session ends with its network connection.
//
// While connected, every received packet re-arms the keep alive deadline. A violation while
// connected stops reading at once: the bytes after the offending packet are never looked at.
#include "mqtt/session.hpp"

#include <algorithm>
#include <cassert>
#include <utility>

#include "mqtt/encoder.hpp"
#include "mqtt/topic.hpp"

namespace perch::mqtt {
namespace {

constexpr std::uint32_t never_expires = 0xFFFF'FFFF;

// Keep alive is enforced at one and a half times the announced interval.
std::chrono::milliseconds keep_alive_grace(std::uint16_t keep_alive_seconds) {
    return std::chrono::milliseconds(std::uint64_t{keep_alive_seconds} * 1500);
}

} // namespace

std::string_view session::rule(std::string_view v5_rule, std::string_view v311_rule) const {
    return version() == protocol_version::v5 ? v5_rule : v311_rule;
}

qos session::lower_qos(qos a, qos b) {
    return static_cast<std::uint8_t>(a) < static_cast<std::uint8_t>(b) ? a : b;
}

session::session(shared_limits_tag, std::shared_ptr<const session_limits> limits,
                 std::uint64_t connection_id, time_point now)
    : limits_(std::move(limits)), connection_id_(connection_id),
      phase_deadline_(now + limits_->connect_timeout) {
    assert(limits_ != nullptr);
    assert(connection_id != 0);
}

session::session(const session_limits& limits, std::uint64_t connection_id, time_point now)
    : session(shared_limits_tag{}, std::make_shared<const session_limits>(limits), connection_id,
              now) {}

session session::sharing_limits(std::shared_ptr<const session_limits> limits,
                                std::uint64_t connection_id, time_point now) {
    return session(shared_limits_tag{}, std::move(limits), connection_id, now);
}

session::~session() = default;

// ---- plumbing -------------------------------------------------------------------------------

void session::push(session_action action) {
    current_turn().actions.push_back(std::move(action));
}

void session::send(packet content) {
    push(send_packet{std::move(content)});
}

void session::close(reason_code reason, std::string_view rule) {
    is_closing_ = true;
    push(close_connection{reason, rule});
}

void session::fail(reason_code reason, std::string_view rule, time_point now) {
    ++tally().protocol_violations;
    if (phase_ != session_phase::connected) {
        // No CONNACK was sent yet, so no DISCONNECT may be [MQTT-3.14.0-1].
        close(reason, rule);
        phase_ = session_phase::closed;
        return;
    }
    if (version() == protocol_version::v5) {
        send(disconnect{reason, {}});
    }
    // 3.1.1 has no way to say why: the connection just closes [MQTT-4.8.0-1 (3.1.1)].
    close(reason, rule);
    end_connection(now, false);
}

std::optional<session_action> session::poll_action() {
    if (!has_pending_actions()) {
        end_turn_if_idle();
        return std::nullopt;
    }
    turn& current = *turn_;
    std::optional<session_action> next(std::move(current.actions[current.next_action]));
    ++current.next_action;
    if (current.next_action == current.actions.size()) {
        // Drained: the storage stays with the block for the next turn; an idle session keeps none.
        current.actions.clear();
        current.next_action = 0;
        end_turn_if_idle();
    }
    return next;
}

std::optional<time_point> session::poll_deadline() const {
    std::optional<time_point> earliest;
    const auto consider = [&earliest](const deadline& moment) {
        if (moment && (!earliest || *moment < *earliest)) {
            earliest = *moment;
        }
    };
    switch (phase_) {
    case session_phase::awaiting_connect:
    case session_phase::connected: consider(phase_deadline_); break;
    case session_phase::disconnected:
        if (extras_) {
            consider(extras_->will_deadline);
            consider(extras_->session_deadline);
        }
        break;
    case session_phase::authorizing:
    case session_phase::closed: break;
    }
    return earliest;
}

std::size_t session::inbound_inflight() const {
    const auto qos1 = std::count_if(inbound_acks_.begin(), inbound_acks_.end(), [](const auto& a) {
        return a.qos_level == qos::at_least_once;
    });
    return static_cast<std::size_t>(qos1) + state_.inbound_qos2_received.size();
}

// ---- input ----------------------------------------------------------------------------------

void session::handle_bytes(byte_view bytes, time_point now) {
    if (is_closing_ || phase_ == session_phase::closed || phase_ == session_phase::disconnected) {
        return;
    }
    if (!turn_ || turn_->input.empty()) {
        // Common case: whole packets in one read; only a trailing fragment is copied.
        const std::size_t used = decode_input(bytes, now);
        if (!is_closing_ && used < bytes.size()) {
            current_turn().input.assign(bytes.begin() + static_cast<std::ptrdiff_t>(used),
                                        bytes.end());
        }
    } else {
        byte_vector& input = turn_->input;
        input.insert(input.end(), bytes.begin(), bytes.end());
        consume_input(decode_input(input, now));
    }
    if (turn_ && is_closing_) {
        // Only a partial packet's tail is held, and only while it is incomplete.
        turn_->input.clear();
    }
    end_turn_if_idle();
}

std::size_t session::decode_input(byte_view input, time_point now) {
    std::size_t used = 0;
    while (!is_closing_ && used < input.size() &&
           (phase_ == session_phase::awaiting_connect || phase_ == session_phase::connected)) {
        // Before a CONNECT is accepted only a small first packet is taken (DESIGN.md
        // "Overload"): a client that has not logged in cannot make the server buffer more.
        const bool is_first_packet = phase_ == session_phase::awaiting_connect;
        const decode_limits decoding{version(), is_first_packet
                                                    ? std::min(limits_->max_connect_packet_size,
                                                               limits_->maximum_packet_size)
                                                    : limits_->maximum_packet_size};
        std::size_t consumed = 0;
        auto outcome = decode_next(input.subspan(used), decoding, consumed);
        if (std::holds_alternative<need_more>(outcome)) {
            break;
        }
        if (const auto* violation = std::get_if<protocol_violation>(&outcome)) {
            if (is_first_packet && violation->reason == reason_code::packet_too_large &&
                peek_connect_version(input.subspan(used)) == protocol_version::v5) {
                // 5.0 has a CONNACK reason for it (3.2.2.2, 0x95); 3.1.1 has no return code
                // for it, so that connection just closes.
                state_.version = protocol_version::v5;
                send(connack{false, reason_code::packet_too_large, {}});
            }
            on_malformed(*violation, now);
            break;
        }
        used += consumed;
        handle_packet(std::get<packet>(outcome), now);
    }
    return used;
}

void session::on_malformed(const protocol_violation& violation, time_point now) {
    if (phase_ == session_phase::awaiting_connect) {
        // CONNECT refusals the decoder already recognises get their CONNACK, in the 3.1.1 format
        // every client level reads: return code 0x01 for a protocol level not spoken
        // [MQTT-3.1.2-2 (3.1.1); 5.0 allows it by the same id] and 0x02 for an empty client id
        // with Clean Session 0 [MQTT-3.1.3-8 (3.1.1)]. A wrong protocol name just closes.
        const bool is_level_refused =
            violation.reason == reason_code::unsupported_protocol_version &&
            violation.rule == "MQTT-3.1.2-2";
        if (is_level_refused || violation.reason == reason_code::client_identifier_not_valid) {
            state_.version = protocol_version::v3_1_1;
            send(connack{false, violation.reason, {}});
        }
    }
    fail(violation.reason, violation.rule, now);
}

void session::handle_packet(const packet& received, time_point now) {
    switch (phase_) {
    case session_phase::awaiting_connect:
        if (const auto* request = std::get_if<connect>(&received)) {
            on_connect(*request, now);
        } else {
            fail(reason_code::protocol_error, "MQTT-3.1.0-1", now);
        }
        return;
    case session_phase::authorizing:
        if (!is_closing_) {
            rare().deferred_packets.push_back(received);
        }
        return;
    case session_phase::connected: break;
    case session_phase::disconnected:
    case session_phase::closed: return;
    }
    if (is_closing_) {
        return;
    }
    arm_keep_alive(now);
    switch (type_of(received)) {
    case packet_type::connect: fail(reason_code::protocol_error, "MQTT-3.1.0-2", now); break;
    case packet_type::publish: on_publish(std::get<publish>(received), now); break;
    case packet_type::puback: on_puback(std::get<puback>(received), now); break;
    case packet_type::pubrec: on_pubrec(std::get<pubrec>(received), now); break;
    case packet_type::pubrel: on_pubrel(std::get<pubrel>(received), now); break;
    case packet_type::pubcomp: on_pubcomp(std::get<pubcomp>(received), now); break;
    case packet_type::subscribe: on_subscribe(std::get<subscribe>(received), now); break;
    case packet_type::unsubscribe: on_unsubscribe(std::get<unsubscribe>(received), now); break;
    case packet_type::pingreq:
        send(pingresp{}); // [MQTT-3.12.4-1]
        break;
    case packet_type::disconnect: on_disconnect(std::get<disconnect>(received), now); break;
    case packet_type::auth:
        // Perch offers no enhanced authentication, so no CONNECT ever carried an Authentication
        // Method and an AUTH is always out of place [MQTT-4.12.0-7 (5.0)].
        fail(reason_code::protocol_error, "MQTT-4.12.0-7", now);
        break;
    case packet_type::connack:
    case packet_type::suback:
    case packet_type::unsuback:
    case packet_type::pingresp:
        // Packets only a server sends.
        fail(reason_code::protocol_error, rule("MQTT-4.13.1-1", "MQTT-4.8.0-1"), now);
        break;
    }
}

void session::arm_keep_alive(time_point now) {
    if (keep_alive_seconds_ > 0) {
        phase_deadline_ = now + keep_alive_grace(keep_alive_seconds_);
    }
}

// ---- CONNECT and its answer -----------------------------------------------------------------

void session::on_connect(const connect& request, time_point now) {
    state_.version = request.version;
    const bool is_v5 = request.version == protocol_version::v5;
    const auto refuse = [this, now](reason_code reason, std::string_view rule) {
        send(connack{false, reason, {}}); // [MQTT-3.2.2-6 (5.0), MQTT-3.2.2-4 (3.1.1)]
        fail(reason, rule, now);
    };
    if (request.client_id.empty() && !request.clean_start && !is_v5) {
        // 3.1.1: a zero-byte ClientId needs Clean Session 1; return code 0x02.
        refuse(reason_code::client_identifier_not_valid, "MQTT-3.1.3-8");
        return;
    }
    if (is_v5 && request.props.authentication_method) {
        refuse(reason_code::bad_authentication_method, "MQTT-4.12.0-1");
        return;
    }
    if (is_v5 && (request.props.receive_maximum == std::uint16_t{0} ||
                  request.props.maximum_packet_size == std::uint32_t{0})) {
        // 3.1.2.11.3 and 3.1.2.11.4: a value of 0 is a Protocol Error.
        refuse(reason_code::protocol_error, "MQTT-3.1.2.11");
        return;
    }
    if (request.will) {
        const will_message& will = *request.will;
        if (const auto invalid = validate_topic_name(will.topic_name, request.version)) {
            if (is_v5) {
                refuse(invalid->reason, invalid->rule);
            } else {
                fail(invalid->reason, invalid->rule, now); // no 3.1.1 return code fits
            }
            return;
        }
        if (static_cast<std::uint8_t>(will.qos_level) >
            static_cast<std::uint8_t>(limits_->maximum_qos)) {
            refuse(reason_code::qos_not_supported, rule("MQTT-3.2.2-12", "MQTT-3.1.4"));
            return;
        }
        if (will.is_retained && !limits_->is_retain_available) {
            refuse(reason_code::retain_not_supported, rule("MQTT-3.2.2-13", "MQTT-3.1.4"));
            return;
        }
    }

    state_.client_id = request.client_id;
    is_clean_start_ = request.clean_start;
    if (request.will) {
        extras& more = rare();
        more.will = std::make_unique<will_message>(*request.will);
        more.will_delay_seconds = is_v5 ? request.will->props.will_delay_interval.value_or(0) : 0;
    }
    keep_alive_seconds_ = request.keep_alive_seconds;
    if (is_v5 && limits_->server_keep_alive_seconds) {
        keep_alive_seconds_ = *limits_->server_keep_alive_seconds; // [MQTT-3.1.2-21 (5.0)]
    }
    if (is_v5) {
        const std::uint32_t requested = request.props.session_expiry_interval.value_or(0);
        is_session_expiry_zero_at_connect_ = requested == 0;
        state_.session_expiry_interval =
            std::min(requested, limits_->maximum_session_expiry_interval);
        client_receive_maximum_ = request.props.receive_maximum.value_or(65535);
        client_maximum_packet_size_ = request.props.maximum_packet_size.value_or(max_packet_size);
        is_response_information_requested_ =
            request.props.request_response_information.value_or(0) == 1;
        // [MQTT-3.1.2-26, MQTT-3.1.2-27 (5.0)] never more aliases than the client allows. The
        // tables themselves are made when the first alias is used.
        outbound_topic_alias_maximum_ = std::min(request.props.topic_alias_maximum.value_or(0),
                                                 limits_->outbound_topic_alias_maximum);
    } else {
        // 3.1.1: Clean Session 1 lasts as long as the connection [MQTT-3.1.2-6 (3.1.1)].
        is_session_expiry_zero_at_connect_ = request.clean_start;
        state_.session_expiry_interval =
            request.clean_start ? 0 : limits_->maximum_session_expiry_interval;
        client_receive_maximum_ = 65535;
        client_maximum_packet_size_ = max_packet_size;
    }
    phase_ = session_phase::authorizing;
    push(connect_requested{request});
}

void session::refuse_connect(reason_code reason, [[maybe_unused]] time_point now) {
    if (phase_ != session_phase::authorizing) {
        return;
    }
    if (is_closing_) {
        // The connection is already gone: nothing to answer.
        phase_ = session_phase::closed;
        if (extras_) {
            extras_->will.reset();
        }
        release_rare_if_unused();
        return;
    }
    assert(is_failure(reason));
    if (!is_failure(reason)) {
        reason = reason_code::unspecified_error;
    }
    // Session Present is 0 with a failure [MQTT-3.2.2-6 (5.0), MQTT-3.2.2-4 (3.1.1)]; the
    // connection closes after it [MQTT-3.2.2-7 (5.0), MQTT-3.2.2-5 (3.1.1)].
    send(connack{false, reason, {}});
    close(reason, rule("MQTT-3.2.2-7", "MQTT-3.2.2-5"));
    phase_ = session_phase::closed;
    if (extras_) {
        extras_->will.reset();
        extras_->deferred_packets.clear();
    }
    release_rare_if_unused();
    if (turn_) {
        turn_->input.clear();
    }
}

properties session::connack_properties(properties extra, bool is_assigned) const {
    properties props = std::move(extra);
    if (limits_->receive_maximum != 65535) {
        props.receive_maximum = limits_->receive_maximum;
    }
    if (limits_->maximum_qos != qos::exactly_once) {
        props.maximum_qos = static_cast<std::uint8_t>(limits_->maximum_qos); // [MQTT-3.2.2-9]
    }
    if (!limits_->is_retain_available) {
        props.retain_available = 0;
    }
    if (limits_->maximum_packet_size < max_packet_size) {
        props.maximum_packet_size = limits_->maximum_packet_size;
    }
    if (is_assigned) {
        // [MQTT-3.1.3-7, MQTT-3.2.2-16 (5.0)]
        props.assigned_client_identifier = state_.client_id;
    }
    if (limits_->topic_alias_maximum > 0) {
        props.topic_alias_maximum = limits_->topic_alias_maximum;
    }
    if (!limits_->is_wildcard_subscription_available) {
        props.wildcard_subscription_available = 0;
    }
    if (!limits_->is_subscription_identifier_available) {
        props.subscription_identifier_available = 0;
    }
    if (!limits_->is_shared_subscription_available) {
        props.shared_subscription_available = 0;
    }
    if (limits_->server_keep_alive_seconds) {
        props.server_keep_alive = *limits_->server_keep_alive_seconds;
    }
    if (!is_session_expiry_zero_at_connect_ &&
        state_.session_expiry_interval == limits_->maximum_session_expiry_interval) {
        // The server may have lowered the client's request; saying so is always correct.
        props.session_expiry_interval = state_.session_expiry_interval;
    }
    if (!is_response_information_requested_) {
        props.response_information.reset(); // [MQTT-3.1.2-28 (5.0)]
    }
    props.authentication_method.reset(); // [MQTT-4.12.0-6 (5.0)]
    props.authentication_data.reset();
    return props;
}

void session::accept_connect(connect_acceptance acceptance, time_point now) {
    if (phase_ != session_phase::authorizing) {
        return;
    }
    bool is_assigned = false;
    if (state_.client_id.empty()) {
        // [MQTT-3.1.3-6 (3.1.1 and 5.0)] a zero-byte ClientId gets a unique one.
        state_.client_id = acceptance.assigned_client_identifier.empty()
                               ? "perch-" + std::to_string(connection_id_)
                               : std::move(acceptance.assigned_client_identifier);
        is_assigned = true;
    }
    if (is_clean_start_) {
        // [MQTT-3.1.2-4 (5.0), MQTT-3.1.2-6 (3.1.1)] Clean Start discards any old session.
        acceptance.restored.reset();
    }
    const bool is_session_present = acceptance.restored.has_value();
    if (acceptance.restored) {
        // [MQTT-3.1.2-5 (5.0), MQTT-3.1.2-4 (3.1.1)] resume from the stored state.
        session_state& restored = *acceptance.restored;
        state_.subscriptions = std::move(restored.subscriptions);
        state_.inflight = std::move(restored.inflight);
        state_.queued = std::move(restored.queued);
        state_.queued_bytes = restored.queued_bytes;
        state_.change_count += restored.change_count + 1;
        state_.inbound_qos2_received = std::move(restored.inbound_qos2_received);
        for (auto& received : state_.inbound_qos2_received) {
            // Routed on the previous connection: a resent PUBLISH gets its PUBREC at once.
            received.is_pubrec_sent = true;
        }
    }
    if (is_closing_) {
        // The connection went away while the CONNECT was being authorized. The session (perhaps
        // taken over from another connection) is kept as if it had connected and then lost the
        // network at once: nothing is sent, the Will and the expiry run as usual.
        phase_ = session_phase::connected;
        phase_deadline_.reset();
        end_connection(now, false);
        return;
    }
    properties props;
    if (version() == protocol_version::v5) {
        props = connack_properties(std::move(acceptance.connack_properties), is_assigned);
    }
    // CONNACK is the first packet the server sends [MQTT-3.2.0-1]. Session Present follows
    // [MQTT-3.2.2-2, MQTT-3.2.2-3 (5.0); MQTT-3.2.2-1..3 (3.1.1)].
    connack reply{is_session_present, reason_code::success, std::move(props)};
    if (encoded_size(reply, version()) > client_maximum_packet_size_) {
        // [MQTT-3.2.2-19, MQTT-3.2.2-20 (5.0)] drop what may be dropped to fit.
        reply.props.reason_string.reset();
        reply.props.user_properties.clear();
    }
    send(std::move(reply));
    phase_ = session_phase::connected;
    phase_deadline_.reset();
    if (extras_) {
        extras_->will_deadline.reset();
        extras_->session_deadline.reset();
    }
    arm_keep_alive(now);

    resend_inflight(now);
    drain_queue(now);

    // Packets that arrived while the CONNECT was being authorized.
    std::vector<packet> deferred;
    if (extras_) {
        deferred.swap(extras_->deferred_packets);
    }
    for (const auto& held : deferred) {
        handle_packet(held, now);
    }
    release_rare_if_unused();
    if (turn_ && !turn_->input.empty() && !is_closing_) {
        consume_input(decode_input(turn_->input, now));
    }
    if (turn_ && is_closing_) {
        turn_->input.clear();
    }
}

// ---- DISCONNECT, connection end, will and expiry --------------------------------------------

void session::on_disconnect(const disconnect& received, time_point now) {
    const bool is_v5 = version() == protocol_version::v5;
    if (is_v5 && received.props.session_expiry_interval) {
        const std::uint32_t requested = *received.props.session_expiry_interval;
        if (is_session_expiry_zero_at_connect_ && requested != 0) {
            // 3.14.2.2.2: non-zero after a zero in CONNECT is a Protocol Error.
            fail(reason_code::protocol_error, "MQTT-3.14.2.2.2", now);
            return;
        }
        state_.session_expiry_interval =
            std::min(requested, limits_->maximum_session_expiry_interval);
    }
    // 0x04 keeps the Will; every other reason from a 5.0 client other than 0x00 reports an error
    // and keeps it too. A 0x00 (and any 3.1.1 DISCONNECT) discards it [MQTT-3.14.4-3,
    // MQTT-3.1.2-10].
    const bool is_will_discarded = !is_v5 || received.reason == reason_code::normal_disconnection;
    close(reason_code::success, "MQTT-3.14.4-3");
    end_connection(now, is_will_discarded);
}

void session::handle_connection_lost(time_point now) {
    switch (phase_) {
    case session_phase::awaiting_connect:
        phase_ = session_phase::closed;
        is_closing_ = true;
        break;
    case session_phase::authorizing:
        // The gateway still answers the connect_requested; see accept_connect.
        is_closing_ = true;
        if (extras_) {
            extras_->deferred_packets.clear();
        }
        break;
    case session_phase::connected:
        is_closing_ = true;
        end_connection(now, false); // the Will is due [MQTT-3.1.2-8]
        break;
    case session_phase::disconnected:
    case session_phase::closed: break;
    }
}

void session::shutdown(reason_code reason, time_point now) {
    switch (phase_) {
    case session_phase::awaiting_connect:
    case session_phase::authorizing:
        if (is_closing_) {
            break;
        }
        // No DISCONNECT before a CONNACK [MQTT-3.14.0-1 (5.0)]. A pending CONNECT still gets
        // its accept_connect / refuse_connect, which then only settle the session.
        close(reason, "MQTT-3.14.0-1");
        if (extras_) {
            extras_->deferred_packets.clear();
        }
        if (phase_ == session_phase::awaiting_connect) {
            phase_ = session_phase::closed;
        }
        break;
    case session_phase::connected:
        if (is_closing_) {
            break;
        }
        if (version() == protocol_version::v5) {
            // Never with a Session Expiry Interval [MQTT-3.14.2-2 (5.0)].
            send(disconnect{reason, {}});
        }
        close(reason, reason == reason_code::session_taken_over
                          ? rule("MQTT-3.1.4-3", "MQTT-3.1.4-2")
                          : std::string_view{});
        end_connection(now, false);
        break;
    case session_phase::disconnected:
    case session_phase::closed: break;
    }
}

void session::end_connection(time_point now, bool is_will_discarded) {
    phase_ = session_phase::disconnected;
    is_closing_ = true;
    phase_deadline_.reset();
    inbound_acks_.clear();
    // Topic Alias mappings belong to the network connection [MQTT-3.3.2-7 (5.0)].
    outbound_topic_alias_maximum_ = 0;
    if (extras_) {
        extras_->deferred_packets.clear();
        extras_->inbound_aliases.reset();
        extras_->outbound_aliases.reset();
        if (is_will_discarded) {
            extras_->will.reset();
        }
    }
    release_rare_if_unused();
    if (state_.session_expiry_interval == 0) {
        // The session ends with the connection: the Will goes now [MQTT-3.1.2-8 (5.0)].
        publish_will_now(now);
        end_session();
        return;
    }
    // [MQTT-3.1.2-23 (5.0), MQTT-3.1.2-4 (3.1.1)] the state outlives the connection.
    if (state_.session_expiry_interval != never_expires) {
        rare().session_deadline = now + std::chrono::seconds(state_.session_expiry_interval);
    }
    if (has_will()) {
        if (extras_->will_delay_seconds == 0) {
            publish_will_now(now);
        } else {
            extras_->will_deadline = now + std::chrono::seconds(extras_->will_delay_seconds);
        }
    }
}

void session::publish_will_now(time_point now) {
    if (!extras_) {
        return;
    }
    extras_->will_deadline.reset();
    if (extras_->will) {
        // Published with its own QoS and RETAIN flag [MQTT-3.1.2-14, MQTT-3.1.2-15 (5.0);
        // MQTT-3.1.2-16, MQTT-3.1.2-17 (3.1.1)], then removed [MQTT-3.1.2-10].
        push(publish_will{make_will_message(*extras_->will, connection_id_, now)});
        extras_->will.reset();
    }
    release_rare_if_unused();
}

void session::end_session() {
    phase_ = session_phase::closed;
    if (extras_) {
        extras_->will_deadline.reset();
        extras_->session_deadline.reset();
        extras_->pending_requests.clear();
    }
    release_rare_if_unused();
    state_.subscriptions.clear();
    state_.inflight.clear();
    state_.queued.clear();
    state_.queued_bytes = 0;
    ++state_.change_count;
    state_.inbound_qos2_received.clear();
    push(session_expired{});
}

void session::handle_deadline(time_point now) {
    switch (phase_) {
    case session_phase::awaiting_connect:
        if (phase_deadline_ && now >= *phase_deadline_ && !is_closing_) {
            close(reason_code::maximum_connect_time, "");
            phase_ = session_phase::closed;
        }
        break;
    case session_phase::connected:
        if (phase_deadline_ && now >= *phase_deadline_ && !is_closing_) {
            // [MQTT-3.1.2-22 (5.0), MQTT-3.1.2-24 (3.1.1)] as if the network had failed: the Will
            // is published.
            if (version() == protocol_version::v5) {
                send(disconnect{reason_code::keep_alive_timeout, {}});
            }
            close(reason_code::keep_alive_timeout, rule("MQTT-3.1.2-22", "MQTT-3.1.2-24"));
            end_connection(now, false);
        }
        break;
    case session_phase::disconnected:
        if (extras_ && extras_->session_deadline && now >= *extras_->session_deadline) {
            // The Will goes no later than the session's end [MQTT-3.1.2-8 (5.0)], then the
            // state is discarded [MQTT-4.1.0-2 (5.0)].
            publish_will_now(now);
            end_session();
        } else if (extras_ && extras_->will_deadline && now >= *extras_->will_deadline) {
            publish_will_now(now);
        }
        break;
    case session_phase::authorizing:
    case session_phase::closed: break;
    }
}

session_state session::take_state(time_point now) {
    if (phase_ == session_phase::connected) {
        shutdown(reason_code::session_taken_over, now);
    }
    // The session continues on a new connection: a delayed Will is never sent
    // [MQTT-3.1.3-9 (5.0)].
    if (extras_) {
        extras_->will.reset();
        extras_->will_deadline.reset();
        extras_->session_deadline.reset();
    }
    release_rare_if_unused();
    phase_ = session_phase::closed;
    for (auto& received : state_.inbound_qos2_received) {
        received.is_pubrec_sent = true;
    }
    session_state taken = std::move(state_);
    state_ = session_state{};
    state_.client_id = taken.client_id;
    state_.version = taken.version;
    return taken;
}

void session::discard_session(time_point now) {
    if (phase_ == session_phase::connected) {
        shutdown(reason_code::session_taken_over, now);
    }
    if (phase_ == session_phase::closed) {
        return;
    }
    publish_will_now(now);
    end_session();
}

} // namespace perch::mqtt
