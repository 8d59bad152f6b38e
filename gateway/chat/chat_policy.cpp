// Access rules for the chat/ topic tree, as one table per question over the parsed topic.
#include "gateway/chat/chat_policy.hpp"

#include <vector>

#include "gateway/chat/chat_topic.hpp"

namespace perch::gateway {

bool chat_may_publish(const chat_directory& directory, std::string_view user,
                      std::string_view topic_name) {
    if (!directory.has_user(user)) {
        return false;
    }
    const chat_topic topic = parse_chat_topic(topic_name);
    switch (topic.kind) {
    case chat_topic_kind::not_chat: return true;
    case chat_topic_kind::room_message:
    case chat_topic_kind::room_signal:
        // A muted member still receives the room but may not post to it.
        return topic.sender == user && directory.is_member(topic.room, user) &&
               !directory.is_muted(topic.room, topic.sender);
    case chat_topic_kind::direct_message:
    case chat_topic_kind::direct_signal:
        return topic.sender == user && directory.has_user(topic.to);
    case chat_topic_kind::control_request: return topic.user == user;
    case chat_topic_kind::relay: return directory.is_relay_peer(user);
    case chat_topic_kind::presence:
    case chat_topic_kind::control_response:
    case chat_topic_kind::malformed: return false;
    }
    return false;
}

bool chat_may_receive(const chat_directory& directory, std::string_view user,
                      std::string_view topic_name) {
    const chat_topic topic = parse_chat_topic(topic_name);
    switch (topic.kind) {
    case chat_topic_kind::not_chat: return true;
    case chat_topic_kind::room_message:
    case chat_topic_kind::room_signal: return directory.is_member(topic.room, user);
    case chat_topic_kind::direct_message:
    case chat_topic_kind::direct_signal:
        return (topic.to == user || topic.sender == user) && directory.has_user(user);
    case chat_topic_kind::presence: return directory.shares_room(topic.user, user);
    case chat_topic_kind::control_response: return topic.user == user && directory.has_user(user);
    case chat_topic_kind::relay: return directory.is_relay_peer(user);
    case chat_topic_kind::control_request:
    case chat_topic_kind::malformed: return false;
    }
    return false;
}

namespace {

bool is_wildcard(std::string_view level) {
    return level == "+" || level == "#";
}

/// `levels` of a room or direct filter from the level naming the branch ("room" or "dm").
bool may_subscribe_messages(const chat_directory& directory, std::string_view user,
                            const std::vector<std::string_view>& levels, std::size_t first) {
    if (levels.size() <= first || is_wildcard(levels[first])) {
        return true;
    }
    const std::string_view branch = levels[first];
    const std::string_view named = levels.size() > first + 1 ? levels[first + 1] : "#";
    const std::string_view sender = levels.size() > first + 2 ? levels[first + 2] : "#";
    if (branch == "room") {
        return is_wildcard(named) || directory.is_member(named, user);
    }
    if (branch == "dm") {
        // Only the user's own box, in either direction.
        const bool names_other_to = !is_wildcard(named) && named != user;
        const bool names_other_sender = !is_wildcard(sender) && sender != user;
        if (names_other_to && sender != user) {
            return false;
        }
        if (names_other_sender && named != user) {
            return false;
        }
        if (is_wildcard(named) && is_wildcard(sender)) {
            return true;
        }
        return directory.has_user(user);
    }
    return false;
}

} // namespace

bool chat_may_subscribe(const chat_directory& directory, std::string_view user,
                        std::string_view topic_filter) {
    if (!directory.has_user(user)) {
        return false;
    }
    const std::vector<std::string_view> levels = split_topic_levels(topic_filter);
    if (levels.size() < 2 || is_wildcard(levels[1])) {
        return true;
    }
    const std::string_view branch = levels[1];
    if (branch == "room" || branch == "dm") {
        return may_subscribe_messages(directory, user, levels, 1);
    }
    if (branch == "signal") {
        return may_subscribe_messages(directory, user, levels, 2);
    }
    const std::string_view named = levels.size() > 2 ? levels[2] : "#";
    if (branch == "presence") {
        return is_wildcard(named) || directory.shares_room(named, user);
    }
    if (branch == "ctl") {
        return is_wildcard(named) || named == user;
    }
    if (branch == "relay") {
        // Relay copies between gateways: only a bridge with bridge_chat reads them.
        return directory.is_relay_peer(user);
    }
    return false;
}

} // namespace perch::gateway
