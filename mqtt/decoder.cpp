// Packet decoding: the fixed header first (type, flags, Remaining Length, size limit), then one
// body decoder per packet type over exactly Remaining Length bytes.
//
// Rule ids differ between the levels; where they do, both are named (3.1.1 first, then 5.0).
// Topic Filter syntax (wildcard placement, shared subscription names) is left to the topic rules
// of the session, which answer it per entry in SUBACK; Topic Names (PUBLISH, Will, Response Topic)
// are checked here for wildcards and emptiness because no per-entry answer exists for them.
#include "mqtt/decoder.hpp"

#include <algorithm>
#include <array>
#include <optional>
#include <string>
#include <utility>

#include "mqtt/property_codec.hpp"
#include "mqtt/utf8.hpp"
#include "mqtt/varint.hpp"
#include "mqtt/wire_reader.hpp"

namespace perch::mqtt {
namespace {

using check = std::optional<protocol_violation>;

protocol_violation malformed(std::string_view rule) {
    return {reason_code::malformed_packet, rule};
}

protocol_violation protocol_error(std::string_view rule) {
    return {reason_code::protocol_error, rule};
}

template <typename Packet> decode_outcome decoded(Packet&& value) {
    return decode_outcome(std::in_place_type<packet>, std::forward<Packet>(value));
}

std::string_view as_chars(byte_view bytes) {
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

/// The first byte of the fixed header: packet type and the flags each type requires
/// (3.1.1 table 2.2, 5.0 table 2-2).
check check_first_byte(std::uint8_t first, protocol_version version) {
    const bool is_v5 = version == protocol_version::v5;
    const auto type = static_cast<packet_type>(first >> 4);
    const std::uint8_t flags = first & 0x0F;
    const std::string_view reserved_flags_rule = is_v5 ? "MQTT-2.1.3-1" : "MQTT-2.2.2-1";
    switch (type) {
    case packet_type::publish: {
        const unsigned qos_bits = (flags >> 1) & 0x03;
        if (qos_bits == 3) {
            return malformed("MQTT-3.3.1-4"); // both QoS bits set
        }
        if ((flags & 0x08) != 0 && qos_bits == 0) {
            return malformed("MQTT-3.3.1-2"); // DUP set on a QoS 0 message
        }
        return std::nullopt;
    }
    case packet_type::pubrel: return flags == 0x02 ? check() : malformed("MQTT-3.6.1-1");
    case packet_type::subscribe: return flags == 0x02 ? check() : malformed("MQTT-3.8.1-1");
    case packet_type::unsubscribe: return flags == 0x02 ? check() : malformed("MQTT-3.10.1-1");
    case packet_type::disconnect: return flags == 0 ? check() : malformed("MQTT-3.14.1-1");
    case packet_type::auth:
        if (!is_v5) {
            return malformed("MQTT-2.2.1"); // type 15 is reserved in 3.1.1
        }
        return flags == 0 ? check() : malformed("MQTT-3.15.1-1");
    case packet_type::connect:
    case packet_type::connack:
    case packet_type::puback:
    case packet_type::pubrec:
    case packet_type::pubcomp:
    case packet_type::suback:
    case packet_type::unsuback:
    case packet_type::pingreq:
    case packet_type::pingresp: return flags == 0 ? check() : malformed(reserved_flags_rule);
    }
    return malformed(is_v5 ? "MQTT-2.1.2" : "MQTT-2.2.1"); // type 0 is reserved
}

/// Decodes the variable header and payload of one packet, which fill `body` exactly.
class body_decoder {
public:
    body_decoder(byte_view body, std::uint8_t first_byte, protocol_version version)
        : reader_(body), flags_(first_byte & 0x0F), version_(version) {}

    decode_outcome decode(packet_type type) {
        switch (type) {
        case packet_type::connect: return decode_connect();
        case packet_type::connack: return decode_connack();
        case packet_type::publish: return decode_publish();
        case packet_type::puback: return decode_acknowledgement<puback>(type);
        case packet_type::pubrec: return decode_acknowledgement<pubrec>(type);
        case packet_type::pubrel: return decode_acknowledgement<pubrel>(type);
        case packet_type::pubcomp: return decode_acknowledgement<pubcomp>(type);
        case packet_type::subscribe: return decode_subscribe();
        case packet_type::suback: return decode_suback();
        case packet_type::unsubscribe: return decode_unsubscribe();
        case packet_type::unsuback: return decode_unsuback();
        case packet_type::pingreq:
            return reader_.is_empty() ? decoded(pingreq{}) : malformed("MQTT-3.12.1");
        case packet_type::pingresp:
            return reader_.is_empty() ? decoded(pingresp{}) : malformed("MQTT-3.13.1");
        case packet_type::disconnect: return decode_disconnect();
        case packet_type::auth: return decode_auth();
        }
        return malformed("MQTT-2.1.2");
    }

private:
    bool is_v5() const { return version_ == protocol_version::v5; }

    /// The id of a rule whose number differs between 3.1.1 and 5.0.
    std::string_view by_version(std::string_view v3_1_1_rule, std::string_view v5_rule) const {
        return is_v5() ? v5_rule : v3_1_1_rule;
    }

    /// Fields that do not fill the Remaining Length exactly (3.1.1 2.2.3, 5.0 2.1.4).
    std::string_view length_rule() const { return by_version("MQTT-2.2.3", "MQTT-2.1.4"); }

    check expect_end(std::string_view rule) const {
        return reader_.is_empty() ? check() : malformed(rule);
    }

    /// A UTF-8 Encoded String: `missing_rule` when absent or truncated, `ill_formed_rule` when not
    /// well-formed, the version's U+0000 rule (or `null_rule` when given) when it holds U+0000.
    check read_string(std::string_view& out, std::string_view missing_rule,
                      std::string_view ill_formed_rule, std::string_view null_rule = {}) {
        byte_view bytes;
        if (!reader_.read_prefixed(bytes)) {
            return malformed(missing_rule);
        }
        switch (check_utf8_string(bytes)) {
        case utf8_status::valid: out = as_chars(bytes); return std::nullopt;
        case utf8_status::contains_null:
            return malformed(!null_rule.empty() ? null_rule
                                                : by_version("MQTT-1.5.3-2", "MQTT-1.5.4-2"));
        case utf8_status::ill_formed:
        case utf8_status::too_long: break;
        }
        return malformed(ill_formed_rule);
    }

    /// A Topic Name of PUBLISH or of a Will: a string without wildcards (`wildcard_rule`), empty
    /// only where a 5.0 Topic Alias may stand in for it (`may_be_empty`).
    check read_topic_name(std::string_view& out, std::string_view missing_rule,
                          std::string_view ill_formed_rule, std::string_view wildcard_rule,
                          bool may_be_empty) {
        if (auto failure = read_string(out, missing_rule, ill_formed_rule, "MQTT-4.7.3-2")) {
            return failure;
        }
        if (has_wildcard(out)) {
            return protocol_violation{reason_code::topic_name_invalid, wildcard_rule};
        }
        if (out.empty() && !may_be_empty) {
            return protocol_violation{reason_code::topic_name_invalid, "MQTT-4.7.3-1"};
        }
        return std::nullopt;
    }

    /// A Packet Identifier that must not be 0: malformed for SUBSCRIBE, UNSUBSCRIBE and PUBLISH
    /// (3.1.1 [MQTT-2.3.1-1], 5.0 [MQTT-2.2.1-3]), a protocol error for acknowledgements, which
    /// echo an identifier that could never have been 0 (`zero_rule`).
    check read_packet_id(std::uint16_t& out, bool is_acknowledgement, std::string_view zero_rule) {
        if (!reader_.read_u16(out)) {
            return malformed(length_rule());
        }
        if (out != 0) {
            return std::nullopt;
        }
        return is_acknowledgement ? protocol_error(zero_rule) : malformed(zero_rule);
    }

    check read_props(property_context context, properties& out) {
        return is_v5() ? read_properties(reader_, context, out) : check();
    }

    decode_outcome decode_connect();
    check decode_connect_payload(connect& result, std::uint8_t connect_flags);
    check decode_will(connect& result, std::uint8_t connect_flags);
    decode_outcome decode_connack();
    decode_outcome decode_publish();
    template <typename Acknowledgement> decode_outcome decode_acknowledgement(packet_type type);
    decode_outcome decode_subscribe();
    check check_subscription_options(std::uint8_t options, std::string_view topic_filter) const;
    decode_outcome decode_suback();
    decode_outcome decode_unsubscribe();
    decode_outcome decode_unsuback();
    decode_outcome decode_disconnect();
    decode_outcome decode_auth();

    wire_reader reader_;
    std::uint8_t flags_;
    protocol_version version_;
};

decode_outcome body_decoder::decode_connect() {
    std::string_view protocol_name;
    byte_view name_bytes;
    std::uint8_t level = 0;
    if (!reader_.read_prefixed(name_bytes) || !reader_.read_u8(level)) {
        return malformed("MQTT-3.1.4-1");
    }
    protocol_name = as_chars(name_bytes);
    if (protocol_name != "MQTT") {
        return protocol_violation{reason_code::unsupported_protocol_version, "MQTT-3.1.2-1"};
    }
    if (level != 4 && level != 5) {
        return protocol_violation{reason_code::unsupported_protocol_version, "MQTT-3.1.2-2"};
    }
    version_ = static_cast<protocol_version>(level);
    connect result;
    result.version = version_;
    std::uint8_t connect_flags = 0;
    if (!reader_.read_u8(connect_flags) || !reader_.read_u16(result.keep_alive_seconds)) {
        return malformed("MQTT-3.1.4-1");
    }
    const bool has_will = (connect_flags & 0x04) != 0;
    const unsigned will_qos = (connect_flags >> 3) & 0x03;
    const bool is_will_retained = (connect_flags & 0x20) != 0;
    if ((connect_flags & 0x01) != 0) {
        return malformed("MQTT-3.1.2-3"); // reserved flag
    }
    if (!has_will && will_qos != 0) {
        return malformed(by_version("MQTT-3.1.2-13", "MQTT-3.1.2-11"));
    }
    if (!has_will && is_will_retained) {
        return malformed(by_version("MQTT-3.1.2-15", "MQTT-3.1.2-13"));
    }
    if (will_qos == 3) {
        return malformed(by_version("MQTT-3.1.2-14", "MQTT-3.1.2-12"));
    }
    if (!is_v5() && (connect_flags & 0xC0) == 0x40) {
        return malformed("MQTT-3.1.2-22"); // 3.1.1: a password needs a user name
    }
    result.clean_start = (connect_flags & 0x02) != 0;
    if (auto failure = read_props(property_context::connect, result.props)) {
        return *failure;
    }
    if (result.props.authentication_data && !result.props.authentication_method) {
        return protocol_error("MQTT-3.1.2.11.10");
    }
    if (auto failure = decode_connect_payload(result, connect_flags)) {
        return *failure;
    }
    return decoded(std::move(result));
}

check body_decoder::decode_connect_payload(connect& result, std::uint8_t connect_flags) {
    const bool has_user_name = (connect_flags & 0x80) != 0;
    const bool has_password = (connect_flags & 0x40) != 0;
    std::string_view client_id;
    // [MQTT-3.1.3-1] Client Identifier, Will (Properties,) Topic, Payload, User Name, Password.
    if (auto failure = read_string(client_id, "MQTT-3.1.3-3", "MQTT-3.1.3-4")) {
        return failure;
    }
    if (!is_v5() && client_id.empty() && !result.clean_start) {
        // 3.1.1 [MQTT-3.1.3-7]: an empty Client Identifier needs Clean Session 1.
        return protocol_violation{reason_code::client_identifier_not_valid, "MQTT-3.1.3-8"};
    }
    result.client_id.assign(client_id);
    if ((connect_flags & 0x04) != 0) {
        if (auto failure = decode_will(result, connect_flags)) {
            return failure;
        }
    }
    if (has_user_name) {
        std::string_view user_name;
        if (auto failure = read_string(user_name, by_version("MQTT-3.1.2-19", "MQTT-3.1.2-17"),
                                       by_version("MQTT-3.1.3-11", "MQTT-3.1.3-12"))) {
            return failure;
        }
        result.user_name.emplace(user_name);
    }
    if (has_password) {
        byte_view password;
        if (!reader_.read_prefixed(password)) {
            return malformed(by_version("MQTT-3.1.2-21", "MQTT-3.1.2-19"));
        }
        result.password.emplace(password.begin(), password.end());
    }
    // Bytes left over stand where an absent field would be.
    if (!has_user_name) {
        return expect_end(by_version("MQTT-3.1.2-18", "MQTT-3.1.2-16"));
    }
    if (!has_password) {
        return expect_end(by_version("MQTT-3.1.2-20", "MQTT-3.1.2-18"));
    }
    return expect_end("MQTT-3.1.4-1");
}

check body_decoder::decode_will(connect& result, std::uint8_t connect_flags) {
    will_message will;
    will.qos_level = static_cast<qos>((connect_flags >> 3) & 0x03);
    will.is_retained = (connect_flags & 0x20) != 0;
    if (auto failure = read_props(property_context::will, will.props)) {
        return failure;
    }
    // [MQTT-3.1.2-9] with the Will Flag set, the Will Topic and Will Payload are present.
    std::string_view topic_name;
    // 3.1.1 [MQTT-4.7.1-1], 5.0 [MQTT-4.7.0-1] wildcards never appear in a Topic Name.
    if (auto failure = read_topic_name(topic_name, "MQTT-3.1.2-9",
                                       by_version("MQTT-3.1.3-10", "MQTT-3.1.3-11"),
                                       by_version("MQTT-4.7.1-1", "MQTT-4.7.0-1"), false)) {
        return failure;
    }
    byte_view payload;
    if (!reader_.read_prefixed(payload)) {
        return malformed("MQTT-3.1.2-9");
    }
    if (will.props.payload_format_indicator == 1 && !is_well_formed_utf8(payload)) {
        return protocol_violation{reason_code::payload_format_invalid, "MQTT-3.1.3.2.3"};
    }
    will.topic_name.assign(topic_name);
    will.payload = shared_bytes::copy_of(payload);
    result.will = std::move(will);
    return std::nullopt;
}

decode_outcome body_decoder::decode_connack() {
    connack result;
    std::uint8_t acknowledge_flags = 0;
    std::uint8_t code = 0;
    if (!reader_.read_u8(acknowledge_flags) || !reader_.read_u8(code)) {
        return malformed(length_rule());
    }
    if ((acknowledge_flags & 0xFE) != 0) {
        return malformed(by_version("MQTT-3.2.2.1", "MQTT-3.2.2-1")); // reserved bits 7-1
    }
    result.session_present = acknowledge_flags == 1;
    if (is_v5()) {
        result.reason = static_cast<reason_code>(code);
        if (!is_reason_code_allowed(packet_type::connack, result.reason)) {
            return malformed("MQTT-3.2.2-8");
        }
    } else {
        const auto reason = from_connect_return_code(code);
        if (!reason) {
            return malformed("MQTT-3.2.2.3"); // return codes 6..255 are reserved
        }
        result.reason = *reason;
    }
    if (result.session_present && result.reason != reason_code::success) {
        return protocol_error(by_version("MQTT-3.2.2-4", "MQTT-3.2.2-6"));
    }
    if (auto failure = read_props(property_context::connack, result.props)) {
        return *failure;
    }
    if (auto failure = expect_end(length_rule())) {
        return *failure;
    }
    return decoded(std::move(result));
}

decode_outcome body_decoder::decode_publish() {
    const auto qos_level = static_cast<qos>((flags_ >> 1) & 0x03);
    std::string_view topic_name;
    // [MQTT-3.3.2-1] the Topic Name comes first and is a UTF-8 Encoded String.
    if (auto failure =
            read_topic_name(topic_name, "MQTT-3.3.2-1", "MQTT-3.3.2-1", "MQTT-3.3.2-2", is_v5())) {
        return *failure;
    }
    publish result;
    // [MQTT-2.2.1-2] (3.1.1 [MQTT-2.3.1-5]) a QoS 0 PUBLISH has no Packet Identifier.
    if (qos_level != qos::at_most_once) {
        if (auto failure = read_packet_id(result.packet_id, false,
                                          by_version("MQTT-2.3.1-1", "MQTT-2.2.1-3"))) {
            return *failure;
        }
    }
    if (auto failure = read_props(property_context::publish, result.props)) {
        return *failure;
    }
    if (topic_name.empty() && !result.props.topic_alias) {
        return protocol_error("MQTT-3.3.2.3.4"); // an empty Topic Name needs a Topic Alias
    }
    const byte_view payload = reader_.read_rest();
    if (result.props.payload_format_indicator == 1 && !is_well_formed_utf8(payload)) {
        return protocol_violation{reason_code::payload_format_invalid, "MQTT-3.3.2.3.2"};
    }
    result.topic_name.assign(topic_name);
    result.payload = shared_bytes::copy_of(payload);
    result.qos_level = qos_level;
    result.is_retained = (flags_ & 0x01) != 0;
    result.is_duplicate = (flags_ & 0x08) != 0;
    return decoded(std::move(result));
}

template <typename Acknowledgement>
decode_outcome body_decoder::decode_acknowledgement(packet_type type) {
    Acknowledgement result;
    if (auto failure =
            read_packet_id(result.packet_id, true, by_version("MQTT-2.3.1-6", "MQTT-2.2.1-5"))) {
        return *failure;
    }
    // 5.0 3.4.2.1: a Remaining Length of 2 means Success without properties.
    if (is_v5() && !reader_.is_empty()) {
        std::uint8_t code = 0;
        reader_.read_u8(code);
        result.reason = static_cast<reason_code>(code);
        if (!is_reason_code_allowed(type, result.reason)) {
            static constexpr std::string_view rules[] = {"MQTT-3.4.2-1", "MQTT-3.5.2-1",
                                                         "MQTT-3.6.2-1", "MQTT-3.7.2-1"};
            const auto index =
                static_cast<std::size_t>(type) - static_cast<std::size_t>(packet_type::puback);
            return malformed(rules[index]);
        }
        // A Remaining Length of 3 means no properties.
        if (!reader_.is_empty()) {
            const auto context = static_cast<property_context>(
                static_cast<unsigned>(property_context::puback) + static_cast<unsigned>(type) -
                static_cast<unsigned>(packet_type::puback));
            if (auto failure = read_properties(reader_, context, result.props)) {
                return *failure;
            }
        }
    }
    if (auto failure = expect_end(length_rule())) {
        return *failure;
    }
    return decoded(std::move(result));
}

check body_decoder::check_subscription_options(std::uint8_t options,
                                               std::string_view topic_filter) const {
    const unsigned maximum_qos = options & 0x03;
    if (!is_v5()) {
        if ((options & 0xFC) != 0 || maximum_qos == 3) {
            return malformed("MQTT-3-8.3-4"); // 3.1.1 reserved bits or QoS 3
        }
        return std::nullopt;
    }
    if ((options & 0xC0) != 0) {
        return malformed("MQTT-3.8.3-5"); // reserved bits 6 and 7
    }
    if (maximum_qos == 3 || ((options >> 4) & 0x03) == 3) {
        return protocol_error("MQTT-3.8.3.1"); // Maximum QoS 3 or Retain Handling 3
    }
    if ((options & 0x04) != 0 && topic_filter.starts_with("$share/")) {
        return protocol_error("MQTT-3.8.3-4"); // No Local on a Shared Subscription
    }
    return std::nullopt;
}

decode_outcome body_decoder::decode_subscribe() {
    subscribe result;
    if (auto failure =
            read_packet_id(result.packet_id, false, by_version("MQTT-2.3.1-1", "MQTT-2.2.1-3"))) {
        return *failure;
    }
    if (auto failure = read_props(property_context::subscribe, result.props)) {
        return *failure;
    }
    while (!reader_.is_empty()) {
        std::string_view topic_filter;
        std::uint8_t options = 0;
        if (auto failure = read_string(topic_filter, length_rule(), "MQTT-3.8.3-1")) {
            return *failure;
        }
        if (!reader_.read_u8(options)) {
            return malformed(length_rule());
        }
        if (auto failure = check_subscription_options(options, topic_filter)) {
            return *failure;
        }
        subscription_options decoded_options;
        decoded_options.maximum_qos = static_cast<qos>(options & 0x03);
        decoded_options.is_no_local = (options & 0x04) != 0;
        decoded_options.is_retain_as_published = (options & 0x08) != 0;
        decoded_options.retain_handling_mode = static_cast<retain_handling>((options >> 4) & 0x03);
        result.entries.push_back({std::string(topic_filter), decoded_options});
    }
    if (result.entries.empty()) {
        return protocol_error(by_version("MQTT-3.8.3-3", "MQTT-3.8.3-2"));
    }
    return decoded(std::move(result));
}

decode_outcome body_decoder::decode_suback() {
    suback result;
    if (auto failure =
            read_packet_id(result.packet_id, true, by_version("MQTT-2.3.1-7", "MQTT-2.2.1-6"))) {
        return *failure;
    }
    if (auto failure = read_props(property_context::suback, result.props)) {
        return *failure;
    }
    const byte_view codes = reader_.read_rest();
    if (codes.empty()) {
        // One return code per Topic Filter of the SUBSCRIBE, which has at least one.
        return protocol_error(by_version("MQTT-3.8.4-5", "MQTT-3.8.4-6"));
    }
    result.reasons.reserve(codes.size());
    for (const std::uint8_t code : codes) {
        auto reason = static_cast<reason_code>(code);
        const bool is_allowed = is_v5() ? is_reason_code_allowed(packet_type::suback, reason)
                                        : (code <= 0x02 || code == 0x80);
        if (!is_allowed) {
            return malformed("MQTT-3.9.3-2");
        }
        result.reasons.push_back(reason);
    }
    return decoded(std::move(result));
}

decode_outcome body_decoder::decode_unsubscribe() {
    unsubscribe result;
    if (auto failure =
            read_packet_id(result.packet_id, false, by_version("MQTT-2.3.1-1", "MQTT-2.2.1-3"))) {
        return *failure;
    }
    if (auto failure = read_props(property_context::unsubscribe, result.props)) {
        return *failure;
    }
    while (!reader_.is_empty()) {
        std::string_view topic_filter;
        if (auto failure = read_string(topic_filter, length_rule(), "MQTT-3.10.3-1")) {
            return *failure;
        }
        result.topic_filters.emplace_back(topic_filter);
    }
    if (result.topic_filters.empty()) {
        return protocol_error("MQTT-3.10.3-2");
    }
    return decoded(std::move(result));
}

decode_outcome body_decoder::decode_unsuback() {
    unsuback result;
    if (auto failure =
            read_packet_id(result.packet_id, true, by_version("MQTT-2.3.1-7", "MQTT-2.2.1-6"))) {
        return *failure;
    }
    if (!is_v5()) {
        if (auto failure = expect_end(length_rule())) {
            return *failure;
        }
        return decoded(std::move(result));
    }
    if (auto failure = read_properties(reader_, property_context::unsuback, result.props)) {
        return *failure;
    }
    const byte_view codes = reader_.read_rest();
    if (codes.empty()) {
        return protocol_error("MQTT-3.11.3"); // one Reason Code per Topic Filter
    }
    result.reasons.reserve(codes.size());
    for (const std::uint8_t code : codes) {
        const auto reason = static_cast<reason_code>(code);
        if (!is_reason_code_allowed(packet_type::unsuback, reason)) {
            return malformed("MQTT-3.11.3-2");
        }
        result.reasons.push_back(reason);
    }
    return decoded(std::move(result));
}

decode_outcome body_decoder::decode_disconnect() {
    disconnect result;
    if (!is_v5()) {
        if (auto failure = expect_end("MQTT-3.14.1")) {
            return *failure;
        }
        return decoded(std::move(result));
    }
    // 5.0 3.14.2.1: no Reason Code means Normal disconnection, no Property Length means none.
    std::uint8_t code = 0;
    if (reader_.read_u8(code)) {
        result.reason = static_cast<reason_code>(code);
        if (!is_reason_code_allowed(packet_type::disconnect, result.reason)) {
            return malformed("MQTT-3.14.2-1");
        }
        if (!reader_.is_empty()) {
            if (auto failure =
                    read_properties(reader_, property_context::disconnect, result.props)) {
                return *failure;
            }
        }
    }
    if (auto failure = expect_end(length_rule())) {
        return *failure;
    }
    return decoded(std::move(result));
}

decode_outcome body_decoder::decode_auth() {
    auth result;
    // 5.0 3.15.2.1: Reason Code and Property Length may be omitted for Success without properties.
    std::uint8_t code = 0;
    if (reader_.read_u8(code)) {
        result.reason = static_cast<reason_code>(code);
        if (!is_reason_code_allowed(packet_type::auth, result.reason)) {
            return malformed("MQTT-3.15.2-1");
        }
        if (!reader_.is_empty()) {
            if (auto failure = read_properties(reader_, property_context::auth, result.props)) {
                return *failure;
            }
        }
    }
    if (auto failure = expect_end(length_rule())) {
        return *failure;
    }
    return decoded(std::move(result));
}

} // namespace

decode_outcome decode_next(byte_view input, const decode_limits& limits, std::size_t& consumed) {
    consumed = 0;
    if (input.empty()) {
        return need_more{2}; // a fixed header is at least two bytes
    }
    const std::uint8_t first = input[0];
    if (auto failure = check_first_byte(first, limits.version)) {
        return *failure;
    }
    const varint_read remaining_length = read_varint(input.subspan(1));
    if (remaining_length.status == varint_status::malformed) {
        // [MQTT-1.5.5] at most four bytes (3.1.1 2.2.3).
        return malformed(limits.version == protocol_version::v5 ? "MQTT-1.5.5" : "MQTT-2.2.3");
    }
    if (remaining_length.status == varint_status::incomplete) {
        return need_more{1};
    }
    const std::size_t header_size = 1 + remaining_length.size;
    const std::size_t total_size = header_size + remaining_length.value;
    if (total_size > limits.maximum_packet_size) {
        // [MQTT-3.2.2-15] (client to server) and [MQTT-3.1.2-24] (server to client).
        return protocol_violation{reason_code::packet_too_large, "MQTT-3.2.2-15"};
    }
    if (input.size() < total_size) {
        return need_more{total_size - input.size()};
    }
    const auto type = static_cast<packet_type>(first >> 4);
    body_decoder body(input.subspan(header_size, remaining_length.value), first, limits.version);
    decode_outcome outcome = body.decode(type);
    if (std::holds_alternative<packet>(outcome)) {
        consumed = total_size;
    }
    return outcome;
}

std::optional<protocol_version> peek_connect_version(byte_view input) {
    if (input.empty() || input[0] != static_cast<std::uint8_t>(packet_type::connect) << 4) {
        return std::nullopt;
    }
    const varint_read remaining_length = read_varint(input.subspan(1));
    if (remaining_length.status != varint_status::ok) {
        return std::nullopt;
    }
    // Protocol Name "MQTT" as a two-byte length and four bytes, then the Protocol Level.
    constexpr std::array<std::uint8_t, 6> protocol_name = {0, 4, 'M', 'Q', 'T', 'T'};
    const byte_view header = input.subspan(1 + remaining_length.size);
    if (header.size() < protocol_name.size() + 1 ||
        !std::equal(protocol_name.begin(), protocol_name.end(), header.begin())) {
        return std::nullopt;
    }
    switch (header[protocol_name.size()]) {
    case 4: return protocol_version::v3_1_1;
    case 5: return protocol_version::v5;
    default: return std::nullopt;
    }
}

} // namespace perch::mqtt
