// Conversion between the routed mqtt::message and the store's plain stored_message record: the
// forwarded properties travel as an opaque blob in the MQTT 5.0 property encoding. Knows nothing
// about SQL or sockets.
#pragma once

#include <cstdint>
#include <optional>

#include "mqtt/message.hpp"
#include "mqtt/packet.hpp"
#include "store/records.hpp"

namespace perch::gateway {

/// Milliseconds since the Unix epoch on the system clock.
std::uint64_t unix_now_ms();

/// The record the store keeps for `content`, received at steady time `now` (Unix time
/// `now_unix_ms`). The expiry deadline becomes an absolute Unix time; message_id stays 0 (the
/// store assigns it).
store::stored_message to_stored_message(const mqtt::message& content, mqtt::time_point now,
                                        std::uint64_t now_unix_ms);

/// The routed message `stored` describes, rebuilt at steady time `now` (Unix time `now_unix_ms`),
/// with origin 0 (the server). Empty when the property blob cannot be decoded.
std::optional<mqtt::message_ptr> to_routed_message(const store::stored_message& stored,
                                                   mqtt::time_point now, std::uint64_t now_unix_ms);

/// The record the store keeps for a CONNECT's Will Message: its properties (Will Delay Interval
/// included, also copied to will_delay_interval_s) as an opaque blob.
store::stored_will to_stored_will(const mqtt::will_message& will);

/// The Will Message `stored` describes; empty when the property blob cannot be decoded.
std::optional<mqtt::will_message> to_will_message(const store::stored_will& stored);

} // namespace perch::gateway
