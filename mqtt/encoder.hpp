// Encodes MQTT control packets into caller-provided buffers. A publish can be written as its
// header alone, so that the gateway sends the shared payload with a gather write.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "mqtt/bytes.hpp"
#include "mqtt/packet.hpp"

namespace perch::mqtt {

/// Total bytes `p` takes on the wire at `version` (fixed header included). A CONNECT is always
/// measured and written at its own `connect::version`, whatever `version` says.
std::size_t encoded_size(const packet& p, protocol_version version);

/// Writes `p` into the front of `out` and returns the bytes written. `out` must hold at least
/// encoded_size(p, version) bytes (checked by assert). Fields a level does not have (properties,
/// reason codes and subscription options other than QoS at level 4) are left out, and so is any
/// property the packet type does not admit. What the specification forbids a sender is never
/// written: DUP on QoS 0 [MQTT-3.3.1-2], Session Present with a refusing CONNACK [MQTT-3.2.2-6],
/// a level-4 password without a user name [MQTT-3.1.2-22]. Strings and binary fields must be at
/// most 65535 bytes and the Remaining Length at most max_remaining_length (checked by assert).
/// AUTH, which only 5.0 has, is written in its 5.0 form.
std::size_t encode(const packet& p, protocol_version version, std::span<std::uint8_t> out);

/// Appends the encoding of `p` to `out`.
void encode_append(const packet& p, protocol_version version, byte_vector& out);

/// Bytes of a PUBLISH up to, not including, its payload.
std::size_t publish_header_size(const publish& p, protocol_version version);

/// Writes a PUBLISH's fixed and variable header (everything but the payload) into `out` and
/// returns the bytes written; the payload bytes p.payload follow on the wire unchanged.
std::size_t encode_publish_header(const publish& p, protocol_version version,
                                  std::span<std::uint8_t> out);

} // namespace perch::mqtt
