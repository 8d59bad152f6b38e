// Which session holds each client identifier.
#include "gateway/broker/session_registry.hpp"

#include <cstring>
#include <new>

namespace perch::gateway {

session_registry::key::key(std::string_view text) {
    if (text.size() <= inline_capacity) {
        std::memcpy(storage_, text.data(), text.size());
        storage_[inline_capacity] = static_cast<unsigned char>(inline_capacity - text.size());
        return;
    }
    char* data = new char[text.size()];
    std::memcpy(data, text.data(), text.size());
    ::new (static_cast<void*>(storage_)) heap_text{data, static_cast<std::uint32_t>(text.size())};
    storage_[inline_capacity] = on_heap;
}

session_registry::key::key(key&& other) noexcept {
    std::memcpy(storage_, other.storage_, sizeof(storage_));
    if (other.is_on_heap()) {
        // The text now belongs to this key; the other is left empty.
        other.storage_[inline_capacity] = static_cast<unsigned char>(inline_capacity);
    }
}

session_registry::key::~key() {
    if (is_on_heap()) {
        delete[] heap().data;
    }
}

std::string_view session_registry::key::view() const {
    if (is_on_heap()) {
        return {heap().data, heap().size};
    }
    return {reinterpret_cast<const char*>(storage_), inline_capacity - storage_[inline_capacity]};
}

std::optional<mqtt::subscriber_id> session_registry::claim(std::string_view client_id,
                                                           mqtt::subscriber_id subscriber) {
    std::lock_guard lock(mutex_);
    const auto found = holders_.find(client_id);
    if (found == holders_.end()) {
        holders_.emplace(key(client_id), subscriber);
        return std::nullopt;
    }
    const mqtt::subscriber_id previous = found->second;
    found->second = subscriber;
    return previous;
}

bool session_registry::release(std::string_view client_id, mqtt::subscriber_id subscriber) {
    std::lock_guard lock(mutex_);
    const auto found = holders_.find(client_id);
    if (found == holders_.end() || found->second != subscriber) {
        return false;
    }
    holders_.erase(found);
    return true;
}

std::optional<mqtt::subscriber_id> session_registry::holder(std::string_view client_id) const {
    std::lock_guard lock(mutex_);
    const auto found = holders_.find(client_id);
    if (found == holders_.end()) {
        return std::nullopt;
    }
    return found->second;
}

std::size_t session_registry::size() const {
    std::lock_guard lock(mutex_);
    return holders_.size();
}

} // namespace perch::gateway
