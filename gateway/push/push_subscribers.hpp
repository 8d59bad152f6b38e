// Who has a Web Push subscription, in memory (docs/CHAT.md "Web Push"): loaded from the chat
// store at start and kept up to date on push_subscribe, push_unsubscribe and a subscription its
// push service reported gone, so that a message to a user with none costs no store read.
#pragma once

#include <cstddef>
#include <map>
#include <set>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace perch::gateway::push {

/// The devices with a subscription, by user. Thread-safe: the workers ask, the chat service's
/// replies and the push sender's thread change it.
class push_subscribers {
public:
    /// Replaces what is known with `devices`, (user, device) pairs as the store lists them.
    void load(const std::vector<std::pair<std::string, std::string>>& devices);
    void add(const std::string& user, const std::string& device);
    void remove(const std::string& user, const std::string& device);
    /// Forgets every device of `user` (the user was deleted).
    void remove_user(const std::string& user);
    /// True when `user` has at least one subscription.
    bool has_any(std::string_view user) const;
    /// Users with at least one subscription.
    std::size_t user_count() const;

private:
    mutable std::shared_mutex mutex_;
    std::map<std::string, std::set<std::string>, std::less<>> devices_;
};

} // namespace perch::gateway::push
