// Variable Byte Integers (MQTT 5.0 1.5.5, 3.1.1 2.2.3): 7 bits per byte, low group first, at most
// four bytes. Pure functions over caller-provided bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "mqtt/bytes.hpp"

namespace perch::mqtt {

/// The largest value four bytes can carry.
inline constexpr std::uint32_t max_varint_value = 268'435'455;
/// A Variable Byte Integer never takes more than four bytes.
inline constexpr std::size_t max_varint_size = 4;

/// How reading a Variable Byte Integer ended.
enum class varint_status : std::uint8_t {
    /// `value` and `size` are set.
    ok,
    /// The input ends inside the integer; more bytes may complete it.
    incomplete,
    /// A fifth byte would be needed: a Malformed Packet whatever follows.
    malformed,
};

/// The outcome of read_varint.
struct varint_read {
    varint_status status = varint_status::incomplete;
    std::uint32_t value = 0;
    /// Bytes the integer took (status ok only).
    std::size_t size = 0;
};

/// Reads the Variable Byte Integer at the front of `input`.
///
/// Encodings longer than necessary (0x80 0x00 for 0) are accepted: [MQTT-1.5.5-1] binds the
/// sender, not the receiver, and common brokers and clients accept them, so refusing would only
/// break interoperability. write_varint always writes the minimum number of bytes.
varint_read read_varint(byte_view input);

/// Bytes write_varint uses for `value` (1 to 4). `value` must not exceed max_varint_value.
std::size_t varint_size(std::uint32_t value);

/// Writes `value` in the minimum number of bytes [MQTT-1.5.5-1] to the front of `out` and returns
/// the bytes written. `out` must hold varint_size(value) bytes and `value` must not exceed
/// max_varint_value (both checked by assert).
std::size_t write_varint(std::uint32_t value, std::span<std::uint8_t> out);

} // namespace perch::mqtt
