// The read state of a user's conversations (docs/CHAT.md "Read state"): the last id of each from
// the in-memory counters, the read position and the unread count from one store read.
#include <algorithm>

#include "gateway/chat/chat_service.hpp"

namespace perch::gateway {

void chat_service::read_state_of(std::string user, std::string conversation,
                                 std::function<void(control_outcome)> done) {
    control_outcome refused;
    refused.reply.is_ok = false;
    refused.reply.operation = std::string(to_string(control_operation::read_state));
    if (!conversation.empty() && !may_read_conversation(user, conversation)) {
        refused.reply.error = "not allowed to read this conversation";
        done(std::move(refused));
        return;
    }
    std::vector<std::string> conversations;
    if (conversation.empty()) {
        conversations = conversations_of(user);
    } else {
        conversations.push_back(std::move(conversation));
    }
    std::vector<store::conversation_head> heads;
    heads.reserve(conversations.size());
    for (std::string& named : conversations) {
        const std::uint64_t last_id = counters_.last_id(named);
        const std::uint64_t hidden_through = history_floor(user, named);
        heads.push_back({std::move(named), last_id, hidden_through});
    }
    std::sort(heads.begin(), heads.end(),
              [](const store::conversation_head& left, const store::conversation_head& right) {
                  return left.conversation < right.conversation;
              });
    store_->read_state(std::move(user), std::move(heads), max_unread_count,
                       [refused = std::move(refused),
                        done = std::move(done)](std::vector<store::read_state_record> states,
                                                const store::store_status& status) mutable {
                           if (!status.is_ok()) {
                               refused.reply.error = "the store failed: " + status.detail;
                               done(std::move(refused));
                               return;
                           }
                           control_outcome outcome;
                           outcome.reply.operation =
                               std::string(to_string(control_operation::read_state));
                           outcome.reply.read_states = std::move(states);
                           done(std::move(outcome));
                       });
}

} // namespace perch::gateway
