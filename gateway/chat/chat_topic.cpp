// Parsing of the chat/ topic tree.
#include "gateway/chat/chat_topic.hpp"

namespace perch::gateway {

namespace {

bool has_empty_level(const std::vector<std::string_view>& levels) {
    for (const std::string_view level : levels) {
        if (level.empty()) {
            return true;
        }
    }
    return false;
}

chat_topic parse_message_branch(const std::vector<std::string_view>& levels, std::size_t first,
                                chat_topic_kind room_kind, chat_topic_kind direct_kind) {
    // levels[first] is "room" or "dm", followed by exactly two names.
    chat_topic parsed;
    if (levels.size() != first + 3) {
        parsed.kind = chat_topic_kind::malformed;
        return parsed;
    }
    if (levels[first] == "room") {
        parsed.kind = room_kind;
        parsed.room = levels[first + 1];
    } else if (levels[first] == "dm") {
        parsed.kind = direct_kind;
        parsed.to = levels[first + 1];
    } else {
        parsed.kind = chat_topic_kind::malformed;
        return parsed;
    }
    parsed.sender = levels[first + 2];
    return parsed;
}

} // namespace

chat_topic parse_chat_topic(std::string_view topic_name) {
    chat_topic parsed;
    const std::vector<std::string_view> levels = split_topic_levels(topic_name);
    if (levels.front() != "chat") {
        return parsed;
    }
    parsed.kind = chat_topic_kind::malformed;
    if (levels.size() < 3 || has_empty_level(levels)) {
        return parsed;
    }
    const std::string_view branch = levels[1];
    if (branch == "room" || branch == "dm") {
        return parse_message_branch(levels, 1, chat_topic_kind::room_message,
                                    chat_topic_kind::direct_message);
    }
    if (branch == "signal") {
        return parse_message_branch(levels, 2, chat_topic_kind::room_signal,
                                    chat_topic_kind::direct_signal);
    }
    if (branch == "presence" && levels.size() == 3) {
        parsed.kind = chat_topic_kind::presence;
        parsed.user = levels[2];
        return parsed;
    }
    if (branch == "relay" && levels.size() == 4 &&
        (levels[3] == "message" || levels[3] == "presence")) {
        parsed.kind = chat_topic_kind::relay;
        parsed.origin = levels[2];
        parsed.relay_kind = levels[3];
        return parsed;
    }
    if (branch == "ctl" && levels.size() >= 4) {
        parsed.user = levels[2];
        if (levels[3] == "req" && levels.size() == 4) {
            parsed.kind = chat_topic_kind::control_request;
        } else if (levels[3] == "resp") {
            parsed.kind = chat_topic_kind::control_response;
        }
    }
    return parsed;
}

std::string room_conversation(std::string_view room) {
    std::string conversation = "room/";
    conversation += room;
    return conversation;
}

std::string direct_conversation(std::string_view first, std::string_view second) {
    const bool is_ordered = first < second;
    std::string conversation = "dm/";
    conversation += is_ordered ? first : second;
    conversation += '/';
    conversation += is_ordered ? second : first;
    return conversation;
}

std::string conversation_of(const chat_topic& topic) {
    switch (topic.kind) {
    case chat_topic_kind::room_message: return room_conversation(topic.room);
    case chat_topic_kind::direct_message: return direct_conversation(topic.to, topic.sender);
    default: return {};
    }
}

} // namespace perch::gateway
