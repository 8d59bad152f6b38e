// The few MQTT 3.1.1 packets the load generator sends and reads, in its own minimal codec, so the
// instrument does not share code (or bugs) with the broker it measures. Knows nothing of sockets.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace perch::loadgen {

/// MQTT control packet types the load generator handles (the high nibble of the first byte).
enum class packet_type : std::uint8_t {
    connect = 1,
    connack = 2,
    publish = 3,
    puback = 4,
    subscribe = 8,
    suback = 9,
    pingreq = 12,
    pingresp = 13,
    disconnect = 14,
};

/// One complete packet read from the wire; the spans point into the caller's receive buffer and
/// stay valid until that buffer changes.
struct packet_view {
    packet_type type = packet_type::connect;
    std::uint8_t flags = 0;
    /// PUBLISH: the topic name; empty for other types.
    std::string_view topic;
    /// PUBLISH with QoS > 0, PUBACK and SUBACK: the packet identifier; 0 otherwise.
    std::uint16_t packet_id = 0;
    /// PUBLISH: the application payload. CONNACK and SUBACK: the bytes after the packet id.
    std::span<const std::uint8_t> payload;

    /// QoS of a PUBLISH (flags bits 1-2).
    int qos() const { return (flags >> 1) & 3; }
};

/// Outcome of reading the front of a receive buffer.
enum class parse_status { complete, need_more, malformed };

/// Reads one packet from the front of `input`. On `complete`, fills `out` and sets `consumed` to
/// the packet's length on the wire; on `need_more` and `malformed`, leaves both unchanged.
parse_status parse_packet(std::span<const std::uint8_t> input, packet_view& out,
                          std::size_t& consumed);

/// Appends a level-4 CONNECT with clean session set, no will, no credentials and the given keep
/// alive (0 disables it).
void append_connect(std::vector<std::uint8_t>& out, std::string_view client_id,
                    std::uint16_t keep_alive_seconds);

/// Appends a SUBSCRIBE of one topic filter at `qos`.
void append_subscribe(std::vector<std::uint8_t>& out, std::uint16_t packet_id,
                      std::string_view topic_filter, int qos);

/// Appends a PUBLISH; `packet_id` is written only when `qos` > 0.
void append_publish(std::vector<std::uint8_t>& out, std::string_view topic_name, int qos,
                    std::uint16_t packet_id, std::span<const std::uint8_t> payload);

/// Appends a PUBACK for `packet_id`.
void append_puback(std::vector<std::uint8_t>& out, std::uint16_t packet_id);

/// Appends a DISCONNECT.
void append_disconnect(std::vector<std::uint8_t>& out);

} // namespace perch::loadgen
