// Per-conversation message id counters.
#include "gateway/chat/conversation_counters.hpp"

#include <algorithm>

namespace perch::gateway {

void conversation_counters::seed(const std::vector<store::conversation_head>& heads) {
    std::lock_guard lock(mutex_);
    for (const store::conversation_head& head : heads) {
        const auto [found, is_new] = last_ids_.try_emplace(head.conversation, 0);
        found->second = std::max(found->second, head.last_id);
        if (is_new) {
            index_conversation(head.conversation);
        }
    }
}

std::uint64_t conversation_counters::next_id(std::string_view conversation) {
    std::lock_guard lock(mutex_);
    auto found = last_ids_.find(conversation);
    if (found == last_ids_.end()) {
        found = last_ids_.emplace(std::string(conversation), 0).first;
        index_conversation(found->first);
    }
    return ++found->second;
}

void conversation_counters::raise(std::string_view conversation, std::uint64_t id) {
    std::lock_guard lock(mutex_);
    auto found = last_ids_.find(conversation);
    if (found == last_ids_.end()) {
        found = last_ids_.emplace(std::string(conversation), 0).first;
        index_conversation(found->first);
    }
    found->second = std::max(found->second, id);
}

std::uint64_t conversation_counters::last_id(std::string_view conversation) const {
    std::lock_guard lock(mutex_);
    const auto found = last_ids_.find(conversation);
    return found == last_ids_.end() ? 0 : found->second;
}

std::vector<std::string>
conversation_counters::direct_conversations_of(std::string_view user) const {
    std::lock_guard lock(mutex_);
    const auto found = direct_by_user_.find(user);
    return found == direct_by_user_.end() ? std::vector<std::string>{} : found->second;
}

void conversation_counters::index_conversation(const std::string& conversation) {
    // dm/{a}/{b}: user names hold no '/'.
    constexpr std::string_view prefix = "dm/";
    if (!conversation.starts_with(prefix)) {
        return;
    }
    const std::string_view parties = std::string_view(conversation).substr(prefix.size());
    const std::size_t slash = parties.find('/');
    if (slash == std::string_view::npos) {
        return;
    }
    direct_by_user_[std::string(parties.substr(0, slash))].push_back(conversation);
    if (parties.substr(slash + 1) != parties.substr(0, slash)) {
        direct_by_user_[std::string(parties.substr(slash + 1))].push_back(conversation);
    }
}

} // namespace perch::gateway
