// Which session holds each client identifier.
#include "gateway/session_registry.hpp"

namespace perch::gateway {

std::optional<mqtt::subscriber_id> session_registry::claim(std::string_view client_id,
                                                           mqtt::subscriber_id subscriber) {
    std::lock_guard lock(mutex_);
    const auto found = holders_.find(client_id);
    if (found == holders_.end()) {
        holders_.emplace(std::string(client_id), subscriber);
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
