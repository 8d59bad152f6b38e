// Tests of mqtt/session.cpp: PUBLISH from the client (QoS 0, 1 and 2 flows, Receive Maximum,
// Topic Aliases, server capabilities) and what is routed. Scripted conversations.
#include <gtest/gtest.h>

#include "mqtt/session.hpp"

#include "tests/mqtt/session_script.hpp"

namespace perch::mqtt {
namespace {

using namespace testing_support;

route_publish only_route(const std::vector<session_action>& actions) {
    EXPECT_EQ(actions.size(), 1u);
    if (actions.size() != 1 || !std::holds_alternative<route_publish>(actions[0])) {
        ADD_FAILURE() << "expected exactly one route_publish";
        return route_publish{make_routed("none", "", qos::at_most_once), 0};
    }
    return std::get<route_publish>(actions[0]);
}

bool has_route(const std::vector<session_action>& actions) {
    return std::any_of(actions.begin(), actions.end(), [](const auto& action) {
        return std::holds_alternative<route_publish>(action);
    });
}

TEST(SessionPublish, QosZeroIsRoutedWithoutAcknowledgement) {
    // [MQTT-3.3.4-1] QoS 0 expects no response.
    session s = connected_v5();
    s.handle_packet(make_publish("a/b", "hello", qos::at_most_once), start);
    const auto routed = only_route(drain(s));
    ASSERT_TRUE(routed.content);
    EXPECT_EQ(routed.packet_id, 0);
    EXPECT_EQ(routed.content->topic_name, "a/b");
    EXPECT_EQ(routed.content->payload.as_string(), "hello");
    EXPECT_EQ(routed.content->origin, our_connection);
}

TEST(SessionPublish, QosOnePubackWaitsForRouting) {
    // [MQTT-4.3.2-4 (5.0), MQTT-4.3.2-2 (3.1.1)] PUBACK with the PUBLISH's packet id, once the
    // message is owned; [MQTT-2.2.1-5 (5.0), MQTT-2.3.1-6 (3.1.1)] same packet id.
    for (const auto version : {protocol_version::v5, protocol_version::v3_1_1}) {
        session s = connected_session(make_connect(version, "c1"));
        s.handle_packet(make_publish("a/b", "x", qos::at_least_once, 17), start);
        EXPECT_EQ(only_route(drain(s)).packet_id, 17);
        EXPECT_EQ(s.inbound_inflight(), 1u);
        s.complete_publish(17, reason_code::success, start);
        EXPECT_EQ(single_sent<puback>(s), (puback{17, reason_code::success, {}}));
        EXPECT_EQ(s.inbound_inflight(), 0u);
        // [MQTT-4.3.2-5 (5.0)] after the PUBACK the same id is a new message.
        s.handle_packet(make_publish("a/b", "y", qos::at_least_once, 17), start);
        EXPECT_EQ(only_route(drain(s)).content->payload.as_string(), "y");
    }
}

TEST(SessionPublish, NoMatchingSubscribersIsASuccessReason) {
    // [MQTT-3.4.2-1 (5.0)] 0x10 is a PUBACK reason code.
    session s = connected_v5();
    s.handle_packet(make_publish("a/b", "x", qos::at_least_once, 3), start);
    drain(s);
    s.complete_publish(3, reason_code::no_matching_subscribers, start);
    EXPECT_EQ(single_sent<puback>(s).reason, reason_code::no_matching_subscribers);
}

TEST(SessionPublish, AcknowledgementsKeepArrivalOrder) {
    // 4.6: PUBACKs leave in the order the PUBLISH packets arrived, whatever order routing
    // finishes in.
    session s = connected_v5();
    s.handle_packet(make_publish("a", "1", qos::at_least_once, 1), start);
    s.handle_packet(make_publish("a", "2", qos::at_least_once, 2), start);
    drain(s);
    s.complete_publish(2, reason_code::success, start);
    EXPECT_TRUE(drain(s).empty());
    s.complete_publish(1, reason_code::success, start);
    const auto packets = sent_packets(drain(s));
    ASSERT_EQ(packets.size(), 2u);
    EXPECT_EQ(std::get<puback>(packets[0]).packet_id, 1);
    EXPECT_EQ(std::get<puback>(packets[1]).packet_id, 2);
}

TEST(SessionPublish, QosOneResendBeforePubackIsNotRoutedTwice) {
    session s = connected_v311();
    s.handle_packet(make_publish("a", "1", qos::at_least_once, 9), start);
    drain(s);
    publish again = make_publish("a", "1", qos::at_least_once, 9);
    again.is_duplicate = true;
    s.handle_packet(again, start);
    EXPECT_TRUE(drain(s).empty());
    s.complete_publish(9, reason_code::success, start);
    EXPECT_EQ(single_sent<puback>(s).packet_id, 9);
}

TEST(SessionPublish, QosTwoFlowRoutesOnce) {
    // [MQTT-4.3.3-8, MQTT-4.3.3-10, MQTT-4.3.3-11, MQTT-4.3.3-12 (5.0); MQTT-4.3.3-2 (3.1.1)]
    for (const auto version : {protocol_version::v5, protocol_version::v3_1_1}) {
        session s = connected_session(make_connect(version, "c1"));
        s.handle_packet(make_publish("a", "once", qos::exactly_once, 4), start);
        EXPECT_EQ(only_route(drain(s)).packet_id, 4);
        s.complete_publish(4, reason_code::success, start);
        EXPECT_EQ(single_sent<pubrec>(s), (pubrec{4, reason_code::success, {}}));
        // The client did not see the PUBREC and sends again: PUBREC again, no second route.
        publish again = make_publish("a", "once", qos::exactly_once, 4);
        again.is_duplicate = true;
        s.handle_packet(again, start);
        EXPECT_EQ(single_sent<pubrec>(s).packet_id, 4);
        EXPECT_EQ(s.state().inbound_qos2_received.size(), 1u);
        s.handle_packet(pubrel{4, reason_code::success, {}}, start);
        EXPECT_EQ(single_sent<pubcomp>(s), (pubcomp{4, reason_code::success, {}}));
        EXPECT_TRUE(s.state().inbound_qos2_received.empty());
        // After PUBCOMP the id starts a new message.
        s.handle_packet(make_publish("a", "twice", qos::exactly_once, 4), start);
        EXPECT_EQ(only_route(drain(s)).content->payload.as_string(), "twice");
    }
}

TEST(SessionPublish, QosTwoDuplicateWhileRoutingWaitsForTheFirst) {
    session s = connected_v5();
    s.handle_packet(make_publish("a", "x", qos::exactly_once, 4), start);
    drain(s);
    s.handle_packet(make_publish("a", "x", qos::exactly_once, 4), start);
    EXPECT_TRUE(drain(s).empty());
    s.complete_publish(4, reason_code::success, start);
    EXPECT_EQ(single_sent<pubrec>(s).packet_id, 4);
}

TEST(SessionPublish, FailedPubrecEndsTheQosTwoFlow) {
    // [MQTT-4.3.3-9 (5.0)] after a PUBREC of 0x80 or more the id carries a new message.
    session s = connected_v5();
    s.handle_packet(make_publish("a", "x", qos::exactly_once, 4), start);
    drain(s);
    s.complete_publish(4, reason_code::not_authorized, start);
    EXPECT_EQ(single_sent<pubrec>(s).reason, reason_code::not_authorized);
    EXPECT_TRUE(s.state().inbound_qos2_received.empty());
    s.handle_packet(make_publish("a", "y", qos::exactly_once, 4), start);
    EXPECT_EQ(only_route(drain(s)).content->payload.as_string(), "y");
}

TEST(SessionPublish, PubrelForUnknownIdGetsPubcompNotFound) {
    // 5.0: PUBCOMP 0x92 (Packet Identifier not found); 3.1.1 has no reason and completes.
    session v5 = connected_v5();
    v5.handle_packet(pubrel{77, reason_code::success, {}}, start);
    EXPECT_EQ(single_sent<pubcomp>(v5),
              (pubcomp{77, reason_code::packet_identifier_not_found, {}}));
    session v311 = connected_v311();
    v311.handle_packet(pubrel{77, reason_code::success, {}}, start);
    EXPECT_EQ(single_sent<pubcomp>(v311).packet_id, 77);
}

TEST(SessionPublish, PubrelBeforePubrecIsAProtocolError) {
    session s = connected_v5();
    s.handle_packet(make_publish("a", "x", qos::exactly_once, 4), start);
    drain(s);
    s.handle_packet(pubrel{4, reason_code::success, {}}, start);
    const auto actions = drain(s);
    ASSERT_EQ(actions.size(), 3u);
    EXPECT_EQ(actions[0], sent_disconnect(reason_code::protocol_error));
}

TEST(SessionPublish, ReceiveMaximumExceededDisconnects) {
    // [MQTT-3.3.4-7 (5.0)] the client broke the Receive Maximum of CONNACK: DISCONNECT 0x93, and
    // the excess PUBLISH is not routed.
    session_limits limits;
    limits.receive_maximum = 2;
    session s = connected_v5("c1", limits);
    s.handle_packet(make_publish("a", "1", qos::at_least_once, 1), start);
    s.handle_packet(make_publish("a", "2", qos::exactly_once, 2), start);
    EXPECT_EQ(drain(s).size(), 2u);
    s.handle_packet(make_publish("a", "0", qos::at_most_once), start); // QoS 0 is not counted
    EXPECT_EQ(drain(s).size(), 1u);
    s.handle_packet(make_publish("a", "3", qos::at_least_once, 3), start);
    const auto actions = drain(s);
    EXPECT_FALSE(has_route(actions));
    ASSERT_EQ(actions.size(), 3u);
    EXPECT_EQ(actions[0], sent_disconnect(reason_code::receive_maximum_exceeded));
    EXPECT_EQ(std::get<close_connection>(actions[1]).rule, "MQTT-3.3.4-7");
}

TEST(SessionPublish, ReceiveMaximumCountsUntilPubcomp) {
    // A QoS 2 message holds its slot until PUBCOMP, not just PUBREC.
    session_limits limits;
    limits.receive_maximum = 1;
    session s = connected_v5("c1", limits);
    s.handle_packet(make_publish("a", "1", qos::exactly_once, 1), start);
    drain(s);
    s.complete_publish(1, reason_code::success, start);
    drain(s);
    EXPECT_EQ(s.inbound_inflight(), 1u);
    s.handle_packet(pubrel{1, reason_code::success, {}}, start);
    drain(s);
    s.handle_packet(make_publish("a", "2", qos::at_least_once, 2), start);
    EXPECT_EQ(only_route(drain(s)).packet_id, 2);
}

TEST(SessionPublish, QosAboveServerMaximumDisconnects) {
    // [MQTT-3.2.2-11 (5.0)] DISCONNECT 0x9B; nothing routed.
    session_limits limits;
    limits.maximum_qos = qos::at_least_once;
    session s = connected_v5("c1", limits);
    s.handle_packet(make_publish("a", "x", qos::exactly_once, 1), start);
    const auto actions = drain(s);
    EXPECT_FALSE(has_route(actions));
    ASSERT_EQ(actions.size(), 3u);
    EXPECT_EQ(actions[0], sent_disconnect(reason_code::qos_not_supported));
    EXPECT_EQ(std::get<close_connection>(actions[1]).rule, "MQTT-3.2.2-11");
}

TEST(SessionPublish, RetainWhenNotAvailableDisconnects) {
    // [MQTT-3.2.2-14 (5.0)] DISCONNECT 0x9A.
    session_limits limits;
    limits.is_retain_available = false;
    session s = connected_v5("c1", limits);
    publish retained = make_publish("a", "x", qos::at_most_once);
    retained.is_retained = true;
    s.handle_packet(retained, start);
    const auto actions = drain(s);
    EXPECT_FALSE(has_route(actions));
    ASSERT_EQ(actions.size(), 3u);
    EXPECT_EQ(actions[0], sent_disconnect(reason_code::retain_not_supported));
}

TEST(SessionPublish, SubscriptionIdentifierFromClientIsAProtocolError) {
    // [MQTT-3.3.4-6 (5.0)]
    session s = connected_v5();
    publish wrong = make_publish("a", "x", qos::at_most_once);
    wrong.props.subscription_identifiers = {4};
    s.handle_packet(wrong, start);
    const auto actions = drain(s);
    EXPECT_FALSE(has_route(actions));
    ASSERT_EQ(actions.size(), 3u);
    EXPECT_EQ(std::get<close_connection>(actions[1]).rule, "MQTT-3.3.4-6");
}

TEST(SessionPublish, WildcardInTopicNameIsRefused) {
    // [MQTT-3.3.2-2, MQTT-4.7.0-1 (5.0); MQTT-3.3.2-2, MQTT-4.7.1-1 (3.1.1)]
    session v5 = connected_v5();
    v5.handle_packet(make_publish("a/+", "x", qos::at_most_once), start);
    auto actions = drain(v5);
    EXPECT_FALSE(has_route(actions));
    ASSERT_EQ(actions.size(), 3u);
    EXPECT_EQ(actions[0], sent_disconnect(reason_code::topic_name_invalid));
    session v311 = connected_v311();
    v311.handle_packet(make_publish("a/#", "x", qos::at_least_once, 1), start);
    actions = drain(v311);
    EXPECT_FALSE(has_route(actions));
    ASSERT_EQ(actions.size(), 2u);
    EXPECT_TRUE(std::holds_alternative<close_connection>(actions[0]));
}

TEST(SessionPublish, TopicAliasIsSetThenUsed) {
    // [MQTT-3.3.2-12 (5.0)] every alias from 1 to the announced maximum is accepted.
    session_limits limits;
    limits.topic_alias_maximum = 3;
    session s = connected_v5("c1", limits);
    publish setting = make_publish("sensors/kitchen", "1", qos::at_most_once);
    setting.props.topic_alias = 3;
    s.handle_packet(setting, start);
    EXPECT_EQ(only_route(drain(s)).content->topic_name, "sensors/kitchen");
    publish using_alias = make_publish("", "2", qos::at_most_once);
    using_alias.props.topic_alias = 3;
    s.handle_packet(using_alias, start);
    const auto routed = only_route(drain(s));
    // The alias is never forwarded: a message has no place for it (forwarded_properties).
    EXPECT_EQ(routed.content->topic_name, "sensors/kitchen");
}

TEST(SessionPublish, TopicAliasZeroIsInvalid) {
    // [MQTT-3.3.2-8 (5.0)] DISCONNECT 0x94.
    session s = connected_v5();
    publish wrong = make_publish("a", "x", qos::at_most_once);
    wrong.props.topic_alias = 0;
    s.handle_packet(wrong, start);
    const auto actions = drain(s);
    ASSERT_EQ(actions.size(), 3u);
    EXPECT_EQ(actions[0], sent_disconnect(reason_code::topic_alias_invalid));
    EXPECT_EQ(std::get<close_connection>(actions[1]).rule, "MQTT-3.3.2-8");
}

TEST(SessionPublish, TopicAliasAboveMaximumIsInvalid) {
    // [MQTT-3.3.2-9 (5.0)] above the Topic Alias Maximum of CONNACK: DISCONNECT 0x94.
    session_limits limits;
    limits.topic_alias_maximum = 2;
    session s = connected_v5("c1", limits);
    publish wrong = make_publish("a", "x", qos::at_most_once);
    wrong.props.topic_alias = 3;
    s.handle_packet(wrong, start);
    const auto actions = drain(s);
    EXPECT_FALSE(has_route(actions));
    ASSERT_EQ(actions.size(), 3u);
    EXPECT_EQ(actions[0], sent_disconnect(reason_code::topic_alias_invalid));
    EXPECT_EQ(std::get<close_connection>(actions[1]).rule, "MQTT-3.3.2-9");
}

TEST(SessionPublish, UnknownTopicAliasIsAProtocolError) {
    session s = connected_v5();
    publish wrong = make_publish("", "x", qos::at_most_once);
    wrong.props.topic_alias = 1;
    s.handle_packet(wrong, start);
    const auto actions = drain(s);
    EXPECT_FALSE(has_route(actions));
    ASSERT_EQ(actions.size(), 3u);
    EXPECT_EQ(actions[0], sent_disconnect(reason_code::protocol_error));
}

TEST(SessionPublish, TopicAliasesDoNotSurviveTheConnection) {
    // [MQTT-3.3.2-7 (5.0)] a new connection to the same session starts with no aliases.
    connect request = make_connect(protocol_version::v5, "c1", false);
    request.props.session_expiry_interval = 60;
    session first = connected_session(request);
    publish setting = make_publish("a/b", "1", qos::at_most_once);
    setting.props.topic_alias = 1;
    first.handle_packet(setting, start);
    drain(first);
    first.handle_connection_lost(start);
    session second =
        connected_session(request, {}, connect_acceptance{first.take_state(start), {}, {}});
    publish using_alias = make_publish("", "2", qos::at_most_once);
    using_alias.props.topic_alias = 1;
    second.handle_packet(using_alias, start);
    const auto actions = drain(second);
    EXPECT_FALSE(has_route(actions));
    EXPECT_TRUE(ends_with_close(actions));
}

TEST(SessionPublish, ForwardedPropertiesAreKeptAndExpiryIsTimed) {
    // [MQTT-3.3.2-4, MQTT-3.3.2-15, MQTT-3.3.2-16, MQTT-3.3.2-17, MQTT-3.3.2-18, MQTT-3.3.2-20
    // (5.0)] kept unaltered and in order; [MQTT-3.3.2-5 (5.0)] expiry counted from arrival.
    session s = connected_v5();
    publish in = make_publish("a", "x", qos::at_most_once);
    in.props.payload_format_indicator = 1;
    in.props.content_type = "text/plain";
    in.props.response_topic = "reply/here";
    in.props.correlation_data = byte_vector{1, 2, 3};
    in.props.user_properties = {{"b", "2"}, {"a", "1"}, {"b", "3"}};
    in.props.message_expiry_interval = 30;
    s.handle_packet(in, start + 5s);
    const auto routed = only_route(drain(s));
    const forwarded_properties& kept = routed.content->props;
    EXPECT_EQ(kept.payload_format_indicator, 1);
    EXPECT_EQ(kept.content_type, "text/plain");
    EXPECT_EQ(kept.response_topic, "reply/here");
    EXPECT_EQ(kept.correlation_data, (byte_vector{1, 2, 3}));
    EXPECT_EQ(kept.user_properties, in.props.user_properties);
    EXPECT_EQ(routed.content->expiry_deadline, start + 35s);
}

TEST(SessionPublish, UnauthorizedPublishIsAcknowledgedIn311) {
    // [MQTT-3.3.5-2 (3.1.1)] no way to say "not authorized": a positive acknowledgement.
    session s = connected_v311();
    s.handle_packet(make_publish("a", "x", qos::at_least_once, 5), start);
    drain(s);
    s.complete_publish(5, reason_code::not_authorized, start);
    EXPECT_EQ(single_sent<puback>(s), (puback{5, reason_code::success, {}}));
}

TEST(SessionPublish, FailedStoreClosesWithoutAcknowledgementIn311) {
    // Never acknowledge what was not kept: the 3.1.1 client keeps the message and sends again.
    session s = connected_v311();
    s.handle_packet(make_publish("a", "x", qos::at_least_once, 5), start);
    drain(s);
    s.complete_publish(5, reason_code::implementation_specific_error, start);
    const auto actions = drain(s);
    ASSERT_EQ(actions.size(), 2u);
    EXPECT_TRUE(std::holds_alternative<close_connection>(actions[0]));
}

TEST(SessionPublish, RateRefusedQosTwoIn311ClosesAndIsRoutedWhenSentAgain) {
    // Refused for its rate before routing: no PUBREC, and the record is gone, so that the resend
    // on the next connection is routed instead of being answered as a duplicate. A persistent
    // session (Clean Session 0) keeps its records after the connection closes.
    session s = connected_session(make_connect(protocol_version::v3_1_1, "c1", false));
    s.handle_packet(make_publish("a", "x", qos::exactly_once, 5), start);
    drain(s);
    s.complete_publish(5, reason_code::message_rate_too_high, start);
    const auto actions = drain(s);
    ASSERT_FALSE(actions.empty());
    EXPECT_TRUE(std::holds_alternative<close_connection>(actions[0]));
    for (const session_action& action : actions) {
        EXPECT_FALSE(std::holds_alternative<send_packet>(action));
    }
    EXPECT_TRUE(s.state().inbound_qos2_received.empty());
}

TEST(SessionPublish, UnwrittenQosTwoIn311ClosesAndIsRoutedWhenSentAgain) {
    // A write that failed (no acknowledgement for what is not durable): as for a rate refusal,
    // the record goes with the connection, and the resend on the next one is routed again.
    session s = connected_session(make_connect(protocol_version::v3_1_1, "c1", false));
    s.handle_packet(make_publish("a", "x", qos::exactly_once, 5), start);
    drain(s);
    s.complete_publish(5, reason_code::unspecified_error, start);
    const auto actions = drain(s);
    ASSERT_FALSE(actions.empty());
    EXPECT_TRUE(std::holds_alternative<close_connection>(actions[0]));
    for (const session_action& action : actions) {
        EXPECT_FALSE(std::holds_alternative<send_packet>(action));
    }
    EXPECT_TRUE(s.state().inbound_qos2_received.empty());
    s.handle_connection_lost(start);
    session resumed = connected_session(make_connect(protocol_version::v3_1_1, "c1", false), {},
                                        connect_acceptance{s.take_state(start), {}, {}});
    publish again = make_publish("a", "x", qos::exactly_once, 5);
    again.is_duplicate = true;
    resumed.handle_packet(again, start);
    EXPECT_EQ(only_route(drain(resumed)).packet_id, 5);
}

TEST(SessionPublish, FailureReasonReachesA5Client) {
    session s = connected_v5();
    s.handle_packet(make_publish("a", "x", qos::at_least_once, 5), start);
    drain(s);
    s.complete_publish(5, reason_code::quota_exceeded, start);
    EXPECT_EQ(single_sent<puback>(s).reason, reason_code::quota_exceeded);
}

TEST(SessionPublish, IllegalPublishChangesNothing) {
    // A QoS 2 PUBLISH refused for its topic leaves no packet id held and no state behind.
    session s = connected_v5();
    s.handle_packet(make_publish("bad/#", "x", qos::exactly_once, 8), start);
    drain(s);
    EXPECT_TRUE(s.state().inbound_qos2_received.empty());
    EXPECT_EQ(s.inbound_inflight(), 0u);
    EXPECT_EQ(s.counters().protocol_violations, 1u);
}

TEST(SessionPublish, PublishBytesAreDecodedAtTheNegotiatedLevel) {
    // 3.1.1 PUBLISH bytes: 32 (QoS 1), topic "t", packet id 0x0102, payload "hi".
    session s = connected_v311();
    const byte_vector in = {0x32, 0x07, 0x00, 0x01, 't', 0x01, 0x02, 'h', 'i'};
    s.handle_bytes(in, start);
    const auto routed = only_route(drain(s));
    EXPECT_EQ(routed.packet_id, 0x0102);
    EXPECT_EQ(routed.content->payload.as_string(), "hi");
}

} // namespace
} // namespace perch::mqtt
