// Tests of mqtt/encoder.cpp: exact bytes of each packet at both levels, the short forms 5.0
// allows, and the sender rules the encoder enforces.
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "mqtt/encoder.hpp"

namespace perch::mqtt {
namespace {

using bytes = std::vector<std::uint8_t>;
constexpr auto v4 = protocol_version::v3_1_1;
constexpr auto v5 = protocol_version::v5;

bytes encoded(const packet& p, protocol_version version) {
    bytes out;
    encode_append(p, version, out);
    EXPECT_EQ(out.size(), encoded_size(p, version));
    return out;
}

TEST(Encoder, Writes311ConnectFieldsInOrder) {
    // [MQTT-3.1.3-1] Client Identifier, Will Topic, Will Message, User Name, Password;
    // [MQTT-3.1.2-3] the reserved flag is 0.
    connect hello;
    hello.version = v4;
    hello.clean_start = true;
    hello.keep_alive_seconds = 0x013C;
    hello.client_id = "id";
    hello.will = will_message{"w", shared_bytes::copy_of("m"), qos::exactly_once, true, {}};
    hello.user_name = "u";
    hello.password = byte_vector{'p'};
    const bytes expected = {0x10, 0x1A, 0x00, 0x04, 'M', 'Q',  'T',  'T',  0x04, 0xF6,
                            0x01, 0x3C, 0x00, 0x02, 'i', 'd',  0x00, 0x01, 'w',  0x00,
                            0x01, 'm',  0x00, 0x01, 'u', 0x00, 0x01, 'p'};
    EXPECT_EQ(encoded(hello, v5), expected); // a CONNECT is written at its own level
}

TEST(Encoder, Writes5ConnectWithEmptyPropertyBlocks) {
    // [MQTT-2.2.2-1] no properties is a Property Length of 0, for CONNECT and for the Will.
    connect hello;
    hello.client_id = "c";
    hello.clean_start = false;
    hello.will = will_message{"t", shared_bytes{}, qos::at_most_once, false, {}};
    hello.password = byte_vector{};
    const bytes expected = {0x10, 0x16, 0x00, 0x04, 'M',  'Q',  'T',  'T', 0x05, 0x44, 0x00, 0x00,
                            0x00, 0x00, 0x01, 'c',  0x00, 0x00, 0x01, 't', 0x00, 0x00, 0x00, 0x00};
    EXPECT_EQ(encoded(hello, v4), expected);
}

TEST(Encoder, DropsA311PasswordWithoutUserName) {
    // 3.1.1 [MQTT-3.1.2-22]: the Password Flag needs the User Name Flag.
    connect hello;
    hello.version = v4;
    hello.client_id = "c";
    hello.password = byte_vector{'p'};
    const bytes expected = {0x10, 0x0D, 0x00, 0x04, 'M',  'Q',  'T', 'T',
                            0x04, 0x02, 0x00, 0x00, 0x00, 0x01, 'c'};
    EXPECT_EQ(encoded(hello, v4), expected);
}

TEST(Encoder, WritesConnackAtBothLevels) {
    const connack accepted{true, reason_code::success, {}};
    EXPECT_EQ(encoded(accepted, v4), (bytes{0x20, 0x02, 0x01, 0x00}));
    EXPECT_EQ(encoded(accepted, v5), (bytes{0x20, 0x03, 0x01, 0x00, 0x00}));
    // 3.1.1 [MQTT-3.2.2-4] / 5.0 [MQTT-3.2.2-6]: a refusal never claims a session.
    const connack refused{true, reason_code::server_busy, {}};
    EXPECT_EQ(encoded(refused, v4), (bytes{0x20, 0x02, 0x00, 0x03})); // server unavailable
    EXPECT_EQ(encoded(refused, v5), (bytes{0x20, 0x03, 0x00, 0x89, 0x00}));
}

TEST(Encoder, WritesQos0PublishWithoutPacketIdOrDup) {
    // [MQTT-2.2.1-2] (3.1.1 [MQTT-2.3.1-5]) no Packet Identifier and [MQTT-3.3.1-2] DUP 0 at
    // QoS 0, whatever the value says.
    const publish message{"a/b", shared_bytes::copy_of("x"), qos::at_most_once, true, true, 9, {}};
    EXPECT_EQ(encoded(message, v4), (bytes{0x31, 0x06, 0x00, 0x03, 'a', '/', 'b', 'x'}));
    EXPECT_EQ(encoded(message, v5), (bytes{0x31, 0x07, 0x00, 0x03, 'a', '/', 'b', 0x00, 'x'}));
}

TEST(Encoder, WritesQos2PublishFlagsAndPacketId) {
    publish message{"t", shared_bytes{}, qos::exactly_once, false, true, 0x0102, {}};
    message.props.topic_alias = 3;
    EXPECT_EQ(encoded(message, v5),
              (bytes{0x3C, 0x09, 0x00, 0x01, 't', 0x01, 0x02, 0x03, 0x23, 0x00, 0x03}));
    // Properties do not exist at level 4.
    EXPECT_EQ(encoded(message, v4), (bytes{0x3C, 0x05, 0x00, 0x01, 't', 0x01, 0x02}));
}

TEST(Encoder, UsesTheShortestRemainingLength) {
    // [MQTT-1.5.5-1]: 127 fits one byte, 128 needs two.
    publish message{
        "t", shared_bytes::copy_of(std::string(124, 'x')), qos::at_most_once, false, false, 0, {}};
    bytes wire = encoded(message, v4);
    EXPECT_EQ(wire.size(), 2U + 127U);
    EXPECT_EQ(wire[1], 0x7F);
    message.payload = shared_bytes::copy_of(std::string(125, 'x'));
    wire = encoded(message, v4);
    EXPECT_EQ(wire.size(), 3U + 128U);
    EXPECT_EQ(wire[1], 0x80);
    EXPECT_EQ(wire[2], 0x01);
}

TEST(Encoder, Writes5AcknowledgementsInTheirShortestForm) {
    // 5.0 3.4.2.1: Success without properties is two bytes; a Reason Code alone three.
    EXPECT_EQ(encoded(puback{5, reason_code::success, {}}, v5), (bytes{0x40, 0x02, 0x00, 0x05}));
    EXPECT_EQ(encoded(pubrec{5, reason_code::quota_exceeded, {}}, v5),
              (bytes{0x50, 0x03, 0x00, 0x05, 0x97}));
    properties props;
    props.reason_string = "r";
    EXPECT_EQ(encoded(pubcomp{5, reason_code::success, props}, v5),
              (bytes{0x70, 0x08, 0x00, 0x05, 0x00, 0x04, 0x1F, 0x00, 0x01, 'r'}));
    // [MQTT-3.6.1-1] PUBREL flags 0010.
    EXPECT_EQ(encoded(pubrel{5, reason_code::packet_identifier_not_found, {}}, v5),
              (bytes{0x62, 0x03, 0x00, 0x05, 0x92}));
    // 3.1.1 has neither reason nor properties.
    EXPECT_EQ(encoded(pubcomp{5, reason_code::packet_identifier_not_found, props}, v4),
              (bytes{0x70, 0x02, 0x00, 0x05}));
}

TEST(Encoder, WritesSubscribeOptionsPerLevel) {
    // [MQTT-3.8.1-1] SUBSCRIBE flags 0010; 3.1.1 has only the requested QoS.
    const subscribe request{
        3, {{"a/#", {qos::at_least_once, true, true, retain_handling::do_not_send}}}, {}};
    EXPECT_EQ(encoded(request, v5),
              (bytes{0x82, 0x09, 0x00, 0x03, 0x00, 0x00, 0x03, 'a', '/', '#', 0x2D}));
    EXPECT_EQ(encoded(request, v4),
              (bytes{0x82, 0x08, 0x00, 0x03, 0x00, 0x03, 'a', '/', '#', 0x01}));
}

TEST(Encoder, WritesSubackFailuresAs0x80At311) {
    // [MQTT-3.9.3-2] 3.1.1 SUBACK codes are 0x00, 0x01, 0x02 and 0x80.
    const suback answer{
        3,
        {reason_code::granted_qos_2, reason_code::not_authorized, reason_code::granted_qos_0},
        {}};
    EXPECT_EQ(encoded(answer, v4), (bytes{0x90, 0x05, 0x00, 0x03, 0x02, 0x80, 0x00}));
    EXPECT_EQ(encoded(answer, v5), (bytes{0x90, 0x06, 0x00, 0x03, 0x00, 0x02, 0x87, 0x00}));
}

TEST(Encoder, WritesUnsubscribeAndUnsuback) {
    // [MQTT-3.10.1-1] UNSUBSCRIBE flags 0010.
    const unsubscribe request{4, {"a", "b"}, {}};
    EXPECT_EQ(encoded(request, v4),
              (bytes{0xA2, 0x08, 0x00, 0x04, 0x00, 0x01, 'a', 0x00, 0x01, 'b'}));
    const unsuback answer{4, {reason_code::success, reason_code::no_subscription_existed}, {}};
    EXPECT_EQ(encoded(answer, v4), (bytes{0xB0, 0x02, 0x00, 0x04}));
    EXPECT_EQ(encoded(answer, v5), (bytes{0xB0, 0x05, 0x00, 0x04, 0x00, 0x00, 0x11}));
}

TEST(Encoder, WritesDisconnectAndAuthInTheirShortestForm) {
    EXPECT_EQ(encoded(disconnect{}, v5), (bytes{0xE0, 0x00}));
    EXPECT_EQ(encoded(disconnect{reason_code::session_taken_over, {}}, v5),
              (bytes{0xE0, 0x01, 0x8E}));
    EXPECT_EQ(encoded(disconnect{reason_code::session_taken_over, {}}, v4), (bytes{0xE0, 0x00}));
    properties props;
    props.session_expiry_interval = 1;
    EXPECT_EQ(encoded(disconnect{reason_code::normal_disconnection, props}, v5),
              (bytes{0xE0, 0x07, 0x00, 0x05, 0x11, 0x00, 0x00, 0x00, 0x01}));
    EXPECT_EQ(encoded(auth{}, v5), (bytes{0xF0, 0x00}));
    EXPECT_EQ(encoded(auth{reason_code::re_authenticate, {}}, v5), (bytes{0xF0, 0x02, 0x19, 0x00}));
    EXPECT_EQ(encoded(pingreq{}, v4), (bytes{0xC0, 0x00}));
    EXPECT_EQ(encoded(pingresp{}, v5), (bytes{0xD0, 0x00}));
}

TEST(Encoder, LeavesOutPropertiesThePacketDoesNotAdmit) {
    properties props;
    props.topic_alias = 1; // PUBLISH only
    EXPECT_EQ(encoded(connack{false, reason_code::success, props}, v5),
              (bytes{0x20, 0x03, 0x00, 0x00, 0x00}));
    EXPECT_EQ(encoded(puback{1, reason_code::success, props}, v5), (bytes{0x40, 0x02, 0x00, 0x01}));
}

TEST(Encoder, AppendsAndIsDeterministic) {
    properties props;
    props.user_properties = {{"b", "2"}, {"a", "1"}};
    props.message_expiry_interval = 10;
    props.content_type = "text/plain";
    const publish message{"t",  shared_bytes::copy_of("x"), qos::at_least_once, false, false, 1,
                          props};
    bytes twice = {0xAA};
    encode_append(message, v5, twice);
    encode_append(message, v5, twice);
    const std::size_t size = encoded_size(message, v5);
    ASSERT_EQ(twice.size(), 1 + 2 * size);
    EXPECT_EQ(twice[0], 0xAA);
    EXPECT_TRUE(std::equal(twice.begin() + 1, twice.begin() + 1 + static_cast<long>(size),
                           twice.begin() + 1 + static_cast<long>(size)));
    bytes direct(size);
    EXPECT_EQ(encode(message, v5, direct), size);
    EXPECT_TRUE(std::equal(direct.begin(), direct.end(), twice.begin() + 1));
}

TEST(Encoder, WritesThePublishHeaderApartFromThePayload) {
    const publish message{
        "room", shared_bytes::copy_of("payload"), qos::at_least_once, true, false, 42, {}};
    for (const auto version : {v4, v5}) {
        const std::size_t header_size = publish_header_size(message, version);
        EXPECT_EQ(header_size + message.payload.size(), encoded_size(message, version));
        bytes header(header_size);
        EXPECT_EQ(encode_publish_header(message, version, header), header_size);
        const bytes whole = encoded(message, version);
        EXPECT_TRUE(std::equal(header.begin(), header.end(), whole.begin()));
    }
}

} // namespace
} // namespace perch::mqtt
