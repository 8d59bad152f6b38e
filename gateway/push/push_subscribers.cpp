// The in-memory record of who has a Web Push subscription.
#include "gateway/push/push_subscribers.hpp"

#include <mutex>

namespace perch::gateway::push {

void push_subscribers::load(const std::vector<std::pair<std::string, std::string>>& devices) {
    std::map<std::string, std::set<std::string>, std::less<>> loaded;
    for (const auto& [user, device] : devices) {
        loaded[user].insert(device);
    }
    std::unique_lock lock(mutex_);
    devices_ = std::move(loaded);
}

void push_subscribers::add(const std::string& user, const std::string& device) {
    std::unique_lock lock(mutex_);
    devices_[user].insert(device);
}

void push_subscribers::remove(const std::string& user, const std::string& device) {
    std::unique_lock lock(mutex_);
    const auto found = devices_.find(user);
    if (found == devices_.end()) {
        return;
    }
    found->second.erase(device);
    if (found->second.empty()) {
        devices_.erase(found);
    }
}

void push_subscribers::remove_user(const std::string& user) {
    std::unique_lock lock(mutex_);
    devices_.erase(user);
}

bool push_subscribers::has_any(std::string_view user) const {
    std::shared_lock lock(mutex_);
    return devices_.find(user) != devices_.end();
}

std::size_t push_subscribers::user_count() const {
    std::shared_lock lock(mutex_);
    return devices_.size();
}

} // namespace perch::gateway::push
