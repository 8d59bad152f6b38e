// The conversation the assistant bot sends to the model: the system prompt, then the recent
// messages of the chat conversation up to the one it answers, the bot's own as "assistant" turns
// and everyone else's as "user" turns prefixed with the sender's name. Pure; no I/O.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/assistant/completion_protocol.hpp"
#include "store/chat_store.hpp"

namespace perch::gateway::assistant {

/// The message the bot answers.
struct answered_message {
    /// Its server id (user property `id`).
    std::uint64_t id = 0;
    std::string sender;
    std::string text;
};

/// The turns of one request. `history` is a page of the conversation, oldest first; records with
/// ids above `answered.id` are left out, and at most `max_messages` (at least 1) of the newest
/// remaining ones are used. The answered message is always the last turn: when the page does not
/// hold it (it may not be committed yet), it is added from `answered`. A system prompt that is
/// empty is left out.
std::vector<chat_turn> build_context(std::string_view system_prompt,
                                     std::span<const store::history_record> history,
                                     std::string_view bot, const answered_message& answered,
                                     std::size_t max_messages);

/// The text of a user turn: "{sender}: {text}".
std::string user_turn_text(std::string_view sender, std::string_view text);

} // namespace perch::gateway::assistant
