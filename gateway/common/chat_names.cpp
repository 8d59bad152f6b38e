// Validation of user and room names: a UTF-8 decoder strict enough to refuse what MQTT refuses
// in topic names, plus the characters a topic level reserves.
#include "gateway/common/chat_names.hpp"

#include <cstdint>

namespace perch::gateway {
namespace {

/// Decodes the code point starting at `text[index]` and advances `index`; false when the bytes
/// there are not well-formed UTF-8.
bool decode_code_point(std::string_view text, std::size_t& index, std::uint32_t& code_point) {
    const auto lead = static_cast<unsigned char>(text[index]);
    std::size_t length = 0;
    std::uint32_t minimum = 0;
    if (lead < 0x80) {
        code_point = lead;
        ++index;
        return true;
    }
    if ((lead & 0xe0) == 0xc0) {
        length = 2;
        minimum = 0x80;
        code_point = lead & 0x1fu;
    } else if ((lead & 0xf0) == 0xe0) {
        length = 3;
        minimum = 0x800;
        code_point = lead & 0x0fu;
    } else if ((lead & 0xf8) == 0xf0) {
        length = 4;
        minimum = 0x10000;
        code_point = lead & 0x07u;
    } else {
        return false;
    }
    if (text.size() - index < length) {
        return false;
    }
    for (std::size_t i = 1; i < length; ++i) {
        const auto continuation = static_cast<unsigned char>(text[index + i]);
        if ((continuation & 0xc0) != 0x80) {
            return false;
        }
        code_point = (code_point << 6) | (continuation & 0x3fu);
    }
    index += length;
    const bool is_surrogate = code_point >= 0xd800 && code_point <= 0xdfff;
    return code_point >= minimum && code_point <= 0x10ffff && !is_surrogate;
}

bool is_control(std::uint32_t code_point) {
    return code_point <= 0x1f || (code_point >= 0x7f && code_point <= 0x9f);
}

bool is_topic_character(std::uint32_t code_point) {
    return code_point == '/' || code_point == '+' || code_point == '#' || code_point == '$';
}

} // namespace

bool is_valid_chat_name(std::string_view name) {
    if (name.empty() || name.size() > max_chat_name_bytes) {
        return false;
    }
    std::size_t index = 0;
    while (index < name.size()) {
        std::uint32_t code_point = 0;
        if (!decode_code_point(name, index, code_point) || is_control(code_point) ||
            is_topic_character(code_point)) {
            return false;
        }
    }
    return true;
}

} // namespace perch::gateway
