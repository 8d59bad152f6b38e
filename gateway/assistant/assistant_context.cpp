// Mapping chat history to chat completions turns.
#include "gateway/assistant/assistant_context.hpp"

#include <algorithm>

namespace perch::gateway::assistant {

std::string user_turn_text(std::string_view sender, std::string_view text) {
    std::string joined;
    joined.reserve(sender.size() + 2 + text.size());
    joined.append(sender).append(": ").append(text);
    return joined;
}

std::vector<chat_turn> build_context(std::string_view system_prompt,
                                     std::span<const store::history_record> history,
                                     std::string_view bot, const answered_message& answered,
                                     std::size_t max_messages) {
    const std::size_t wanted = std::max<std::size_t>(max_messages, 1);
    std::vector<const store::history_record*> kept;
    bool has_answered = false;
    for (const store::history_record& record : history) {
        if (record.id > answered.id) {
            continue;
        }
        // A deleted message is gone for everyone, the model included; events are applied to
        // the messages they change (their final text), not turns of their own.
        if (record.is_deleted || record.kind != store::history_kind::message) {
            continue;
        }
        has_answered = has_answered || record.id == answered.id;
        kept.push_back(&record);
    }
    // Room for the answered message when the page lacks it.
    const std::size_t from_history = has_answered ? wanted : wanted - 1;
    if (kept.size() > from_history) {
        kept.erase(kept.begin(), kept.end() - static_cast<std::ptrdiff_t>(from_history));
    }
    std::vector<chat_turn> turns;
    turns.reserve(kept.size() + 2);
    if (!system_prompt.empty()) {
        turns.push_back({chat_role::system, std::string(system_prompt)});
    }
    for (const store::history_record* record : kept) {
        const std::string_view text(reinterpret_cast<const char*>(record->payload.data()),
                                    record->payload.size());
        if (record->sender == bot) {
            turns.push_back({chat_role::assistant, std::string(text)});
        } else {
            turns.push_back({chat_role::user, user_turn_text(record->sender, text)});
        }
    }
    if (!has_answered) {
        turns.push_back({chat_role::user, user_turn_text(answered.sender, answered.text)});
    }
    return turns;
}

} // namespace perch::gateway::assistant
