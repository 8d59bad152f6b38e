// The memory store's Web Push subscriptions and settings, as the SQLite store's version 13 keeps
// them; not part of the directory, so directory_version() stays.
#include "store/memory/memory_chat_store.hpp"

namespace perch::store::memory {
namespace {

void report(directory_result result, directory_completion& done) {
    if (done) {
        done(result, store_status{});
    }
}

} // namespace

void memory_chat_store::set_push_subscription(push_subscription_record subscription,
                                              directory_completion done) {
    directory_result result = directory_result::not_found;
    {
        std::lock_guard lock(mutex_);
        if (users_.contains(subscription.user)) {
            subscription.last_error.clear();
            auto key = std::make_pair(subscription.user, subscription.device);
            push_subscriptions_.insert_or_assign(std::move(key), std::move(subscription));
            result = directory_result::done;
        }
    }
    report(result, done);
}

void memory_chat_store::remove_push_subscription(std::string user, std::string device,
                                                 directory_completion done) {
    directory_result result = directory_result::not_found;
    {
        std::lock_guard lock(mutex_);
        if (push_subscriptions_.erase(std::make_pair(user, device)) != 0) {
            result = directory_result::done;
        }
    }
    report(result, done);
}

void memory_chat_store::remove_push_endpoint(std::string endpoint, directory_completion done) {
    std::size_t removed = 0;
    {
        std::lock_guard lock(mutex_);
        removed = std::erase_if(push_subscriptions_, [&](const auto& entry) {
            return entry.second.endpoint == endpoint;
        });
    }
    report(removed == 0 ? directory_result::not_found : directory_result::done, done);
}

void memory_chat_store::set_push_error(std::string endpoint, std::string error,
                                       directory_completion done) {
    bool is_found = false;
    {
        std::lock_guard lock(mutex_);
        for (auto& [key, subscription] : push_subscriptions_) {
            if (subscription.endpoint == endpoint) {
                subscription.last_error = error;
                is_found = true;
            }
        }
    }
    report(is_found ? directory_result::done : directory_result::not_found, done);
}

void memory_chat_store::set_push_preview(std::string user, bool is_allowed,
                                         directory_completion done) {
    directory_result result = directory_result::not_found;
    {
        std::lock_guard lock(mutex_);
        if (users_.contains(user)) {
            if (is_allowed) {
                push_previews_.insert(user);
            } else {
                push_previews_.erase(user);
            }
            result = directory_result::done;
        }
    }
    report(result, done);
}

push_state_record memory_chat_store::push_state(std::string user) {
    std::lock_guard lock(mutex_);
    push_state_record state;
    state.is_preview_allowed = push_previews_.contains(user);
    for (auto at = push_subscriptions_.lower_bound(std::make_pair(user, std::string()));
         at != push_subscriptions_.end() && at->first.first == user; ++at) {
        state.subscriptions.push_back(at->second);
    }
    return state;
}

std::vector<std::pair<std::string, std::string>> memory_chat_store::push_subscribed_devices() {
    std::lock_guard lock(mutex_);
    std::vector<std::pair<std::string, std::string>> devices;
    devices.reserve(push_subscriptions_.size());
    for (const auto& entry : push_subscriptions_) {
        devices.push_back(entry.first);
    }
    return devices;
}

} // namespace perch::store::memory
