// Reads and writes the MQTT 5.0 property block of one packet (spec 2.2.2): a Property Length, then
// identifier/value pairs. Enforces which properties a packet may carry and the range of each value.
#pragma once

#include <cstddef>
#include <optional>

#include "mqtt/decoder.hpp"
#include "mqtt/properties.hpp"
#include "mqtt/wire_reader.hpp"
#include "mqtt/wire_writer.hpp"

namespace perch::mqtt {

/// Reads the property block at the front of `reader` into `out` (which must be empty) and
/// returns nothing, or returns the violation found. Malformed Packet (0x81): a truncated or
/// over-long Property Length or value, an identifier unknown or not valid in `context`
/// (2.2.2.2), an ill-formed UTF-8 string [MQTT-1.5.4-1] [MQTT-1.5.4-2] [MQTT-1.5.7-1]. Protocol
/// Error (0x82): a property other than User Property or (in PUBLISH) Subscription Identifier
/// given twice, or a value out of its range (a Receive Maximum or Maximum Packet Size of 0, a
/// Byte flag above 1, a Subscription Identifier of 0, a Response Topic with wildcards
/// [MQTT-3.3.2-14]). Topic Alias 0 yields Topic Alias invalid (0x94) [MQTT-3.3.2-8].
std::optional<protocol_violation> read_properties(wire_reader& reader, property_context context,
                                                  properties& out);

/// Bytes of the properties of `props` that `context` admits, Property Length excluded. Properties
/// `context` does not admit are never written.
std::size_t properties_content_size(const properties& props, property_context context);

/// Writes the Property Length `content_size` (= properties_content_size(props, context)), then
/// every property of `props` that `context` admits, in identifier order; repeated User Properties
/// and Subscription Identifiers keep their order.
void write_properties(wire_writer& writer, const properties& props, property_context context,
                      std::size_t content_size);

} // namespace perch::mqtt
