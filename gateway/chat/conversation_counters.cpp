// Per-conversation message id counters.
#include "gateway/chat/conversation_counters.hpp"

#include <algorithm>

namespace perch::gateway {

void conversation_counters::seed(const std::vector<store::conversation_head>& heads) {
    std::lock_guard lock(mutex_);
    for (const store::conversation_head& head : heads) {
        std::uint64_t& last = last_ids_[head.conversation];
        last = std::max(last, head.last_id);
    }
}

std::uint64_t conversation_counters::next_id(std::string_view conversation) {
    std::lock_guard lock(mutex_);
    auto found = last_ids_.find(conversation);
    if (found == last_ids_.end()) {
        found = last_ids_.emplace(std::string(conversation), 0).first;
    }
    return ++found->second;
}

std::uint64_t conversation_counters::last_id(std::string_view conversation) const {
    std::lock_guard lock(mutex_);
    const auto found = last_ids_.find(conversation);
    return found == last_ids_.end() ? 0 : found->second;
}

} // namespace perch::gateway
