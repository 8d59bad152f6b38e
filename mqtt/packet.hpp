// The fifteen MQTT control packets as plain values, for protocol levels 4 (3.1.1) and 5 (5.0).
// The decoder produces them, the encoder writes them; nothing here reads or writes bytes.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "mqtt/bytes.hpp"
#include "mqtt/properties.hpp"
#include "mqtt/reason_code.hpp"
#include "mqtt/subscription_options.hpp"

namespace perch::mqtt {

/// The protocol level byte of CONNECT.
enum class protocol_version : std::uint8_t {
    v3_1_1 = 4,
    v5 = 5,
};

/// Control packet types, the high nibble of the fixed header (MQTT 2.1.2).
enum class packet_type : std::uint8_t {
    connect = 1,
    connack = 2,
    publish = 3,
    puback = 4,
    pubrec = 5,
    pubrel = 6,
    pubcomp = 7,
    subscribe = 8,
    suback = 9,
    unsubscribe = 10,
    unsuback = 11,
    pingreq = 12,
    pingresp = 13,
    disconnect = 14,
    auth = 15, // 5.0 only
};

/// The Will Message of a CONNECT (3.1.2.5 / 3.1.3.2).
struct will_message {
    std::string topic_name;
    shared_bytes payload;
    qos qos_level = qos::at_most_once;
    bool is_retained = false;
    /// Will properties (5.0 only).
    properties props;
    bool operator==(const will_message&) const = default;
};

struct connect {
    protocol_version version = protocol_version::v5;
    /// Clean Start in 5.0, Clean Session in 3.1.1.
    bool clean_start = true;
    std::uint16_t keep_alive_seconds = 0;
    std::string client_id;
    std::optional<will_message> will;
    std::optional<std::string> user_name;
    std::optional<byte_vector> password;
    properties props;
    bool operator==(const connect&) const = default;
};

struct connack {
    bool session_present = false;
    /// At level 4 this is written as the 3.1.1 return code (to_connect_return_code) and read back
    /// through from_connect_return_code.
    reason_code reason = reason_code::success;
    properties props;
    bool operator==(const connack&) const = default;
};

struct publish {
    /// Empty only when a 5.0 Topic Alias stands in for it [MQTT-3.3.2-8 with 3.3.2.3.4].
    std::string topic_name;
    shared_bytes payload;
    qos qos_level = qos::at_most_once;
    bool is_retained = false;
    bool is_duplicate = false;
    /// Present only when qos_level > 0 [MQTT-2.2.1-2]; otherwise 0.
    std::uint16_t packet_id = 0;
    properties props;
    bool operator==(const publish&) const = default;
};

/// PUBACK, PUBREC, PUBREL and PUBCOMP share one shape. At level 4 the reason code and properties
/// are not on the wire (read back as success / empty). At level 5 the encoder omits a success
/// reason with no properties, as the specification allows (3.4.2.1).
struct puback {
    std::uint16_t packet_id = 0;
    reason_code reason = reason_code::success;
    properties props;
    bool operator==(const puback&) const = default;
};
struct pubrec {
    std::uint16_t packet_id = 0;
    reason_code reason = reason_code::success;
    properties props;
    bool operator==(const pubrec&) const = default;
};
struct pubrel {
    std::uint16_t packet_id = 0;
    reason_code reason = reason_code::success;
    properties props;
    bool operator==(const pubrel&) const = default;
};
struct pubcomp {
    std::uint16_t packet_id = 0;
    reason_code reason = reason_code::success;
    properties props;
    bool operator==(const pubcomp&) const = default;
};

struct subscribe_entry {
    std::string topic_filter;
    subscription_options options;
    bool operator==(const subscribe_entry&) const = default;
};

struct subscribe {
    std::uint16_t packet_id = 0;
    std::vector<subscribe_entry> entries;
    properties props;
    bool operator==(const subscribe&) const = default;
};

struct suback {
    std::uint16_t packet_id = 0;
    /// One per SUBSCRIBE entry. At level 4 only 0x00, 0x01, 0x02 and 0x80 exist; any failure is
    /// written as 0x80 and read back as unspecified_error.
    std::vector<reason_code> reasons;
    properties props;
    bool operator==(const suback&) const = default;
};

struct unsubscribe {
    std::uint16_t packet_id = 0;
    std::vector<std::string> topic_filters;
    properties props;
    bool operator==(const unsubscribe&) const = default;
};

struct unsuback {
    std::uint16_t packet_id = 0;
    /// One per UNSUBSCRIBE entry at level 5; not on the wire at level 4 (read back empty).
    std::vector<reason_code> reasons;
    properties props;
    bool operator==(const unsuback&) const = default;
};

struct pingreq {
    bool operator==(const pingreq&) const = default;
};
struct pingresp {
    bool operator==(const pingresp&) const = default;
};

struct disconnect {
    /// Level 5 only; a level-4 DISCONNECT reads back as normal_disconnection.
    reason_code reason = reason_code::normal_disconnection;
    properties props;
    bool operator==(const disconnect&) const = default;
};

/// AUTH (5.0 only, 3.15).
struct auth {
    reason_code reason = reason_code::success;
    properties props;
    bool operator==(const auth&) const = default;
};

/// Any control packet. The alternative's index + 1 is its packet_type value.
using packet = std::variant<connect, connack, publish, puback, pubrec, pubrel, pubcomp, subscribe,
                            suback, unsubscribe, unsuback, pingreq, pingresp, disconnect, auth>;

/// The packet type of `p`.
inline packet_type type_of(const packet& p) {
    return static_cast<packet_type>(p.index() + 1);
}

} // namespace perch::mqtt
