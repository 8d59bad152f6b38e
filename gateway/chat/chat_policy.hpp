// The rights of an authenticated user under chat/ (docs/CHAT.md "Topic rules"): which chat topics
// the user may publish to, subscribe to and receive. Reads the in-memory directory only, never
// the database; knows nothing about sessions.
#pragma once

#include <string_view>

#include "gateway/chat/chat_directory.hpp"

namespace perch::gateway {

/// May `user` publish to the chat topic `topic_name`? Room messages and signals: members only,
/// with `{sender}` == user, and not while muted in the room. Direct messages and signals:
/// `{sender}` == user and `{to}` an existing user. Control requests: only on the user's own
/// `chat/ctl/{user}/req`. Presence, control responses and malformed chat topics: never (the gateway
/// publishes those). A user who is not in the directory may publish nothing under chat/.
bool chat_may_publish(const chat_directory& directory, std::string_view user,
                      std::string_view topic_name);

/// May `user` receive a message published on the chat topic `topic_name`? Room topics: members.
/// Direct topics: the recipient and the sender. Presence: the user and users sharing a room with
/// them. Control responses: the user only.
bool chat_may_receive(const chat_directory& directory, std::string_view user,
                      std::string_view topic_name);

/// May `user` subscribe to `topic_filter` (a filter under chat/, without any "$share/{group}/")?
/// A filter without wildcards is allowed when chat_may_receive allows its topic. A filter with
/// wildcards is refused when one of its named levels shuts the user out (a room they are not in,
/// another user's direct messages or control topics, the presence of a user they share no room
/// with, an unknown branch); otherwise it is allowed and chat_may_receive filters each delivery.
bool chat_may_subscribe(const chat_directory& directory, std::string_view user,
                        std::string_view topic_filter);

} // namespace perch::gateway
