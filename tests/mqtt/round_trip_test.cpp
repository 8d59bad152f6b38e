// Round trips through mqtt/encoder.cpp and mqtt/decoder.cpp: every packet type at each level it
// exists in, with every property its packet admits, must decode to the value that was encoded.
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "mqtt/decoder.hpp"
#include "mqtt/encoder.hpp"

namespace perch::mqtt {
namespace {

constexpr auto v4 = protocol_version::v3_1_1;
constexpr auto v5 = protocol_version::v5;

/// Every property `context` admits, with a valid value; User Property is always repeated, and
/// so is Subscription Identifier where it may be (PUBLISH).
properties every_property(property_context context) {
    properties all;
    all.payload_format_indicator = 1;
    all.message_expiry_interval = 3600;
    all.content_type = "text/plain; charset=utf-8";
    all.response_topic = "reply/to/me";
    all.correlation_data = byte_vector{0x00, 0x01, 0xFF};
    all.subscription_identifiers = context == property_context::subscribe
                                       ? std::vector<std::uint32_t>{42}
                                       : std::vector<std::uint32_t>{7, 268'435'455};
    all.session_expiry_interval = 0xFFFF'FFFF;
    all.assigned_client_identifier = "auto-7f3a";
    all.server_keep_alive = 30;
    all.authentication_method = "SCRAM-SHA-256";
    all.authentication_data = byte_vector{9, 8, 7};
    all.request_problem_information = 0;
    all.will_delay_interval = 5;
    all.request_response_information = 1;
    all.response_information = "responses/";
    all.server_reference = "other.example:1883";
    all.reason_string = "because";
    all.receive_maximum = 20;
    all.topic_alias_maximum = 10;
    all.topic_alias = 4;
    all.maximum_qos = 1;
    all.retain_available = 0;
    all.user_properties = {{"a", "1"}, {"b", ""}, {"a", "2"}};
    all.maximum_packet_size = 1 << 20;
    all.wildcard_subscription_available = 1;
    all.subscription_identifier_available = 0;
    all.shared_subscription_available = 1;

    // Keep exactly what the context admits (table 2-4).
    properties admitted;
    auto keep = [context](property_id id, auto& to, const auto& from) {
        if (is_property_allowed(id, context)) {
            to = from;
        }
    };
    using enum property_id;
    keep(payload_format_indicator, admitted.payload_format_indicator, all.payload_format_indicator);
    keep(message_expiry_interval, admitted.message_expiry_interval, all.message_expiry_interval);
    keep(content_type, admitted.content_type, all.content_type);
    keep(response_topic, admitted.response_topic, all.response_topic);
    keep(correlation_data, admitted.correlation_data, all.correlation_data);
    keep(subscription_identifier, admitted.subscription_identifiers, all.subscription_identifiers);
    keep(session_expiry_interval, admitted.session_expiry_interval, all.session_expiry_interval);
    keep(assigned_client_identifier, admitted.assigned_client_identifier,
         all.assigned_client_identifier);
    keep(server_keep_alive, admitted.server_keep_alive, all.server_keep_alive);
    keep(authentication_method, admitted.authentication_method, all.authentication_method);
    keep(authentication_data, admitted.authentication_data, all.authentication_data);
    keep(request_problem_information, admitted.request_problem_information,
         all.request_problem_information);
    keep(will_delay_interval, admitted.will_delay_interval, all.will_delay_interval);
    keep(request_response_information, admitted.request_response_information,
         all.request_response_information);
    keep(response_information, admitted.response_information, all.response_information);
    keep(server_reference, admitted.server_reference, all.server_reference);
    keep(reason_string, admitted.reason_string, all.reason_string);
    keep(receive_maximum, admitted.receive_maximum, all.receive_maximum);
    keep(topic_alias_maximum, admitted.topic_alias_maximum, all.topic_alias_maximum);
    keep(topic_alias, admitted.topic_alias, all.topic_alias);
    keep(maximum_qos, admitted.maximum_qos, all.maximum_qos);
    keep(retain_available, admitted.retain_available, all.retain_available);
    keep(user_property, admitted.user_properties, all.user_properties);
    keep(maximum_packet_size, admitted.maximum_packet_size, all.maximum_packet_size);
    keep(wildcard_subscription_available, admitted.wildcard_subscription_available,
         all.wildcard_subscription_available);
    keep(subscription_identifier_available, admitted.subscription_identifier_available,
         all.subscription_identifier_available);
    keep(shared_subscription_available, admitted.shared_subscription_available,
         all.shared_subscription_available);
    return admitted;
}

/// Encodes `p` at `version`, decodes it back and checks that nothing changed.
void expect_round_trip(const packet& p, protocol_version version) {
    SCOPED_TRACE(static_cast<int>(type_of(p)));
    byte_vector wire;
    encode_append(p, version, wire);
    ASSERT_EQ(wire.size(), encoded_size(p, version));
    std::size_t consumed = 0;
    const auto outcome = decode_next(wire, decode_limits{version, max_packet_size}, consumed);
    if (const auto* violation = std::get_if<protocol_violation>(&outcome)) {
        FAIL() << "rejected: " << violation->rule;
    }
    ASSERT_TRUE(std::holds_alternative<packet>(outcome));
    EXPECT_EQ(consumed, wire.size());
    EXPECT_EQ(std::get<packet>(outcome), p);
    byte_vector again;
    encode_append(std::get<packet>(outcome), version, again);
    EXPECT_EQ(again, wire);
}

std::vector<packet> full_packets(protocol_version version) {
    const bool is_v5 = version == v5;
    auto props = [is_v5](property_context context) {
        return is_v5 ? every_property(context) : properties{};
    };
    std::vector<packet> packets;
    connect hello;
    hello.version = version;
    hello.clean_start = false;
    hello.keep_alive_seconds = 65'535;
    hello.client_id = "alice/phone";
    hello.will = will_message{"chat/presence/alice", shared_bytes::copy_of("offline"),
                              qos::exactly_once, true, props(property_context::will)};
    hello.user_name = "alice";
    hello.password = byte_vector{'$', 0x00, 0xFF};
    hello.props = props(property_context::connect);
    packets.emplace_back(hello);
    packets.emplace_back(connack{true, reason_code::success, props(property_context::connack)});
    packets.emplace_back(
        connack{false, reason_code::bad_user_name_or_password, props(property_context::connack)});
    packets.emplace_back(publish{"chat/room/general/alice", shared_bytes::copy_of("héllo"),
                                 qos::at_least_once, true, true, 65'535,
                                 props(property_context::publish)});
    const reason_code failure =
        is_v5 ? reason_code::packet_identifier_not_found : reason_code::success;
    const reason_code refusal = is_v5 ? reason_code::not_authorized : reason_code::success;
    packets.emplace_back(puback{1, refusal, props(property_context::puback)});
    packets.emplace_back(pubrec{2, refusal, props(property_context::pubrec)});
    packets.emplace_back(pubrel{3, failure, props(property_context::pubrel)});
    packets.emplace_back(pubcomp{4, failure, props(property_context::pubcomp)});
    subscribe request{5, {}, props(property_context::subscribe)};
    for (const auto maximum_qos : {qos::at_most_once, qos::at_least_once, qos::exactly_once}) {
        subscription_options options{maximum_qos, false, false, retain_handling::send_at_subscribe};
        if (is_v5) {
            options = {maximum_qos, maximum_qos != qos::at_most_once,
                       maximum_qos == qos::exactly_once,
                       static_cast<retain_handling>(static_cast<int>(maximum_qos))};
        }
        request.entries.push_back(
            {"chat/room/+/" + std::to_string(static_cast<int>(maximum_qos)), options});
    }
    request.entries.push_back({"$share/group/jobs/#", {}});
    packets.emplace_back(request);
    packets.emplace_back(suback{5,
                                {reason_code::granted_qos_0, reason_code::granted_qos_1,
                                 reason_code::granted_qos_2, reason_code::unspecified_error},
                                props(property_context::suback)});
    packets.emplace_back(
        unsubscribe{6, {"chat/#", "a/+/b", "$share/g/t"}, props(property_context::unsubscribe)});
    packets.emplace_back(unsuback{
        6,
        is_v5 ? std::vector<reason_code>{reason_code::success, reason_code::no_subscription_existed,
                                         reason_code::topic_filter_invalid}
              : std::vector<reason_code>{},
        props(property_context::unsuback)});
    packets.emplace_back(pingreq{});
    packets.emplace_back(pingresp{});
    packets.emplace_back(
        disconnect{is_v5 ? reason_code::server_moved : reason_code::normal_disconnection,
                   props(property_context::disconnect)});
    if (is_v5) {
        packets.emplace_back(
            auth{reason_code::continue_authentication, props(property_context::auth)});
        packets.emplace_back(auth{reason_code::re_authenticate, props(property_context::auth)});
    }
    return packets;
}

TEST(RoundTrip, EveryPacketWithEveryAdmittedProperty) {
    // 5.0: the codec alters none of what a Server forwards unaltered: Payload Format Indicator
    // [MQTT-3.3.2-4], Response Topic [MQTT-3.3.2-15], Correlation Data [MQTT-3.3.2-16], User
    // Properties [MQTT-3.3.2-17] in their order [MQTT-3.3.2-18] (Will: [MQTT-3.1.3-10]),
    // Content Type [MQTT-3.3.2-20].
    for (const auto version : {v4, v5}) {
        for (const packet& p : full_packets(version)) {
            expect_round_trip(p, version);
        }
    }
}

TEST(RoundTrip, EveryContextReallyCarriesItsProperties) {
    // Guards the test above: each property block is non-empty, so the round trip covers it.
    for (int context = 0; context <= static_cast<int>(property_context::auth); ++context) {
        EXPECT_FALSE(every_property(static_cast<property_context>(context)).empty());
    }
    EXPECT_EQ(every_property(property_context::publish).subscription_identifiers.size(), 2U);
    EXPECT_EQ(every_property(property_context::connack).user_properties.size(), 3U);
}

TEST(RoundTrip, MinimalPackets) {
    for (const auto version : {v4, v5}) {
        connect hello;
        hello.version = version;
        expect_round_trip(hello, version);
        expect_round_trip(connack{}, version);
        expect_round_trip(publish{"t", shared_bytes{}, qos::at_most_once, false, false, 0, {}},
                          version);
        expect_round_trip(puback{1, reason_code::success, {}}, version);
        expect_round_trip(pubrec{1, reason_code::success, {}}, version);
        expect_round_trip(pubrel{1, reason_code::success, {}}, version);
        expect_round_trip(pubcomp{1, reason_code::success, {}}, version);
        expect_round_trip(subscribe{1, {{"#", {}}}, {}}, version);
        expect_round_trip(suback{1, {reason_code::granted_qos_0}, {}}, version);
        expect_round_trip(unsubscribe{1, {"#"}, {}}, version);
        expect_round_trip(pingreq{}, version);
        expect_round_trip(pingresp{}, version);
        expect_round_trip(disconnect{}, version);
    }
    expect_round_trip(unsuback{1, {}, {}}, v4);
    expect_round_trip(unsuback{1, {reason_code::success}, {}}, v5);
    expect_round_trip(auth{}, v5);
    // 5.0 3.3.2.3.4: an empty Topic Name where a Topic Alias stands in.
    properties alias;
    alias.topic_alias = 1;
    expect_round_trip(publish{"", shared_bytes{}, qos::at_most_once, false, false, 0, alias}, v5);
}

TEST(RoundTrip, TwoMegabytePublishNeedsFourLengthBytes) {
    byte_vector payload(2 * 1024 * 1024);
    for (std::size_t index = 0; index < payload.size(); ++index) {
        payload[index] = static_cast<std::uint8_t>(index * 31);
    }
    const publish big{
        "bulk/data", shared_bytes(std::move(payload)), qos::exactly_once, false, false, 77, {}};
    for (const auto version : {v4, v5}) {
        byte_vector wire;
        encode_append(big, version, wire);
        // Remaining Length above 2097151: bytes 1-3 continue, byte 4 ends the integer.
        EXPECT_NE(wire[1] & 0x80, 0);
        EXPECT_NE(wire[2] & 0x80, 0);
        EXPECT_NE(wire[3] & 0x80, 0);
        EXPECT_EQ(wire[4] & 0x80, 0);
        std::size_t consumed = 0;
        const byte_view all_but_last(wire.data(), wire.size() - 1);
        const auto partial = decode_next(all_but_last, decode_limits{version}, consumed);
        ASSERT_TRUE(std::holds_alternative<need_more>(partial));
        EXPECT_EQ(std::get<need_more>(partial).bytes_missing, 1U);
        expect_round_trip(big, version);
    }
}

TEST(RoundTrip, PublishHeaderAndPayloadMakeTheWholePacket) {
    const publish message{"chat/dm/bob/alice",
                          shared_bytes::copy_of("see you at 5"),
                          qos::at_least_once,
                          true,
                          false,
                          9,
                          every_property(property_context::publish)};
    for (const auto version : {v4, v5}) {
        byte_vector gathered(publish_header_size(message, version));
        ASSERT_EQ(encode_publish_header(message, version, gathered), gathered.size());
        gathered.insert(gathered.end(), message.payload.view().begin(),
                        message.payload.view().end());
        byte_vector whole;
        encode_append(message, version, whole);
        EXPECT_EQ(gathered, whole);
    }
}

} // namespace
} // namespace perch::mqtt
