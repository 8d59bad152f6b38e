// The chat/ topic tree of the IM contract (docs/CHAT.md): what a topic name or filter under chat/
// names. Pure parsing; knows nothing about users, rooms or rights.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/common/topic_levels.hpp"

namespace perch::gateway {

/// What a topic under chat/ is for.
enum class chat_topic_kind : std::uint8_t {
    /// Outside chat/.
    not_chat,
    /// `chat/room/{room}/{sender}`.
    room_message,
    /// `chat/dm/{to}/{sender}`.
    direct_message,
    /// `chat/signal/room/{room}/{sender}`.
    room_signal,
    /// `chat/signal/dm/{to}/{sender}`.
    direct_signal,
    /// `chat/presence/{user}`.
    presence,
    /// `chat/ctl/{user}/req`.
    control_request,
    /// `chat/ctl/{user}/resp` and anything below it (`chat/ctl/{user}/resp/...`).
    control_response,
    /// `chat/relay/{origin}/message` or `chat/relay/{origin}/presence`: a relay copy between
    /// gateways (docs/BRIDGES.md "Chat across gateways"); only relay peers use it.
    relay,
    /// Under chat/ but none of the above (wrong depth, unknown branch, empty level).
    malformed,
};

/// A parsed chat topic name. The views point into the parsed string.
struct chat_topic {
    chat_topic_kind kind = chat_topic_kind::not_chat;
    /// The room, for room messages and signals.
    std::string_view room;
    /// The recipient, for direct messages and signals.
    std::string_view to;
    /// The publishing user named in the topic, for messages and signals.
    std::string_view sender;
    /// The user of a presence or control topic.
    std::string_view user;
    /// The origin gateway of a relay copy, and what it carries (`message` or `presence`).
    std::string_view origin;
    std::string_view relay_kind;
};

/// Parses a topic name (no wildcards). Never throws; anything unexpected under chat/ is
/// `malformed`, anything outside is `not_chat`.
chat_topic parse_chat_topic(std::string_view topic_name);

/// The history conversation of a room: `room/{room}`.
std::string room_conversation(std::string_view room);

/// The history conversation shared by two users: `dm/{a}/{b}` with a < b (byte order).
std::string direct_conversation(std::string_view first, std::string_view second);

/// The conversation a room or direct message belongs to; empty for every other kind.
std::string conversation_of(const chat_topic& topic);

} // namespace perch::gateway
