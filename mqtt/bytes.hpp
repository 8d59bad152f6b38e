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
/// copy_of makes one allocation (bytes and reference count together); an empty value makes none.
class shared_bytes {
public:
    shared_bytes() = default;
    /// Takes ownership of `bytes` (one allocation for the reference count, none for the bytes).
    explicit shared_bytes(byte_vector bytes) : size_(bytes.size()) {
        if (size_ != 0) {
            auto owner = std::make_shared<const byte_vector>(std::move(bytes));
            const std::uint8_t* first = owner->data();
            bytes_ = std::shared_ptr<const std::uint8_t>(std::move(owner), first);
        }
    }
    /// Copies `bytes` into a new shared buffer.
    static shared_bytes copy_of(byte_view bytes) {
        shared_bytes result;
        if (!bytes.empty()) {
            auto buffer = std::make_shared_for_overwrite<std::uint8_t[]>(bytes.size());
            std::copy(bytes.begin(), bytes.end(), buffer.get());
            std::uint8_t* first = buffer.get();
            result.bytes_ = std::shared_ptr<const std::uint8_t>(std::move(buffer), first);
            result.size_ = bytes.size();
        }
        return result;
    }
    /// Copies the characters of `text` into a new shared buffer.
    static shared_bytes copy_of(std::string_view text) {
        return copy_of(byte_view(reinterpret_cast<const std::uint8_t*>(text.data()), text.size()));
    }

    byte_view view() const { return {data(), size_}; }
    const std::uint8_t* data() const { return bytes_.get(); }
    std::size_t size() const { return size_; }
    bool empty() const { return size_ == 0; }
    /// The bytes read as characters (payloads are opaque; this is for logs and tests).
    std::string_view as_string() const { return {reinterpret_cast<const char*>(data()), size()}; }

    friend bool operator==(const shared_bytes& a, const shared_bytes& b) {
        const auto x = a.view();
        const auto y = b.view();
        return x.size() == y.size() && std::equal(x.begin(), x.end(), y.begin());
    }

private:
    /// Points at the first byte; shares ownership of whatever holds the bytes.
    std::shared_ptr<const std::uint8_t> bytes_;
    std::size_t size_ = 0;
};

} // namespace perch::mqtt
