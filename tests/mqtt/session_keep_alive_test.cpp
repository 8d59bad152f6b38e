// Tests of mqtt/session.cpp: PINGREQ, the keep alive deadline and the Server Keep Alive override.
// Time only moves through the `now` arguments.
#include <gtest/gtest.h>

#include "mqtt/session.hpp"

#include "tests/mqtt/session_script.hpp"

namespace perch::mqtt {
namespace {

using namespace testing_support;

TEST(SessionKeepAlive, PingreqGetsPingresp) {
    // [MQTT-3.12.4-1 (3.1.1 and 5.0)]
    for (const auto version : {protocol_version::v5, protocol_version::v3_1_1}) {
        session s = connected_session(make_connect(version, "c1"));
        s.handle_packet(pingreq{}, start);
        single_sent<pingresp>(s);
    }
}

TEST(SessionKeepAlive, SilenceForOneAndAHalfIntervalsCloses) {
    // [MQTT-3.1.2-22 (5.0)] DISCONNECT 0x8D, then close; [MQTT-3.1.2-24 (3.1.1)] just close.
    for (const auto version : {protocol_version::v5, protocol_version::v3_1_1}) {
        session s = connected_session(make_connect(version, "c1", true, 10));
        EXPECT_EQ(s.keep_alive_seconds(), 10);
        EXPECT_EQ(s.poll_deadline(), start + 15s);
        s.handle_deadline(start + 14999ms);
        EXPECT_TRUE(drain(s).empty());
        EXPECT_TRUE(s.is_connected());
        s.handle_deadline(start + 15s);
        const auto actions = drain(s);
        if (version == protocol_version::v5) {
            ASSERT_EQ(actions.size(), 3u);
            EXPECT_EQ(actions[0], sent_disconnect(reason_code::keep_alive_timeout));
            EXPECT_EQ(actions[1], closed_with(reason_code::keep_alive_timeout, "MQTT-3.1.2-22"));
        } else {
            ASSERT_EQ(actions.size(), 2u);
            EXPECT_EQ(actions[0], closed_with(reason_code::keep_alive_timeout, "MQTT-3.1.2-24"));
        }
        EXPECT_TRUE(std::holds_alternative<session_expired>(actions.back()));
        EXPECT_FALSE(s.is_connected());
    }
}

TEST(SessionKeepAlive, EveryPacketRestartsTheInterval) {
    session s = connected_session(make_connect(protocol_version::v5, "c1", true, 10));
    s.handle_packet(make_publish("a", "x", qos::at_most_once), start + 12s);
    drain(s);
    EXPECT_EQ(s.poll_deadline(), start + 27s);
    s.handle_deadline(start + 26s);
    EXPECT_TRUE(drain(s).empty());
    s.handle_packet(pingreq{}, start + 26s);
    drain(s);
    s.handle_deadline(start + 40s);
    EXPECT_TRUE(drain(s).empty());
    EXPECT_TRUE(s.is_connected());
}

TEST(SessionKeepAlive, ZeroTurnsKeepAliveOff) {
    session s = connected_session(make_connect(protocol_version::v5, "c1", true, 0));
    EXPECT_FALSE(s.poll_deadline().has_value());
    s.handle_deadline(start + std::chrono::hours(100));
    EXPECT_TRUE(drain(s).empty());
    EXPECT_TRUE(s.is_connected());
}

TEST(SessionKeepAlive, ServerKeepAliveReplacesTheClients) {
    // [MQTT-3.1.2-21, MQTT-3.2.2-21 (5.0)] sent in CONNACK, and enforced by the server too.
    session_limits limits;
    limits.server_keep_alive_seconds = 4;
    session s(limits, our_connection, start);
    s.handle_packet(make_connect(protocol_version::v5, "c1", true, 60), start);
    drain(s);
    s.accept_connect({}, start);
    EXPECT_EQ(single_sent<connack>(s).props.server_keep_alive, 4);
    EXPECT_EQ(s.keep_alive_seconds(), 4);
    s.handle_deadline(start + 6s);
    const auto actions = drain(s);
    ASSERT_FALSE(actions.empty());
    EXPECT_EQ(actions[0], sent_disconnect(reason_code::keep_alive_timeout));
}

TEST(SessionKeepAlive, WithoutServerKeepAliveTheClientsValueHolds) {
    // [MQTT-3.2.2-22 (5.0)]
    session s({}, our_connection, start);
    s.handle_packet(make_connect(protocol_version::v5, "c1", true, 60), start);
    drain(s);
    s.accept_connect({}, start);
    EXPECT_FALSE(single_sent<connack>(s).props.server_keep_alive.has_value());
    EXPECT_EQ(s.keep_alive_seconds(), 60);
    EXPECT_EQ(s.poll_deadline(), start + 90s);
}

TEST(SessionKeepAlive, ServerKeepAliveIsNotSentTo311Clients) {
    // 3.1.1 has no Server Keep Alive: the client's own value is enforced.
    session_limits limits;
    limits.server_keep_alive_seconds = 4;
    session s = connected_session(make_connect(protocol_version::v3_1_1, "c1", true, 20), limits);
    EXPECT_EQ(s.keep_alive_seconds(), 20);
    EXPECT_EQ(s.poll_deadline(), start + 30s);
}

TEST(SessionKeepAlive, TimeoutPublishesTheWill) {
    // [MQTT-3.1.2-22 (5.0)] "as if the network had failed": the Will goes [MQTT-3.1.2-8].
    connect request = make_connect(protocol_version::v5, "c1", true, 10);
    request.will = make_will("status/c1", "offline");
    session s = connected_session(request);
    s.handle_deadline(start + 15s);
    const auto actions = drain(s);
    const bool has_will = std::any_of(actions.begin(), actions.end(), [](const auto& action) {
        return std::holds_alternative<publish_will>(action);
    });
    EXPECT_TRUE(has_will);
}

} // namespace
} // namespace perch::mqtt
