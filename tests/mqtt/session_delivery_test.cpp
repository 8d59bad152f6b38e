// Tests of mqtt/session.cpp: messages the server sends to the client (QoS downgrade, flags,
// Receive Maximum window and queue, acknowledgements, resumption, size limits). Topic aliases:
// session_topic_alias_test.cpp.
#include <gtest/gtest.h>

#include "mqtt/session.hpp"

#include "tests/mqtt/session_script.hpp"

namespace perch::mqtt {
namespace {

using namespace testing_support;

delivery_options granted(qos granted_qos) {
    delivery_options options;
    options.granted_qos = granted_qos;
    return options;
}

session persistent_v5(const session_limits& limits = {}, std::uint16_t receive_maximum = 0) {
    connect request = make_connect(protocol_version::v5, "c1", false);
    request.props.session_expiry_interval = 3600;
    if (receive_maximum > 0) {
        request.props.receive_maximum = receive_maximum;
    }
    return connected_session(request, limits);
}

TEST(SessionDelivery, QosIsTheLowerOfPublishedAndGranted) {
    // [MQTT-3.8.4-8 (5.0), MQTT-3.8.4-6 (3.1.1)]
    for (const auto version : {protocol_version::v5, protocol_version::v3_1_1}) {
        session s = connected_session(make_connect(version, "c1"));
        EXPECT_EQ(s.handle_delivery(make_routed("a", "x", qos::exactly_once),
                                    granted(qos::at_least_once), start),
                  delivery_outcome::sent);
        EXPECT_EQ(single_sent<publish>(s).qos_level, qos::at_least_once);
        s.handle_delivery(make_routed("a", "x", qos::at_most_once), granted(qos::exactly_once),
                          start);
        EXPECT_EQ(single_sent<publish>(s).qos_level, qos::at_most_once);
    }
}

TEST(SessionDelivery, QosZeroHasNoPacketIdAndNoDup) {
    // [MQTT-4.3.1-1, MQTT-3.3.1-2, MQTT-2.2.1-2 (5.0)]
    session s = connected_v5();
    s.handle_delivery(make_routed("a", "x", qos::at_most_once), granted(qos::exactly_once), start);
    const auto out = single_sent<publish>(s);
    EXPECT_EQ(out.packet_id, 0);
    EXPECT_FALSE(out.is_duplicate);
    EXPECT_TRUE(s.state().inflight.empty());
}

TEST(SessionDelivery, NewDeliveriesGetFreshNonZeroIdsAndDupZero) {
    // [MQTT-2.2.1-4, MQTT-4.3.2-1, MQTT-4.3.2-2, MQTT-4.3.3-1, MQTT-4.3.3-2 (5.0);
    // MQTT-2.3.1-4 (3.1.1)]
    session s = connected_v5();
    s.handle_delivery(make_routed("a", "1", qos::at_least_once), {}, start);
    s.handle_delivery(make_routed("a", "2", qos::exactly_once), {}, start);
    const auto packets = sent_packets(drain(s));
    ASSERT_EQ(packets.size(), 2u);
    const auto& first = std::get<publish>(packets[0]);
    const auto& second = std::get<publish>(packets[1]);
    EXPECT_NE(first.packet_id, 0);
    EXPECT_NE(second.packet_id, 0);
    EXPECT_NE(first.packet_id, second.packet_id);
    EXPECT_FALSE(first.is_duplicate);
    EXPECT_FALSE(second.is_duplicate);
    EXPECT_EQ(s.state().inflight.size(), 2u);
}

TEST(SessionDelivery, PubackReleasesTheDelivery) {
    // [MQTT-4.3.2-3 (5.0)] unacknowledged until PUBACK.
    session s = connected_v5();
    s.handle_delivery(make_routed("a", "1", qos::at_least_once), {}, start);
    const auto out = single_sent<publish>(s);
    EXPECT_EQ(s.state().inflight.size(), 1u);
    s.handle_packet(puback{out.packet_id, reason_code::success, {}}, start);
    EXPECT_TRUE(drain(s).empty());
    EXPECT_TRUE(s.state().inflight.empty());
}

TEST(SessionDelivery, QosTwoOutboundFlow) {
    // [MQTT-4.3.3-3, MQTT-4.3.3-4, MQTT-4.3.3-5 (5.0); MQTT-4.3.3-1 (3.1.1)] PUBREC -> PUBREL
    // with the same id; done at PUBCOMP.
    for (const auto version : {protocol_version::v5, protocol_version::v3_1_1}) {
        session s = connected_session(make_connect(version, "c1"));
        s.handle_delivery(make_routed("a", "1", qos::exactly_once), {}, start);
        const auto out = single_sent<publish>(s);
        s.handle_packet(pubrec{out.packet_id, reason_code::success, {}}, start);
        EXPECT_EQ(single_sent<pubrel>(s), (pubrel{out.packet_id, reason_code::success, {}}));
        EXPECT_EQ(s.state().inflight.entries().front().stage, outbound_stage::awaiting_pubcomp);
        s.handle_packet(pubcomp{out.packet_id, reason_code::success, {}}, start);
        EXPECT_TRUE(drain(s).empty());
        EXPECT_TRUE(s.state().inflight.empty());
    }
}

TEST(SessionDelivery, FailedPubrecIsAcknowledged) {
    // [MQTT-4.4.0-2 (5.0)] a PUBREC of 0x80 or more ends the flow: no PUBREL, no resend.
    session s = connected_v5();
    s.handle_delivery(make_routed("a", "1", qos::exactly_once), {}, start);
    const auto out = single_sent<publish>(s);
    s.handle_packet(pubrec{out.packet_id, reason_code::unspecified_error, {}}, start);
    EXPECT_TRUE(drain(s).empty());
    EXPECT_TRUE(s.state().inflight.empty());
}

TEST(SessionDelivery, ReceiveMaximumBoundsTheWindow) {
    // [MQTT-3.3.4-9, MQTT-4.9.0-2 (5.0)] never more unacknowledged QoS 1/2 PUBLISH than the
    // client's Receive Maximum; the rest waits and goes, in order, as acknowledgements come.
    session s = persistent_v5({}, 2);
    for (const char* payload : {"1", "2", "3", "4"}) {
        s.handle_delivery(make_routed("a", payload, qos::at_least_once), {}, start);
    }
    auto packets = sent_packets(drain(s));
    ASSERT_EQ(packets.size(), 2u);
    EXPECT_EQ(s.state().queued.size(), 2u);
    // [MQTT-3.3.4-10, MQTT-4.9.0-3 (5.0)] other packets are not held back.
    s.handle_packet(pingreq{}, start);
    single_sent<pingresp>(s);
    s.handle_packet(puback{std::get<publish>(packets[0]).packet_id, reason_code::success, {}},
                    start);
    const auto third = single_sent<publish>(s);
    EXPECT_EQ(third.payload.as_string(), "3");
    // QoS 0 does not count against the window but keeps its place behind waiting messages.
    EXPECT_EQ(s.handle_delivery(make_routed("a", "q0", qos::at_most_once),
                                granted(qos::exactly_once), start),
              delivery_outcome::queued);
    s.handle_packet(puback{third.packet_id, reason_code::success, {}}, start);
    packets = sent_packets(drain(s));
    ASSERT_EQ(packets.size(), 2u);
    EXPECT_EQ(std::get<publish>(packets[0]).payload.as_string(), "4");
    EXPECT_EQ(std::get<publish>(packets[1]).payload.as_string(), "q0");
}

TEST(SessionDelivery, BlockedOutputHoldsNewQosOneAndTwoInOrder) {
    // While the gateway's output is over its limit no new QoS 1/2 PUBLISH is sent: deliveries
    // queue, past the queue's bounds they are reported queue_full (the gateway keeps them in the
    // store), and unblocking sends them oldest first. QoS 0 is not held.
    session_limits limits;
    limits.max_queued_messages = 2;
    session s = persistent_v5(limits);
    s.set_output_blocked(true, start);
    EXPECT_TRUE(s.is_output_blocked());
    EXPECT_EQ(s.handle_delivery(make_routed("a", "1", qos::at_least_once), {}, start),
              delivery_outcome::queued);
    EXPECT_EQ(s.handle_delivery(make_routed("a", "2", qos::exactly_once),
                                granted(qos::exactly_once), start),
              delivery_outcome::queued);
    EXPECT_EQ(s.handle_delivery(make_routed("a", "3", qos::at_least_once), {}, start),
              delivery_outcome::queue_full);
    EXPECT_TRUE(drain(s).empty());
    s.set_output_blocked(false, start);
    const auto packets = sent_packets(drain(s));
    ASSERT_EQ(packets.size(), 2u);
    EXPECT_EQ(std::get<publish>(packets[0]).payload.as_string(), "1");
    EXPECT_EQ(std::get<publish>(packets[1]).payload.as_string(), "2");
    EXPECT_EQ(std::get<publish>(packets[1]).qos_level, qos::exactly_once);
    EXPECT_TRUE(s.state().queued.empty());
}

TEST(SessionDelivery, ChangeCountMovesOnEveryDepartureButNotOnAppends) {
    // The gateway's store ledger skips its comparison while only appends happened: every other
    // change to the queued and in-flight deliveries must move the count.
    session s = persistent_v5({}, 1);
    std::uint64_t seen = s.state().change_count;
    const auto moved = [&s, &seen] {
        const bool has_moved = s.state().change_count != seen;
        seen = s.state().change_count;
        return has_moved;
    };
    // Sent at once: it entered the window.
    s.handle_delivery(make_routed("a", "1", qos::at_least_once), {}, start);
    const auto first = single_sent<publish>(s);
    EXPECT_TRUE(moved());
    // The window is full: queued behind it, an append only.
    s.handle_delivery(make_routed("a", "2", qos::exactly_once), {}, start);
    s.handle_delivery(make_routed("a", "3", qos::at_least_once), {}, start);
    EXPECT_TRUE(drain(s).empty());
    EXPECT_FALSE(moved());
    // PUBACK: the first leaves the window and the second leaves the queue for it.
    s.handle_packet(puback{first.packet_id, reason_code::success, {}}, start);
    const auto second = single_sent<publish>(s);
    EXPECT_TRUE(moved());
    // PUBREC: the second changes stage.
    s.handle_packet(pubrec{second.packet_id, reason_code::success, {}}, start);
    single_sent<pubrel>(s);
    EXPECT_TRUE(moved());
    // PUBCOMP: it leaves, and the third is sent.
    s.handle_packet(pubcomp{second.packet_id, reason_code::success, {}}, start);
    single_sent<publish>(s);
    EXPECT_TRUE(moved());
    // A duplicate acknowledgement changes nothing.
    s.handle_packet(pubcomp{second.packet_id, reason_code::success, {}}, start);
    EXPECT_FALSE(moved());
}

TEST(SessionDelivery, DuplicatePubackChangesNothing) {
    session s = connected_v5();
    s.handle_delivery(make_routed("a", "1", qos::at_least_once), {}, start);
    const auto out = single_sent<publish>(s);
    s.handle_packet(puback{out.packet_id, reason_code::success, {}}, start);
    s.handle_packet(puback{out.packet_id, reason_code::success, {}}, start);
    EXPECT_TRUE(drain(s).empty());
    EXPECT_TRUE(s.is_connected());
}

TEST(SessionDelivery, WrongAcknowledgementTypeIsAProtocolError) {
    session s = connected_v5();
    s.handle_delivery(make_routed("a", "1", qos::at_least_once), {}, start);
    const auto out = single_sent<publish>(s);
    s.handle_packet(pubcomp{out.packet_id, reason_code::success, {}}, start);
    const auto actions = drain(s);
    ASSERT_GE(actions.size(), 2u);
    EXPECT_EQ(actions[0], sent_disconnect(reason_code::protocol_error));
}

TEST(SessionDelivery, PubrecForUnknownIdGetsPubrelNotFound) {
    session s = connected_v5();
    s.handle_packet(pubrec{55, reason_code::success, {}}, start);
    EXPECT_EQ(single_sent<pubrel>(s), (pubrel{55, reason_code::packet_identifier_not_found, {}}));
}

TEST(SessionDelivery, RetainFlagFollowsTheSubscription) {
    // [MQTT-3.3.1-12, MQTT-3.3.1-13 (5.0)] Retain As Published decides; [MQTT-3.3.1-9 (5.0)]
    // retained messages sent for a new subscription keep RETAIN.
    session s = connected_v5();
    const auto retained = make_routed("a", "r", qos::at_most_once, true);
    s.handle_delivery(retained, granted(qos::at_most_once), start);
    EXPECT_FALSE(single_sent<publish>(s).is_retained);
    delivery_options as_published = granted(qos::at_most_once);
    as_published.is_retain_as_published = true;
    s.handle_delivery(retained, as_published, start);
    EXPECT_TRUE(single_sent<publish>(s).is_retained);
    delivery_options at_subscribe = granted(qos::at_most_once);
    at_subscribe.is_retained_at_subscribe = true;
    s.handle_delivery(retained, at_subscribe, start);
    EXPECT_TRUE(single_sent<publish>(s).is_retained);
}

TEST(SessionDelivery, RetainFlagIn311) {
    // [MQTT-3.3.1-8 (3.1.1)] 1 when sent because of a new subscription; [MQTT-3.3.1-9 (3.1.1)]
    // 0 on an established subscription.
    session s = connected_v311();
    const auto retained = make_routed("a", "r", qos::at_most_once, true);
    s.handle_delivery(retained, granted(qos::at_most_once), start);
    EXPECT_FALSE(single_sent<publish>(s).is_retained);
    delivery_options at_subscribe = granted(qos::at_most_once);
    at_subscribe.is_retained_at_subscribe = true;
    s.handle_delivery(retained, at_subscribe, start);
    EXPECT_TRUE(single_sent<publish>(s).is_retained);
}

TEST(SessionDelivery, SubscriptionIdentifiersAreSent) {
    // [MQTT-3.3.4-3, MQTT-3.3.4-4 (5.0)] every matching identifier; 3.1.1 has none.
    const std::vector<std::uint32_t> ids = {4, 9};
    delivery_options options = granted(qos::at_most_once);
    options.subscription_ids = ids;
    session v5 = connected_v5();
    v5.handle_delivery(make_routed("a", "x", qos::at_most_once), options, start);
    EXPECT_EQ(single_sent<publish>(v5).props.subscription_identifiers, ids);
    session v311 = connected_v311();
    v311.handle_delivery(make_routed("a", "x", qos::at_most_once), options, start);
    EXPECT_TRUE(single_sent<publish>(v311).props.empty());
}

TEST(SessionDelivery, PropertiesAreForwardedUnaltered) {
    // [MQTT-3.3.2-4, MQTT-3.3.2-15, MQTT-3.3.2-16, MQTT-3.3.2-17, MQTT-3.3.2-18, MQTT-3.3.2-20]
    auto routed = std::make_shared<message>();
    routed->topic_name = "a";
    routed->qos_level = qos::at_most_once;
    routed->props.payload_format_indicator = 1;
    routed->props.content_type = "application/json";
    routed->props.response_topic = "r/1";
    routed->props.correlation_data = byte_vector{9};
    routed->props.user_properties = {{"z", "1"}, {"a", "2"}};
    session s = connected_v5();
    s.handle_delivery(routed, {}, start);
    const auto out = single_sent<publish>(s);
    EXPECT_EQ(out.props.payload_format_indicator, 1);
    EXPECT_EQ(out.props.content_type, "application/json");
    EXPECT_EQ(out.props.response_topic, "r/1");
    EXPECT_EQ(out.props.correlation_data, byte_vector{9});
    EXPECT_EQ(out.props.user_properties, routed->props.user_properties);
}

TEST(SessionDelivery, MessageExpiryCountsDown) {
    // [MQTT-3.3.2-6 (5.0)] the interval left; [MQTT-3.3.2-5 (5.0)] an expired message that has
    // not started towards the client is deleted.
    session s = persistent_v5({}, 1);
    auto blocker = make_routed("a", "first", qos::at_least_once);
    auto expiring = std::make_shared<message>(*make_routed("a", "soon", qos::at_least_once));
    expiring->expiry_deadline = start + 10s;
    s.handle_delivery(blocker, {}, start);
    const auto first = single_sent<publish>(s);
    EXPECT_EQ(s.handle_delivery(expiring, {}, start + 1s), delivery_outcome::queued);
    s.handle_packet(puback{first.packet_id, reason_code::success, {}}, start + 4s);
    EXPECT_EQ(single_sent<publish>(s).props.message_expiry_interval, 6u);

    session late = persistent_v5({}, 1);
    late.handle_delivery(blocker, {}, start);
    const auto blocked = single_sent<publish>(late);
    late.handle_delivery(expiring, {}, start + 1s);
    late.handle_packet(puback{blocked.packet_id, reason_code::success, {}}, start + 11s);
    EXPECT_TRUE(drain(late).empty());
    EXPECT_EQ(late.counters().dropped_expired, 1u);
    EXPECT_EQ(late.handle_delivery(expiring, {}, start + 12s), delivery_outcome::dropped_expired);
}

TEST(SessionDelivery, NoLocalSkipsOwnMessages) {
    // [MQTT-3.8.3-3 (5.0)]
    session s = connected_v5();
    delivery_options options;
    options.is_no_local = true;
    EXPECT_EQ(s.handle_delivery(make_routed("a", "x", qos::at_most_once, false, our_connection),
                                options, start),
              delivery_outcome::skipped_no_local);
    EXPECT_TRUE(drain(s).empty());
    EXPECT_EQ(s.handle_delivery(make_routed("a", "x", qos::at_most_once), options, start),
              delivery_outcome::sent);
}

TEST(SessionDelivery, TooLargeForTheClientIsDroppedAsIfSent) {
    // [MQTT-3.1.2-24, MQTT-3.1.2-25 (5.0)] never sent; counted; no packet id is held.
    connect request = make_connect(protocol_version::v5, "c1");
    request.props.maximum_packet_size = 64;
    session s = connected_session(request);
    EXPECT_EQ(
        s.handle_delivery(make_routed("a", std::string(100, 'x'), qos::at_least_once), {}, start),
        delivery_outcome::dropped_too_large);
    EXPECT_TRUE(drain(s).empty());
    EXPECT_TRUE(s.state().inflight.empty());
    EXPECT_EQ(s.counters().dropped_too_large, 1u);
    EXPECT_EQ(s.handle_delivery(make_routed("a", "small", qos::at_least_once), {}, start),
              delivery_outcome::sent);
}

TEST(SessionDelivery, ResumptionResendsInOrderWithDup) {
    // [MQTT-4.4.0-1, MQTT-3.3.1-1 (5.0 and 3.1.1)] unacknowledged PUBLISH (DUP 1) and PUBREL go
    // again, in order, with their ids; [MQTT-4.3.3-6 (5.0)] a PUBLISH whose PUBREL was sent is
    // not. Then the queued messages follow.
    for (const auto version : {protocol_version::v5, protocol_version::v3_1_1}) {
        connect request = make_connect(version, "c1", false);
        request.props.session_expiry_interval = 60;
        if (version == protocol_version::v5) {
            request.props.receive_maximum = 3;
        }
        session_limits limits;
        limits.outbound_inflight_maximum = 3;
        session first = connected_session(request, limits);
        first.handle_delivery(make_routed("a", "1", qos::at_least_once), {}, start);
        first.handle_delivery(make_routed("a", "2", qos::exactly_once), {}, start);
        first.handle_delivery(make_routed("a", "3", qos::exactly_once), {}, start);
        first.handle_delivery(make_routed("a", "4", qos::at_least_once), {}, start);
        const auto sent = sent_packets(drain(first));
        ASSERT_EQ(sent.size(), 3u);
        const auto id_of = [&sent](std::size_t i) { return std::get<publish>(sent[i]).packet_id; };
        first.handle_packet(pubrec{id_of(1), reason_code::success, {}}, start);
        drain(first);
        first.handle_connection_lost(start + 1s);
        EXPECT_TRUE(drain(first).empty());
        // While away, QoS 1 queues and QoS 0 is dropped.
        first.handle_delivery(make_routed("a", "5", qos::at_least_once), {}, start + 2s);
        EXPECT_EQ(first.handle_delivery(make_routed("a", "q0", qos::at_most_once),
                                        granted(qos::exactly_once), start + 2s),
                  delivery_outcome::dropped_qos0);

        session second(limits, our_connection + 1, start + 3s);
        second.handle_packet(request, start + 3s);
        drain(second);
        second.accept_connect(connect_acceptance{first.take_state(start + 3s), {}, {}}, start + 3s);
        const auto resent = sent_packets(drain(second));
        ASSERT_EQ(resent.size(), 4u);
        EXPECT_TRUE(std::get<connack>(resent[0]).session_present);
        const auto& again_1 = std::get<publish>(resent[1]);
        EXPECT_EQ(again_1.packet_id, id_of(0));
        EXPECT_TRUE(again_1.is_duplicate);
        EXPECT_EQ(again_1.payload.as_string(), "1");
        EXPECT_EQ(std::get<pubrel>(resent[2]).packet_id, id_of(1));
        const auto& again_3 = std::get<publish>(resent[3]);
        EXPECT_EQ(again_3.packet_id, id_of(2));
        EXPECT_TRUE(again_3.is_duplicate);
        EXPECT_EQ(second.state().queued.size(), 2u);
        // Acknowledging makes room for the queued messages, oldest first.
        second.handle_packet(puback{id_of(0), reason_code::success, {}}, start + 4s);
        const auto next = single_sent<publish>(second);
        EXPECT_EQ(next.payload.as_string(), "4");
        EXPECT_FALSE(next.is_duplicate);
    }
}

TEST(SessionDelivery, NoResendOnALiveConnection) {
    // [MQTT-4.4.0-1 (5.0)] resending happens only on resumption: time passing changes nothing.
    session s = connected_v5();
    s.handle_delivery(make_routed("a", "1", qos::at_least_once), {}, start);
    drain(s);
    s.handle_deadline(start + 3600s);
    EXPECT_TRUE(drain(s).empty());
}

TEST(SessionDelivery, QueueOverflowDropsQosZeroFirst) {
    session_limits limits;
    limits.max_queued_messages = 2;
    session s = persistent_v5(limits, 1);
    s.handle_delivery(make_routed("a", "inflight", qos::at_least_once), {}, start);
    drain(s);
    EXPECT_EQ(s.handle_delivery(make_routed("a", "q1", qos::at_least_once), {}, start),
              delivery_outcome::queued);
    // QoS 0 waits behind the queued QoS 1 message to keep the order.
    EXPECT_EQ(s.handle_delivery(make_routed("a", "q0", qos::at_most_once),
                                granted(qos::exactly_once), start),
              delivery_outcome::queued);
    // Full: a QoS 1 message pushes the QoS 0 one out.
    EXPECT_EQ(s.handle_delivery(make_routed("a", "q1b", qos::at_least_once), {}, start),
              delivery_outcome::queued);
    EXPECT_EQ(s.counters().dropped_qos0, 1u);
    // Full of QoS 1: the gateway is told to spill (persistent session).
    EXPECT_EQ(s.handle_delivery(make_routed("a", "q1c", qos::at_least_once), {}, start),
              delivery_outcome::queue_full);
    EXPECT_EQ(s.counters().queue_full, 1u);
    EXPECT_TRUE(s.is_connected());
    ASSERT_EQ(s.state().queued.size(), 2u);
    EXPECT_EQ(s.state().queued[0].content->payload.as_string(), "q1");
    EXPECT_EQ(s.state().queued[1].content->payload.as_string(), "q1b");
}

TEST(SessionDelivery, OverflowingNonPersistentSessionIsDisconnected) {
    // DESIGN.md, Overload: never drop an acknowledged QoS 1 message; disconnect with 0x97.
    session_limits limits;
    limits.max_queued_messages = 1;
    connect request = make_connect(protocol_version::v5, "c1");
    request.props.receive_maximum = 1;
    session s = connected_session(request, limits);
    s.handle_delivery(make_routed("a", "1", qos::at_least_once), {}, start);
    s.handle_delivery(make_routed("a", "2", qos::at_least_once), {}, start);
    drain(s);
    EXPECT_EQ(s.handle_delivery(make_routed("a", "3", qos::at_least_once), {}, start),
              delivery_outcome::queue_full);
    const auto actions = drain(s);
    ASSERT_GE(actions.size(), 2u);
    EXPECT_EQ(actions[0], sent_disconnect(reason_code::quota_exceeded));
    EXPECT_TRUE(std::holds_alternative<close_connection>(actions[1]));
}

} // namespace
} // namespace perch::mqtt
