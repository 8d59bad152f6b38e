// Tests of mqtt/decoder.cpp: packets split at every offset, the fixed header and size limit, and a
// table of malformed or forbidden input at both protocol levels, each with its exact reason code
// and the normative statement it breaks.
#include <algorithm>
#include <array>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "mqtt/decoder.hpp"
#include "mqtt/encoder.hpp"
#include "mqtt/varint.hpp"

namespace perch::mqtt {
namespace {

using bytes = std::vector<std::uint8_t>;
constexpr auto v4 = protocol_version::v3_1_1;
constexpr auto v5 = protocol_version::v5;

bytes cat(std::initializer_list<bytes> parts) {
    bytes out;
    for (const bytes& part : parts) {
        out.insert(out.end(), part.begin(), part.end());
    }
    return out;
}

/// A two-byte length and the characters of `text`.
bytes str(std::string_view text) {
    bytes out(2 + text.size());
    out[0] = static_cast<std::uint8_t>(text.size() >> 8);
    out[1] = static_cast<std::uint8_t>(text.size());
    std::copy(text.begin(), text.end(), out.begin() + 2);
    return out;
}

/// A fixed header with `first` and the Remaining Length of `body`, then `body`.
bytes frame(std::uint8_t first, const bytes& body) {
    std::array<std::uint8_t, max_varint_size> length{};
    const std::size_t size = write_varint(static_cast<std::uint32_t>(body.size()), length);
    bytes out(1 + size + body.size());
    out[0] = first;
    std::copy(length.begin(), length.begin() + static_cast<long>(size), out.begin() + 1);
    std::copy(body.begin(), body.end(), out.begin() + 1 + static_cast<long>(size));
    return out;
}

/// A 3.1.1 CONNECT with `connect_flags` and `payload`.
bytes connect4(std::uint8_t connect_flags, const bytes& payload) {
    return frame(0x10, cat({str("MQTT"), {0x04, connect_flags, 0x00, 0x3C}, payload}));
}

/// A 5.0 CONNECT with `connect_flags`, the property block `props` and `payload`.
bytes connect5(std::uint8_t connect_flags, const bytes& props, const bytes& payload) {
    return frame(0x10, cat({str("MQTT"), {0x05, connect_flags, 0x00, 0x3C}, props, payload}));
}

decode_outcome decode(const bytes& input, protocol_version version, std::size_t& consumed) {
    // A copy of exactly the input's size, so that AddressSanitizer sees any read past its end.
    const bytes exact(input);
    return decode_next(exact, decode_limits{version, max_packet_size}, consumed);
}

/// Decodes `wire`, which holds exactly one packet, after checking that every strict prefix of it
/// asks for more bytes, and for exactly the bytes missing once the Remaining Length is known.
packet decode_prefix_by_prefix(const bytes& wire, protocol_version version) {
    const varint_read length = read_varint(byte_view(wire).subspan(1));
    EXPECT_EQ(length.status, varint_status::ok);
    const std::size_t header_size = 1 + length.size;
    for (std::size_t prefix = 0; prefix < wire.size(); ++prefix) {
        SCOPED_TRACE(prefix);
        std::size_t consumed = 99;
        const auto outcome = decode(bytes(wire.begin(), wire.begin() + static_cast<long>(prefix)),
                                    version, consumed);
        EXPECT_EQ(consumed, 0U);
        const auto* more = std::get_if<need_more>(&outcome);
        if (more == nullptr) {
            ADD_FAILURE() << "a strict prefix did not ask for more bytes";
            continue;
        }
        EXPECT_GE(more->bytes_missing, 1U);
        EXPECT_LE(more->bytes_missing, wire.size() - prefix);
        if (prefix >= header_size) {
            EXPECT_EQ(more->bytes_missing, wire.size() - prefix);
        }
    }
    std::size_t consumed = 0;
    const auto outcome = decode(wire, version, consumed);
    EXPECT_EQ(consumed, wire.size());
    if (const auto* violation = std::get_if<protocol_violation>(&outcome)) {
        ADD_FAILURE() << "rejected: " << violation->rule;
    }
    EXPECT_TRUE(std::holds_alternative<packet>(outcome));
    return std::holds_alternative<packet>(outcome) ? std::get<packet>(outcome) : packet{};
}

/// What a connection's read loop does: append what arrived, decode every complete packet.
class stream_feeder {
public:
    explicit stream_feeder(protocol_version version) : version_(version) {}

    void feed(byte_view chunk) {
        buffer_.insert(buffer_.end(), chunk.begin(), chunk.end());
        for (;;) {
            std::size_t consumed = 0;
            const auto outcome = decode(buffer_, version_, consumed);
            if (std::holds_alternative<need_more>(outcome)) {
                return;
            }
            ASSERT_TRUE(std::holds_alternative<packet>(outcome));
            packets.push_back(std::get<packet>(outcome));
            buffer_.erase(buffer_.begin(), buffer_.begin() + static_cast<long>(consumed));
        }
    }

    std::vector<packet> packets;

private:
    protocol_version version_;
    bytes buffer_;
};

/// One packet of every type the level has, each with a few fields set.
std::vector<packet> one_of_each(protocol_version version) {
    const bool is_v5 = version == v5;
    properties props;
    if (is_v5) {
        props.user_properties = {{"k", "v"}};
    }
    std::vector<packet> packets;
    connect hello;
    hello.version = version;
    hello.client_id = "device-1";
    hello.user_name = "alice";
    hello.password = byte_vector{'p', 'w'};
    hello.will = will_message{"status/alice", shared_bytes::copy_of("gone"), qos::at_least_once,
                              true, properties{}};
    packets.emplace_back(hello);
    packets.emplace_back(connack{true, reason_code::success, props});
    packets.emplace_back(publish{"chat/room/a", shared_bytes::copy_of("hi"), qos::exactly_once,
                                 false, true, 7, props});
    packets.emplace_back(puback{7, reason_code::success, {}});
    packets.emplace_back(pubrec{7, reason_code::success, {}});
    packets.emplace_back(pubrel{7, reason_code::success, {}});
    packets.emplace_back(pubcomp{7, reason_code::success, {}});
    packets.emplace_back(subscribe{8, {{"chat/#", {qos::at_least_once, false, false, {}}}}, props});
    packets.emplace_back(suback{8, {reason_code::granted_qos_1}, props});
    packets.emplace_back(unsubscribe{9, {"chat/#", "a/+"}, props});
    packets.emplace_back(
        unsuback{9,
                 is_v5 ? std::vector<reason_code>{reason_code::success, reason_code::success}
                       : std::vector<reason_code>{},
                 props});
    packets.emplace_back(pingreq{});
    packets.emplace_back(pingresp{});
    packets.emplace_back(disconnect{});
    if (is_v5) {
        packets.emplace_back(auth{reason_code::continue_authentication, {}});
    }
    return packets;
}

TEST(Decoder, DecodesEveryPacketFedOnePrefixAtATime) {
    for (const auto version : {v4, v5}) {
        for (const packet& expected : one_of_each(version)) {
            SCOPED_TRACE(static_cast<int>(type_of(expected)));
            bytes wire;
            encode_append(expected, version, wire);
            EXPECT_EQ(decode_prefix_by_prefix(wire, version), expected);
        }
    }
}

TEST(Decoder, DecodesAStreamSplitAtEveryOffset) {
    for (const auto version : {v4, v5}) {
        const std::vector<packet> expected = one_of_each(version);
        bytes stream;
        for (const packet& p : expected) {
            encode_append(p, version, stream);
        }
        for (std::size_t split = 0; split <= stream.size(); ++split) {
            stream_feeder feeder(version);
            feeder.feed(byte_view(stream).first(split));
            feeder.feed(byte_view(stream).subspan(split));
            ASSERT_EQ(feeder.packets, expected) << "split at " << split;
        }
        stream_feeder byte_by_byte(version);
        for (const std::uint8_t byte : stream) {
            byte_by_byte.feed(byte_view(&byte, 1));
        }
        EXPECT_EQ(byte_by_byte.packets, expected);
    }
}

TEST(Decoder, ConsumesOnlyTheFirstPacket) {
    const bytes two = {0xC0, 0x00, 0xD0, 0x00};
    std::size_t consumed = 0;
    const auto outcome = decode(two, v4, consumed);
    ASSERT_TRUE(std::holds_alternative<packet>(outcome));
    EXPECT_TRUE(std::holds_alternative<pingreq>(std::get<packet>(outcome)));
    EXPECT_EQ(consumed, 2U);
}

TEST(Decoder, AsksForTheFixedHeaderFirst) {
    std::size_t consumed = 0;
    const auto empty = decode({}, v5, consumed);
    ASSERT_TRUE(std::holds_alternative<need_more>(empty));
    EXPECT_EQ(std::get<need_more>(empty).bytes_missing, 2U);
    const auto partial_length = decode({0x30, 0x80}, v5, consumed);
    ASSERT_TRUE(std::holds_alternative<need_more>(partial_length));
    EXPECT_EQ(std::get<need_more>(partial_length).bytes_missing, 1U);
    const auto body_missing = decode({0x30, 0x80, 0x01, 0x00}, v5, consumed);
    ASSERT_TRUE(std::holds_alternative<need_more>(body_missing));
    EXPECT_EQ(std::get<need_more>(body_missing).bytes_missing, 127U);
}

TEST(Decoder, RefusesAnOversizedPacketBeforeItsBodyArrives) {
    // [MQTT-3.2.2-15] (and [MQTT-3.1.2-24] client side): nothing larger than Maximum Packet Size.
    const decode_limits limits{v5, 100};
    std::size_t consumed = 0;
    const bytes header_only = {0x30, 0x62}; // 2 + 98 = 100 bytes: allowed, body missing
    const auto fits = decode_next(header_only, limits, consumed);
    ASSERT_TRUE(std::holds_alternative<need_more>(fits));
    EXPECT_EQ(std::get<need_more>(fits).bytes_missing, 98U);
    const bytes one_too_many = {0x30, 0x63};
    const auto outcome = decode_next(one_too_many, limits, consumed);
    ASSERT_TRUE(std::holds_alternative<protocol_violation>(outcome));
    EXPECT_EQ(std::get<protocol_violation>(outcome).reason, reason_code::packet_too_large);
    EXPECT_EQ(std::get<protocol_violation>(outcome).rule, "MQTT-3.2.2-15");
    const bytes huge = {0x30, 0xFF, 0xFF, 0xFF, 0x7F};
    EXPECT_TRUE(std::holds_alternative<protocol_violation>(decode_next(huge, limits, consumed)));
}

TEST(Decoder, AcceptsALongerThanNecessaryRemainingLength) {
    // See varint.hpp: [MQTT-1.5.5-1] binds senders; the decoder accepts 0x80 0x00 for 0.
    std::size_t consumed = 0;
    const auto outcome = decode({0xC0, 0x80, 0x00}, v5, consumed);
    ASSERT_TRUE(std::holds_alternative<packet>(outcome));
    EXPECT_EQ(consumed, 3U);
}

TEST(Decoder, ReadsA311ConnectWithEveryField) {
    // [MQTT-3.1.3-1] Client Identifier, Will Topic, Will Message, User Name, Password.
    const bytes wire =
        connect4(0xEE, cat({str("id"), str("w/t"), str("bye"), str("u"), str("pw")}));
    const packet decoded = decode_prefix_by_prefix(wire, v5);
    ASSERT_TRUE(std::holds_alternative<connect>(decoded));
    const auto& hello = std::get<connect>(decoded);
    EXPECT_EQ(hello.version, v4);
    EXPECT_TRUE(hello.clean_start);
    EXPECT_EQ(hello.keep_alive_seconds, 60);
    EXPECT_EQ(hello.client_id, "id");
    ASSERT_TRUE(hello.will);
    EXPECT_EQ(hello.will->topic_name, "w/t");
    EXPECT_EQ(hello.will->payload.as_string(), "bye");
    EXPECT_EQ(hello.will->qos_level, qos::at_least_once);
    EXPECT_TRUE(hello.will->is_retained);
    EXPECT_EQ(hello.user_name, "u");
    EXPECT_EQ(hello.password, (byte_vector{'p', 'w'}));
}

TEST(Decoder, AcceptsA5PasswordWithoutUserName) {
    // 5.0 3.1.2.9 dropped the 3.1.1 rule [MQTT-3.1.2-22].
    const bytes wire = connect5(0x42, {0x00}, cat({str("id"), str("secret")}));
    const packet decoded = decode_prefix_by_prefix(wire, v5);
    ASSERT_TRUE(std::holds_alternative<connect>(decoded));
    EXPECT_FALSE(std::get<connect>(decoded).user_name);
    EXPECT_EQ(std::get<connect>(decoded).password->size(), 6U);
}

TEST(Decoder, KeepsAByteOrderMarkInStrings) {
    // 3.1.1 [MQTT-1.5.3-3] / 5.0 [MQTT-1.5.4-3] U+FEFF is neither skipped nor stripped.
    const std::string topic = "\xEF\xBB\xBF"
                              "a";
    for (const auto version : {v4, v5}) {
        const bytes body = version == v5 ? cat({str(topic), {0x00}}) : str(topic);
        const packet decoded = decode_prefix_by_prefix(frame(0x30, body), version);
        EXPECT_EQ(std::get<publish>(decoded).topic_name, topic);
    }
}

TEST(Decoder, ReadsQos0PayloadRightAfterTheTopic) {
    // 5.0 [MQTT-2.2.1-2] / 3.1.1 [MQTT-2.3.1-5] no Packet Identifier at QoS 0.
    const packet decoded = decode_prefix_by_prefix(frame(0x31, cat({str("t"), {0x00, 0x07}})), v4);
    const auto& message = std::get<publish>(decoded);
    EXPECT_EQ(message.packet_id, 0);
    EXPECT_TRUE(message.is_retained);
    EXPECT_EQ(message.payload.view().size(), 2U);
    EXPECT_EQ(message.payload.view()[1], 0x07);
}

TEST(Decoder, Reads5AcknowledgementsOfEveryLength) {
    // 5.0 3.4.2.1: Remaining Length 2 is Success without properties, 3 a Reason Code alone.
    const auto short_form = decode_prefix_by_prefix({0x40, 0x02, 0x00, 0x05}, v5);
    EXPECT_EQ(std::get<puback>(short_form), (puback{5, reason_code::success, {}}));
    const auto reason_only = decode_prefix_by_prefix({0x50, 0x03, 0x00, 0x05, 0x10}, v5);
    EXPECT_EQ(std::get<pubrec>(reason_only).reason, reason_code::no_matching_subscribers);
    const auto with_props =
        decode_prefix_by_prefix({0x62, 0x07, 0x00, 0x05, 0x92, 0x03, 0x1F, 0x00, 0x00}, v5);
    EXPECT_EQ(std::get<pubrel>(with_props).reason, reason_code::packet_identifier_not_found);
    EXPECT_EQ(std::get<pubrel>(with_props).props.reason_string, "");
}

TEST(Decoder, Reads5DisconnectAndAuthWithoutBody) {
    const auto disconnect_packet = decode_prefix_by_prefix({0xE0, 0x00}, v5);
    EXPECT_EQ(std::get<disconnect>(disconnect_packet).reason, reason_code::normal_disconnection);
    const auto with_will = decode_prefix_by_prefix({0xE0, 0x01, 0x04}, v5);
    EXPECT_EQ(std::get<disconnect>(with_will).reason, reason_code::disconnect_with_will_message);
    const auto auth_packet = decode_prefix_by_prefix({0xF0, 0x00}, v5);
    EXPECT_EQ(std::get<auth>(auth_packet).reason, reason_code::success);
}

TEST(Decoder, Maps311ReturnCodes) {
    const auto refused = decode_prefix_by_prefix({0x20, 0x02, 0x00, 0x05}, v4);
    EXPECT_EQ(std::get<connack>(refused).reason, reason_code::not_authorized);
    // [MQTT-3.9.3-1] return codes keep the order of the Topic Filters.
    const auto granted =
        decode_prefix_by_prefix({0x90, 0x06, 0x00, 0x01, 0x02, 0x80, 0x00, 0x01}, v4);
    const std::vector<reason_code> expected = {
        reason_code::granted_qos_2, reason_code::unspecified_error, reason_code::granted_qos_0,
        reason_code::granted_qos_1};
    EXPECT_EQ(std::get<suback>(granted).reasons, expected);
}

TEST(Decoder, KeepsUnsubackReasonCodesInOrder) {
    // [MQTT-3.11.3-1] Reason Codes in the order of the Topic Filters.
    const auto decoded = decode_prefix_by_prefix({0xB0, 0x05, 0x00, 0x01, 0x00, 0x11, 0x00}, v5);
    const std::vector<reason_code> expected = {reason_code::no_subscription_existed,
                                               reason_code::success};
    EXPECT_EQ(std::get<unsuback>(decoded).reasons, expected);
}

struct violation_case {
    const char* name;
    protocol_version version;
    bytes input;
    reason_code reason;
    std::string_view rule;
};

void expect_violations(const std::vector<violation_case>& cases) {
    for (const auto& entry : cases) {
        SCOPED_TRACE(entry.name);
        std::size_t consumed = 99;
        const auto outcome = decode(entry.input, entry.version, consumed);
        const auto* violation = std::get_if<protocol_violation>(&outcome);
        ASSERT_NE(violation, nullptr);
        EXPECT_EQ(violation->reason, entry.reason);
        EXPECT_EQ(violation->rule, entry.rule);
        EXPECT_EQ(consumed, 0U);
    }
}

constexpr auto malformed = reason_code::malformed_packet;
constexpr auto protocol = reason_code::protocol_error;

TEST(Decoder, RejectsBadFixedHeaders) {
    expect_violations({
        // Packet type 0 is reserved (5.0 2.1.2, 3.1.1 2.2.1); type 15 is reserved in 3.1.1.
        {"type 0 at 5", v5, {0x00, 0x00}, malformed, "MQTT-2.1.2"},
        {"type 0 at 4", v4, {0x00, 0x00}, malformed, "MQTT-2.2.1"},
        {"auth at 4", v4, {0xF0, 0x00}, malformed, "MQTT-2.2.1"},
        // 3.1.1 [MQTT-2.2.2-1] reserved flags as listed, [MQTT-2.2.2-2] else close.
        {"puback flags at 4", v4, {0x41, 0x02, 0x00, 0x01}, malformed, "MQTT-2.2.2-1"},
        {"connect flags at 4", v4, {0x18, 0x00}, malformed, "MQTT-2.2.2-1"},
        // 5.0 [MQTT-2.1.3-1] reserved flags as listed.
        {"connack flags at 5", v5, {0x21, 0x02, 0x00, 0x00}, malformed, "MQTT-2.1.3-1"},
        {"pingreq flags at 5", v5, {0xC4, 0x00}, malformed, "MQTT-2.1.3-1"},
        // [MQTT-3.6.1-1] PUBREL flags 0010 (both levels).
        {"pubrel flags 0000", v4, {0x60, 0x02, 0x00, 0x01}, malformed, "MQTT-3.6.1-1"},
        {"pubrel flags 0011", v5, {0x63, 0x02, 0x00, 0x01}, malformed, "MQTT-3.6.1-1"},
        // [MQTT-3.8.1-1] SUBSCRIBE flags 0010.
        {"subscribe flags 0000", v4, {0x80, 0x00}, malformed, "MQTT-3.8.1-1"},
        // [MQTT-3.10.1-1] UNSUBSCRIBE flags 0010.
        {"unsubscribe flags 1010", v5, {0xAA, 0x00}, malformed, "MQTT-3.10.1-1"},
        // [MQTT-3.14.1-1] DISCONNECT reserved bits are 0.
        {"disconnect flags at 4", v4, {0xE1, 0x00}, malformed, "MQTT-3.14.1-1"},
        {"disconnect flags at 5", v5, {0xE8, 0x00}, malformed, "MQTT-3.14.1-1"},
        // [MQTT-3.15.1-1] AUTH reserved bits are 0.
        {"auth flags", v5, {0xF2, 0x00}, malformed, "MQTT-3.15.1-1"},
        // [MQTT-3.3.1-4] both QoS bits set.
        {"publish qos 3 at 4", v4, {0x36, 0x00}, malformed, "MQTT-3.3.1-4"},
        {"publish qos 3 at 5", v5, {0x37, 0x00}, malformed, "MQTT-3.3.1-4"},
        // [MQTT-3.3.1-2] DUP is 0 on QoS 0 messages.
        {"dup on qos 0", v5, {0x38, 0x00}, malformed, "MQTT-3.3.1-2"},
        // 5.0 1.5.5 / 3.1.1 2.2.3: the Remaining Length takes at most four bytes.
        {"five length bytes at 5",
         v5,
         {0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F},
         malformed,
         "MQTT-1.5.5"},
        {"five length bytes at 4", v4, {0xC0, 0x80, 0x80, 0x80, 0x80}, malformed, "MQTT-2.2.3"},
    });
}

TEST(Decoder, RejectsBadConnectHeaders) {
    expect_violations({
        // [MQTT-3.1.2-1] the protocol name is "MQTT".
        {"name MQIsdp", v5, frame(0x10, cat({str("MQIsdp"), {0x03, 0x02, 0, 0}, str("c")})),
         reason_code::unsupported_protocol_version, "MQTT-3.1.2-1"},
        {"name mqtt", v5, frame(0x10, cat({str("mqtt"), {0x04, 0x02, 0, 0}, str("c")})),
         reason_code::unsupported_protocol_version, "MQTT-3.1.2-1"},
        // [MQTT-3.1.2-2] protocol level 4 or 5.
        {"level 3", v5, frame(0x10, cat({str("MQTT"), {0x03, 0x02, 0, 0}, str("c")})),
         reason_code::unsupported_protocol_version, "MQTT-3.1.2-2"},
        {"level 6", v4, frame(0x10, cat({str("MQTT"), {0x06, 0x02, 0, 0}, str("c")})),
         reason_code::unsupported_protocol_version, "MQTT-3.1.2-2"},
        // [MQTT-3.1.2-3] the reserved connect flag is 0.
        {"reserved flag at 4", v4, connect4(0x03, str("c")), malformed, "MQTT-3.1.2-3"},
        {"reserved flag at 5", v5, connect5(0x03, {0x00}, str("c")), malformed, "MQTT-3.1.2-3"},
        // 3.1.1 [MQTT-3.1.2-11] [MQTT-3.1.2-13]: no Will, so Will QoS 0.
        {"will qos without will at 4", v4, connect4(0x0A, str("c")), malformed, "MQTT-3.1.2-13"},
        // 5.0 [MQTT-3.1.2-11]: no Will, so Will QoS 0.
        {"will qos without will at 5", v5, connect5(0x12, {0x00}, str("c")), malformed,
         "MQTT-3.1.2-11"},
        // 3.1.1 [MQTT-3.1.2-15] / 5.0 [MQTT-3.1.2-13]: no Will, so Will Retain 0.
        {"will retain without will at 4", v4, connect4(0x22, str("c")), malformed, "MQTT-3.1.2-15"},
        {"will retain without will at 5", v5, connect5(0x22, {0x00}, str("c")), malformed,
         "MQTT-3.1.2-13"},
        // 3.1.1 [MQTT-3.1.2-14] / 5.0 [MQTT-3.1.2-12]: Will QoS is never 3.
        {"will qos 3 at 4", v4, connect4(0x1E, cat({str("c"), str("t"), str("m")})), malformed,
         "MQTT-3.1.2-14"},
        {"will qos 3 at 5", v5, connect5(0x1E, {0x00}, cat({str("c"), {0x00}, str("t"), str("m")})),
         malformed, "MQTT-3.1.2-12"},
        // 3.1.1 [MQTT-3.1.2-22]: a password needs a user name.
        {"password without user name at 4", v4, connect4(0x42, cat({str("c"), str("p")})),
         malformed, "MQTT-3.1.2-22"},
        // [MQTT-3.1.4-1] the CONNECT must be complete.
        {"connect ends in header", v4, frame(0x10, cat({str("MQTT"), {0x04, 0x02}})), malformed,
         "MQTT-3.1.4-1"},
        // 5.0 [MQTT-2.2.2-1]: the Property Length is present even when 0.
        {"connect without property length", v5,
         frame(0x10, cat({str("MQTT"), {0x05, 0x02, 0x00, 0x3C}})), malformed, "MQTT-2.2.2-1"},
        // 5.0 3.1.2.11.10: Authentication Data needs an Authentication Method.
        {"authentication data alone", v5, connect5(0x02, {0x03, 0x16, 0x00, 0x00}, str("c")),
         protocol, "MQTT-3.1.2.11.10"},
        // 2.2.2.2: a Will-only property in the CONNECT properties.
        {"will delay in connect", v5, connect5(0x02, {0x05, 0x18, 0, 0, 0, 1}, str("c")), malformed,
         "MQTT-2.2.2.2"},
    });
}

TEST(Decoder, RejectsBadConnectPayloads) {
    const bytes bad_utf8 = {0x00, 0x02, 0xC0, 0x80};
    const bytes with_null = {0x00, 0x02, 'a', 0x00};
    expect_violations({
        // [MQTT-3.1.3-3] the Client Identifier is present.
        {"no client id at 4", v4, connect4(0x02, {}), malformed, "MQTT-3.1.3-3"},
        {"no client id at 5", v5, connect5(0x02, {0x00}, {}), malformed, "MQTT-3.1.3-3"},
        {"truncated client id", v5, connect5(0x02, {0x00}, {0x00, 0x05, 'a'}), malformed,
         "MQTT-3.1.3-3"},
        // [MQTT-3.1.3-4] the Client Identifier is a UTF-8 Encoded String.
        {"ill-formed client id at 4", v4, connect4(0x02, bad_utf8), malformed, "MQTT-3.1.3-4"},
        {"ill-formed client id at 5", v5, connect5(0x02, {0x00}, bad_utf8), malformed,
         "MQTT-3.1.3-4"},
        // 3.1.1 [MQTT-1.5.3-2] / 5.0 [MQTT-1.5.4-2]: no U+0000.
        {"null in client id at 4", v4, connect4(0x02, with_null), malformed, "MQTT-1.5.3-2"},
        {"null in client id at 5", v5, connect5(0x02, {0x00}, with_null), malformed,
         "MQTT-1.5.4-2"},
        // 3.1.1 [MQTT-3.1.3-7] [MQTT-3.1.3-8]: empty id with Clean Session 0 is rejected with 0x02.
        {"empty client id without clean session", v4, connect4(0x00, str("")),
         reason_code::client_identifier_not_valid, "MQTT-3.1.3-8"},
        // [MQTT-3.1.2-9] with the Will Flag, Will Topic and Will Payload are present.
        {"will topic missing at 4", v4, connect4(0x06, str("c")), malformed, "MQTT-3.1.2-9"},
        {"will payload missing at 5", v5, connect5(0x06, {0x00}, cat({str("c"), {0x00}, str("t")})),
         malformed, "MQTT-3.1.2-9"},
        // 3.1.1 [MQTT-3.1.3-10] / 5.0 [MQTT-3.1.3-11]: the Will Topic is a UTF-8 Encoded String.
        {"ill-formed will topic at 4", v4, connect4(0x06, cat({str("c"), bad_utf8, str("m")})),
         malformed, "MQTT-3.1.3-10"},
        {"ill-formed will topic at 5", v5,
         connect5(0x06, {0x00}, cat({str("c"), {0x00}, bad_utf8, str("m")})), malformed,
         "MQTT-3.1.3-11"},
        // 3.1.1 [MQTT-4.7.1-1] / 5.0 [MQTT-4.7.0-1]: no wildcards in a Topic Name.
        {"will topic with wildcard at 4", v4, connect4(0x06, cat({str("c"), str("a/#"), str("m")})),
         reason_code::topic_name_invalid, "MQTT-4.7.1-1"},
        {"will topic with wildcard at 5", v5,
         connect5(0x06, {0x00}, cat({str("c"), {0x00}, str("+"), str("m")})),
         reason_code::topic_name_invalid, "MQTT-4.7.0-1"},
        // [MQTT-4.7.3-1] a Topic Name has at least one character.
        {"empty will topic", v5, connect5(0x06, {0x00}, cat({str("c"), {0x00}, str(""), str("m")})),
         reason_code::topic_name_invalid, "MQTT-4.7.3-1"},
        // 5.0 3.1.3.2.3: a Will Payload declared UTF-8 must be well-formed.
        {"will payload not utf-8", v5,
         connect5(0x06, {0x00}, cat({str("c"), {0x02, 0x01, 0x01}, str("t"), {0x00, 0x01, 0xFF}})),
         reason_code::payload_format_invalid, "MQTT-3.1.3.2.3"},
        // 2.2.2.2: Topic Alias is no Will property.
        {"topic alias in will", v5,
         connect5(0x06, {0x00}, cat({str("c"), {0x03, 0x23, 0x00, 0x01}, str("t"), str("m")})),
         malformed, "MQTT-2.2.2.2"},
        // 3.1.1 [MQTT-3.1.2-19] / 5.0 [MQTT-3.1.2-17]: with the flag, a User Name is present.
        {"user name missing at 4", v4, connect4(0x82, str("c")), malformed, "MQTT-3.1.2-19"},
        {"user name missing at 5", v5, connect5(0x82, {0x00}, str("c")), malformed,
         "MQTT-3.1.2-17"},
        // 3.1.1 [MQTT-3.1.3-11] / 5.0 [MQTT-3.1.3-12]: the User Name is a UTF-8 Encoded String.
        {"ill-formed user name at 4", v4, connect4(0x82, cat({str("c"), bad_utf8})), malformed,
         "MQTT-3.1.3-11"},
        {"ill-formed user name at 5", v5, connect5(0x82, {0x00}, cat({str("c"), bad_utf8})),
         malformed, "MQTT-3.1.3-12"},
        // 3.1.1 [MQTT-3.1.2-21] / 5.0 [MQTT-3.1.2-19]: with the flag, a Password is present.
        {"password missing at 4", v4, connect4(0xC2, cat({str("c"), str("u")})), malformed,
         "MQTT-3.1.2-21"},
        {"password missing at 5", v5, connect5(0x42, {0x00}, str("c")), malformed, "MQTT-3.1.2-19"},
        // 3.1.1 [MQTT-3.1.2-18] / 5.0 [MQTT-3.1.2-16]: without the flag, no User Name.
        {"user name without flag at 4", v4, connect4(0x02, cat({str("c"), str("u")})), malformed,
         "MQTT-3.1.2-18"},
        {"user name without flag at 5", v5, connect5(0x02, {0x00}, cat({str("c"), str("u")})),
         malformed, "MQTT-3.1.2-16"},
        // 3.1.1 [MQTT-3.1.2-20] / 5.0 [MQTT-3.1.2-18]: without the flag, no Password.
        {"password without flag at 4", v4, connect4(0x82, cat({str("c"), str("u"), str("p")})),
         malformed, "MQTT-3.1.2-20"},
        {"password without flag at 5", v5,
         connect5(0x82, {0x00}, cat({str("c"), str("u"), str("p")})), malformed, "MQTT-3.1.2-18"},
        // [MQTT-3.1.4-1] nothing follows the Password.
        {"bytes after password", v4, connect4(0xC2, cat({str("c"), str("u"), str("p"), {0x00}})),
         malformed, "MQTT-3.1.4-1"},
    });
}

TEST(Decoder, RejectsBadConnacks) {
    expect_violations({
        // 5.0 [MQTT-3.2.2-1] / 3.1.1 3.2.2.1: acknowledge flags bits 7-1 are reserved.
        {"reserved connack flag at 5",
         v5,
         {0x20, 0x03, 0x02, 0x00, 0x00},
         malformed,
         "MQTT-3.2.2-1"},
        {"reserved connack flag at 4", v4, {0x20, 0x02, 0x80, 0x00}, malformed, "MQTT-3.2.2.1"},
        // [MQTT-3.2.2-8] a CONNACK Reason Code from table 3-1.
        {"no matching subscribers in connack",
         v5,
         {0x20, 0x03, 0x00, 0x10, 0x00},
         malformed,
         "MQTT-3.2.2-8"},
        // 3.1.1 3.2.2.3: return codes 6-255 are reserved.
        {"return code 6", v4, {0x20, 0x02, 0x00, 0x06}, malformed, "MQTT-3.2.2.3"},
        // 3.1.1 [MQTT-3.2.2-4] / 5.0 [MQTT-3.2.2-6]: no Session Present on a refusal.
        {"session present with refusal at 4",
         v4,
         {0x20, 0x02, 0x01, 0x05},
         protocol,
         "MQTT-3.2.2-4"},
        {"session present with refusal at 5",
         v5,
         {0x20, 0x03, 0x01, 0x87, 0x00},
         protocol,
         "MQTT-3.2.2-6"},
        // 3.1.1 2.2.3: a 3.1.1 CONNACK is exactly two bytes.
        {"long connack at 4", v4, {0x20, 0x03, 0x00, 0x00, 0x00}, malformed, "MQTT-2.2.3"},
        // 2.2.2.2: Topic Alias is no CONNACK property.
        {"topic alias in connack",
         v5,
         {0x20, 0x06, 0x00, 0x00, 0x03, 0x23, 0x00, 0x01},
         malformed,
         "MQTT-2.2.2.2"},
    });
}

TEST(Decoder, RejectsBadPublishes) {
    const bytes bad_utf8 = {0x00, 0x02, 0xC0, 0x80};
    expect_violations({
        // [MQTT-3.3.2-1] the Topic Name is present and a UTF-8 Encoded String.
        {"no topic", v4, {0x30, 0x01, 0x00}, malformed, "MQTT-3.3.2-1"},
        {"ill-formed topic at 4", v4, frame(0x30, bad_utf8), malformed, "MQTT-3.3.2-1"},
        {"ill-formed topic at 5", v5, frame(0x30, cat({bad_utf8, {0x00}})), malformed,
         "MQTT-3.3.2-1"},
        // [MQTT-4.7.3-2] no U+0000 in a Topic Name.
        {"null in topic", v5, frame(0x30, cat({{0x00, 0x02, 'a', 0x00}, {0x00}})), malformed,
         "MQTT-4.7.3-2"},
        // [MQTT-3.3.2-2] no wildcards in a PUBLISH Topic Name.
        {"plus in topic at 4", v4, frame(0x30, str("a/+")), reason_code::topic_name_invalid,
         "MQTT-3.3.2-2"},
        {"hash in topic at 5", v5, frame(0x30, cat({str("#"), {0x00}})),
         reason_code::topic_name_invalid, "MQTT-3.3.2-2"},
        // 3.1.1 [MQTT-4.7.3-1]: a Topic Name has at least one character.
        {"empty topic at 4", v4, frame(0x30, str("")), reason_code::topic_name_invalid,
         "MQTT-4.7.3-1"},
        // 5.0 3.3.2.3.4: an empty Topic Name needs a Topic Alias.
        {"empty topic without alias at 5", v5, frame(0x30, cat({str(""), {0x00}})), protocol,
         "MQTT-3.3.2.3.4"},
        // 3.1.1 [MQTT-2.3.1-1] / 5.0 [MQTT-2.2.1-3] (and [MQTT-2.2.1-4] for a Server): QoS > 0
        // needs a non-zero Packet Identifier.
        {"packet id 0 at 4", v4, frame(0x32, cat({str("t"), {0x00, 0x00}})), malformed,
         "MQTT-2.3.1-1"},
        {"packet id 0 at 5", v5, frame(0x34, cat({str("t"), {0x00, 0x00, 0x00}})), malformed,
         "MQTT-2.2.1-3"},
        {"packet id missing", v4, frame(0x32, cat({str("t"), {0x00}})), malformed, "MQTT-2.2.3"},
        // 5.0 [MQTT-2.2.2-1]: a Property Length is present.
        {"no property length", v5, frame(0x30, str("t")), malformed, "MQTT-2.2.2-1"},
        {"property length past the end", v5, frame(0x30, cat({str("t"), {0x04, 0x01, 0x00}})),
         malformed, "MQTT-2.2.2.1"},
        // [MQTT-3.3.2-8] Topic Alias 0.
        {"topic alias 0", v5, frame(0x30, cat({str("t"), {0x03, 0x23, 0x00, 0x00}})),
         reason_code::topic_alias_invalid, "MQTT-3.3.2-8"},
        // 5.0 3.3.2.3.2: a payload declared UTF-8 must be well-formed.
        {"payload not utf-8", v5,
         frame(0x30, cat({str("t"), {0x02, 0x01, 0x01, 0xED, 0xA0, 0x80}})),
         reason_code::payload_format_invalid, "MQTT-3.3.2.3.2"},
        // [MQTT-3.3.2-14] a Response Topic without wildcards.
        {"response topic with wildcard", v5, frame(0x30, cat({str("t"), {0x04, 0x08}, str("#")})),
         protocol, "MQTT-3.3.2-14"},
        // 2.2.2.2: Session Expiry Interval is no PUBLISH property.
        {"session expiry in publish", v5, frame(0x30, cat({str("t"), {0x05, 0x11, 0, 0, 0, 1}})),
         malformed, "MQTT-2.2.2.2"},
    });
}

TEST(Decoder, RejectsBadAcknowledgements) {
    expect_violations({
        // 3.1.1 3.4.1: a 3.1.1 PUBACK is exactly two bytes.
        {"long puback at 4", v4, {0x40, 0x03, 0x00, 0x01, 0x00}, malformed, "MQTT-2.2.3"},
        {"short pubcomp at 4", v4, {0x70, 0x01, 0x00}, malformed, "MQTT-2.2.3"},
        // 3.1.1 [MQTT-2.3.1-6] / 5.0 [MQTT-2.2.1-5]: the identifier of a PUBLISH, never 0.
        {"puback id 0 at 4", v4, {0x40, 0x02, 0x00, 0x00}, protocol, "MQTT-2.3.1-6"},
        {"pubrec id 0 at 5", v5, {0x50, 0x02, 0x00, 0x00}, protocol, "MQTT-2.2.1-5"},
        // [MQTT-3.4.2-1] PUBACK Reason Codes.
        {"puback reason 0x92", v5, {0x40, 0x03, 0x00, 0x01, 0x92}, malformed, "MQTT-3.4.2-1"},
        // [MQTT-3.5.2-1] PUBREC Reason Codes.
        {"pubrec reason 0x92", v5, {0x50, 0x03, 0x00, 0x01, 0x92}, malformed, "MQTT-3.5.2-1"},
        // [MQTT-3.6.2-1] PUBREL Reason Codes.
        {"pubrel reason 0x10", v5, {0x62, 0x03, 0x00, 0x01, 0x10}, malformed, "MQTT-3.6.2-1"},
        // [MQTT-3.7.2-1] PUBCOMP Reason Codes.
        {"pubcomp reason 0x80", v5, {0x70, 0x03, 0x00, 0x01, 0x80}, malformed, "MQTT-3.7.2-1"},
        {"puback property past the end",
         v5,
         {0x40, 0x05, 0x00, 0x01, 0x00, 0x05, 0x1F},
         malformed,
         "MQTT-2.2.2.1"},
        {"puback duplicate reason string",
         v5,
         {0x40, 0x0A, 0x00, 0x01, 0x00, 0x06, 0x1F, 0x00, 0x00, 0x1F, 0x00, 0x00},
         protocol,
         "MQTT-2.2.2.2"},
        // 3.1.1 [MQTT-2.3.1-7] / 5.0 [MQTT-2.2.1-6]: SUBACK and UNSUBACK echo a non-zero id.
        {"suback id 0", v4, {0x90, 0x03, 0x00, 0x00, 0x00}, protocol, "MQTT-2.3.1-7"},
        {"unsuback id 0", v5, {0xB0, 0x04, 0x00, 0x00, 0x00, 0x00}, protocol, "MQTT-2.2.1-6"},
        // [MQTT-3.9.3-2] SUBACK codes: 3.1.1 knows 0x00, 0x01, 0x02 and 0x80 only.
        {"suback code 0x87 at 4", v4, {0x90, 0x03, 0x00, 0x01, 0x87}, malformed, "MQTT-3.9.3-2"},
        {"suback code 0x03 at 4", v4, {0x90, 0x03, 0x00, 0x01, 0x03}, malformed, "MQTT-3.9.3-2"},
        {"suback code 0x11 at 5",
         v5,
         {0x90, 0x04, 0x00, 0x01, 0x00, 0x11},
         malformed,
         "MQTT-3.9.3-2"},
        // 3.1.1 [MQTT-3.8.4-5] / 5.0 [MQTT-3.8.4-6]: a code per Topic Filter, so at least one.
        {"suback without codes at 4", v4, {0x90, 0x02, 0x00, 0x01}, protocol, "MQTT-3.8.4-5"},
        {"suback without codes at 5", v5, {0x90, 0x03, 0x00, 0x01, 0x00}, protocol, "MQTT-3.8.4-6"},
        // [MQTT-3.11.3-2] UNSUBACK Reason Codes.
        {"unsuback code 0x10",
         v5,
         {0xB0, 0x04, 0x00, 0x01, 0x00, 0x10},
         malformed,
         "MQTT-3.11.3-2"},
        {"unsuback without codes", v5, {0xB0, 0x03, 0x00, 0x01, 0x00}, protocol, "MQTT-3.11.3"},
        {"long unsuback at 4", v4, {0xB0, 0x03, 0x00, 0x01, 0x00}, malformed, "MQTT-2.2.3"},
    });
}

TEST(Decoder, RejectsBadSubscriptions) {
    const bytes bad_utf8 = {0x00, 0x02, 0xC0, 0x80};
    expect_violations({
        // 3.1.1 [MQTT-2.3.1-1] / 5.0 [MQTT-2.2.1-3]: a non-zero Packet Identifier.
        {"subscribe id 0 at 4", v4, frame(0x82, cat({{0x00, 0x00}, str("a"), {0x00}})), malformed,
         "MQTT-2.3.1-1"},
        {"unsubscribe id 0 at 5", v5, frame(0xA2, cat({{0x00, 0x00, 0x00}, str("a")})), malformed,
         "MQTT-2.2.1-3"},
        // 3.1.1 [MQTT-3.8.3-3] / 5.0 [MQTT-3.8.3-2]: at least one Topic Filter.
        {"subscribe without filters at 4", v4, {0x82, 0x02, 0x00, 0x01}, protocol, "MQTT-3.8.3-3"},
        {"subscribe without filters at 5",
         v5,
         {0x82, 0x03, 0x00, 0x01, 0x00},
         protocol,
         "MQTT-3.8.3-2"},
        // [MQTT-3.8.3-1] Topic Filters are UTF-8 Encoded Strings.
        {"ill-formed filter", v4, frame(0x82, cat({{0x00, 0x01}, bad_utf8, {0x00}})), malformed,
         "MQTT-3.8.3-1"},
        {"filter without options", v5, frame(0x82, cat({{0x00, 0x01, 0x00}, str("a")})), malformed,
         "MQTT-2.1.4"},
        // 3.1.1 [MQTT-3-8.3-4]: reserved bits of the requested QoS byte, or QoS 3.
        {"reserved qos bits at 4", v4, frame(0x82, cat({{0x00, 0x01}, str("a"), {0x04}})),
         malformed, "MQTT-3-8.3-4"},
        {"requested qos 3 at 4", v4, frame(0x82, cat({{0x00, 0x01}, str("a"), {0x03}})), malformed,
         "MQTT-3-8.3-4"},
        // 5.0 [MQTT-3.8.3-5]: reserved bits 6 and 7 of the Subscription Options.
        {"reserved option bits at 5", v5, frame(0x82, cat({{0x00, 0x01, 0x00}, str("a"), {0x40}})),
         malformed, "MQTT-3.8.3-5"},
        // 5.0 3.8.3.1: Maximum QoS 3 and Retain Handling 3 are Protocol Errors.
        {"maximum qos 3 at 5", v5, frame(0x82, cat({{0x00, 0x01, 0x00}, str("a"), {0x03}})),
         protocol, "MQTT-3.8.3.1"},
        {"retain handling 3", v5, frame(0x82, cat({{0x00, 0x01, 0x00}, str("a"), {0x30}})),
         protocol, "MQTT-3.8.3.1"},
        // 5.0 [MQTT-3.8.3-4]: No Local on a Shared Subscription.
        {"no local on shared subscription", v5,
         frame(0x82, cat({{0x00, 0x01, 0x00}, str("$share/g/a"), {0x04}})), protocol,
         "MQTT-3.8.3-4"},
        // 5.0 3.8.2.1.2: a Subscription Identifier of 0.
        {"subscription identifier 0", v5,
         frame(0x82, cat({{0x00, 0x01, 0x02, 0x0B, 0x00}, str("a"), {0x00}})), protocol,
         "MQTT-3.8.2.1.2"},
        // [MQTT-3.10.3-1] UNSUBSCRIBE Topic Filters are UTF-8 Encoded Strings.
        {"ill-formed unsubscribe filter", v5, frame(0xA2, cat({{0x00, 0x01, 0x00}, bad_utf8})),
         malformed, "MQTT-3.10.3-1"},
        // [MQTT-3.10.3-2] at least one Topic Filter.
        {"unsubscribe without filters at 4",
         v4,
         {0xA2, 0x02, 0x00, 0x01},
         protocol,
         "MQTT-3.10.3-2"},
        {"unsubscribe without filters at 5",
         v5,
         {0xA2, 0x03, 0x00, 0x01, 0x00},
         protocol,
         "MQTT-3.10.3-2"},
    });
}

TEST(Decoder, RejectsBadControlPackets) {
    expect_violations({
        // 3.12.1 / 3.13.1: PINGREQ and PINGRESP have no body.
        {"pingreq with body", v5, {0xC0, 0x01, 0x00}, malformed, "MQTT-3.12.1"},
        {"pingresp with body", v4, {0xD0, 0x01, 0x00}, malformed, "MQTT-3.13.1"},
        // 3.1.1 3.14.1: a 3.1.1 DISCONNECT has no body.
        {"disconnect with body at 4", v4, {0xE0, 0x01, 0x00}, malformed, "MQTT-3.14.1"},
        // [MQTT-3.14.2-1] DISCONNECT Reason Codes.
        {"disconnect reason 0x84", v5, {0xE0, 0x01, 0x84}, malformed, "MQTT-3.14.2-1"},
        {"disconnect with assigned client id",
         v5,
         {0xE0, 0x05, 0x00, 0x03, 0x12, 0x00, 0x00},
         malformed,
         "MQTT-2.2.2.2"},
        // [MQTT-3.15.2-1] AUTH Reason Codes.
        {"auth reason 0x01", v5, {0xF0, 0x01, 0x01}, malformed, "MQTT-3.15.2-1"},
        {"auth trailing bytes", v5, {0xF0, 0x04, 0x18, 0x00, 0x00, 0x00}, malformed, "MQTT-2.1.4"},
    });
}

TEST(Decoder, PeeksTheProtocolLevelOfAConnectFromItsFirstBytes) {
    // Enough to answer an oversized CONNECT at its own level before the rest arrives.
    struct peek_case {
        const char* name;
        byte_vector input;
        std::optional<protocol_version> expected;
    };
    const std::vector<peek_case> cases = {
        {"5.0, four-byte length",
         {0x10, 0xFF, 0xFF, 0x7F, 0x00, 0x04, 'M', 'Q', 'T', 'T', 5},
         protocol_version::v5},
        {"3.1.1", {0x10, 0x80, 0x01, 0x00, 0x04, 'M', 'Q', 'T', 'T', 4}, protocol_version::v3_1_1},
        {"level not yet arrived", {0x10, 0x80, 0x01, 0x00, 0x04, 'M', 'Q', 'T', 'T'}, std::nullopt},
        {"length not yet complete", {0x10, 0x80}, std::nullopt},
        {"level 3 (MQIsdp) is not spoken",
         {0x10, 0x20, 0x00, 0x04, 'M', 'Q', 'T', 'T', 3},
         std::nullopt},
        {"other protocol name", {0x10, 0x20, 0x00, 0x04, 'M', 'Q', 'T', 'X', 5}, std::nullopt},
        {"not a CONNECT", {0x30, 0x20, 0x00, 0x04, 'M', 'Q', 'T', 'T', 5}, std::nullopt},
        {"empty", {}, std::nullopt},
    };
    for (const peek_case& each : cases) {
        EXPECT_EQ(peek_connect_version(each.input), each.expected) << each.name;
    }
}

} // namespace
} // namespace perch::mqtt
