// Minimal MQTT 3.1.1 / 5.0 codec of the load generator: fixed header, Remaining Length, and the
// fields of the packets it uses. Malformed input is reported, never trusted.
#include "wire.hpp"

namespace perch::loadgen {

namespace {

void append_remaining_length(std::vector<std::uint8_t>& out, std::size_t length) {
    do {
        std::uint8_t digit = static_cast<std::uint8_t>(length % 128);
        length /= 128;
        if (length > 0) {
            digit |= 0x80;
        }
        out.push_back(digit);
    } while (length > 0);
}

void append_u16(std::vector<std::uint8_t>& out, std::uint16_t value) {
    out.push_back(static_cast<std::uint8_t>(value >> 8));
    out.push_back(static_cast<std::uint8_t>(value & 0xff));
}

void append_string(std::vector<std::uint8_t>& out, std::string_view text) {
    append_u16(out, static_cast<std::uint16_t>(text.size()));
    out.insert(out.end(), text.begin(), text.end());
}

std::uint16_t read_u16(std::span<const std::uint8_t> bytes, std::size_t at) {
    return static_cast<std::uint16_t>((bytes[at] << 8) | bytes[at + 1]);
}

/// Skips a level-5 property list at `at` (its length, then the properties). Returns false when
/// it runs past `bytes`.
bool skip_properties(std::span<const std::uint8_t> bytes, std::size_t& at) {
    std::size_t length = 0;
    std::size_t multiplier = 1;
    for (int digits = 0;; ++digits) {
        if (digits == 4 || at >= bytes.size()) {
            return false;
        }
        const std::uint8_t digit = bytes[at++];
        length += (digit & 0x7f) * multiplier;
        multiplier *= 128;
        if ((digit & 0x80) == 0) {
            break;
        }
    }
    if (bytes.size() - at < length) {
        return false;
    }
    at += length;
    return true;
}

} // namespace

parse_status parse_packet(std::span<const std::uint8_t> input, packet_view& out,
                          std::size_t& consumed, int protocol_level) {
    const bool is_v5 = protocol_level == level_5;
    if (input.size() < 2) {
        return parse_status::need_more;
    }
    std::size_t remaining_length = 0;
    std::size_t multiplier = 1;
    std::size_t header_size = 1;
    while (true) {
        if (header_size > 4) {
            return parse_status::malformed;
        }
        if (header_size >= input.size()) {
            return parse_status::need_more;
        }
        const std::uint8_t digit = input[header_size];
        remaining_length += (digit & 0x7f) * multiplier;
        multiplier *= 128;
        ++header_size;
        if ((digit & 0x80) == 0) {
            break;
        }
    }
    if (input.size() < header_size + remaining_length) {
        return parse_status::need_more;
    }
    const auto body = input.subspan(header_size, remaining_length);
    packet_view view;
    view.type = static_cast<packet_type>(input[0] >> 4);
    view.flags = input[0] & 0x0f;
    switch (view.type) {
    case packet_type::publish: {
        if (body.size() < 2) {
            return parse_status::malformed;
        }
        const std::size_t topic_length = read_u16(body, 0);
        std::size_t at = 2 + topic_length;
        if (body.size() < at) {
            return parse_status::malformed;
        }
        view.topic = std::string_view(reinterpret_cast<const char*>(body.data()) + 2, topic_length);
        if (view.qos() > 0) {
            if (body.size() < at + 2) {
                return parse_status::malformed;
            }
            view.packet_id = read_u16(body, at);
            at += 2;
        }
        if (is_v5 && !skip_properties(body, at)) {
            return parse_status::malformed;
        }
        view.payload = body.subspan(at);
        break;
    }
    case packet_type::puback:
    case packet_type::suback: {
        if (body.size() < 2) {
            return parse_status::malformed;
        }
        view.packet_id = read_u16(body, 0);
        std::size_t at = 2;
        if (is_v5 && view.type == packet_type::suback && !skip_properties(body, at)) {
            return parse_status::malformed;
        }
        view.payload = body.subspan(at);
        break;
    }
    case packet_type::connack: {
        // Acknowledge flags and return / reason code; then (5.0) properties, ignored.
        if (body.size() < 2) {
            return parse_status::malformed;
        }
        view.payload = body.subspan(0, 2);
        break;
    }
    default: view.payload = body; break;
    }
    out = view;
    consumed = header_size + remaining_length;
    return parse_status::complete;
}

void append_connect(std::vector<std::uint8_t>& out, std::string_view client_id,
                    const connect_settings& settings) {
    const bool is_v5 = settings.protocol_level == level_5;
    const bool has_credentials = !settings.user_name.empty();
    std::vector<std::uint8_t> body;
    append_string(body, "MQTT");
    body.push_back(static_cast<std::uint8_t>(settings.protocol_level));
    std::uint8_t flags = settings.is_clean ? 0x02 : 0x00;
    if (has_credentials) {
        flags |= 0xc0; // user name and password
    }
    body.push_back(flags);
    append_u16(body, settings.keep_alive_seconds);
    if (is_v5) {
        if (settings.session_expiry_seconds > 0) {
            body.push_back(5);    // property length
            body.push_back(0x11); // Session Expiry Interval
            for (int shift = 24; shift >= 0; shift -= 8) {
                body.push_back(static_cast<std::uint8_t>(settings.session_expiry_seconds >> shift));
            }
        } else {
            body.push_back(0);
        }
    }
    append_string(body, client_id);
    if (has_credentials) {
        append_string(body, settings.user_name);
        append_string(body, settings.password);
    }
    out.push_back(0x10);
    append_remaining_length(out, body.size());
    out.insert(out.end(), body.begin(), body.end());
}

void append_subscribe(std::vector<std::uint8_t>& out, std::uint16_t packet_id,
                      std::string_view topic_filter, int qos, int protocol_level,
                      bool is_no_local) {
    const bool is_v5 = protocol_level == level_5;
    out.push_back(0x82);
    append_remaining_length(out, 2 + (is_v5 ? 1 : 0) + 2 + topic_filter.size() + 1);
    append_u16(out, packet_id);
    if (is_v5) {
        out.push_back(0); // no properties
    }
    append_string(out, topic_filter);
    out.push_back(static_cast<std::uint8_t>(qos | (is_v5 && is_no_local ? 0x04 : 0)));
}

void append_publish(std::vector<std::uint8_t>& out, std::string_view topic_name, int qos,
                    std::uint16_t packet_id, std::span<const std::uint8_t> payload,
                    int protocol_level) {
    const bool is_v5 = protocol_level == level_5;
    out.push_back(static_cast<std::uint8_t>(0x30 | (qos << 1)));
    append_remaining_length(out, 2 + topic_name.size() + (qos > 0 ? 2 : 0) + (is_v5 ? 1 : 0) +
                                     payload.size());
    append_string(out, topic_name);
    if (qos > 0) {
        append_u16(out, packet_id);
    }
    if (is_v5) {
        out.push_back(0); // no properties
    }
    out.insert(out.end(), payload.begin(), payload.end());
}

void append_puback(std::vector<std::uint8_t>& out, std::uint16_t packet_id) {
    out.push_back(0x40);
    out.push_back(2);
    append_u16(out, packet_id);
}

void append_disconnect(std::vector<std::uint8_t>& out) {
    out.push_back(0xe0);
    out.push_back(0);
}

} // namespace perch::loadgen
