// MQTT 5.0 reason codes (spec 2.4) and the MQTT 3.1.1 CONNACK return codes they map to.
// Pure values: no I/O, no logging.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace perch::mqtt {

/// Every reason code of MQTT 5.0, section 2.4. Values below 0x80 report success, 0x80 and above
/// report failure. Several names share a value (0x00 is Success, Normal disconnection and Granted
/// QoS 0), as in the specification.
enum class reason_code : std::uint8_t {
    success = 0x00,
    normal_disconnection = 0x00,
    granted_qos_0 = 0x00,
    granted_qos_1 = 0x01,
    granted_qos_2 = 0x02,
    disconnect_with_will_message = 0x04,
    no_matching_subscribers = 0x10,
    no_subscription_existed = 0x11,
    continue_authentication = 0x18,
    re_authenticate = 0x19,
    unspecified_error = 0x80,
    malformed_packet = 0x81,
    protocol_error = 0x82,
    implementation_specific_error = 0x83,
    unsupported_protocol_version = 0x84,
    client_identifier_not_valid = 0x85,
    bad_user_name_or_password = 0x86,
    not_authorized = 0x87,
    server_unavailable = 0x88,
    server_busy = 0x89,
    banned = 0x8A,
    server_shutting_down = 0x8B,
    bad_authentication_method = 0x8C,
    keep_alive_timeout = 0x8D,
    session_taken_over = 0x8E,
    topic_filter_invalid = 0x8F,
    topic_name_invalid = 0x90,
    packet_identifier_in_use = 0x91,
    packet_identifier_not_found = 0x92,
    receive_maximum_exceeded = 0x93,
    topic_alias_invalid = 0x94,
    packet_too_large = 0x95,
    message_rate_too_high = 0x96,
    quota_exceeded = 0x97,
    administrative_action = 0x98,
    payload_format_invalid = 0x99,
    retain_not_supported = 0x9A,
    qos_not_supported = 0x9B,
    use_another_server = 0x9C,
    server_moved = 0x9D,
    shared_subscriptions_not_supported = 0x9E,
    connection_rate_exceeded = 0x9F,
    maximum_connect_time = 0xA0,
    subscription_identifiers_not_supported = 0xA1,
    wildcard_subscriptions_not_supported = 0xA2,
};

/// True for 0x80 and above [MQTT-2.4].
constexpr bool is_failure(reason_code code) {
    return static_cast<std::uint8_t>(code) >= 0x80;
}

/// The specification's name for `code` ("Malformed Packet"), or "Unknown" for a value it does not
/// define. Where names share a value the general one is returned ("Success").
std::string_view to_string(reason_code code);

/// True when `value` is a reason code MQTT 5.0 defines at all.
bool is_defined_reason_code(std::uint8_t value);

enum class packet_type : std::uint8_t; // defined in mqtt/packet.hpp

/// True when MQTT 5.0 lists `code` among the reason codes of packets of `type`: CONNACK (3.2.2.2)
/// [MQTT-3.2.2-8], PUBACK [MQTT-3.4.2-1], PUBREC [MQTT-3.5.2-1], PUBREL [MQTT-3.6.2-1], PUBCOMP
/// [MQTT-3.7.2-1], SUBACK [MQTT-3.9.3-2], UNSUBACK [MQTT-3.11.3-2], DISCONNECT [MQTT-3.14.2-1] and
/// AUTH [MQTT-3.15.2-1]. False for every packet type that carries no reason code.
bool is_reason_code_allowed(packet_type type, reason_code code);

/// MQTT 3.1.1 CONNACK return codes (3.1.1 section 3.2.2.3).
enum class connect_return_code : std::uint8_t {
    accepted = 0,
    unacceptable_protocol_version = 1,
    identifier_rejected = 2,
    server_unavailable = 3,
    bad_user_name_or_password = 4,
    not_authorized = 5,
};

/// The 3.1.1 return code that carries the meaning of a 5.0 CONNACK reason code. Codes 3.1.1 has no
/// word for map to the nearest one (server unavailable for busy, not authorized for banned, ...).
connect_return_code to_connect_return_code(reason_code code);

/// The 5.0 reason code for a 3.1.1 CONNACK return code; empty for values 6..255 (reserved).
std::optional<reason_code> from_connect_return_code(std::uint8_t value);

} // namespace perch::mqtt
