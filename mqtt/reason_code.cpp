// Names and 3.1.1 mappings of MQTT reason codes, and which packet may carry which code.
#include "mqtt/reason_code.hpp"

#include <algorithm>
#include <initializer_list>

#include "mqtt/packet.hpp"

namespace perch::mqtt {

std::string_view to_string(reason_code code) {
    switch (code) {
    case reason_code::success: return "Success";
    case reason_code::granted_qos_1: return "Granted QoS 1";
    case reason_code::granted_qos_2: return "Granted QoS 2";
    case reason_code::disconnect_with_will_message: return "Disconnect with Will Message";
    case reason_code::no_matching_subscribers: return "No matching subscribers";
    case reason_code::no_subscription_existed: return "No subscription existed";
    case reason_code::continue_authentication: return "Continue authentication";
    case reason_code::re_authenticate: return "Re-authenticate";
    case reason_code::unspecified_error: return "Unspecified error";
    case reason_code::malformed_packet: return "Malformed Packet";
    case reason_code::protocol_error: return "Protocol Error";
    case reason_code::implementation_specific_error: return "Implementation specific error";
    case reason_code::unsupported_protocol_version: return "Unsupported Protocol Version";
    case reason_code::client_identifier_not_valid: return "Client Identifier not valid";
    case reason_code::bad_user_name_or_password: return "Bad User Name or Password";
    case reason_code::not_authorized: return "Not authorized";
    case reason_code::server_unavailable: return "Server unavailable";
    case reason_code::server_busy: return "Server busy";
    case reason_code::banned: return "Banned";
    case reason_code::server_shutting_down: return "Server shutting down";
    case reason_code::bad_authentication_method: return "Bad authentication method";
    case reason_code::keep_alive_timeout: return "Keep Alive timeout";
    case reason_code::session_taken_over: return "Session taken over";
    case reason_code::topic_filter_invalid: return "Topic Filter invalid";
    case reason_code::topic_name_invalid: return "Topic Name invalid";
    case reason_code::packet_identifier_in_use: return "Packet Identifier in use";
    case reason_code::packet_identifier_not_found: return "Packet Identifier not found";
    case reason_code::receive_maximum_exceeded: return "Receive Maximum exceeded";
    case reason_code::topic_alias_invalid: return "Topic Alias invalid";
    case reason_code::packet_too_large: return "Packet too large";
    case reason_code::message_rate_too_high: return "Message rate too high";
    case reason_code::quota_exceeded: return "Quota exceeded";
    case reason_code::administrative_action: return "Administrative action";
    case reason_code::payload_format_invalid: return "Payload format invalid";
    case reason_code::retain_not_supported: return "Retain not supported";
    case reason_code::qos_not_supported: return "QoS not supported";
    case reason_code::use_another_server: return "Use another server";
    case reason_code::server_moved: return "Server moved";
    case reason_code::shared_subscriptions_not_supported:
        return "Shared Subscriptions not supported";
    case reason_code::connection_rate_exceeded: return "Connection rate exceeded";
    case reason_code::maximum_connect_time: return "Maximum connect time";
    case reason_code::subscription_identifiers_not_supported:
        return "Subscription Identifiers not supported";
    case reason_code::wildcard_subscriptions_not_supported:
        return "Wildcard Subscriptions not supported";
    }
    return "Unknown";
}

bool is_defined_reason_code(std::uint8_t value) {
    return to_string(static_cast<reason_code>(value)) != "Unknown";
}

namespace {

bool is_one_of(std::uint8_t value, std::initializer_list<std::uint8_t> codes) {
    return std::find(codes.begin(), codes.end(), value) != codes.end();
}

} // namespace

bool is_reason_code_allowed(packet_type type, reason_code code) {
    const auto value = static_cast<std::uint8_t>(code);
    switch (type) {
    case packet_type::connack:
        return is_one_of(value, {0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89,
                                 0x8A, 0x8C, 0x90, 0x95, 0x97, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9F});
    case packet_type::puback:
    case packet_type::pubrec:
        return is_one_of(value, {0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99});
    case packet_type::pubrel:
    case packet_type::pubcomp: return is_one_of(value, {0x00, 0x92});
    case packet_type::suback:
        return is_one_of(value,
                         {0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2});
    case packet_type::unsuback: return is_one_of(value, {0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91});
    case packet_type::disconnect:
        return is_one_of(value, {0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8B, 0x8D,
                                 0x8E, 0x8F, 0x90, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99,
                                 0x9A, 0x9B, 0x9C, 0x9D, 0x9E, 0x9F, 0xA0, 0xA1, 0xA2});
    case packet_type::auth: return is_one_of(value, {0x00, 0x18, 0x19});
    default: return false;
    }
}

connect_return_code to_connect_return_code(reason_code code) {
    switch (code) {
    case reason_code::success: return connect_return_code::accepted;
    case reason_code::unsupported_protocol_version:
        return connect_return_code::unacceptable_protocol_version;
    case reason_code::client_identifier_not_valid: return connect_return_code::identifier_rejected;
    case reason_code::bad_user_name_or_password:
    case reason_code::bad_authentication_method:
        return connect_return_code::bad_user_name_or_password;
    case reason_code::not_authorized:
    case reason_code::banned: return connect_return_code::not_authorized;
    default: return connect_return_code::server_unavailable;
    }
}

std::optional<reason_code> from_connect_return_code(std::uint8_t value) {
    switch (static_cast<connect_return_code>(value)) {
    case connect_return_code::accepted: return reason_code::success;
    case connect_return_code::unacceptable_protocol_version:
        return reason_code::unsupported_protocol_version;
    case connect_return_code::identifier_rejected: return reason_code::client_identifier_not_valid;
    case connect_return_code::server_unavailable: return reason_code::server_unavailable;
    case connect_return_code::bad_user_name_or_password:
        return reason_code::bad_user_name_or_password;
    case connect_return_code::not_authorized: return reason_code::not_authorized;
    }
    return std::nullopt;
}

} // namespace perch::mqtt
