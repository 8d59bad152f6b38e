// What the chat layer hands to Web Push for one direct message or mention (docs/CHAT.md
// "Web Push"). A plain value: the chat layer queues it, the sender reads it.
#pragma once

#include <string>

namespace perch::gateway::push {

/// One notification to send: a direct message or a mention for `recipient`.
struct push_notice {
    std::string recipient;
    std::string sender;
    /// The room of a mention; empty for a direct message.
    std::string room;
    /// `room/{room}` or `dm/{a}/{b}`.
    std::string conversation;
    /// The message's text; sent only when the recipient allowed previews.
    std::string text;
};

} // namespace perch::gateway::push
