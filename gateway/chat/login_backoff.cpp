// The sharded failed-login table and its delay rule.
#include "gateway/chat/login_backoff.hpp"

#include <algorithm>
#include <functional>

namespace perch::gateway {

namespace {

std::string user_key(std::string_view user) {
    std::string key = "u:";
    key.append(user);
    return key;
}

std::string address_key(std::string_view address) {
    std::string key = "a:";
    key.append(address);
    return key;
}

} // namespace

login_backoff::login_backoff(login_backoff_settings settings) : settings_(settings) {}

login_backoff::shard& login_backoff::shard_of(const std::string& key) {
    return shards_[std::hash<std::string>{}(key) % shard_count];
}

bool login_backoff::is_blocked(const std::string& key, std::uint32_t free_failures,
                               clock::time_point now) {
    if (free_failures == 0) {
        return false;
    }
    shard& held = shard_of(key);
    std::lock_guard lock(held.mutex);
    const auto found = held.entries.find(key);
    if (found == held.entries.end()) {
        return false;
    }
    const entry& failed = found->second;
    if (now - failed.last_failure >= settings_.forget_after) {
        held.entries.erase(found);
        return false;
    }
    if (failed.failures < free_failures) {
        return false;
    }
    // Doubling stops at the cap long before the shift could overflow.
    const std::uint32_t doublings = std::min<std::uint32_t>(failed.failures - free_failures, 30);
    const auto delay = std::min<std::chrono::milliseconds>(
        settings_.first_delay * (std::int64_t{1} << doublings), settings_.max_delay);
    return now < failed.last_failure + delay;
}

bool login_backoff::is_refused(std::string_view user, std::string_view address,
                               clock::time_point now) {
    return (!user.empty() && is_blocked(user_key(user), settings_.user_free_failures, now)) ||
           (!address.empty() &&
            is_blocked(address_key(address), settings_.address_free_failures, now));
}

void login_backoff::make_room(shard& held, clock::time_point now) {
    const std::size_t limit = std::max<std::size_t>(settings_.max_entries / shard_count, 1);
    if (held.entries.size() < limit) {
        return;
    }
    std::erase_if(held.entries, [&](const auto& pair) {
        return now - pair.second.last_failure >= settings_.forget_after;
    });
    if (held.entries.size() < limit) {
        return;
    }
    const auto oldest = std::min_element(
        held.entries.begin(), held.entries.end(), [](const auto& first, const auto& second) {
            return first.second.last_failure < second.second.last_failure;
        });
    held.entries.erase(oldest);
}

void login_backoff::fail(const std::string& key, clock::time_point now) {
    shard& held = shard_of(key);
    std::lock_guard lock(held.mutex);
    auto found = held.entries.find(key);
    if (found == held.entries.end()) {
        make_room(held, now);
        found = held.entries.emplace(key, entry{}).first;
    } else if (now - found->second.last_failure >= settings_.forget_after) {
        found->second.failures = 0;
    }
    ++found->second.failures;
    found->second.last_failure = now;
}

void login_backoff::record_failure(std::string_view user, std::string_view address,
                                   clock::time_point now) {
    if (!user.empty() && settings_.user_free_failures != 0) {
        fail(user_key(user), now);
    }
    if (!address.empty() && settings_.address_free_failures != 0) {
        fail(address_key(address), now);
    }
}

void login_backoff::record_success(std::string_view user) {
    if (user.empty()) {
        return;
    }
    const std::string key = user_key(user);
    shard& held = shard_of(key);
    std::lock_guard lock(held.mutex);
    held.entries.erase(key);
}

std::size_t login_backoff::entry_count() const {
    std::size_t count = 0;
    for (const shard& held : shards_) {
        std::lock_guard lock(held.mutex);
        count += held.entries.size();
    }
    return count;
}

} // namespace perch::gateway
