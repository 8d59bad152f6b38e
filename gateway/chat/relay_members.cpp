// The members of chat_service for chat across gateways (docs/BRIDGES.md): relay peers, ids
// learned from other origins, and presence counted at every gateway. The relay itself is
// chat_relay.
#include <mutex>
#include <shared_mutex>

#include "gateway/chat/chat_service.hpp"

namespace perch::gateway {

mqtt::message_ptr chat_service::presence_now(std::string_view user,
                                             std::uint64_t now_unix_ms) const {
    if (!settings_.is_presence_enabled) {
        return nullptr;
    }
    return presence_message(user, connected_device_count(user) + relay_.remote_device_count(user),
                            now_unix_ms);
}

std::vector<std::pair<std::string, std::uint64_t>> chat_service::local_device_counts() const {
    std::vector<std::pair<std::string, std::uint64_t>> counts;
    std::shared_lock lock(presence_mutex_);
    for (const auto& [user, devices] : devices_) {
        counts.emplace_back(user, devices.size());
    }
    return counts;
}

void chat_service::add_relay_peer(std::string user) {
    directory_.add_relay_peer(std::move(user));
    relay_.enable();
}

void chat_service::learn_id(const std::string& conversation, std::uint64_t id) {
    counters_.seed({store::conversation_head{conversation, id}});
}

} // namespace perch::gateway
