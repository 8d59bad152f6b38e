// Tests of mqtt/properties.cpp and mqtt/property_codec.cpp: which property each packet admits,
// and the reading rules of a property block (MQTT 5.0 2.2.2 and the per-packet sections).
#include <array>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "mqtt/property_codec.hpp"

namespace perch::mqtt {
namespace {

using bytes = std::vector<std::uint8_t>;

/// `content` behind its Property Length.
bytes block(const bytes& content) {
    bytes out;
    std::array<std::uint8_t, max_varint_size> length{};
    const std::size_t size = write_varint(static_cast<std::uint32_t>(content.size()), length);
    out.insert(out.end(), length.begin(), length.begin() + size);
    out.insert(out.end(), content.begin(), content.end());
    return out;
}

struct read_result {
    std::optional<protocol_violation> failure;
    properties props;
};

read_result read(property_context context, const bytes& input) {
    read_result result;
    wire_reader reader(input);
    result.failure = read_properties(reader, context, result.props);
    return result;
}

TEST(PropertyRules, FollowTable24) {
    using enum property_context;
    EXPECT_TRUE(is_property_allowed(property_id::payload_format_indicator, publish));
    EXPECT_TRUE(is_property_allowed(property_id::payload_format_indicator, will));
    EXPECT_FALSE(is_property_allowed(property_id::payload_format_indicator, connect));
    EXPECT_TRUE(is_property_allowed(property_id::subscription_identifier, subscribe));
    EXPECT_FALSE(is_property_allowed(property_id::subscription_identifier, unsubscribe));
    EXPECT_TRUE(is_property_allowed(property_id::session_expiry_interval, disconnect));
    EXPECT_FALSE(is_property_allowed(property_id::session_expiry_interval, auth));
    EXPECT_TRUE(is_property_allowed(property_id::will_delay_interval, will));
    EXPECT_FALSE(is_property_allowed(property_id::will_delay_interval, connect));
    EXPECT_TRUE(is_property_allowed(property_id::server_reference, disconnect));
    EXPECT_FALSE(is_property_allowed(property_id::reason_string, publish));
    EXPECT_FALSE(is_property_allowed(property_id::reason_string, connect));
    EXPECT_TRUE(is_property_allowed(property_id::topic_alias, publish));
    EXPECT_FALSE(is_property_allowed(property_id::topic_alias, will));
    EXPECT_FALSE(is_property_allowed(static_cast<property_id>(0x04), publish));
    EXPECT_FALSE(is_property_allowed(static_cast<property_id>(0x2B), connack));
    for (int context = 0; context <= static_cast<int>(auth); ++context) {
        // User Property is allowed everywhere a property block exists.
        EXPECT_TRUE(is_property_allowed(property_id::user_property,
                                        static_cast<property_context>(context)));
    }
}

TEST(PropertyCodec, ReadsAnEmptyBlock) {
    // [MQTT-2.2.2-1] no properties is a Property Length of zero.
    const auto result = read(property_context::publish, {0x00});
    EXPECT_FALSE(result.failure);
    EXPECT_TRUE(result.props.empty());
}

TEST(PropertyCodec, RequiresThePropertyLength) {
    // [MQTT-2.2.2-1] an absent Property Length is not an empty block.
    const auto result = read(property_context::connect, {});
    ASSERT_TRUE(result.failure);
    EXPECT_EQ(result.failure->reason, reason_code::malformed_packet);
    EXPECT_EQ(result.failure->rule, "MQTT-2.2.2-1");
}

TEST(PropertyCodec, KeepsRepeatedUserPropertiesInOrder) {
    // [MQTT-3.3.2-17] every User Property is kept, [MQTT-3.3.2-18] in order; names may repeat.
    const auto result =
        read(property_context::publish, block({0x26, 0x00, 0x01, 'k', 0x00, 0x01, '2',    // k=2
                                               0x26, 0x00, 0x01, 'a', 0x00, 0x01, '1',    // a=1
                                               0x26, 0x00, 0x01, 'k', 0x00, 0x01, '1'})); // k=1
    ASSERT_FALSE(result.failure);
    const std::vector<user_property> expected = {{"k", "2"}, {"a", "1"}, {"k", "1"}};
    EXPECT_EQ(result.props.user_properties, expected);
}

TEST(PropertyCodec, AcceptsSeveralSubscriptionIdentifiersInPublish) {
    const auto result =
        read(property_context::publish, block({0x0B, 0x05, 0x0B, 0x80, 0x01, 0x0B, 0x01}));
    ASSERT_FALSE(result.failure);
    const std::vector<std::uint32_t> expected = {5, 128, 1};
    EXPECT_EQ(result.props.subscription_identifiers, expected);
}

struct violation_case {
    const char* name;
    property_context context;
    bytes input;
    reason_code reason;
    std::string_view rule;
};

TEST(PropertyCodec, RejectsBrokenBlocksWithThePreciseReason) {
    using enum property_context;
    const auto malformed = reason_code::malformed_packet;
    const auto protocol = reason_code::protocol_error;
    const std::vector<violation_case> cases = {
        // 2.2.2.1: the Property Length claims more bytes than there are.
        {"length beyond input", publish, {0x05, 0x01, 0x00}, malformed, "MQTT-2.2.2.1"},
        {"length of five bytes",
         publish,
         {0xFF, 0xFF, 0xFF, 0xFF, 0x7F},
         malformed,
         "MQTT-2.2.2.1"},
        // 2.2.2.2: an identifier the specification does not define.
        {"unknown identifier", publish, block({0x04, 0x00}), malformed, "MQTT-2.2.2.2"},
        {"identifier above a byte", publish, block({0x80, 0x02, 0x00}), malformed, "MQTT-2.2.2.2"},
        // 2.2.2.2: an identifier not valid for the packet type is a Malformed Packet.
        {"will delay in connect", connect, block({0x18, 0, 0, 0, 1}), malformed, "MQTT-2.2.2.2"},
        {"topic alias in will", will, block({0x23, 0, 1}), malformed, "MQTT-2.2.2.2"},
        {"reason string in publish", publish, block({0x1F, 0, 0}), malformed, "MQTT-2.2.2.2"},
        {"session expiry in auth", auth, block({0x11, 0, 0, 0, 1}), malformed, "MQTT-2.2.2.2"},
        {"truncated value", connect, block({0x11, 0, 0}), malformed, "MQTT-2.2.2.2"},
        {"truncated string", connack, block({0x1F, 0, 5, 'a'}), malformed, "MQTT-2.2.2.2"},
        // Each property but User Property (and Subscription Identifier in PUBLISH) at most once.
        {"duplicate message expiry", publish, block({0x02, 0, 0, 0, 1, 0x02, 0, 0, 0, 2}), protocol,
         "MQTT-2.2.2.2"},
        {"duplicate reason string", puback, block({0x1F, 0, 0, 0x1F, 0, 0}), protocol,
         "MQTT-2.2.2.2"},
        {"duplicate correlation data", publish, block({0x09, 0, 0, 0x09, 0, 0}), protocol,
         "MQTT-2.2.2.2"},
        {"duplicate authentication method", auth, block({0x15, 0, 1, 'x', 0x15, 0, 1, 'x'}),
         protocol, "MQTT-2.2.2.2"},
        // Value ranges stated with each property.
        {"payload format indicator 2", publish, block({0x01, 0x02}), protocol, "MQTT-3.3.2.3.2"},
        {"will payload format indicator 2", will, block({0x01, 0x02}), protocol, "MQTT-3.1.3.2.3"},
        {"receive maximum 0 in connect", connect, block({0x21, 0, 0}), protocol, "MQTT-3.1.2.11.3"},
        {"receive maximum 0 in connack", connack, block({0x21, 0, 0}), protocol, "MQTT-3.2.2.3.3"},
        {"maximum packet size 0 in connect", connect, block({0x27, 0, 0, 0, 0}), protocol,
         "MQTT-3.1.2.11.4"},
        {"maximum packet size 0 in connack", connack, block({0x27, 0, 0, 0, 0}), protocol,
         "MQTT-3.2.2.3.6"},
        {"request response information 2", connect, block({0x19, 2}), protocol, "MQTT-3.1.2.11.6"},
        {"request problem information 2", connect, block({0x17, 2}), protocol, "MQTT-3.1.2.11.7"},
        {"maximum qos 2", connack, block({0x24, 2}), protocol, "MQTT-3.2.2.3.4"},
        {"retain available 2", connack, block({0x25, 2}), protocol, "MQTT-3.2.2.3.5"},
        {"wildcard subscription available 2", connack, block({0x28, 2}), protocol,
         "MQTT-3.2.2.3.11"},
        {"subscription identifier available 2", connack, block({0x29, 2}), protocol,
         "MQTT-3.2.2.3.12"},
        {"shared subscription available 2", connack, block({0x2A, 2}), protocol, "MQTT-3.2.2.3.13"},
        {"subscription identifier 0 in publish", publish, block({0x0B, 0x00}), protocol,
         "MQTT-3.3.2.3.8"},
        {"subscription identifier 0 in subscribe", subscribe, block({0x0B, 0x00}), protocol,
         "MQTT-3.8.2.1.2"},
        {"two subscription identifiers in subscribe", subscribe, block({0x0B, 0x01, 0x0B, 0x02}),
         protocol, "MQTT-3.8.2.1.2"},
        {"subscription identifier of five bytes", publish,
         block({0x0B, 0xFF, 0xFF, 0xFF, 0xFF, 0x01}), malformed, "MQTT-2.2.2.2"},
        // [MQTT-3.3.2-8] a Topic Alias of 0 is not permitted.
        {"topic alias 0", publish, block({0x23, 0, 0}), reason_code::topic_alias_invalid,
         "MQTT-3.3.2-8"},
        // [MQTT-3.3.2-13] the Response Topic is a UTF-8 Encoded String.
        {"ill-formed response topic", publish, block({0x08, 0, 2, 0xC0, 0x80}), malformed,
         "MQTT-3.3.2-13"},
        // [MQTT-3.3.2-14] the Response Topic contains no wildcards.
        {"response topic with plus", publish, block({0x08, 0, 3, 'a', '/', '+'}), protocol,
         "MQTT-3.3.2-14"},
        {"response topic with hash", will, block({0x08, 0, 1, '#'}), protocol, "MQTT-3.3.2-14"},
        {"empty response topic", publish, block({0x08, 0, 0}), protocol, "MQTT-3.3.2-14"},
        // [MQTT-3.3.2-19] the Content Type is a UTF-8 Encoded String.
        {"ill-formed content type", publish, block({0x03, 0, 1, 0xFF}), malformed, "MQTT-3.3.2-19"},
        // [MQTT-1.5.4-1] / [MQTT-1.5.4-2] every string property.
        {"surrogate in reason string", disconnect, block({0x1F, 0, 3, 0xED, 0xA0, 0x80}), malformed,
         "MQTT-1.5.4-1"},
        {"null in assigned client identifier", connack, block({0x12, 0, 2, 'a', 0x00}), malformed,
         "MQTT-1.5.4-2"},
        // [MQTT-1.5.7-1] both strings of a User Property follow the string rules.
        {"ill-formed user property name", connect, block({0x26, 0, 1, 0x80, 0, 0}), malformed,
         "MQTT-1.5.7-1"},
        {"null in user property value", unsuback, block({0x26, 0, 0, 0, 1, 0x00}), malformed,
         "MQTT-1.5.7-1"},
    };
    for (const auto& entry : cases) {
        SCOPED_TRACE(entry.name);
        const auto result = read(entry.context, entry.input);
        ASSERT_TRUE(result.failure);
        EXPECT_EQ(result.failure->reason, entry.reason);
        EXPECT_EQ(result.failure->rule, entry.rule);
    }
}

TEST(PropertyCodec, WritesOnlyWhatTheContextAdmits) {
    properties props;
    props.topic_alias = 7;     // PUBLISH only
    props.reason_string = "r"; // not in PUBLISH
    const std::size_t size = properties_content_size(props, property_context::publish);
    EXPECT_EQ(size, 3U);
    std::array<std::uint8_t, 8> out{};
    wire_writer writer(out);
    write_properties(writer, props, property_context::publish, size);
    ASSERT_EQ(writer.written(), 4U);
    EXPECT_EQ(out[0], 0x03);
    EXPECT_EQ(out[1], 0x23);
    EXPECT_EQ(out[3], 0x07);
}

TEST(PropertyCodec, WritesAnEmptyBlockAsLengthZero) {
    // [MQTT-2.2.2-1]
    std::array<std::uint8_t, 1> out{0xAA};
    wire_writer writer(out);
    write_properties(writer, properties{}, property_context::connack, 0);
    EXPECT_EQ(writer.written(), 1U);
    EXPECT_EQ(out[0], 0x00);
}

TEST(PropertyCodec, WritesSubscriptionIdentifiersAsVariableByteIntegers) {
    properties props;
    props.subscription_identifiers = {1, 268'435'455};
    const std::size_t size = properties_content_size(props, property_context::publish);
    EXPECT_EQ(size, 2U + 5U);
    bytes out(1 + size);
    wire_writer writer(out);
    write_properties(writer, props, property_context::publish, size);
    const bytes expected = {0x07, 0x0B, 0x01, 0x0B, 0xFF, 0xFF, 0xFF, 0x7F};
    EXPECT_EQ(out, expected);
    const auto result = read(property_context::publish, out);
    ASSERT_FALSE(result.failure);
    EXPECT_EQ(result.props, props);
}

} // namespace
} // namespace perch::mqtt
