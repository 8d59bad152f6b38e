// Which MQTT 5.0 property may appear in which packet (table 2-4 of the specification).
#include "mqtt/properties.hpp"

#include <array>

namespace perch::mqtt {
namespace {

using context_set = std::uint16_t;

constexpr context_set in(property_context context) {
    return static_cast<context_set>(1U << static_cast<unsigned>(context));
}

template <typename... Contexts> constexpr context_set in(property_context first, Contexts... rest) {
    return static_cast<context_set>(in(first) | in(rest...));
}

using enum property_context;

/// Indexed by property identifier; 0 for identifiers the specification does not define.
constexpr std::array<context_set, 0x2B> allowed_contexts = [] {
    std::array<context_set, 0x2B> table{};
    auto set = [&table](property_id id, context_set contexts) {
        table[static_cast<std::size_t>(id)] = contexts;
    };
    set(property_id::payload_format_indicator, in(publish, will));
    set(property_id::message_expiry_interval, in(publish, will));
    set(property_id::content_type, in(publish, will));
    set(property_id::response_topic, in(publish, will));
    set(property_id::correlation_data, in(publish, will));
    set(property_id::subscription_identifier, in(publish, subscribe));
    set(property_id::session_expiry_interval, in(connect, connack, disconnect));
    set(property_id::assigned_client_identifier, in(connack));
    set(property_id::server_keep_alive, in(connack));
    set(property_id::authentication_method, in(connect, connack, auth));
    set(property_id::authentication_data, in(connect, connack, auth));
    set(property_id::request_problem_information, in(connect));
    set(property_id::will_delay_interval, in(will));
    set(property_id::request_response_information, in(connect));
    set(property_id::response_information, in(connack));
    set(property_id::server_reference, in(connack, disconnect));
    set(property_id::reason_string,
        in(connack, puback, pubrec, pubrel, pubcomp, suback, unsuback, disconnect, auth));
    set(property_id::receive_maximum, in(connect, connack));
    set(property_id::topic_alias_maximum, in(connect, connack));
    set(property_id::topic_alias, in(publish));
    set(property_id::maximum_qos, in(connack));
    set(property_id::retain_available, in(connack));
    set(property_id::user_property,
        in(connect, will, connack, publish, puback, pubrec, pubrel, pubcomp, subscribe, suback,
           unsubscribe, unsuback, disconnect, auth));
    set(property_id::maximum_packet_size, in(connect, connack));
    set(property_id::wildcard_subscription_available, in(connack));
    set(property_id::subscription_identifier_available, in(connack));
    set(property_id::shared_subscription_available, in(connack));
    return table;
}();

} // namespace

bool is_property_allowed(property_id id, property_context context) {
    const auto index = static_cast<std::size_t>(id);
    return index < allowed_contexts.size() && (allowed_contexts[index] & in(context)) != 0;
}

} // namespace perch::mqtt
