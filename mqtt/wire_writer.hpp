// A cursor that writes packet fields into a caller-provided buffer whose size the caller has
// already computed. Overrunning it is a bug in the size computation, caught by assert.
#pragma once

#include <cassert>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>

#include "mqtt/bytes.hpp"
#include "mqtt/varint.hpp"

namespace perch::mqtt {

/// Writes fields front to back into borrowed memory.
class wire_writer {
public:
    explicit wire_writer(std::span<std::uint8_t> out) : out_(out) {}

    /// Bytes written so far.
    std::size_t written() const { return position_; }

    void write_u8(std::uint8_t value) {
        assert(position_ + 1 <= out_.size());
        out_[position_++] = value;
    }

    /// A Two Byte Integer (big-endian).
    void write_u16(std::uint16_t value) {
        assert(position_ + 2 <= out_.size());
        out_[position_] = static_cast<std::uint8_t>(value >> 8);
        out_[position_ + 1] = static_cast<std::uint8_t>(value);
        position_ += 2;
    }

    /// A Four Byte Integer (big-endian).
    void write_u32(std::uint32_t value) {
        assert(position_ + 4 <= out_.size());
        out_[position_] = static_cast<std::uint8_t>(value >> 24);
        out_[position_ + 1] = static_cast<std::uint8_t>(value >> 16);
        out_[position_ + 2] = static_cast<std::uint8_t>(value >> 8);
        out_[position_ + 3] = static_cast<std::uint8_t>(value);
        position_ += 4;
    }

    /// A Variable Byte Integer in its shortest form.
    void write_varint(std::uint32_t value) { position_ += mqtt::write_varint(value, rest()); }

    /// Bytes as they are.
    void write_bytes(byte_view bytes) {
        assert(position_ + bytes.size() <= out_.size());
        if (!bytes.empty()) {
            std::memcpy(out_.data() + position_, bytes.data(), bytes.size());
        }
        position_ += bytes.size();
    }

    /// Binary Data: a two-byte length, then the bytes (at most 65535, checked by assert).
    void write_prefixed(byte_view bytes) {
        assert(bytes.size() <= 0xFFFF);
        write_u16(static_cast<std::uint16_t>(bytes.size()));
        write_bytes(bytes);
    }

    /// A UTF-8 Encoded String: a two-byte length, then the characters.
    void write_string(std::string_view text) {
        write_prefixed(byte_view(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()));
    }

private:
    std::span<std::uint8_t> rest() const { return out_.subspan(position_); }

    std::span<std::uint8_t> out_;
    std::size_t position_ = 0;
};

} // namespace perch::mqtt
