// Encodes MQTT control packets into caller-provided buffers. A publish can be written as its
// header alone, so that the gateway sends the shared payload with a gather write.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "mqtt/bytes.hpp"
#include "mqtt/packet.hpp"

namespace perch::mqtt {

/// Total bytes `p` takes on the wire at `version` (fixed header included).
std::size_t encoded_size(const packet& p, protocol_version version);

/// Writes `p` into the front of `out` and returns the bytes written. `out` must hold at least
/// encoded_size(p, version) bytes (checked by assert). Fields a level does not have (properties
/// at level 4) are left out.
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
