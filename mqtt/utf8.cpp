// UTF-8 validation: a table-free decoder of RFC 3629 with an eight-byte ASCII fast path.
#include "mqtt/utf8.hpp"

#include <cstring>

namespace perch::mqtt {
namespace {

constexpr std::uint64_t high_bits = 0x8080'8080'8080'8080ULL;
constexpr std::uint64_t low_bits = 0x0101'0101'0101'0101ULL;

bool is_continuation(std::uint8_t byte) {
    return (byte & 0xC0) == 0x80;
}

/// Length of the sequence that starts with `lead`, with the bounds its second byte must keep to
/// rule out overlong forms, surrogates and code points above U+10FFFF (RFC 3629 section 4).
struct sequence_shape {
    std::size_t length = 0;
    std::uint8_t second_min = 0x80;
    std::uint8_t second_max = 0xBF;
};

sequence_shape shape_of(std::uint8_t lead) {
    if (lead >= 0xC2 && lead <= 0xDF) {
        return {2, 0x80, 0xBF};
    }
    if (lead == 0xE0) {
        return {3, 0xA0, 0xBF};
    }
    if (lead == 0xED) {
        return {3, 0x80, 0x9F}; // U+D800..U+DFFF would need 0xA0..0xBF here
    }
    if (lead >= 0xE1 && lead <= 0xEF) {
        return {3, 0x80, 0xBF};
    }
    if (lead == 0xF0) {
        return {4, 0x90, 0xBF};
    }
    if (lead >= 0xF1 && lead <= 0xF3) {
        return {4, 0x80, 0xBF};
    }
    if (lead == 0xF4) {
        return {4, 0x80, 0x8F};
    }
    return {}; // 0x80..0xC1 and 0xF5..0xFF never start a sequence
}

utf8_status scan(const std::uint8_t* bytes, std::size_t size, bool is_null_allowed) {
    std::size_t index = 0;
    while (index < size) {
        if (size - index >= 8) {
            std::uint64_t word = 0;
            std::memcpy(&word, bytes + index, sizeof word);
            const bool has_zero = ((word - low_bits) & ~word & high_bits) != 0;
            if ((word & high_bits) == 0 && (is_null_allowed || !has_zero)) {
                index += 8;
                continue;
            }
        }
        const std::uint8_t lead = bytes[index];
        if (lead < 0x80) {
            if (lead == 0 && !is_null_allowed) {
                return utf8_status::contains_null;
            }
            ++index;
            continue;
        }
        const sequence_shape shape = shape_of(lead);
        if (shape.length == 0 || size - index < shape.length) {
            return utf8_status::ill_formed;
        }
        const std::uint8_t second = bytes[index + 1];
        if (second < shape.second_min || second > shape.second_max) {
            return utf8_status::ill_formed;
        }
        for (std::size_t offset = 2; offset < shape.length; ++offset) {
            if (!is_continuation(bytes[index + offset])) {
                return utf8_status::ill_formed;
            }
        }
        index += shape.length;
    }
    return utf8_status::valid;
}

} // namespace

utf8_status check_utf8_string(byte_view bytes) {
    if (bytes.size() > max_string_size) {
        return utf8_status::too_long;
    }
    return scan(bytes.data(), bytes.size(), false);
}

utf8_status check_utf8_string(std::string_view text) {
    return check_utf8_string(
        byte_view(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()));
}

bool is_well_formed_utf8(byte_view bytes) {
    return scan(bytes.data(), bytes.size(), true) == utf8_status::valid;
}

} // namespace perch::mqtt
