// A bounds-checked cursor over the bytes of one packet: big-endian integers, Variable Byte
// Integers and length-prefixed fields. Reports failure by value and never reads past its end.
#pragma once

#include <cstddef>
#include <cstdint>

#include "mqtt/bytes.hpp"
#include "mqtt/varint.hpp"

namespace perch::mqtt {

/// Reads fields front to back. Every read either succeeds and advances, or returns false and
/// leaves the cursor where it was. The bytes are borrowed; views it returns point into them.
class wire_reader {
public:
    explicit wire_reader(byte_view bytes) : bytes_(bytes) {}

    /// Bytes not yet read.
    std::size_t remaining() const { return bytes_.size() - position_; }
    bool is_empty() const { return remaining() == 0; }

    /// A Byte.
    bool read_u8(std::uint8_t& out) {
        if (remaining() < 1) {
            return false;
        }
        out = bytes_[position_++];
        return true;
    }

    /// A Two Byte Integer (big-endian).
    bool read_u16(std::uint16_t& out) {
        if (remaining() < 2) {
            return false;
        }
        out = static_cast<std::uint16_t>((bytes_[position_] << 8) | bytes_[position_ + 1]);
        position_ += 2;
        return true;
    }

    /// A Four Byte Integer (big-endian).
    bool read_u32(std::uint32_t& out) {
        if (remaining() < 4) {
            return false;
        }
        out = (std::uint32_t{bytes_[position_]} << 24) |
              (std::uint32_t{bytes_[position_ + 1]} << 16) |
              (std::uint32_t{bytes_[position_ + 2]} << 8) | std::uint32_t{bytes_[position_ + 3]};
        position_ += 4;
        return true;
    }

    /// A Variable Byte Integer; false when truncated or longer than four bytes.
    bool read_varint(std::uint32_t& out) {
        const varint_read result = read_varint_at_front();
        if (result.status != varint_status::ok) {
            return false;
        }
        out = result.value;
        position_ += result.size;
        return true;
    }

    /// The next `count` bytes.
    bool read_bytes(std::size_t count, byte_view& out) {
        if (remaining() < count) {
            return false;
        }
        out = bytes_.subspan(position_, count);
        position_ += count;
        return true;
    }

    /// A two-byte length followed by that many bytes (Binary Data, or a string before validation).
    bool read_prefixed(byte_view& out) {
        const std::size_t start = position_;
        std::uint16_t length = 0;
        if (!read_u16(length) || !read_bytes(length, out)) {
            position_ = start;
            return false;
        }
        return true;
    }

    /// Everything not yet read; the cursor ends at the end.
    byte_view read_rest() {
        const byte_view rest = bytes_.subspan(position_);
        position_ = bytes_.size();
        return rest;
    }

private:
    varint_read read_varint_at_front() const {
        return mqtt::read_varint(bytes_.subspan(position_));
    }

    byte_view bytes_;
    std::size_t position_ = 0;
};

} // namespace perch::mqtt
