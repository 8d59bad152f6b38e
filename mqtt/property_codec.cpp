// Property block reading and writing, with the per-property rules of MQTT 5.0 sections 2.2.2,
// 3.1.2.11, 3.1.3.2, 3.2.2.3, 3.3.2.3 and 3.8.2.1.
#include "mqtt/property_codec.hpp"

#include <string>
#include <string_view>
#include <type_traits>

#include "mqtt/utf8.hpp"

namespace perch::mqtt {
namespace {

using read_status = std::optional<protocol_violation>;

constexpr std::string_view property_rule = "MQTT-2.2.2.2";

protocol_violation malformed(std::string_view rule) {
    return {reason_code::malformed_packet, rule};
}

protocol_violation protocol_error(std::string_view rule) {
    return {reason_code::protocol_error, rule};
}

/// The rule a string breaks, or nothing.
read_status check_string(byte_view bytes, std::string_view ill_formed_rule,
                         std::string_view null_rule) {
    switch (check_utf8_string(bytes)) {
    case utf8_status::valid: return std::nullopt;
    case utf8_status::contains_null: return malformed(null_rule);
    case utf8_status::ill_formed:
    case utf8_status::too_long: break;
    }
    return malformed(ill_formed_rule);
}

std::string to_string(byte_view bytes) {
    return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

bool has_wildcard(std::string_view topic) {
    // A plain loop: find_first_of calls memchr once per character.
    for (const char character : topic) {
        if (character == '+' || character == '#') {
            return true;
        }
    }
    return false;
}

/// Reads the values of one property block; each member reads one kind of value into its field.
class block_reader {
public:
    block_reader(wire_reader& reader, property_context context, properties& out)
        : reader_(reader), context_(context), out_(out) {}

    read_status read_all() {
        while (!reader_.is_empty()) {
            std::uint32_t identifier = 0;
            if (!reader_.read_varint(identifier)) {
                return malformed(property_rule);
            }
            if (identifier > 0xFF ||
                !is_property_allowed(static_cast<property_id>(identifier), context_)) {
                return malformed(property_rule);
            }
            if (auto failure = read_value(static_cast<property_id>(identifier))) {
                return failure;
            }
        }
        return std::nullopt;
    }

private:
    bool in(property_context context) const { return context_ == context; }

    read_status read_value(property_id id) {
        using enum property_id;
        using enum property_context;
        switch (id) {
        case payload_format_indicator:
            return read_flag(out_.payload_format_indicator,
                             in(will) ? "MQTT-3.1.3.2.3" : "MQTT-3.3.2.3.2");
        case message_expiry_interval: return read_u32(out_.message_expiry_interval, true, "");
        case content_type:
            return read_string(out_.content_type, in(publish) ? "MQTT-3.3.2-19" : "MQTT-1.5.4-1");
        case response_topic: return read_response_topic();
        case correlation_data: return read_binary(out_.correlation_data);
        case subscription_identifier: return read_subscription_identifier();
        case session_expiry_interval: return read_u32(out_.session_expiry_interval, true, "");
        case assigned_client_identifier: return read_string(out_.assigned_client_identifier);
        case server_keep_alive: return read_u16(out_.server_keep_alive, true, "");
        case authentication_method: return read_string(out_.authentication_method);
        case authentication_data: return read_binary(out_.authentication_data);
        case request_problem_information:
            return read_flag(out_.request_problem_information, "MQTT-3.1.2.11.7");
        case will_delay_interval: return read_u32(out_.will_delay_interval, true, "");
        case request_response_information:
            return read_flag(out_.request_response_information, "MQTT-3.1.2.11.6");
        case response_information: return read_string(out_.response_information);
        case server_reference: return read_string(out_.server_reference);
        case reason_string: return read_string(out_.reason_string);
        case receive_maximum:
            return read_u16(out_.receive_maximum, false,
                            in(connect) ? "MQTT-3.1.2.11.3" : "MQTT-3.2.2.3.3");
        case topic_alias_maximum: return read_u16(out_.topic_alias_maximum, true, "");
        case topic_alias: return read_topic_alias();
        case maximum_qos: return read_flag(out_.maximum_qos, "MQTT-3.2.2.3.4");
        case retain_available: return read_flag(out_.retain_available, "MQTT-3.2.2.3.5");
        case user_property: return read_user_property();
        case maximum_packet_size:
            return read_u32(out_.maximum_packet_size, false,
                            in(connect) ? "MQTT-3.1.2.11.4" : "MQTT-3.2.2.3.6");
        case wildcard_subscription_available:
            return read_flag(out_.wildcard_subscription_available, "MQTT-3.2.2.3.11");
        case subscription_identifier_available:
            return read_flag(out_.subscription_identifier_available, "MQTT-3.2.2.3.12");
        case shared_subscription_available:
            return read_flag(out_.shared_subscription_available, "MQTT-3.2.2.3.13");
        }
        return malformed(property_rule);
    }

    /// A Byte that must be 0 or 1.
    read_status read_flag(std::optional<std::uint8_t>& field, std::string_view range_rule) {
        std::uint8_t value = 0;
        if (field.has_value()) {
            return protocol_error(property_rule);
        }
        if (!reader_.read_u8(value)) {
            return malformed(property_rule);
        }
        if (value > 1) {
            return protocol_error(range_rule);
        }
        field = value;
        return std::nullopt;
    }

    read_status read_u16(std::optional<std::uint16_t>& field, bool is_zero_allowed,
                         std::string_view range_rule) {
        std::uint16_t value = 0;
        if (field.has_value()) {
            return protocol_error(property_rule);
        }
        if (!reader_.read_u16(value)) {
            return malformed(property_rule);
        }
        if (value == 0 && !is_zero_allowed) {
            return protocol_error(range_rule);
        }
        field = value;
        return std::nullopt;
    }

    read_status read_u32(std::optional<std::uint32_t>& field, bool is_zero_allowed,
                         std::string_view range_rule) {
        std::uint32_t value = 0;
        if (field.has_value()) {
            return protocol_error(property_rule);
        }
        if (!reader_.read_u32(value)) {
            return malformed(property_rule);
        }
        if (value == 0 && !is_zero_allowed) {
            return protocol_error(range_rule);
        }
        field = value;
        return std::nullopt;
    }

    read_status read_string_bytes(byte_view& bytes, std::string_view ill_formed_rule,
                                  std::string_view null_rule) {
        if (!reader_.read_prefixed(bytes)) {
            return malformed(property_rule);
        }
        return check_string(bytes, ill_formed_rule, null_rule);
    }

    read_status read_string(std::optional<std::string>& field,
                            std::string_view ill_formed_rule = "MQTT-1.5.4-1") {
        byte_view bytes;
        if (field.has_value()) {
            return protocol_error(property_rule);
        }
        if (auto failure = read_string_bytes(bytes, ill_formed_rule, "MQTT-1.5.4-2")) {
            return failure;
        }
        field = to_string(bytes);
        return std::nullopt;
    }

    read_status read_binary(std::optional<byte_vector>& field) {
        byte_view bytes;
        if (field.has_value()) {
            return protocol_error(property_rule);
        }
        if (!reader_.read_prefixed(bytes)) {
            return malformed(property_rule);
        }
        field.emplace(bytes.begin(), bytes.end());
        return std::nullopt;
    }

    read_status read_response_topic() {
        const bool is_publish = in(property_context::publish);
        if (auto failure =
                read_string(out_.response_topic, is_publish ? "MQTT-3.3.2-13" : "MQTT-1.5.4-1")) {
            return failure;
        }
        // [MQTT-3.3.2-14] a Response Topic is a Topic Name: no wildcards, at least one character.
        if (out_.response_topic->empty() || has_wildcard(*out_.response_topic)) {
            return protocol_error("MQTT-3.3.2-14");
        }
        return std::nullopt;
    }

    read_status read_topic_alias() {
        std::uint16_t value = 0;
        if (out_.topic_alias.has_value()) {
            return protocol_error(property_rule);
        }
        if (!reader_.read_u16(value)) {
            return malformed(property_rule);
        }
        if (value == 0) {
            // [MQTT-3.3.2-8] a Topic Alias of 0 is not permitted.
            return protocol_violation{reason_code::topic_alias_invalid, "MQTT-3.3.2-8"};
        }
        out_.topic_alias = value;
        return std::nullopt;
    }

    read_status read_subscription_identifier() {
        const bool is_subscribe = in(property_context::subscribe);
        const std::string_view rule = is_subscribe ? "MQTT-3.8.2.1.2" : "MQTT-3.3.2.3.8";
        std::uint32_t value = 0;
        if (is_subscribe && !out_.subscription_identifiers.empty()) {
            return protocol_error(rule);
        }
        if (!reader_.read_varint(value)) {
            return malformed(property_rule);
        }
        if (value == 0) {
            return protocol_error(rule);
        }
        out_.subscription_identifiers.push_back(value);
        return std::nullopt;
    }

    read_status read_user_property() {
        byte_view name;
        byte_view value;
        // [MQTT-1.5.7-1] both strings of the pair follow the UTF-8 Encoded String rules.
        if (auto failure = read_string_bytes(name, "MQTT-1.5.7-1", "MQTT-1.5.7-1")) {
            return failure;
        }
        if (auto failure = read_string_bytes(value, "MQTT-1.5.7-1", "MQTT-1.5.7-1")) {
            return failure;
        }
        out_.user_properties.push_back({to_string(name), to_string(value)});
        return std::nullopt;
    }

    wire_reader& reader_;
    property_context context_;
    properties& out_;
};

/// A Subscription Identifier value, told apart from the Four Byte Integers by its type.
struct subscription_identifier_value {
    std::uint32_t value = 0;
};

std::size_t string_size(std::string_view text) {
    return 2 + text.size();
}

/// Walks the properties of a block in identifier order, calling `visit` for each one `context`
/// admits. Keeping one walk for sizing and writing keeps the two from disagreeing.
template <typename Visitor>
void for_each_property(const properties& props, property_context context, Visitor&& visit) {
    auto admitted = [context](property_id id) { return is_property_allowed(id, context); };
    auto optional_field = [&](property_id id, const auto& field) {
        if (field.has_value() && admitted(id)) {
            visit(id, *field);
        }
    };
    using enum property_id;
    optional_field(payload_format_indicator, props.payload_format_indicator);
    optional_field(message_expiry_interval, props.message_expiry_interval);
    optional_field(content_type, props.content_type);
    optional_field(response_topic, props.response_topic);
    optional_field(correlation_data, props.correlation_data);
    if (admitted(subscription_identifier)) {
        for (const std::uint32_t value : props.subscription_identifiers) {
            visit(subscription_identifier, subscription_identifier_value{value});
        }
    }
    optional_field(session_expiry_interval, props.session_expiry_interval);
    optional_field(assigned_client_identifier, props.assigned_client_identifier);
    optional_field(server_keep_alive, props.server_keep_alive);
    optional_field(authentication_method, props.authentication_method);
    optional_field(authentication_data, props.authentication_data);
    optional_field(request_problem_information, props.request_problem_information);
    optional_field(will_delay_interval, props.will_delay_interval);
    optional_field(request_response_information, props.request_response_information);
    optional_field(response_information, props.response_information);
    optional_field(server_reference, props.server_reference);
    optional_field(reason_string, props.reason_string);
    optional_field(receive_maximum, props.receive_maximum);
    optional_field(topic_alias_maximum, props.topic_alias_maximum);
    optional_field(topic_alias, props.topic_alias);
    optional_field(maximum_qos, props.maximum_qos);
    optional_field(retain_available, props.retain_available);
    if (admitted(user_property)) {
        for (const mqtt::user_property& pair : props.user_properties) {
            visit(user_property, pair);
        }
    }
    optional_field(maximum_packet_size, props.maximum_packet_size);
    optional_field(wildcard_subscription_available, props.wildcard_subscription_available);
    optional_field(subscription_identifier_available, props.subscription_identifier_available);
    optional_field(shared_subscription_available, props.shared_subscription_available);
}

} // namespace

std::optional<protocol_violation> read_properties(wire_reader& reader, property_context context,
                                                  properties& out) {
    std::uint32_t length = 0;
    byte_view block;
    if (reader.is_empty()) {
        return malformed("MQTT-2.2.2-1"); // no properties is a Property Length of 0, not nothing
    }
    if (!reader.read_varint(length) || !reader.read_bytes(length, block)) {
        return malformed("MQTT-2.2.2.1");
    }
    wire_reader block_cursor(block);
    return block_reader(block_cursor, context, out).read_all();
}

std::size_t properties_content_size(const properties& props, property_context context) {
    std::size_t size = 0;
    for_each_property(props, context, [&size](property_id, const auto& value) {
        using value_type = std::decay_t<decltype(value)>;
        size += 1; // every identifier defined so far fits in one byte
        if constexpr (std::is_same_v<value_type, std::uint8_t>) {
            size += 1;
        } else if constexpr (std::is_same_v<value_type, std::uint16_t>) {
            size += 2;
        } else if constexpr (std::is_same_v<value_type, std::uint32_t>) {
            size += 4;
        } else if constexpr (std::is_same_v<value_type, subscription_identifier_value>) {
            size += varint_size(value.value);
        } else if constexpr (std::is_same_v<value_type, std::string>) {
            size += string_size(value);
        } else if constexpr (std::is_same_v<value_type, byte_vector>) {
            size += 2 + value.size();
        } else {
            static_assert(std::is_same_v<value_type, user_property>);
            size += string_size(value.name) + string_size(value.value);
        }
    });
    return size;
}

void write_properties(wire_writer& writer, const properties& props, property_context context,
                      std::size_t content_size) {
    writer.write_varint(static_cast<std::uint32_t>(content_size));
    for_each_property(props, context, [&writer](property_id id, const auto& value) {
        using value_type = std::decay_t<decltype(value)>;
        writer.write_u8(static_cast<std::uint8_t>(id));
        if constexpr (std::is_same_v<value_type, std::uint8_t>) {
            writer.write_u8(value);
        } else if constexpr (std::is_same_v<value_type, std::uint16_t>) {
            writer.write_u16(value);
        } else if constexpr (std::is_same_v<value_type, std::uint32_t>) {
            writer.write_u32(value);
        } else if constexpr (std::is_same_v<value_type, subscription_identifier_value>) {
            writer.write_varint(value.value);
        } else if constexpr (std::is_same_v<value_type, std::string>) {
            writer.write_string(value);
        } else if constexpr (std::is_same_v<value_type, byte_vector>) {
            writer.write_prefixed(value);
        } else {
            static_assert(std::is_same_v<value_type, user_property>);
            writer.write_string(value.name);
            writer.write_string(value.value);
        }
    });
}

} // namespace perch::mqtt
