// Tests of mqtt/session.cpp: the Will Message (when it is published, delayed, discarded) and the
// end of a session (expiry interval, DISCONNECT, takeover, clean start elsewhere).
#include <gtest/gtest.h>

#include "mqtt/session.hpp"

#include "tests/mqtt/session_script.hpp"

namespace perch::mqtt {
namespace {

using namespace testing_support;

connect with_will(protocol_version version, will_message will, std::uint32_t session_expiry = 0,
                  std::uint32_t will_delay = 0) {
    connect request = make_connect(version, "c1", session_expiry == 0);
    request.will = std::move(will);
    if (version == protocol_version::v5) {
        if (session_expiry > 0) {
            request.props.session_expiry_interval = session_expiry;
        }
        if (will_delay > 0) {
            request.will->props.will_delay_interval = will_delay;
        }
    }
    return request;
}

std::vector<message_ptr> wills_in(const std::vector<session_action>& actions) {
    std::vector<message_ptr> wills;
    for (const auto& action : actions) {
        if (const auto* will = std::get_if<publish_will>(&action)) {
            wills.push_back(will->content);
        }
    }
    return wills;
}

TEST(SessionWill, PublishedWhenTheConnectionIsLost) {
    // [MQTT-3.1.2-8 (3.1.1 and 5.0)] then removed [MQTT-3.1.2-10]; [MQTT-3.1.2-14 (5.0),
    // MQTT-3.1.2-16 (3.1.1)] not retained when Will Retain is 0.
    for (const auto version : {protocol_version::v5, protocol_version::v3_1_1}) {
        session s = connected_session(
            with_will(version, make_will("status/c1", "offline", qos::at_least_once)));
        EXPECT_TRUE(s.has_will());
        s.handle_connection_lost(start + 5s);
        const auto actions = drain(s);
        const auto wills = wills_in(actions);
        ASSERT_EQ(wills.size(), 1u);
        EXPECT_EQ(wills[0]->topic_name, "status/c1");
        EXPECT_EQ(wills[0]->payload.as_string(), "offline");
        EXPECT_EQ(wills[0]->qos_level, qos::at_least_once);
        EXPECT_FALSE(wills[0]->is_retained);
        EXPECT_EQ(wills[0]->origin, our_connection);
        EXPECT_FALSE(s.has_will());
        // The non-persistent session ends after its Will.
        EXPECT_TRUE(std::holds_alternative<session_expired>(actions.back()));
    }
}

TEST(SessionWill, RetainedWillIsPublishedRetained) {
    // [MQTT-3.1.2-15 (5.0), MQTT-3.1.2-17 (3.1.1)]
    for (const auto version : {protocol_version::v5, protocol_version::v3_1_1}) {
        session s = connected_session(
            with_will(version, make_will("status/c1", "offline", qos::at_most_once, true)));
        s.handle_connection_lost(start);
        const auto wills = wills_in(drain(s));
        ASSERT_EQ(wills.size(), 1u);
        EXPECT_TRUE(wills[0]->is_retained);
    }
}

TEST(SessionWill, WillPropertiesKeepUserPropertyOrder) {
    // [MQTT-3.1.3-10 (5.0)]
    will_message will = make_will("status/c1", "offline");
    will.props.user_properties = {{"k", "2"}, {"a", "1"}, {"k", "1"}};
    will.props.content_type = "text/plain";
    session s = connected_session(with_will(protocol_version::v5, will));
    s.handle_connection_lost(start);
    const auto wills = wills_in(drain(s));
    ASSERT_EQ(wills.size(), 1u);
    EXPECT_EQ(wills[0]->props.user_properties, will.props.user_properties);
    EXPECT_EQ(wills[0]->props.content_type, "text/plain");
}

TEST(SessionWill, NormalDisconnectDiscardsTheWill) {
    // [MQTT-3.14.4-3, MQTT-3.1.2-10 (5.0 with reason 0x00, and 3.1.1)]
    for (const auto version : {protocol_version::v5, protocol_version::v3_1_1}) {
        session s = connected_session(with_will(version, make_will("status/c1", "offline")));
        s.handle_packet(disconnect{}, start);
        const auto actions = drain(s);
        EXPECT_TRUE(wills_in(actions).empty());
        ASSERT_EQ(actions.size(), 2u);
        EXPECT_EQ(actions[0], closed_with(reason_code::success, "MQTT-3.14.4-3"));
        EXPECT_TRUE(std::holds_alternative<session_expired>(actions[1]));
        s.handle_connection_lost(start);
        EXPECT_TRUE(drain(s).empty());
    }
}

TEST(SessionWill, DisconnectWithWillMessagePublishesIt) {
    // Reason 0x04 asks for the Will to be published [MQTT-3.1.2-8 (5.0)].
    session s = connected_session(with_will(protocol_version::v5, make_will("status/c1", "x")));
    s.handle_packet(disconnect{reason_code::disconnect_with_will_message, {}}, start);
    EXPECT_EQ(wills_in(drain(s)).size(), 1u);
}

TEST(SessionWill, ProtocolErrorPublishesTheWill) {
    session s = connected_session(with_will(protocol_version::v5, make_will("status/c1", "x")));
    s.handle_packet(pingresp{}, start);
    EXPECT_EQ(wills_in(drain(s)).size(), 1u);
}

TEST(SessionWill, NoWillFlagNoWill) {
    // [MQTT-3.1.2-12 (3.1.1)] no Will flag: nothing is published.
    session s = connected_v311();
    EXPECT_FALSE(s.has_will());
    s.handle_connection_lost(start);
    EXPECT_TRUE(wills_in(drain(s)).empty());
}

TEST(SessionWill, WillDelayHoldsTheWill) {
    // [MQTT-3.1.2-8 (5.0)] published once the Will Delay Interval has passed.
    session s = connected_session(
        with_will(protocol_version::v5, make_will("status/c1", "offline"), 3600, 30));
    s.handle_connection_lost(start);
    EXPECT_TRUE(drain(s).empty());
    EXPECT_EQ(s.phase(), session_phase::disconnected);
    EXPECT_EQ(s.poll_deadline(), start + 30s);
    s.handle_deadline(start + 29s);
    EXPECT_TRUE(drain(s).empty());
    s.handle_deadline(start + 30s);
    EXPECT_EQ(wills_in(drain(s)).size(), 1u);
    EXPECT_EQ(s.poll_deadline(), start + 3600s);
}

TEST(SessionWill, ReconnectingInTimeCancelsTheWill) {
    // [MQTT-3.1.3-9 (5.0)] a new connection to the session before the delay: no Will.
    session s = connected_session(
        with_will(protocol_version::v5, make_will("status/c1", "offline"), 3600, 30));
    s.handle_connection_lost(start);
    drain(s);
    const session_state taken = s.take_state(start + 10s);
    EXPECT_EQ(taken.client_id, "c1");
    EXPECT_TRUE(drain(s).empty());
    s.handle_deadline(start + 60s);
    EXPECT_TRUE(drain(s).empty());
    EXPECT_EQ(s.phase(), session_phase::closed);
}

TEST(SessionWill, SessionEndBeforeTheDelayPublishesTheWill) {
    // [MQTT-3.1.2-8 (5.0)] whichever comes first: here the session expiry.
    session s = connected_session(
        with_will(protocol_version::v5, make_will("status/c1", "offline"), 20, 600));
    s.handle_connection_lost(start);
    EXPECT_EQ(s.poll_deadline(), start + 20s);
    s.handle_deadline(start + 20s);
    const auto actions = drain(s);
    ASSERT_EQ(actions.size(), 2u);
    EXPECT_TRUE(std::holds_alternative<publish_will>(actions[0]));
    EXPECT_TRUE(std::holds_alternative<session_expired>(actions[1]));
}

TEST(SessionWill, CleanStartElsewhereEndsTheSessionWithItsWill) {
    session s = connected_session(
        with_will(protocol_version::v5, make_will("status/c1", "offline"), 3600, 600));
    s.shutdown(reason_code::session_taken_over, start);
    drain(s);
    s.discard_session(start + 1s);
    const auto actions = drain(s);
    ASSERT_EQ(actions.size(), 2u);
    EXPECT_TRUE(std::holds_alternative<publish_will>(actions[0]));
    EXPECT_TRUE(std::holds_alternative<session_expired>(actions[1]));
    EXPECT_EQ(s.phase(), session_phase::closed);
}

TEST(SessionWill, SessionStateOutlivesTheConnectionUntilExpiry) {
    // [MQTT-3.1.2-23, MQTT-4.1.0-1, MQTT-4.1.0-2 (5.0)] kept while connected and for the expiry
    // interval after; then discarded.
    connect request = make_connect(protocol_version::v5, "c1", false);
    request.props.session_expiry_interval = 100;
    session s = connected_session(request);
    s.handle_packet(subscribe{1, {subscribe_entry{"a", {qos::at_least_once}}}, {}}, start);
    drain(s);
    s.complete_subscribe(1, {reason_code::granted_qos_1}, start);
    drain(s);
    s.handle_connection_lost(start + 1s);
    EXPECT_TRUE(drain(s).empty());
    EXPECT_EQ(s.state().subscriptions.size(), 1u);
    EXPECT_EQ(s.handle_delivery(make_routed("a", "kept", qos::at_least_once), {}, start + 2s),
              delivery_outcome::queued);
    s.handle_deadline(start + 100s);
    EXPECT_TRUE(drain(s).empty());
    s.handle_deadline(start + 101s);
    const auto actions = drain(s);
    ASSERT_EQ(actions.size(), 1u);
    EXPECT_TRUE(std::holds_alternative<session_expired>(actions[0]));
    EXPECT_TRUE(s.state().subscriptions.empty());
    EXPECT_TRUE(s.state().queued.empty());
}

TEST(SessionWill, CleanSessionZeroIn311Persists) {
    // [MQTT-3.1.2-4, MQTT-3.1.2-5 (3.1.1)] the session and further QoS 1/2 messages are kept.
    session s = connected_session(make_connect(protocol_version::v3_1_1, "c1", false));
    s.handle_connection_lost(start);
    EXPECT_TRUE(drain(s).empty());
    EXPECT_EQ(s.phase(), session_phase::disconnected);
    EXPECT_EQ(s.handle_delivery(make_routed("a", "x", qos::exactly_once), {}, start),
              delivery_outcome::queued);
}

TEST(SessionWill, CleanSessionOneIn311EndsWithTheConnection) {
    // [MQTT-3.1.2-6 (3.1.1)]
    session s = connected_v311();
    s.handle_connection_lost(start);
    const auto actions = drain(s);
    ASSERT_EQ(actions.size(), 1u);
    EXPECT_TRUE(std::holds_alternative<session_expired>(actions[0]));
    EXPECT_EQ(s.phase(), session_phase::closed);
}

TEST(SessionWill, DisconnectMayChangeTheSessionExpiry) {
    connect request = make_connect(protocol_version::v5, "c1", false);
    request.props.session_expiry_interval = 100;
    session s = connected_session(request);
    disconnect bye;
    bye.props.session_expiry_interval = 0;
    s.handle_packet(bye, start);
    const auto actions = drain(s);
    ASSERT_EQ(actions.size(), 2u);
    EXPECT_TRUE(std::holds_alternative<session_expired>(actions[1]));
}

TEST(SessionWill, DisconnectCannotRaiseAZeroExpiry) {
    // 3.14.2.2.2: non-zero on DISCONNECT after zero on CONNECT is a Protocol Error; the Will is
    // then published, not discarded.
    session s = connected_session(with_will(protocol_version::v5, make_will("status/c1", "x")));
    disconnect bye;
    bye.props.session_expiry_interval = 60;
    s.handle_packet(bye, start);
    const auto actions = drain(s);
    ASSERT_GE(actions.size(), 2u);
    EXPECT_EQ(actions[0], sent_disconnect(reason_code::protocol_error));
    EXPECT_EQ(wills_in(actions).size(), 1u);
    EXPECT_EQ(s.session_expiry_interval(), 0u);
}

} // namespace
} // namespace perch::mqtt
