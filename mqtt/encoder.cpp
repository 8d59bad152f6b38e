// Packet encoding in two steps: measure the body (and each property block once), then write the
// fixed header and body into the caller's buffer. Output is deterministic: properties go out in
// identifier order and every Variable Byte Integer in its shortest form [MQTT-1.5.5-1].
#include "mqtt/encoder.hpp"

#include <cassert>
#include <string_view>
#include <type_traits>
#include <variant>

#include "mqtt/property_codec.hpp"
#include "mqtt/varint.hpp"
#include "mqtt/wire_writer.hpp"

namespace perch::mqtt {
namespace {

/// Sizes measured before writing, so that nothing is measured twice.
struct body_layout {
    std::size_t remaining_length = 0;
    std::size_t properties_size = 0;
    std::size_t will_properties_size = 0;
};

std::size_t string_size(std::string_view text) {
    return 2 + text.size();
}

std::size_t property_block_size(std::size_t content_size) {
    return varint_size(static_cast<std::uint32_t>(content_size)) + content_size;
}

/// The packet_type of the packet alternative `Packet`.
template <typename Packet, std::size_t index = 0> constexpr packet_type type_constant() {
    if constexpr (std::is_same_v<std::variant_alternative_t<index, packet>, Packet>) {
        return static_cast<packet_type>(index + 1);
    } else {
        return type_constant<Packet, index + 1>();
    }
}

constexpr std::uint8_t type_bits(packet_type type) {
    return static_cast<std::uint8_t>(static_cast<unsigned>(type) << 4);
}

/// The 3.1.1 SUBACK return code for a reason: granted QoS as is, any failure as 0x80.
std::uint8_t to_v3_1_1_suback_code(reason_code reason) {
    const auto value = static_cast<std::uint8_t>(reason);
    return value <= 0x02 ? value : 0x80;
}

std::uint8_t options_byte(const subscription_options& options, bool is_v5) {
    auto byte = static_cast<std::uint8_t>(options.maximum_qos);
    if (is_v5) {
        byte |= static_cast<std::uint8_t>(
            (options.is_no_local ? 0x04 : 0) | (options.is_retain_as_published ? 0x08 : 0) |
            (static_cast<unsigned>(options.retain_handling_mode) << 4));
    }
    return byte;
}

/// Measures and writes the packets of one protocol level.
class packet_encoder {
public:
    explicit packet_encoder(protocol_version version) : version_(version) {}

    bool is_v5() const { return version_ == protocol_version::v5; }

    body_layout layout(const connect& p) const;
    body_layout layout(const connack& p) const;
    body_layout layout(const publish& p) const;
    template <typename Acknowledgement> body_layout layout(const Acknowledgement& p) const;
    body_layout layout(const subscribe& p) const;
    body_layout layout(const suback& p) const;
    body_layout layout(const unsubscribe& p) const;
    body_layout layout(const unsuback& p) const;
    body_layout layout(const pingreq&) const { return {}; }
    body_layout layout(const pingresp&) const { return {}; }
    body_layout layout(const disconnect& p) const;
    body_layout layout(const auth& p) const;

    void write(wire_writer& out, const connect& p, const body_layout& sizes) const;
    void write(wire_writer& out, const connack& p, const body_layout& sizes) const;
    void write(wire_writer& out, const publish& p, const body_layout& sizes) const;
    template <typename Acknowledgement>
    void write(wire_writer& out, const Acknowledgement& p, const body_layout& sizes) const;
    void write(wire_writer& out, const subscribe& p, const body_layout& sizes) const;
    void write(wire_writer& out, const suback& p, const body_layout& sizes) const;
    void write(wire_writer& out, const unsubscribe& p, const body_layout& sizes) const;
    void write(wire_writer& out, const unsuback& p, const body_layout& sizes) const;
    void write(wire_writer&, const pingreq&, const body_layout&) const {}
    void write(wire_writer&, const pingresp&, const body_layout&) const {}
    void write(wire_writer& out, const disconnect& p, const body_layout& sizes) const;
    void write(wire_writer& out, const auth& p, const body_layout& sizes) const;

    /// The first byte of the fixed header.
    static std::uint8_t first_byte(const publish& p) {
        // [MQTT-3.3.1-2] DUP is 0 on every QoS 0 message.
        const bool is_duplicate = p.is_duplicate && p.qos_level != qos::at_most_once;
        return static_cast<std::uint8_t>(
            type_bits(packet_type::publish) | (is_duplicate ? 0x08 : 0) |
            (static_cast<unsigned>(p.qos_level) << 1) | (p.is_retained ? 0x01 : 0));
    }
    static std::uint8_t first_byte(const pubrel&) { return type_bits(packet_type::pubrel) | 0x02; }
    static std::uint8_t first_byte(const subscribe&) {
        return type_bits(packet_type::subscribe) | 0x02;
    }
    static std::uint8_t first_byte(const unsubscribe&) {
        return type_bits(packet_type::unsubscribe) | 0x02;
    }
    template <typename Packet> static std::uint8_t first_byte(const Packet&) {
        return type_bits(type_constant<Packet>());
    }

private:
    std::size_t props_size(const properties& props, property_context context) const {
        return is_v5() ? properties_content_size(props, context) : 0;
    }
    std::size_t block_size(std::size_t content_size) const {
        return is_v5() ? property_block_size(content_size) : 0;
    }
    void write_props(wire_writer& out, const properties& props, property_context context,
                     std::size_t content_size) const {
        if (is_v5()) {
            write_properties(out, props, context, content_size);
        }
    }

    protocol_version version_;
};

/// The property context of each acknowledgement of a QoS 1 or 2 exchange.
constexpr property_context context_of(const puback&) {
    return property_context::puback;
}
constexpr property_context context_of(const pubrec&) {
    return property_context::pubrec;
}
constexpr property_context context_of(const pubrel&) {
    return property_context::pubrel;
}
constexpr property_context context_of(const pubcomp&) {
    return property_context::pubcomp;
}

body_layout packet_encoder::layout(const connect& p) const {
    body_layout sizes;
    sizes.properties_size = props_size(p.props, property_context::connect);
    // Protocol Name, Protocol Level, Connect Flags, Keep Alive.
    sizes.remaining_length = string_size("MQTT") + 1 + 1 + 2 + block_size(sizes.properties_size) +
                             string_size(p.client_id);
    if (p.will) {
        sizes.will_properties_size = props_size(p.will->props, property_context::will);
        sizes.remaining_length += block_size(sizes.will_properties_size) +
                                  string_size(p.will->topic_name) + 2 + p.will->payload.size();
    }
    if (p.user_name) {
        sizes.remaining_length += string_size(*p.user_name);
    }
    // [MQTT-3.1.2-22] at level 4 a password is only written after a user name.
    if (p.password && (is_v5() || p.user_name)) {
        sizes.remaining_length += 2 + p.password->size();
    }
    return sizes;
}

void packet_encoder::write(wire_writer& out, const connect& p, const body_layout& sizes) const {
    const bool has_password = p.password && (is_v5() || p.user_name);
    std::uint8_t connect_flags = p.clean_start ? 0x02 : 0x00;
    if (p.will) {
        connect_flags |=
            static_cast<std::uint8_t>(0x04 | (static_cast<unsigned>(p.will->qos_level) << 3) |
                                      (p.will->is_retained ? 0x20 : 0));
    }
    connect_flags |=
        static_cast<std::uint8_t>((p.user_name ? 0x80 : 0) | (has_password ? 0x40 : 0));
    out.write_string("MQTT");
    out.write_u8(static_cast<std::uint8_t>(version_));
    out.write_u8(connect_flags);
    out.write_u16(p.keep_alive_seconds);
    write_props(out, p.props, property_context::connect, sizes.properties_size);
    // [MQTT-3.1.3-1] Client Identifier, Will (Properties,) Topic, Payload, User Name, Password.
    out.write_string(p.client_id);
    if (p.will) {
        write_props(out, p.will->props, property_context::will, sizes.will_properties_size);
        out.write_string(p.will->topic_name);
        out.write_prefixed(p.will->payload.view());
    }
    if (p.user_name) {
        out.write_string(*p.user_name);
    }
    if (has_password) {
        out.write_prefixed(*p.password);
    }
}

body_layout packet_encoder::layout(const connack& p) const {
    body_layout sizes;
    sizes.properties_size = props_size(p.props, property_context::connack);
    sizes.remaining_length = 2 + block_size(sizes.properties_size);
    return sizes;
}

void packet_encoder::write(wire_writer& out, const connack& p, const body_layout& sizes) const {
    // [MQTT-3.2.2-6] (3.1.1 [MQTT-3.2.2-4]) Session Present is 0 when the connection is refused.
    const bool is_session_present = p.session_present && p.reason == reason_code::success;
    out.write_u8(is_session_present ? 0x01 : 0x00);
    out.write_u8(is_v5() ? static_cast<std::uint8_t>(p.reason)
                         : static_cast<std::uint8_t>(to_connect_return_code(p.reason)));
    write_props(out, p.props, property_context::connack, sizes.properties_size);
}

body_layout packet_encoder::layout(const publish& p) const {
    body_layout sizes;
    sizes.properties_size = props_size(p.props, property_context::publish);
    sizes.remaining_length = string_size(p.topic_name) +
                             (p.qos_level != qos::at_most_once ? 2 : 0) +
                             block_size(sizes.properties_size) + p.payload.size();
    return sizes;
}

void packet_encoder::write(wire_writer& out, const publish& p, const body_layout& sizes) const {
    out.write_string(p.topic_name);
    // [MQTT-2.2.1-2] (3.1.1 [MQTT-2.3.1-5]) no Packet Identifier at QoS 0.
    if (p.qos_level != qos::at_most_once) {
        out.write_u16(p.packet_id);
    }
    write_props(out, p.props, property_context::publish, sizes.properties_size);
}

template <typename Acknowledgement>
body_layout packet_encoder::layout(const Acknowledgement& p) const {
    body_layout sizes;
    sizes.properties_size = props_size(p.props, context_of(p));
    sizes.remaining_length = 2;
    if (is_v5() && (p.reason != reason_code::success || sizes.properties_size != 0)) {
        sizes.remaining_length += 1;
        if (sizes.properties_size != 0) {
            sizes.remaining_length += property_block_size(sizes.properties_size);
        }
    }
    return sizes;
}

template <typename Acknowledgement>
void packet_encoder::write(wire_writer& out, const Acknowledgement& p,
                           const body_layout& sizes) const {
    out.write_u16(p.packet_id);
    if (sizes.remaining_length > 2) {
        out.write_u8(static_cast<std::uint8_t>(p.reason));
    }
    if (sizes.remaining_length > 3) {
        write_properties(out, p.props, context_of(p), sizes.properties_size);
    }
}

body_layout packet_encoder::layout(const subscribe& p) const {
    body_layout sizes;
    sizes.properties_size = props_size(p.props, property_context::subscribe);
    sizes.remaining_length = 2 + block_size(sizes.properties_size);
    for (const subscribe_entry& entry : p.entries) {
        sizes.remaining_length += string_size(entry.topic_filter) + 1;
    }
    return sizes;
}

void packet_encoder::write(wire_writer& out, const subscribe& p, const body_layout& sizes) const {
    out.write_u16(p.packet_id);
    write_props(out, p.props, property_context::subscribe, sizes.properties_size);
    for (const subscribe_entry& entry : p.entries) {
        out.write_string(entry.topic_filter);
        out.write_u8(options_byte(entry.options, is_v5()));
    }
}

body_layout packet_encoder::layout(const suback& p) const {
    body_layout sizes;
    sizes.properties_size = props_size(p.props, property_context::suback);
    sizes.remaining_length = 2 + block_size(sizes.properties_size) + p.reasons.size();
    return sizes;
}

void packet_encoder::write(wire_writer& out, const suback& p, const body_layout& sizes) const {
    out.write_u16(p.packet_id);
    write_props(out, p.props, property_context::suback, sizes.properties_size);
    for (const reason_code reason : p.reasons) {
        // [MQTT-3.9.3-2] 3.1.1 knows only 0x00, 0x01, 0x02 and 0x80.
        out.write_u8(is_v5() ? static_cast<std::uint8_t>(reason) : to_v3_1_1_suback_code(reason));
    }
}

body_layout packet_encoder::layout(const unsubscribe& p) const {
    body_layout sizes;
    sizes.properties_size = props_size(p.props, property_context::unsubscribe);
    sizes.remaining_length = 2 + block_size(sizes.properties_size);
    for (const std::string& topic_filter : p.topic_filters) {
        sizes.remaining_length += string_size(topic_filter);
    }
    return sizes;
}

void packet_encoder::write(wire_writer& out, const unsubscribe& p, const body_layout& sizes) const {
    out.write_u16(p.packet_id);
    write_props(out, p.props, property_context::unsubscribe, sizes.properties_size);
    for (const std::string& topic_filter : p.topic_filters) {
        out.write_string(topic_filter);
    }
}

body_layout packet_encoder::layout(const unsuback& p) const {
    body_layout sizes;
    sizes.properties_size = props_size(p.props, property_context::unsuback);
    sizes.remaining_length = 2;
    if (is_v5()) {
        sizes.remaining_length += property_block_size(sizes.properties_size) + p.reasons.size();
    }
    return sizes;
}

void packet_encoder::write(wire_writer& out, const unsuback& p, const body_layout& sizes) const {
    out.write_u16(p.packet_id);
    if (is_v5()) {
        write_properties(out, p.props, property_context::unsuback, sizes.properties_size);
        for (const reason_code reason : p.reasons) {
            out.write_u8(static_cast<std::uint8_t>(reason));
        }
    }
}

body_layout packet_encoder::layout(const disconnect& p) const {
    body_layout sizes;
    if (!is_v5()) {
        return sizes;
    }
    sizes.properties_size = properties_content_size(p.props, property_context::disconnect);
    // 5.0 3.14.2.1: Remaining Length 0 for a normal disconnection without properties, 1 for a
    // Reason Code without properties.
    if (p.reason != reason_code::normal_disconnection || sizes.properties_size != 0) {
        sizes.remaining_length = 1;
    }
    if (sizes.properties_size != 0) {
        sizes.remaining_length += property_block_size(sizes.properties_size);
    }
    return sizes;
}

void packet_encoder::write(wire_writer& out, const disconnect& p, const body_layout& sizes) const {
    if (sizes.remaining_length >= 1) {
        out.write_u8(static_cast<std::uint8_t>(p.reason));
    }
    if (sizes.remaining_length > 1) {
        write_properties(out, p.props, property_context::disconnect, sizes.properties_size);
    }
}

body_layout packet_encoder::layout(const auth& p) const {
    // AUTH exists only in 5.0 and is written in its 5.0 form at either level.
    body_layout sizes;
    sizes.properties_size = properties_content_size(p.props, property_context::auth);
    // 5.0 3.15.2.1: both fields are omitted for Success without properties.
    if (p.reason != reason_code::success || sizes.properties_size != 0) {
        sizes.remaining_length = 1 + property_block_size(sizes.properties_size);
    }
    return sizes;
}

void packet_encoder::write(wire_writer& out, const auth& p, const body_layout& sizes) const {
    if (sizes.remaining_length != 0) {
        out.write_u8(static_cast<std::uint8_t>(p.reason));
        write_properties(out, p.props, property_context::auth, sizes.properties_size);
    }
}

/// A CONNECT is written at its own level; every other packet at the connection's.
protocol_version level_of(const packet& p, protocol_version version) {
    if (const auto* connect_packet = std::get_if<connect>(&p)) {
        return connect_packet->version;
    }
    return version;
}

std::size_t total_size(std::size_t remaining_length) {
    assert(remaining_length <= max_remaining_length);
    return 1 + varint_size(static_cast<std::uint32_t>(remaining_length)) + remaining_length;
}

} // namespace

std::size_t encoded_size(const packet& p, protocol_version version) {
    const packet_encoder encoder(level_of(p, version));
    return std::visit(
        [&encoder](const auto& value) {
            return total_size(encoder.layout(value).remaining_length);
        },
        p);
}

std::size_t encode(const packet& p, protocol_version version, std::span<std::uint8_t> out) {
    const packet_encoder encoder(level_of(p, version));
    return std::visit(
        [&encoder, out](const auto& value) {
            const body_layout sizes = encoder.layout(value);
            assert(out.size() >= total_size(sizes.remaining_length));
            wire_writer writer(out);
            writer.write_u8(packet_encoder::first_byte(value));
            writer.write_varint(static_cast<std::uint32_t>(sizes.remaining_length));
            encoder.write(writer, value, sizes);
            if constexpr (std::is_same_v<std::decay_t<decltype(value)>, publish>) {
                writer.write_bytes(value.payload.view());
            }
            assert(writer.written() == total_size(sizes.remaining_length));
            return writer.written();
        },
        p);
}

void encode_append(const packet& p, protocol_version version, byte_vector& out) {
    const std::size_t start = out.size();
    out.resize(start + encoded_size(p, version));
    encode(p, version, std::span<std::uint8_t>(out).subspan(start));
}

std::size_t publish_header_size(const publish& p, protocol_version version) {
    const body_layout sizes = packet_encoder(version).layout(p);
    return total_size(sizes.remaining_length) - p.payload.size();
}

std::size_t encode_publish_header(const publish& p, protocol_version version,
                                  std::span<std::uint8_t> out) {
    const packet_encoder encoder(version);
    const body_layout sizes = encoder.layout(p);
    assert(out.size() >= total_size(sizes.remaining_length) - p.payload.size());
    wire_writer writer(out);
    writer.write_u8(packet_encoder::first_byte(p));
    writer.write_varint(static_cast<std::uint32_t>(sizes.remaining_length));
    encoder.write(writer, p, sizes);
    return writer.written();
}

} // namespace perch::mqtt
