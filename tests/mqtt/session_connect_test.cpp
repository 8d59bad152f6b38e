// Tests of mqtt/session.cpp: the CONNECT / CONNACK exchange, takeover, and packets that are out of
// place before or after it. Scripted conversations: packets in at explicit times, actions out.
#include <gtest/gtest.h>

#include "mqtt/decoder.hpp"
#include "mqtt/session.hpp"

#include "tests/mqtt/session_script.hpp"

namespace perch::mqtt {
namespace {

using namespace testing_support;

TEST(SessionConnect, FirstPacketMustBeConnect) {
    // [MQTT-3.1.0-1] (3.1.1 and 5.0) anything else first closes the connection, unanswered.
    session s({}, our_connection, start);
    s.handle_packet(make_publish("a/b", "x", qos::at_most_once), start);
    const auto actions = drain(s);
    ASSERT_EQ(actions.size(), 1u);
    EXPECT_EQ(std::get<close_connection>(actions[0]).rule, "MQTT-3.1.0-1");
    EXPECT_EQ(s.phase(), session_phase::closed);
    // Nothing after it is looked at.
    s.handle_packet(make_connect(protocol_version::v5, "c1"), start);
    EXPECT_TRUE(drain(s).empty());
}

TEST(SessionConnect, ValidConnectAsksTheGatewayAndWaits) {
    session s({}, our_connection, start);
    const connect request = make_connect(protocol_version::v5, "c1", false, 30);
    s.handle_packet(request, start);
    const auto actions = drain(s);
    ASSERT_EQ(actions.size(), 1u);
    EXPECT_EQ(actions[0], session_action{connect_requested{request}});
    EXPECT_EQ(s.phase(), session_phase::authorizing);
    EXPECT_EQ(s.client_id(), "c1");
    EXPECT_FALSE(s.is_clean_start());
}

TEST(SessionConnect, ConnackIsTheFirstPacketSent) {
    // [MQTT-3.2.0-1] CONNACK precedes everything; [MQTT-3.1.4-5 (5.0), MQTT-3.1.4-4 (3.1.1)] it
    // carries success when accepted. The PINGREQ pipelined behind CONNECT is answered after it.
    for (const auto version : {protocol_version::v5, protocol_version::v3_1_1}) {
        session s({}, our_connection, start);
        s.handle_packet(make_connect(version, "c1"), start);
        s.handle_packet(pingreq{}, start);
        EXPECT_EQ(drain(s).size(), 1u); // only connect_requested: the PINGREQ waits
        s.accept_connect({}, start);
        const auto packets = sent_packets(drain(s));
        ASSERT_EQ(packets.size(), 2u);
        const auto& reply = std::get<connack>(packets[0]);
        EXPECT_EQ(reply.reason, reason_code::success);
        EXPECT_FALSE(reply.session_present);
        EXPECT_TRUE(std::holds_alternative<pingresp>(packets[1]));
        EXPECT_TRUE(s.is_connected());
    }
}

TEST(SessionConnect, BytesAfterConnectWaitForAcceptance) {
    // A client may send SUBSCRIBE right behind CONNECT; it is decoded only once connected, at the
    // negotiated level.
    session s({}, our_connection, start);
    byte_vector input =
        bytes_of(make_connect(protocol_version::v3_1_1, "c1"), protocol_version::v3_1_1);
    const byte_vector rest = bytes_of(
        subscribe{5, {subscribe_entry{"a/#", {qos::at_least_once}}}, {}}, protocol_version::v3_1_1);
    input.insert(input.end(), rest.begin(), rest.end());
    s.handle_bytes(input, start);
    auto actions = drain(s);
    ASSERT_EQ(actions.size(), 1u);
    EXPECT_TRUE(std::holds_alternative<connect_requested>(actions[0]));
    s.accept_connect({}, start);
    actions = drain(s);
    ASSERT_EQ(actions.size(), 2u);
    EXPECT_TRUE(std::holds_alternative<connack>(std::get<send_packet>(actions[0]).content));
    const auto& request = std::get<subscribe_requested>(actions[1]).request;
    EXPECT_EQ(request.packet_id, 5);
    EXPECT_EQ(request.entries.at(0).topic_filter, "a/#");
}

TEST(SessionConnect, PartialPacketsAreBuffered) {
    session s({}, our_connection, start);
    const byte_vector input =
        bytes_of(make_connect(protocol_version::v5, "c1"), protocol_version::v5);
    for (std::size_t i = 0; i + 1 < input.size(); ++i) {
        s.handle_bytes(byte_view(&input[i], 1), start);
        EXPECT_TRUE(drain(s).empty());
    }
    s.handle_bytes(byte_view(&input.back(), 1), start);
    const auto actions = drain(s);
    ASSERT_EQ(actions.size(), 1u);
    EXPECT_EQ(std::get<connect_requested>(actions[0]).request.client_id, "c1");
}

/// A CONNECT whose will payload makes it `payload_bytes` long and more.
byte_vector large_connect(protocol_version version, std::size_t payload_bytes) {
    connect request = make_connect(version, "c1");
    request.will = make_will("last/words", std::string(payload_bytes, 'w'));
    return bytes_of(request, version);
}

TEST(SessionConnect, OversizedFirstPacketIsRefusedFromItsFixedHeader) {
    // Before any CONNECT is accepted only max_connect_packet_size is taken, however large
    // maximum_packet_size is: the refusal comes from the first bytes, before the rest is read.
    // A 5.0 CONNECT gets CONNACK 0x95 Packet too large (3.2.2.2), then the connection closes.
    session_limits limits;
    limits.max_connect_packet_size = 1024;
    session s(limits, our_connection, start);
    const byte_vector input = large_connect(protocol_version::v5, 4000);
    s.handle_bytes(byte_view(input.data(), 16), start);
    const auto actions = drain(s);
    ASSERT_EQ(actions.size(), 2u);
    const auto answer = std::get<connack>(std::get<send_packet>(actions[0]).content);
    EXPECT_EQ(answer.reason, reason_code::packet_too_large);
    EXPECT_EQ(actions[1], closed_with(reason_code::packet_too_large, "MQTT-3.2.2-15"));
    EXPECT_EQ(s.phase(), session_phase::closed);
}

TEST(SessionConnect, OversizedFirstPacketJustClosesIn311) {
    // 3.1.1 has no CONNACK return code for it: the connection closes without an answer.
    session_limits limits;
    limits.max_connect_packet_size = 1024;
    session s(limits, our_connection, start);
    const byte_vector input = large_connect(protocol_version::v3_1_1, 4000);
    s.handle_bytes(byte_view(input.data(), 16), start);
    const auto actions = drain(s);
    ASSERT_EQ(actions.size(), 1u);
    EXPECT_EQ(actions[0], closed_with(reason_code::packet_too_large, "MQTT-3.2.2-15"));
}

TEST(SessionConnect, FirstPacketLimitIsTheDefault) {
    // The default cap (16 KiB) holds a CONNECT with credentials, a will and properties, and
    // refuses a larger one however large maximum_packet_size is.
    const session_limits limits;
    EXPECT_EQ(limits.max_connect_packet_size, 16u * 1024);
    session fits(limits, our_connection, start);
    fits.handle_bytes(large_connect(protocol_version::v5, 8000), start);
    const auto accepted = drain(fits);
    ASSERT_EQ(accepted.size(), 1u);
    EXPECT_TRUE(std::holds_alternative<connect_requested>(accepted[0]));
    session too_large(limits, our_connection, start);
    const byte_vector input = large_connect(protocol_version::v5, 20'000);
    too_large.handle_bytes(byte_view(input.data(), 16), start);
    EXPECT_TRUE(ends_with_close(drain(too_large)));
}

TEST(SessionConnect, LargerPacketsAreTakenOnceConnected) {
    // After CONNECT the client's packets may be as large as maximum_packet_size.
    session_limits limits;
    limits.max_connect_packet_size = 1024;
    session s = connected_v5("c1", limits);
    s.handle_bytes(bytes_of(make_publish("a/b", std::string(4000, 'p'), qos::at_most_once),
                            protocol_version::v5),
                   start);
    const auto actions = drain(s);
    ASSERT_EQ(actions.size(), 1u);
    EXPECT_EQ(std::get<route_publish>(actions[0]).content->payload.size(), 4000u);
}

TEST(SessionConnect, SecondConnectIsAProtocolError) {
    // [MQTT-3.1.0-2] 5.0: DISCONNECT 0x82 then close; 3.1.1: close without a packet.
    session v5 = connected_v5();
    v5.handle_packet(make_connect(protocol_version::v5, "c1"), start);
    auto actions = drain(v5);
    ASSERT_EQ(actions.size(), 3u);
    EXPECT_EQ(actions[0], sent_disconnect(reason_code::protocol_error));
    EXPECT_EQ(actions[1], closed_with(reason_code::protocol_error, "MQTT-3.1.0-2"));

    session v311 = connected_v311();
    v311.handle_packet(make_connect(protocol_version::v3_1_1, "c1"), start);
    actions = drain(v311);
    ASSERT_EQ(actions.size(), 2u);
    EXPECT_EQ(std::get<close_connection>(actions[0]).rule, "MQTT-3.1.0-2");
}

TEST(SessionConnect, ConnectTimeoutClosesWithoutAnswer) {
    session s({}, our_connection, start);
    ASSERT_EQ(s.poll_deadline(), start + session_limits{}.connect_timeout);
    s.handle_deadline(start + 9s);
    EXPECT_TRUE(drain(s).empty());
    s.handle_deadline(start + 10s);
    const auto actions = drain(s);
    ASSERT_EQ(actions.size(), 1u);
    EXPECT_TRUE(std::holds_alternative<close_connection>(actions[0]));
    EXPECT_EQ(s.phase(), session_phase::closed);
    EXPECT_FALSE(s.poll_deadline().has_value());
}

TEST(SessionConnect, EmptyClientIdNeedsCleanSessionIn311) {
    // [MQTT-3.1.3-8 (3.1.1)] return code 0x02 (Identifier rejected), then close; checked on the
    // wire bytes: CONNACK 20 02 00 02.
    session s({}, our_connection, start);
    s.handle_bytes(
        bytes_of(make_connect(protocol_version::v3_1_1, "", false), protocol_version::v3_1_1),
        start);
    const auto actions = drain(s);
    ASSERT_EQ(actions.size(), 2u);
    const packet reply = std::get<send_packet>(actions[0]).content;
    EXPECT_EQ(bytes_of(reply, s.version()), (byte_vector{0x20, 0x02, 0x00, 0x02}));
    EXPECT_EQ(std::get<close_connection>(actions[1]).rule, "MQTT-3.1.3-8");
    EXPECT_EQ(s.phase(), session_phase::closed);
}

TEST(SessionConnect, EmptyClientIdIsAssignedIn5) {
    // [MQTT-3.1.3-6, MQTT-3.1.3-7, MQTT-3.2.2-16 (5.0)] a unique id, returned in CONNACK.
    session s({}, our_connection, start);
    s.handle_packet(make_connect(protocol_version::v5, "", false), start);
    drain(s);
    s.accept_connect(connect_acceptance{{}, "auto-1234", {}}, start);
    const auto reply = single_sent<connack>(s);
    EXPECT_EQ(reply.props.assigned_client_identifier, "auto-1234");
    EXPECT_EQ(s.client_id(), "auto-1234");
}

TEST(SessionConnect, EmptyClientIdWithCleanSessionIsAssignedIn311) {
    // [MQTT-3.1.3-6 (3.1.1)] the server assigns one; 3.1.1 has no property to return it in.
    session s({}, our_connection, start);
    s.handle_packet(make_connect(protocol_version::v3_1_1, ""), start);
    drain(s);
    s.accept_connect({}, start);
    const auto reply = single_sent<connack>(s);
    EXPECT_EQ(reply.reason, reason_code::success);
    EXPECT_FALSE(s.client_id().empty());
    EXPECT_TRUE(reply.props.empty());
}

TEST(SessionConnect, RefusedConnectGetsConnackThenClose) {
    // [MQTT-3.2.2-6, MQTT-3.2.2-7 (5.0); MQTT-3.2.2-4, MQTT-3.2.2-5 (3.1.1)] Session Present 0
    // and the connection closes; [MQTT-3.1.4-6 (5.0), MQTT-3.1.4-5 (3.1.1)] later data is ignored.
    for (const auto version : {protocol_version::v5, protocol_version::v3_1_1}) {
        session s({}, our_connection, start);
        s.handle_packet(make_connect(version, "c1", false), start);
        drain(s);
        s.refuse_connect(reason_code::not_authorized, start);
        const auto actions = drain(s);
        ASSERT_EQ(actions.size(), 2u);
        const auto& reply = std::get<connack>(std::get<send_packet>(actions[0]).content);
        EXPECT_EQ(reply.reason, reason_code::not_authorized);
        EXPECT_FALSE(reply.session_present);
        EXPECT_EQ(std::get<close_connection>(actions[1]).rule,
                  version == protocol_version::v5 ? "MQTT-3.2.2-7" : "MQTT-3.2.2-5");
        if (version == protocol_version::v3_1_1) {
            EXPECT_EQ(bytes_of(reply, version), (byte_vector{0x20, 0x02, 0x00, 0x05}));
        }
        s.handle_packet(make_publish("a", "x", qos::at_most_once), start);
        s.accept_connect({}, start);
        EXPECT_TRUE(drain(s).empty());
        EXPECT_EQ(s.phase(), session_phase::closed);
    }
}

TEST(SessionConnect, CleanStartDiscardsTheStoredSession) {
    // [MQTT-3.1.2-4, MQTT-3.2.2-2 (5.0); MQTT-3.1.2-6, MQTT-3.2.2-1 (3.1.1)] Session Present 0
    // and nothing of the old state survives.
    for (const auto version : {protocol_version::v5, protocol_version::v3_1_1}) {
        session_state old;
        old.client_id = "c1";
        old.subscriptions.emplace("old/#", subscription{});
        session s = connected_session(make_connect(version, "c1", true), {},
                                      connect_acceptance{std::move(old), {}, {}});
        EXPECT_TRUE(s.state().subscriptions.empty());
        session fresh({}, our_connection, start);
        fresh.handle_packet(make_connect(version, "c1", true), start);
        drain(fresh);
        session_state again;
        again.subscriptions.emplace("old/#", subscription{});
        fresh.accept_connect(connect_acceptance{std::move(again), {}, {}}, start);
        EXPECT_FALSE(single_sent<connack>(fresh).session_present);
    }
}

TEST(SessionConnect, ResumedSessionIsPresent) {
    // [MQTT-3.1.2-5, MQTT-3.2.2-3 (5.0); MQTT-3.1.2-4, MQTT-3.2.2-2 (3.1.1)]
    for (const auto version : {protocol_version::v5, protocol_version::v3_1_1}) {
        session s({}, our_connection, start);
        s.handle_packet(make_connect(version, "c1", false), start);
        drain(s);
        session_state old;
        old.subscriptions.emplace("old/#", subscription{{qos::at_least_once}, 0});
        s.accept_connect(connect_acceptance{std::move(old), {}, {}}, start);
        EXPECT_TRUE(single_sent<connack>(s).session_present);
        EXPECT_EQ(s.state().subscriptions.count("old/#"), 1u);
    }
}

TEST(SessionConnect, NoStoredSessionMeansNotPresent) {
    // [MQTT-3.1.2-6, MQTT-3.2.2-3 (5.0); MQTT-3.2.2-3 (3.1.1)] Clean Start 0 without a stored
    // session creates one and reports Session Present 0.
    for (const auto version : {protocol_version::v5, protocol_version::v3_1_1}) {
        session s({}, our_connection, start);
        s.handle_packet(make_connect(version, "c1", false), start);
        drain(s);
        s.accept_connect({}, start);
        EXPECT_FALSE(single_sent<connack>(s).session_present);
    }
}

TEST(SessionConnect, ConnackAnnouncesTheServerLimits) {
    // [MQTT-3.2.2-9 (5.0)] a server without QoS 2 says Maximum QoS.
    session_limits limits;
    limits.receive_maximum = 10;
    limits.topic_alias_maximum = 5;
    limits.maximum_packet_size = 4096;
    limits.maximum_qos = qos::at_least_once;
    limits.is_retain_available = false;
    limits.is_wildcard_subscription_available = false;
    limits.is_subscription_identifier_available = false;
    limits.is_shared_subscription_available = false;
    session s(limits, our_connection, start);
    s.handle_packet(make_connect(protocol_version::v5, "c1"), start);
    drain(s);
    s.accept_connect({}, start);
    const auto props = single_sent<connack>(s).props;
    EXPECT_EQ(props.receive_maximum, 10);
    EXPECT_EQ(props.topic_alias_maximum, 5);
    EXPECT_EQ(props.maximum_packet_size, 4096u);
    EXPECT_EQ(props.maximum_qos, 1);
    EXPECT_EQ(props.retain_available, 0);
    EXPECT_EQ(props.wildcard_subscription_available, 0);
    EXPECT_EQ(props.subscription_identifier_available, 0);
    EXPECT_EQ(props.shared_subscription_available, 0);
    EXPECT_FALSE(props.server_keep_alive.has_value());
}

TEST(SessionConnect, SessionExpiryIsCappedAndReported) {
    session_limits limits;
    limits.maximum_session_expiry_interval = 3600;
    connect request = make_connect(protocol_version::v5, "c1", false);
    request.props.session_expiry_interval = 86400;
    session s(limits, our_connection, start);
    s.handle_packet(request, start);
    drain(s);
    s.accept_connect({}, start);
    EXPECT_EQ(single_sent<connack>(s).props.session_expiry_interval, 3600u);
    EXPECT_EQ(s.session_expiry_interval(), 3600u);
    EXPECT_TRUE(s.is_persistent());
}

TEST(SessionConnect, ResponseInformationOnlyWhenRequested) {
    // [MQTT-3.1.2-28 (5.0)] Request Response Information 0 (or absent): none is returned.
    for (const bool is_requested : {false, true}) {
        connect request = make_connect(protocol_version::v5, "c1");
        if (is_requested) {
            request.props.request_response_information = 1;
        }
        session s({}, our_connection, start);
        s.handle_packet(request, start);
        drain(s);
        connect_acceptance acceptance;
        acceptance.connack_properties.response_information = "chat/ctl/c1/";
        s.accept_connect(std::move(acceptance), start);
        EXPECT_EQ(single_sent<connack>(s).props.response_information.has_value(), is_requested);
    }
}

TEST(SessionConnect, WillQosAboveMaximumIsRefused) {
    // [MQTT-3.2.2-12 (5.0)] CONNACK 0x9B, then close; the gateway is never asked.
    session_limits limits;
    limits.maximum_qos = qos::at_least_once;
    connect request = make_connect(protocol_version::v5, "c1");
    request.will = make_will("will/c1", "gone", qos::exactly_once);
    session s(limits, our_connection, start);
    s.handle_packet(request, start);
    const auto actions = drain(s);
    ASSERT_EQ(actions.size(), 2u);
    EXPECT_EQ(std::get<connack>(std::get<send_packet>(actions[0]).content).reason,
              reason_code::qos_not_supported);
    EXPECT_EQ(std::get<close_connection>(actions[1]).rule, "MQTT-3.2.2-12");
}

TEST(SessionConnect, RetainedWillWithoutRetainIsRefused) {
    // [MQTT-3.2.2-13 (5.0)] CONNACK 0x9A, then close.
    session_limits limits;
    limits.is_retain_available = false;
    connect request = make_connect(protocol_version::v5, "c1");
    request.will = make_will("will/c1", "gone", qos::at_most_once, true);
    session s(limits, our_connection, start);
    s.handle_packet(request, start);
    const auto actions = drain(s);
    ASSERT_EQ(actions.size(), 2u);
    EXPECT_EQ(std::get<connack>(std::get<send_packet>(actions[0]).content).reason,
              reason_code::retain_not_supported);
    EXPECT_EQ(std::get<close_connection>(actions[1]).rule, "MQTT-3.2.2-13");
}

TEST(SessionConnect, WillTopicWithWildcardIsRefused) {
    // [MQTT-4.7.0-1 (5.0)] a Will Topic is a topic name: no wildcards.
    connect request = make_connect(protocol_version::v5, "c1");
    request.will = make_will("will/#", "gone");
    session s({}, our_connection, start);
    s.handle_packet(request, start);
    const auto actions = drain(s);
    ASSERT_EQ(actions.size(), 2u);
    EXPECT_EQ(std::get<connack>(std::get<send_packet>(actions[0]).content).reason,
              reason_code::topic_name_invalid);
    EXPECT_TRUE(std::holds_alternative<close_connection>(actions[1]));
}

TEST(SessionConnect, UnsupportedAuthenticationMethodIsRefused) {
    // [MQTT-4.12.0-1 (5.0)] CONNACK 0x8C (Bad authentication method), then close.
    connect request = make_connect(protocol_version::v5, "c1");
    request.props.authentication_method = "SCRAM-SHA-1";
    session s({}, our_connection, start);
    s.handle_packet(request, start);
    const auto actions = drain(s);
    ASSERT_EQ(actions.size(), 2u);
    EXPECT_EQ(std::get<connack>(std::get<send_packet>(actions[0]).content).reason,
              reason_code::bad_authentication_method);
    EXPECT_EQ(std::get<close_connection>(actions[1]).rule, "MQTT-4.12.0-1");
}

TEST(SessionConnect, NoAuthenticationMethodIsEverSent) {
    // [MQTT-4.12.0-6 (5.0)] a client that gave no Authentication Method gets none back.
    session s({}, our_connection, start);
    s.handle_packet(make_connect(protocol_version::v5, "c1"), start);
    drain(s);
    connect_acceptance acceptance;
    acceptance.connack_properties.authentication_method = "leaked";
    s.accept_connect(std::move(acceptance), start);
    EXPECT_FALSE(single_sent<connack>(s).props.authentication_method.has_value());
}

TEST(SessionConnect, AuthWithoutAuthenticationMethodIsAProtocolError) {
    // [MQTT-4.12.0-7 (5.0)]
    session s = connected_v5();
    s.handle_packet(auth{reason_code::continue_authentication, {}}, start);
    const auto actions = drain(s);
    ASSERT_EQ(actions.size(), 3u);
    EXPECT_EQ(actions[0], sent_disconnect(reason_code::protocol_error));
    EXPECT_EQ(std::get<close_connection>(actions[1]).rule, "MQTT-4.12.0-7");
}

TEST(SessionConnect, UnsupportedProtocolLevelGetsReturnCodeOne) {
    // [MQTT-3.1.2-2 (3.1.1)] CONNACK return code 0x01, then close: 20 02 00 01 on the wire.
    const byte_vector level_3 = {0x10, 0x0E, 0x00, 0x04, 'M',  'Q',  'T', 'T',
                                 0x03, 0x02, 0x00, 0x3C, 0x00, 0x02, 'c', '1'};
    session s({}, our_connection, start);
    s.handle_bytes(level_3, start);
    const auto actions = drain(s);
    ASSERT_EQ(actions.size(), 2u);
    EXPECT_EQ(bytes_of(std::get<send_packet>(actions[0]).content, s.version()),
              (byte_vector{0x20, 0x02, 0x00, 0x01}));
    EXPECT_EQ(std::get<close_connection>(actions[1]).reason,
              reason_code::unsupported_protocol_version);
}

TEST(SessionConnect, MalformedPacketAfterConnackGetsDisconnect) {
    // [MQTT-4.13.1-1 (5.0)] the decoder's reason goes out in DISCONNECT, then close; the bytes
    // after the bad packet are never handled.
    session s = connected_v5();
    const byte_vector bad_then_ping = {0x30, 0x02, 0x00, 0x00, 0xC0, 0x00}; // empty topic, QoS 0
    s.handle_bytes(bad_then_ping, start);
    const auto actions = drain(s);
    ASSERT_EQ(actions.size(), 3u);
    EXPECT_TRUE(std::holds_alternative<disconnect>(std::get<send_packet>(actions[0]).content));
    EXPECT_TRUE(std::holds_alternative<close_connection>(actions[1]));
    EXPECT_FALSE(s.is_connected());
}

TEST(SessionConnect, PacketsOnlyAServerSendsAreProtocolErrors) {
    // [MQTT-4.13.1-1 (5.0), MQTT-4.8.0-1 (3.1.1)]
    const std::vector<packet> server_only = {connack{}, suback{1, {}, {}}, unsuback{1, {}, {}},
                                             pingresp{}};
    for (const auto& wrong : server_only) {
        session v5 = connected_v5();
        v5.handle_packet(wrong, start);
        auto actions = drain(v5);
        ASSERT_EQ(actions.size(), 3u);
        EXPECT_EQ(actions[0], sent_disconnect(reason_code::protocol_error));
        session v311 = connected_v311();
        v311.handle_packet(wrong, start);
        actions = drain(v311);
        ASSERT_EQ(actions.size(), 2u);
        EXPECT_EQ(std::get<close_connection>(actions[0]).rule, "MQTT-4.8.0-1");
    }
}

TEST(SessionConnect, TakeoverSendsDisconnectSessionTakenOver) {
    // [MQTT-3.1.4-3 (5.0)] DISCONNECT 0x8E then close; [MQTT-3.14.2-2 (5.0)] a server DISCONNECT
    // never carries a Session Expiry Interval. [MQTT-3.1.4-2 (3.1.1)] the old client is just
    // disconnected.
    connect request = make_connect(protocol_version::v5, "c1", false);
    request.props.session_expiry_interval = 600;
    session v5 = connected_session(request);
    v5.shutdown(reason_code::session_taken_over, start);
    auto actions = drain(v5);
    ASSERT_EQ(actions.size(), 2u);
    const auto& sent = std::get<disconnect>(std::get<send_packet>(actions[0]).content);
    EXPECT_EQ(sent.reason, reason_code::session_taken_over);
    EXPECT_FALSE(sent.props.session_expiry_interval.has_value());
    EXPECT_EQ(std::get<close_connection>(actions[1]).rule, "MQTT-3.1.4-3");
    EXPECT_EQ(v5.phase(), session_phase::disconnected);

    session v311 = connected_session(make_connect(protocol_version::v3_1_1, "c1", false));
    v311.shutdown(reason_code::session_taken_over, start);
    actions = drain(v311);
    ASSERT_EQ(actions.size(), 1u);
    EXPECT_EQ(std::get<close_connection>(actions[0]).rule, "MQTT-3.1.4-2");
}

TEST(SessionConnect, NoDisconnectBeforeConnack) {
    // [MQTT-3.14.0-1 (5.0)] shutting down while the CONNECT is pending sends nothing.
    session s({}, our_connection, start);
    s.handle_packet(make_connect(protocol_version::v5, "c1"), start);
    drain(s);
    s.shutdown(reason_code::server_shutting_down, start);
    const auto actions = drain(s);
    ASSERT_EQ(actions.size(), 1u);
    EXPECT_TRUE(std::holds_alternative<close_connection>(actions[0]));
}

TEST(SessionConnect, LostWhileAuthorizingKeepsTheTakenOverSession) {
    // The gateway took the session over from another connection; this one vanished before the
    // answer. The session is kept (disconnected), nothing is sent.
    connect request = make_connect(protocol_version::v5, "c1", false);
    request.props.session_expiry_interval = 60;
    session s({}, our_connection, start);
    s.handle_packet(request, start);
    drain(s);
    s.handle_connection_lost(start + 1s);
    EXPECT_TRUE(drain(s).empty());
    session_state old;
    old.subscriptions.emplace("kept/#", subscription{{qos::at_least_once}, 0});
    s.accept_connect(connect_acceptance{std::move(old), {}, {}}, start + 2s);
    EXPECT_TRUE(drain(s).empty());
    EXPECT_EQ(s.phase(), session_phase::disconnected);
    EXPECT_EQ(s.state().subscriptions.count("kept/#"), 1u);
    EXPECT_EQ(s.poll_deadline(), start + 62s);
}

TEST(SessionConnect, NothingIsSentAfterDisconnect) {
    // [MQTT-3.14.4-1, MQTT-3.14.4-2 (5.0)] after its DISCONNECT the server closes and sends no
    // more packets: a QoS 0 delivery to the (non-persistent, now ended) session goes nowhere.
    session s = connected_v5();
    s.shutdown(reason_code::server_shutting_down, start);
    const auto actions = drain(s);
    ASSERT_EQ(actions.size(), 3u);
    EXPECT_TRUE(std::holds_alternative<close_connection>(actions[1]));
    EXPECT_TRUE(std::holds_alternative<session_expired>(actions[2]));
    EXPECT_EQ(s.handle_delivery(make_routed("a", "x", qos::at_most_once), {}, start),
              delivery_outcome::closed);
    s.handle_packet(pingreq{}, start);
    EXPECT_TRUE(drain(s).empty());
}

} // namespace
} // namespace perch::mqtt
