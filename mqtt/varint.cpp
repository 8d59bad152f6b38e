// Variable Byte Integer reading and writing.
#include "mqtt/varint.hpp"

#include <cassert>

namespace perch::mqtt {

varint_read read_varint(byte_view input) {
    std::uint32_t value = 0;
    for (std::size_t index = 0; index < max_varint_size; ++index) {
        if (index == input.size()) {
            return {varint_status::incomplete, 0, 0};
        }
        const std::uint8_t byte = input[index];
        value |= static_cast<std::uint32_t>(byte & 0x7F) << (7 * index);
        if ((byte & 0x80) == 0) {
            return {varint_status::ok, value, index + 1};
        }
    }
    // The fourth byte still had its continuation bit set.
    return {varint_status::malformed, 0, 0};
}

std::size_t varint_size(std::uint32_t value) {
    assert(value <= max_varint_value);
    if (value < 128) {
        return 1;
    }
    if (value < 16'384) {
        return 2;
    }
    if (value < 2'097'152) {
        return 3;
    }
    return 4;
}

std::size_t write_varint(std::uint32_t value, std::span<std::uint8_t> out) {
    assert(value <= max_varint_value);
    assert(out.size() >= varint_size(value));
    std::size_t written = 0;
    do {
        std::uint8_t byte = value & 0x7F;
        value >>= 7;
        if (value != 0) {
            byte |= 0x80;
        }
        out[written++] = byte;
    } while (value != 0);
    return written;
}

} // namespace perch::mqtt
