// Helpers for the scripted session conversations: a clock, packet builders and a way to drain and
// inspect the actions a session produced. Test-only; used by the session_*_test.cpp files.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "mqtt/encoder.hpp"
#include "mqtt/session.hpp"

namespace perch::mqtt {

/// Readable names for failure messages.
inline void PrintTo(const session_action& action, std::ostream* out) {
    struct printer {
        std::ostream* out;
        void operator()(const send_packet& a) const {
            *out << "send_packet(type " << static_cast<int>(type_of(a.content)) << ")";
        }
        void operator()(const connect_requested& a) const {
            *out << "connect_requested(" << a.request.client_id << ")";
        }
        void operator()(const route_publish& a) const {
            *out << "route_publish(" << a.content->topic_name << ", id " << a.packet_id << ")";
        }
        void operator()(const subscribe_requested&) const { *out << "subscribe_requested"; }
        void operator()(const unsubscribe_requested&) const { *out << "unsubscribe_requested"; }
        void operator()(const publish_will& a) const {
            *out << "publish_will(" << a.content->topic_name << ")";
        }
        void operator()(const close_connection& a) const {
            *out << "close_connection(0x" << std::hex << static_cast<int>(a.reason) << std::dec
                 << ", " << a.rule << ")";
        }
        void operator()(const session_expired&) const { *out << "session_expired"; }
    };
    std::visit(printer{out}, action);
}

namespace testing_support {

using namespace std::chrono_literals;

/// The instant every script starts at; offsets are added to it.
inline const time_point start = time_point{} + std::chrono::hours(1000);

/// Connection id of the session under test.
inline constexpr std::uint64_t our_connection = 7;
/// Connection id of some other publisher.
inline constexpr std::uint64_t other_connection = 99;

inline connect make_connect(protocol_version version, std::string client_id,
                            bool clean_start = true, std::uint16_t keep_alive_seconds = 0) {
    connect request;
    request.version = version;
    request.client_id = std::move(client_id);
    request.clean_start = clean_start;
    request.keep_alive_seconds = keep_alive_seconds;
    return request;
}

inline publish make_publish(std::string topic_name, std::string_view payload, qos qos_level,
                            std::uint16_t packet_id = 0) {
    publish out;
    out.topic_name = std::move(topic_name);
    out.payload = shared_bytes::copy_of(payload);
    out.qos_level = qos_level;
    out.packet_id = packet_id;
    return out;
}

inline message_ptr make_routed(std::string topic_name, std::string_view payload, qos qos_level,
                               bool is_retained = false, std::uint64_t origin = other_connection) {
    auto built = std::make_shared<message>();
    built->topic_name = std::move(topic_name);
    built->payload = shared_bytes::copy_of(payload);
    built->qos_level = qos_level;
    built->is_retained = is_retained;
    built->origin = origin;
    return built;
}

/// The action that sends DISCONNECT with `reason` and no properties.
inline session_action sent_disconnect(reason_code reason) {
    disconnect out;
    out.reason = reason;
    return send_packet{out};
}

/// The close_connection action with `reason` and `rule`.
inline session_action closed_with(reason_code reason, std::string_view rule) {
    return close_connection{reason, rule};
}

inline will_message make_will(std::string topic_name, std::string_view payload,
                              qos qos_level = qos::at_most_once, bool is_retained = false) {
    will_message will;
    will.topic_name = std::move(topic_name);
    will.payload = shared_bytes::copy_of(payload);
    will.qos_level = qos_level;
    will.is_retained = is_retained;
    return will;
}

/// Everything the session has queued, in order.
inline std::vector<session_action> drain(session& s) {
    std::vector<session_action> actions;
    while (auto next = s.poll_action()) {
        actions.push_back(std::move(*next));
    }
    return actions;
}

/// The packets of send_packet actions, in order.
inline std::vector<packet> sent_packets(const std::vector<session_action>& actions) {
    std::vector<packet> packets;
    for (const auto& action : actions) {
        if (const auto* sent = std::get_if<send_packet>(&action)) {
            packets.push_back(sent->content);
        }
    }
    return packets;
}

/// The only action, which must be a send_packet of type T.
template <typename T> T single_sent(session& s) {
    auto actions = drain(s);
    EXPECT_EQ(actions.size(), 1u);
    if (actions.size() != 1 || !std::holds_alternative<send_packet>(actions[0]) ||
        !std::holds_alternative<T>(std::get<send_packet>(actions[0]).content)) {
        ADD_FAILURE() << "expected exactly one sent packet of the requested type";
        return T{};
    }
    return std::get<T>(std::get<send_packet>(actions[0]).content);
}

/// A session that has sent CONNECT and been accepted; its actions are drained.
inline session connected_session(connect request, const session_limits& limits = {},
                                 connect_acceptance acceptance = {}, time_point now = start) {
    session s(limits, our_connection, now);
    s.handle_packet(request, now);
    drain(s);
    s.accept_connect(std::move(acceptance), now);
    drain(s);
    return s;
}

inline session connected_v5(std::string client_id = "c1", const session_limits& limits = {}) {
    return connected_session(make_connect(protocol_version::v5, std::move(client_id)), limits);
}

inline session connected_v311(std::string client_id = "c1", const session_limits& limits = {}) {
    return connected_session(make_connect(protocol_version::v3_1_1, std::move(client_id)), limits);
}

/// True when the actions end with close_connection and contain no routing decision.
inline bool ends_with_close(const std::vector<session_action>& actions) {
    return !actions.empty() && std::holds_alternative<close_connection>(actions.back());
}

inline byte_vector bytes_of(const packet& p, protocol_version version) {
    byte_vector out;
    encode_append(p, version, out);
    return out;
}

} // namespace testing_support
} // namespace perch::mqtt
