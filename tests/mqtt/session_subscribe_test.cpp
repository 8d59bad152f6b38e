// Tests of mqtt/session.cpp: SUBSCRIBE / SUBACK and UNSUBSCRIBE / UNSUBACK, the checks the session
// makes itself and the subscriptions it records. Scripted conversations.
#include <gtest/gtest.h>

#include "mqtt/session.hpp"

#include "tests/mqtt/session_script.hpp"

namespace perch::mqtt {
namespace {

using namespace testing_support;

subscribe_entry entry(std::string filter, qos maximum_qos, bool is_no_local = false) {
    subscribe_entry made;
    made.topic_filter = std::move(filter);
    made.options.maximum_qos = maximum_qos;
    made.options.is_no_local = is_no_local;
    return made;
}

subscribe make_subscribe(std::uint16_t packet_id, std::vector<subscribe_entry> entries) {
    subscribe out;
    out.packet_id = packet_id;
    out.entries = std::move(entries);
    return out;
}

subscribe_requested only_request(session& s) {
    auto actions = drain(s);
    EXPECT_EQ(actions.size(), 1u);
    if (actions.size() != 1 || !std::holds_alternative<subscribe_requested>(actions[0])) {
        ADD_FAILURE() << "expected exactly one subscribe_requested";
        return {};
    }
    return std::get<subscribe_requested>(actions[0]);
}

TEST(SessionSubscribe, SubackFollowsTheGatewaysAnswer) {
    // [MQTT-3.8.4-1, MQTT-3.8.4-2 (3.1.1 and 5.0)] SUBACK with the same packet id;
    // [MQTT-3.8.4-6, MQTT-3.9.3-1 (5.0); MQTT-3.8.4-5, MQTT-3.9.3-1 (3.1.1)] one reason per
    // filter, in order; [MQTT-3.8.4-5 (5.0), MQTT-3.8.4-4 (3.1.1)] one SUBACK for all filters.
    for (const auto version : {protocol_version::v5, protocol_version::v3_1_1}) {
        session s = connected_session(make_connect(version, "c1"));
        s.handle_packet(
            make_subscribe(12, {entry("a/+", qos::exactly_once), entry("b", qos::at_most_once)}),
            start);
        const auto request = only_request(s).request;
        EXPECT_EQ(request.packet_id, 12);
        ASSERT_EQ(request.entries.size(), 2u);
        s.complete_subscribe(12, {reason_code::granted_qos_1, reason_code::not_authorized}, start);
        const auto reply = single_sent<suback>(s);
        EXPECT_EQ(reply.packet_id, 12);
        EXPECT_EQ(reply.reasons, (std::vector<reason_code>{reason_code::granted_qos_1,
                                                           reason_code::not_authorized}));
        // Only the granted filter is kept, at the granted QoS.
        ASSERT_EQ(s.state().subscriptions.size(), 1u);
        EXPECT_EQ(s.state().subscriptions.at("a/+").options.maximum_qos, qos::at_least_once);
    }
}

TEST(SessionSubscribe, IdenticalFilterReplacesTheSubscription) {
    // [MQTT-3.8.4-3 (5.0), MQTT-3.8.4-3 (3.1.1)]
    session s = connected_v5();
    s.handle_packet(make_subscribe(1, {entry("a", qos::at_most_once)}), start);
    drain(s);
    s.complete_subscribe(1, {reason_code::granted_qos_0}, start);
    drain(s);
    s.handle_packet(make_subscribe(2, {entry("a", qos::exactly_once)}), start);
    drain(s);
    s.complete_subscribe(2, {reason_code::granted_qos_2}, start);
    drain(s);
    ASSERT_EQ(s.state().subscriptions.size(), 1u);
    EXPECT_EQ(s.state().subscriptions.at("a").options.maximum_qos, qos::exactly_once);
}

TEST(SessionSubscribe, SubscriptionIdentifierIsRecorded) {
    session s = connected_v5();
    subscribe request = make_subscribe(3, {entry("a/#", qos::at_least_once)});
    request.props.subscription_identifiers = {42};
    s.handle_packet(request, start);
    EXPECT_EQ(only_request(s).request.props.subscription_identifiers,
              std::vector<std::uint32_t>{42});
    s.complete_subscribe(3, {reason_code::granted_qos_1}, start);
    drain(s);
    EXPECT_EQ(s.state().subscriptions.at("a/#").subscription_id, 42u);
}

TEST(SessionSubscribe, InvalidFilterFailsInPlace) {
    // Topic filter rules (4.7.1): "a/b#" is refused with 0x8F in its own position; the valid
    // filters go to the gateway and their reasons are merged back in order.
    session s = connected_v5();
    s.handle_packet(
        make_subscribe(4, {entry("x", qos::at_most_once), entry("a/b#", qos::at_most_once),
                           entry("y", qos::at_most_once)}),
        start);
    const auto request = only_request(s).request;
    ASSERT_EQ(request.entries.size(), 2u);
    EXPECT_EQ(request.entries[0].topic_filter, "x");
    EXPECT_EQ(request.entries[1].topic_filter, "y");
    s.complete_subscribe(4, {reason_code::granted_qos_0, reason_code::granted_qos_0}, start);
    EXPECT_EQ(
        single_sent<suback>(s).reasons,
        (std::vector<reason_code>{reason_code::granted_qos_0, reason_code::topic_filter_invalid,
                                  reason_code::granted_qos_0}));
}

TEST(SessionSubscribe, AllFiltersRefusedAnswersAtOnce) {
    // Nothing for the gateway to do: SUBACK straight away ([MQTT-3.8.4-1]); 3.1.1 has only 0x80.
    session s = connected_v311();
    s.handle_packet(make_subscribe(4, {entry("a/#/b", qos::at_most_once)}), start);
    const auto reply = single_sent<suback>(s);
    EXPECT_EQ(reply.packet_id, 4);
    ASSERT_EQ(reply.reasons.size(), 1u);
    EXPECT_TRUE(is_failure(reply.reasons[0]));
    EXPECT_TRUE(s.state().subscriptions.empty());
}

TEST(SessionSubscribe, NoLocalOnSharedSubscriptionIsAProtocolError) {
    // [MQTT-3.8.3-4 (5.0)] and nothing changes: no request, no subscription.
    session s = connected_v5();
    s.handle_packet(make_subscribe(5, {entry("ok", qos::at_most_once),
                                       entry("$share/g/a", qos::at_most_once, true)}),
                    start);
    const auto actions = drain(s);
    ASSERT_GE(actions.size(), 2u);
    EXPECT_EQ(actions[0], sent_disconnect(reason_code::protocol_error));
    EXPECT_EQ(std::get<close_connection>(actions[1]).rule, "MQTT-3.8.3-4");
    EXPECT_TRUE(s.state().subscriptions.empty());
}

TEST(SessionSubscribe, SubscriptionIdentifierZeroIsAProtocolError) {
    session s = connected_v5();
    subscribe request = make_subscribe(6, {entry("a", qos::at_most_once)});
    request.props.subscription_identifiers = {0};
    s.handle_packet(request, start);
    const auto actions = drain(s);
    ASSERT_GE(actions.size(), 2u);
    EXPECT_EQ(actions[0], sent_disconnect(reason_code::protocol_error));
}

TEST(SessionSubscribe, SubscriptionIdentifiersNotSupported) {
    session_limits limits;
    limits.is_subscription_identifier_available = false;
    session s = connected_v5("c1", limits);
    subscribe request = make_subscribe(6, {entry("a", qos::at_most_once)});
    request.props.subscription_identifiers = {3};
    s.handle_packet(request, start);
    const auto actions = drain(s);
    ASSERT_GE(actions.size(), 2u);
    EXPECT_EQ(actions[0], sent_disconnect(reason_code::subscription_identifiers_not_supported));
}

TEST(SessionSubscribe, UnavailableFeaturesAreRefusedPerFilter) {
    // [MQTT-3.8.3-2 (3.1.1)] a server without wildcard support rejects such filters (0xA2 in 5.0);
    // shared subscriptions get 0x9E when off.
    session_limits limits;
    limits.is_wildcard_subscription_available = false;
    limits.is_shared_subscription_available = false;
    session s = connected_v5("c1", limits);
    s.handle_packet(
        make_subscribe(7, {entry("a/+", qos::at_most_once), entry("$share/g/a", qos::at_most_once),
                           entry("a/b", qos::at_most_once)}),
        start);
    EXPECT_EQ(only_request(s).request.entries.size(), 1u);
    s.complete_subscribe(7, {reason_code::granted_qos_0}, start);
    EXPECT_EQ(single_sent<suback>(s).reasons,
              (std::vector<reason_code>{reason_code::wildcard_subscriptions_not_supported,
                                        reason_code::shared_subscriptions_not_supported,
                                        reason_code::granted_qos_0}));
}

TEST(SessionSubscribe, RequestedQosAboveMaximumIsAccepted) {
    // [MQTT-3.2.2-10 (5.0)] a server limited to QoS 1 still accepts a request for QoS 2 and
    // grants at most 1.
    session_limits limits;
    limits.maximum_qos = qos::at_least_once;
    session s = connected_v5("c1", limits);
    s.handle_packet(make_subscribe(8, {entry("a", qos::exactly_once)}), start);
    EXPECT_EQ(only_request(s).request.entries.at(0).options.maximum_qos, qos::at_least_once);
}

TEST(SessionSubscribe, PacketIdStillInUseIsRefused) {
    session s = connected_v5();
    s.handle_packet(make_subscribe(9, {entry("a", qos::at_most_once)}), start);
    drain(s);
    s.handle_packet(make_subscribe(9, {entry("b", qos::at_most_once)}), start);
    EXPECT_EQ(single_sent<suback>(s).reasons,
              std::vector<reason_code>{reason_code::packet_identifier_in_use});
}

TEST(SessionSubscribe, UnsubscribeRemovesExactlyMatchingFilters) {
    // [MQTT-3.10.4-1] compared character by character; [MQTT-3.10.4-4, MQTT-3.10.4-5] UNSUBACK
    // with the same id even when nothing was removed; [MQTT-3.10.4-6] one UNSUBACK;
    // [MQTT-3.11.3-1 (5.0)] reasons in filter order.
    session s = connected_v5();
    s.handle_packet(
        make_subscribe(1, {entry("a/+", qos::at_most_once), entry("b", qos::at_most_once)}), start);
    drain(s);
    s.complete_subscribe(1, {reason_code::granted_qos_0, reason_code::granted_qos_0}, start);
    drain(s);
    unsubscribe request{2, {"a/x", "a/+"}, {}};
    s.handle_packet(request, start);
    const auto actions = drain(s);
    ASSERT_EQ(actions.size(), 1u);
    EXPECT_EQ(std::get<unsubscribe_requested>(actions[0]).request.topic_filters,
              (std::vector<std::string>{"a/x", "a/+"}));
    s.complete_unsubscribe(2, {reason_code::no_subscription_existed, reason_code::success}, start);
    const auto reply = single_sent<unsuback>(s);
    EXPECT_EQ(reply.packet_id, 2);
    EXPECT_EQ(reply.reasons, (std::vector<reason_code>{reason_code::no_subscription_existed,
                                                       reason_code::success}));
    ASSERT_EQ(s.state().subscriptions.size(), 1u);
    EXPECT_EQ(s.state().subscriptions.count("b"), 1u);
}

TEST(SessionSubscribe, UnsubscribeIn311) {
    // [MQTT-3.10.4-4, MQTT-3.10.4-5 (3.1.1)]
    session s = connected_v311();
    s.handle_packet(unsubscribe{3, {"nothing/here"}, {}}, start);
    drain(s);
    s.complete_unsubscribe(3, {reason_code::no_subscription_existed}, start);
    EXPECT_EQ(single_sent<unsuback>(s).packet_id, 3);
}

TEST(SessionSubscribe, InvalidUnsubscribeFilterFailsInPlace) {
    session s = connected_v5();
    s.handle_packet(unsubscribe{4, {"a/#/b"}, {}}, start);
    EXPECT_EQ(single_sent<unsuback>(s).reasons,
              std::vector<reason_code>{reason_code::topic_filter_invalid});
}

TEST(SessionSubscribe, LateAnswerAfterDisconnectStillUpdatesTheState) {
    // The gateway applied the subscription; the state must agree even if the SUBACK cannot go.
    connect request = make_connect(protocol_version::v5, "c1", false);
    request.props.session_expiry_interval = 60;
    session s = connected_session(request);
    s.handle_packet(make_subscribe(1, {entry("a", qos::at_least_once)}), start);
    drain(s);
    s.handle_connection_lost(start);
    s.complete_subscribe(1, {reason_code::granted_qos_1}, start);
    EXPECT_TRUE(drain(s).empty());
    EXPECT_EQ(s.state().subscriptions.count("a"), 1u);
}

} // namespace
} // namespace perch::mqtt
