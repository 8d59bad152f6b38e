// Byte spans and the shared, immutable payload buffer that every delivery of a message points to.
// Knows nothing about sockets: the gateway fills and drains these.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

namespace perch::mqtt {

/// A read-only view of bytes owned by someone else.
using byte_view = std::span<const std::uint8_t>;
/// Owned, growable bytes.
using byte_vector = std::vector<std::uint8_t>;

/// Immutable, reference-counted bytes. Copying a shared_bytes copies a pointer, never the bytes:
/// a publish fanned out to a thousand subscribers holds one payload. Equality compares content.
class shared_bytes {
public:
    shared_bytes() = default;
    /// Takes ownership of `bytes`.
    explicit shared_bytes(byte_vector bytes)
        : bytes_(std::make_shared<const byte_vector>(std::move(bytes))) {}
    /// Copies `bytes` into a new shared buffer.
    static shared_bytes copy_of(byte_view bytes) {
        return shared_bytes(byte_vector(bytes.begin(), bytes.end()));
    }
    /// Copies the characters of `text` into a new shared buffer.
    static shared_bytes copy_of(std::string_view text) {
        return shared_bytes(byte_vector(text.begin(), text.end()));
    }

    byte_view view() const { return bytes_ ? byte_view(*bytes_) : byte_view(); }
    const std::uint8_t* data() const { return bytes_ ? bytes_->data() : nullptr; }
    std::size_t size() const { return bytes_ ? bytes_->size() : 0; }
    bool empty() const { return size() == 0; }
    /// The bytes read as characters (payloads are opaque; this is for logs and tests).
    std::string_view as_string() const { return {reinterpret_cast<const char*>(data()), size()}; }

    friend bool operator==(const shared_bytes& a, const shared_bytes& b) {
        const auto x = a.view();
        const auto y = b.view();
        return x.size() == y.size() && std::equal(x.begin(), x.end(), y.begin());
    }

private:
    std::shared_ptr<const byte_vector> bytes_;
};

} // namespace perch::mqtt
