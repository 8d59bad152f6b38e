// Which chat messages the assistant bot answers and where its answers go: a direct message to
// the bot, or a room message that mentions `@{bot}` as a word. Pure functions over topic names
// and text; knows nothing about sockets, sessions or HTTP.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace perch::gateway::assistant {

/// A message the bot answers, and the topics of its answer.
struct bot_trigger {
    /// The person who wrote it.
    std::string sender;
    /// Its conversation: `room/{room}` or `dm/{a}/{b}` (a < b).
    std::string conversation;
    /// Where the answer goes: `chat/room/{room}/{bot}` or `chat/dm/{sender}/{bot}`.
    std::string reply_topic;
    /// Where typing signals go: `chat/signal/room/{room}/{bot}` or `chat/signal/dm/{sender}/{bot}`.
    std::string signal_topic;
    bool operator==(const bot_trigger&) const = default;
};

/// True when `text` mentions `@{bot}` as a word: the `@` starts the text or follows a character
/// that cannot be part of a name or address (not a letter, digit, `_`, `.`, `-` or `@`), and the
/// name is followed by the end or a character that is not a letter, digit, `_` or `-`. A
/// sentence's final period is allowed (`ask @assistant.`). ASCII case matters, as for user names.
bool mentions(std::string_view text, std::string_view bot);

/// What the bot makes of a message delivered to it on `topic_name` with `payload`: a direct
/// message to it, or a room message mentioning it, from someone else. nullopt for everything
/// else: its own messages, signals, presence, control replies, room messages without a mention,
/// direct messages between others, anything outside chat/.
std::optional<bot_trigger> classify_message(std::string_view topic_name, std::string_view payload,
                                            std::string_view bot);

} // namespace perch::gateway::assistant
