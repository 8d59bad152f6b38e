// The few MQTT 3.1.1 and 5.0 packets the load generator sends and reads, in its own minimal codec,
// so the instrument does not share code (or bugs) with the broker it measures. At level 5 it sends
// no properties beyond Session Expiry Interval and skips those it receives. Knows nothing of
// sockets.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
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

/// Protocol level 4: MQTT 3.1.1.
constexpr int level_3_1_1 = 4;
/// Protocol level 5: MQTT 5.0.
constexpr int level_5 = 5;

/// Reads one packet from the front of `input`, sent at `protocol_level` (4 or 5; at 5 the
/// properties of PUBLISH, SUBACK and CONNACK are skipped: SUBACK's and CONNACK's payload then
/// holds their reason codes). On `complete`, fills `out` and sets `consumed` to the packet's
/// length on the wire; on `need_more` and `malformed`, leaves both unchanged.
parse_status parse_packet(std::span<const std::uint8_t> input, packet_view& out,
                          std::size_t& consumed, int protocol_level = level_3_1_1);

/// What a CONNECT says besides the client id.
struct connect_settings {
    /// level_3_1_1 or level_5.
    int protocol_level = level_3_1_1;
    /// Clean Session (3.1.1) / Clean Start (5.0).
    bool is_clean = true;
    /// 0 disables keep alive.
    std::uint16_t keep_alive_seconds = 0;
    /// Level 5 only: the Session Expiry Interval asked for (0: none sent).
    std::uint32_t session_expiry_seconds = 0;
    /// Credentials; an empty user name sends neither.
    std::string user_name;
    std::string password;
};

/// Appends a CONNECT without will.
void append_connect(std::vector<std::uint8_t>& out, std::string_view client_id,
                    const connect_settings& settings);

/// Appends a SUBSCRIBE of one topic filter at `qos`; `is_no_local` (level 5 only) asks the broker
/// not to send the subscriber's own messages back.
void append_subscribe(std::vector<std::uint8_t>& out, std::uint16_t packet_id,
                      std::string_view topic_filter, int qos, int protocol_level = level_3_1_1,
                      bool is_no_local = false);

/// Appends a PUBLISH; `packet_id` is written only when `qos` > 0. At level 5 with an empty
/// property list.
void append_publish(std::vector<std::uint8_t>& out, std::string_view topic_name, int qos,
                    std::uint16_t packet_id, std::span<const std::uint8_t> payload,
                    int protocol_level = level_3_1_1);

/// Appends a PUBACK for `packet_id`.
void append_puback(std::vector<std::uint8_t>& out, std::uint16_t packet_id);

/// Appends a DISCONNECT.
void append_disconnect(std::vector<std::uint8_t>& out);

} // namespace perch::loadgen
