// Decodes MQTT control packets from bytes that may arrive split at any offset. Never reads past
// the input, never throws on bad input, never trusts a length it has not checked.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <variant>

#include "mqtt/bytes.hpp"
#include "mqtt/packet.hpp"
#include "mqtt/reason_code.hpp"

namespace perch::mqtt {

/// The largest Remaining Length a variable byte integer can carry [MQTT-1.5.5].
inline constexpr std::uint32_t max_remaining_length = 268'435'455;
/// Fixed header byte + four length bytes + max_remaining_length.
inline constexpr std::uint32_t max_packet_size = max_remaining_length + 5;

/// What the decoder must enforce besides the specification itself.
struct decode_limits {
    /// Protocol level of the connection. A CONNECT carries its own level and ignores this.
    protocol_version version = protocol_version::v5;
    /// Packets whose total size (fixed header included) exceeds this are refused with
    /// packet_too_large as soon as the fixed header shows their size, before the body arrives.
    std::uint32_t maximum_packet_size = max_packet_size;
};

/// The input holds only part of a packet: at least `bytes_missing` more bytes are needed.
struct need_more {
    std::size_t bytes_missing = 1;
};

/// The input breaks the protocol. `reason` is the code to send (CONNACK or DISCONNECT at level 5)
/// before closing; `rule` names the normative statement broken ("MQTT-3.3.1-4") or, where the
/// specifications have none, a section ("MQTT-2.2.2").
struct protocol_violation {
    reason_code reason = reason_code::malformed_packet;
    std::string_view rule;
};

/// Exactly one of: a packet, a request for more bytes, a violation. Only need_more is retryable.
using decode_outcome = std::variant<packet, need_more, protocol_violation>;

/// Decodes the first packet of `input`. On a packet, `consumed` is set to its total size; on
/// need_more and protocol_violation it is set to 0. A CONNECT whose protocol level is neither 4
/// nor 5 yields unsupported_protocol_version [MQTT-3.1.2-2].
decode_outcome decode_next(byte_view input, const decode_limits& limits, std::size_t& consumed);

/// The protocol level a CONNECT at the front of `input` names, read from its first bytes only (the
/// rest may not have arrived, or may be too large to be read at all); empty when `input` does not
/// start with a CONNECT of protocol "MQTT" level 4 or 5, or is too short to tell.
std::optional<protocol_version> peek_connect_version(byte_view input);

} // namespace perch::mqtt
