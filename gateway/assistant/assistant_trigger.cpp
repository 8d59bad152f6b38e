// Mention detection and the reply topics of the assistant bot.
#include "gateway/assistant/assistant_trigger.hpp"

#include "gateway/chat/chat_topic.hpp"

namespace perch::gateway::assistant {

namespace {

bool is_ascii_alnum(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/// Characters that continue a name after the mention: `@assistant_2` is someone else.
bool continues_name(char c) {
    return is_ascii_alnum(c) || c == '_' || c == '-';
}

/// Characters that make an `@` part of a word before it: `me@assistant` is an address.
bool joins_before(char c) {
    return is_ascii_alnum(c) || c == '_' || c == '.' || c == '-' || c == '@';
}

} // namespace

bool mentions(std::string_view text, std::string_view bot) {
    if (bot.empty()) {
        return false;
    }
    std::size_t position = 0;
    while ((position = text.find('@', position)) != std::string_view::npos) {
        const std::size_t name_start = position + 1;
        const bool is_word_start = position == 0 || !joins_before(text[position - 1]);
        position = name_start;
        if (!is_word_start || text.substr(name_start, bot.size()) != bot) {
            continue;
        }
        const std::size_t after = name_start + bot.size();
        if (after == text.size()) {
            return true;
        }
        if (!continues_name(text[after])) {
            // `@assistant.` ends a sentence; `@assistant.example` is a host name.
            if (text[after] != '.' || after + 1 == text.size() ||
                !is_ascii_alnum(text[after + 1])) {
                return true;
            }
        }
    }
    return false;
}

std::optional<bot_trigger> classify_message(std::string_view topic_name, std::string_view payload,
                                            std::string_view bot) {
    const chat_topic topic = parse_chat_topic(topic_name);
    if (topic.sender.empty() || topic.sender == bot) {
        return std::nullopt;
    }
    bot_trigger trigger;
    trigger.sender = std::string(topic.sender);
    if (topic.kind == chat_topic_kind::direct_message) {
        if (topic.to != bot) {
            return std::nullopt;
        }
        trigger.conversation = direct_conversation(bot, topic.sender);
        trigger.reply_topic = "chat/dm/" + trigger.sender + "/" + std::string(bot);
        trigger.signal_topic = "chat/signal/dm/" + trigger.sender + "/" + std::string(bot);
        return trigger;
    }
    if (topic.kind == chat_topic_kind::room_message) {
        if (!mentions(payload, bot)) {
            return std::nullopt;
        }
        const std::string room(topic.room);
        trigger.conversation = room_conversation(room);
        trigger.reply_topic = "chat/room/" + room + "/" + std::string(bot);
        trigger.signal_topic = "chat/signal/room/" + room + "/" + std::string(bot);
        return trigger;
    }
    return std::nullopt;
}

} // namespace perch::gateway::assistant
