// UTF-8 validation for MQTT strings (MQTT 5.0 1.5.4, 3.1.1 1.5.3) and for payloads declared as
// UTF-8 by the Payload Format Indicator. Pure functions; nothing is copied or normalised.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "mqtt/bytes.hpp"

namespace perch::mqtt {

/// The longest UTF-8 Encoded String: its length prefix is two bytes.
inline constexpr std::size_t max_string_size = 65'535;

/// The verdict on a candidate UTF-8 Encoded String.
enum class utf8_status : std::uint8_t {
    valid,
    /// Not well-formed UTF-8 (RFC 3629): a bad lead or continuation byte, a truncated sequence, an
    /// overlong form, a surrogate U+D800..U+DFFF or a code point above U+10FFFF. 5.0
    /// [MQTT-1.5.4-1], 3.1.1 [MQTT-1.5.3-1].
    ill_formed,
    /// Contains U+0000. 5.0 [MQTT-1.5.4-2], 3.1.1 [MQTT-1.5.3-2].
    contains_null,
    /// Longer than max_string_size bytes (only check_utf8_string reports this).
    too_long,
};

/// Checks every rule of a UTF-8 Encoded String: at most 65535 bytes, well-formed, no U+0000.
/// A byte order mark U+FEFF is an ordinary character and is kept [MQTT-1.5.4-3].
utf8_status check_utf8_string(std::string_view text);
/// As above, over raw bytes.
utf8_status check_utf8_string(byte_view bytes);

/// True when `bytes` is well-formed UTF-8 of any length; U+0000 is allowed. This is the test for a
/// payload whose Payload Format Indicator is 1 (5.0 3.3.2.3.2).
bool is_well_formed_utf8(byte_view bytes);

} // namespace perch::mqtt
