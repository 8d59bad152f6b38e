// The relay envelope of chat across gateways: what goes in comes out, and a changed byte, another
// key or a cut envelope is refused.
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "gateway/chat/relay_envelope.hpp"

namespace perch::gateway {
namespace {

std::vector<std::uint8_t> key_of(std::uint8_t seed) {
    std::vector<std::uint8_t> key(relay_key_bytes);
    for (std::size_t index = 0; index < key.size(); ++index) {
        key[index] = static_cast<std::uint8_t>(seed + index * 7);
    }
    return key;
}

relay_message sample_message() {
    relay_message message;
    message.origin = "board-a";
    message.conversation = "room/lobby";
    message.id = 42;
    message.ts_unix_ms = 1'765'000'000'123;
    message.sender = "alice";
    message.topic = "chat/room/lobby/alice";
    message.qos = 1;
    message.payload_format_indicator = 1;
    message.content_type = "application/json";
    message.response_topic = "chat/dm/alice/bob";
    message.correlation_data = std::vector<std::uint8_t>{0, 1, 2};
    message.user_properties = {{"reply_to", "41"}, {"id", "42"}, {"ts", "1765000000123"}};
    message.payload = {'{', '"', 't', '"', ':', '1', '}', 0, 255};
    return message;
}

TEST(RelayEnvelope, AMessageComesOutAsItWentIn) {
    const auto key = key_of(1);
    const auto bytes = encode_relay_envelope(sample_message(), key);
    auto decoded = decode_relay_envelope(bytes, key);
    ASSERT_TRUE(std::holds_alternative<relay_envelope>(decoded))
        << std::get<relay_refusal>(decoded).reason;
    const relay_envelope& envelope = std::get<relay_envelope>(decoded);
    ASSERT_TRUE(std::holds_alternative<relay_message>(envelope));
    EXPECT_EQ(std::get<relay_message>(envelope), sample_message());
}

TEST(RelayEnvelope, AMessageWithoutOptionalPropertiesKeepsThemUnset) {
    relay_message message = sample_message();
    message.payload_format_indicator.reset();
    message.content_type.reset();
    message.response_topic.reset();
    message.correlation_data.reset();
    message.user_properties.clear();
    message.payload.clear();
    const auto key = key_of(2);
    auto decoded = decode_relay_envelope(encode_relay_envelope(message, key), key);
    ASSERT_TRUE(std::holds_alternative<relay_envelope>(decoded));
    EXPECT_EQ(std::get<relay_message>(std::get<relay_envelope>(decoded)), message);
}

TEST(RelayEnvelope, PresenceComesOutAsItWentIn) {
    relay_presence presence;
    presence.origin = "board-b";
    presence.is_snapshot = true;
    presence.asks_snapshots = true;
    presence.device_counts = {{"bob", 2}, {"carol", 1}};
    const auto key = key_of(3);
    auto decoded = decode_relay_envelope(encode_relay_envelope(presence, key), key);
    ASSERT_TRUE(std::holds_alternative<relay_envelope>(decoded));
    EXPECT_EQ(std::get<relay_presence>(std::get<relay_envelope>(decoded)), presence);
}

TEST(RelayEnvelope, EveryChangedByteIsRefused) {
    const auto key = key_of(4);
    const auto bytes = encode_relay_envelope(sample_message(), key);
    for (std::size_t index = 0; index < bytes.size(); ++index) {
        auto changed = bytes;
        changed[index] ^= 0x01;
        auto decoded = decode_relay_envelope(changed, key);
        ASSERT_TRUE(std::holds_alternative<relay_refusal>(decoded)) << "byte " << index;
        EXPECT_EQ(std::get<relay_refusal>(decoded).reason, "the HMAC does not match");
    }
}

TEST(RelayEnvelope, AnotherKeyOrNoKeyIsRefused) {
    const auto bytes = encode_relay_envelope(sample_message(), key_of(5));
    EXPECT_TRUE(std::holds_alternative<relay_refusal>(decode_relay_envelope(bytes, key_of(6))));
    EXPECT_TRUE(std::holds_alternative<relay_refusal>(decode_relay_envelope(bytes, {})));
}

TEST(RelayEnvelope, CutOrAppendedBytesAreRefused) {
    const auto key = key_of(7);
    const auto bytes = encode_relay_envelope(sample_message(), key);
    for (const std::size_t kept :
         {std::size_t{0}, std::size_t{1}, std::size_t{33}, bytes.size() - 1}) {
        const std::vector<std::uint8_t> cut(bytes.begin(),
                                            bytes.begin() + static_cast<std::ptrdiff_t>(kept));
        EXPECT_TRUE(std::holds_alternative<relay_refusal>(decode_relay_envelope(cut, key))) << kept;
    }
    auto longer = bytes;
    longer.push_back(0);
    EXPECT_TRUE(std::holds_alternative<relay_refusal>(decode_relay_envelope(longer, key)));
}

TEST(RelayEnvelope, ATagOverBytesThatAreNoEnvelopeIsStillRefused) {
    // Correctly sealed, but not an envelope: a length running past the end.
    const auto key = key_of(8);
    std::vector<std::uint8_t> body = {1, 'm', 0, 0, 0, 0, 0, 0, 0, 99, 'x'};
    const auto tag = relay_tag(body, key);
    body.insert(body.end(), tag.begin(), tag.end());
    auto decoded = decode_relay_envelope(body, key);
    ASSERT_TRUE(std::holds_alternative<relay_refusal>(decoded));
    EXPECT_EQ(std::get<relay_refusal>(decoded).reason, "a malformed envelope");
}

} // namespace
} // namespace perch::gateway
