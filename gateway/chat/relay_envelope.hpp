// The relay envelope of chat across gateways (docs/BRIDGES.md "Chat across gateways"): a room or
// direct message as its origin gateway stamped it, or that gateway's device counts, in bytes
// sealed with HMAC-SHA256 under the key the gateways share. Pure encoding: knows nothing about
// topics, sessions or the directory.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace perch::gateway {

/// The length of the shared key, and of an HMAC-SHA256 tag.
inline constexpr std::size_t relay_key_bytes = 32;

/// A room or direct message as its origin stamped and recorded it.
struct relay_message {
    std::string origin;
    /// `room/{room}` or `dm/{a}/{b}`.
    std::string conversation;
    std::uint64_t id = 0;
    std::uint64_t ts_unix_ms = 0;
    std::string sender;
    /// The message's topic: `chat/room/{room}/{sender}` or `chat/dm/{to}/{sender}`.
    std::string topic;
    std::uint8_t qos = 1;
    std::optional<std::uint8_t> payload_format_indicator;
    std::optional<std::string> content_type;
    std::optional<std::string> response_topic;
    std::optional<std::vector<std::uint8_t>> correlation_data;
    /// The user properties as routed at the origin (`id` and `ts` among them), in order.
    std::vector<std::pair<std::string, std::string>> user_properties;
    std::vector<std::uint8_t> payload;
    bool operator==(const relay_message&) const = default;
};

/// The connected device counts of an origin's users: the changed ones, or (`is_snapshot`) every
/// user it has online, which replaces what was known of that origin.
struct relay_presence {
    std::string origin;
    bool is_snapshot = false;
    /// A snapshot sent when the origin's bridge connected: every other origin answers with its
    /// own snapshot (without asking back).
    bool asks_snapshots = false;
    std::vector<std::pair<std::string, std::uint64_t>> device_counts;
    bool operator==(const relay_presence&) const = default;
};

using relay_envelope = std::variant<relay_message, relay_presence>;

/// The bytes of `envelope`, followed by the HMAC-SHA256 tag of all of them under `key`.
std::vector<std::uint8_t> encode_relay_envelope(const relay_envelope& envelope,
                                                std::span<const std::uint8_t> key);

/// Why decode_relay_envelope refused some bytes.
struct relay_refusal {
    std::string reason;
};

/// The envelope `bytes` hold, once their tag is checked under `key` (compared in constant time);
/// a refusal when the tag does not match (any byte changed, or another key) or the bytes are
/// not an envelope. Never throws.
std::variant<relay_envelope, relay_refusal>
decode_relay_envelope(std::span<const std::uint8_t> bytes, std::span<const std::uint8_t> key);

/// The HMAC-SHA256 tag of `bytes` under `key`.
std::array<std::uint8_t, relay_key_bytes> relay_tag(std::span<const std::uint8_t> bytes,
                                                    std::span<const std::uint8_t> key);

} // namespace perch::gateway
