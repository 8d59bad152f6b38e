// The JSON of control requests on `chat/ctl/{user}/req` and of their replies (docs/CHAT.md
// "Control requests"). Parsing and formatting only: the chat service carries the requests out.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "store/chat_store.hpp"

namespace perch::gateway {

/// The operations a control request may name (its "op").
enum class control_operation : std::uint8_t {
    create,
    join,
    leave,
    invite,
    rooms,
    members,
    history,
    read,
    /// Issues a device token (docs/CHAT.md "Device tokens").
    token,
    /// Revokes a device token.
    revoke_token,
    // Read state (docs/CHAT.md "Read state").
    /// The read state of the user's conversations, or of one.
    read_state,
    // Edits, deletes and reactions (docs/CHAT.md "Edits, deletes and reactions").
    /// Replaces the text of one's own message.
    edit,
    /// Deletes a message for everyone (op "delete").
    remove_message,
    /// Adds a reaction to a message.
    react,
    /// Takes one's reaction back.
    unreact,
    // Room rules and moderation (docs/CHAT.md "Room rules").
    kick,
    ban,
    unban,
    mute,
    unmute,
    /// Changes a member's role.
    role,
    /// Changes a room's display name, topic, visibility or history visibility.
    set_room,
    /// Deletes a room (its owner).
    delete_room,
    /// Searches the public rooms.
    public_rooms,
    /// The user's pending invitations.
    invitations,
    /// Declines a pending invitation.
    decline,
    // Search (docs/CHAT.md "Search").
    /// Full-text search over the history the user may read.
    search,
    // Files (docs/CHAT.md "Files").
    /// Issues a short-lived token for the file API.
    file_token,
    // Web Push (docs/CHAT.md "Web Push").
    /// The server's VAPID public key, for pushManager.subscribe.
    push_key,
    /// Stores the PushSubscription of one of the user's devices.
    push_subscribe,
    /// Deletes it.
    push_unsubscribe,
    /// Allows or forbids message text in the user's notifications.
    push_preview,
};

/// Normalizes a conversation named in a request, `room/{room}` or `dm/{a}/{b}` (the two names in
/// any order); empty when it is neither.
std::string normalize_conversation(std::string_view text);

/// The name of `operation` as it appears in "op".
std::string_view to_string(control_operation operation);

/// History pages hold at most this many messages.
inline constexpr std::size_t max_history_page = 200;
/// The page size when a history request names none.
inline constexpr std::size_t default_history_page = 50;
/// A reaction's emoji holds at most this many bytes of UTF-8.
inline constexpr std::size_t max_emoji_bytes = 32;
/// Unread counts stop here: a conversation with more unread messages shows this number.
inline constexpr std::uint64_t max_unread_count = 999;

/// A parsed control request; only the fields its operation uses are set.
struct control_request {
    control_operation operation = control_operation::rooms;
    /// create, join, leave, invite, members.
    std::string room;
    /// invite: the user to add.
    std::string user;
    /// history, read, read_state (optional there): `room/{room}` or `dm/{a}/{b}` (the two names
    /// in any order; normalized to a < b).
    std::string conversation;
    /// history: ids below this one (0 = from the newest).
    std::uint64_t before_id = 0;
    /// history: page size, 1..max_history_page.
    std::size_t limit = default_history_page;
    /// read: the last id read; edit, delete, react, unreact: the message changed.
    std::uint64_t id = 0;
    /// token, revoke_token: the device (a chat name).
    std::string device;
    /// edit: the new text.
    std::string text;
    /// react, unreact: the emoji, 1..max_emoji_bytes bytes of UTF-8 without control characters.
    std::string emoji;
    // Room rules and moderation.
    /// role: the new role.
    std::optional<store::room_role> role;
    /// create, set_room: the settings named in the request (others stay as they are).
    std::optional<std::string> display_name;
    std::optional<std::string> topic;
    std::optional<store::room_visibility> visibility;
    std::optional<store::history_visibility> history_visibility;
    /// public_rooms: the text a room's name or display name must contain (empty: every one),
    /// and the last room of the previous page (empty: from the first).
    std::string query;
    std::string after;
    // Search (docs/CHAT.md "Search"); `query` holds "q", `limit` the page size, and `room`,
    // `user` (its "peer") or `conversation` the one conversation searched, when named.
    /// The words of "q".
    std::vector<store::search_term> search_terms{};
    /// The hits skipped: where the page of "cursor" starts.
    std::size_t search_offset = 0;
    // Web Push; `device` names the device of push_subscribe and push_unsubscribe.
    /// push_subscribe: the PushSubscription's endpoint, keys.p256dh and keys.auth (base64url).
    std::string push_endpoint;
    std::string push_p256dh;
    std::string push_auth;
    /// push_preview: "on" or "off".
    bool is_push_preview_allowed = false;
    bool operator==(const control_request&) const = default;
};

/// Why a request could not be parsed, as the reply's "error" says it.
struct control_parse_error {
    std::string message;
    /// The "op" when it could be read, for the reply.
    std::string operation;
};

/// Parses a request payload. Never throws: bad JSON, a missing or unknown "op", a missing or
/// invalid name, a bad number or conversation each give a control_parse_error.
std::variant<control_request, control_parse_error> parse_control_request(std::string_view payload);

/// A reply to one request.
struct control_reply {
    bool is_ok = true;
    /// The request's "op" (empty when it could not be read).
    std::string operation;
    /// Why the request failed (is_ok false).
    std::string error;
    std::optional<std::string> room;
    std::optional<std::string> user;
    std::optional<std::string> conversation;
    /// rooms: the user's rooms; members: the room's members.
    std::optional<std::vector<std::string>> names;
    /// history: the page, oldest first.
    std::optional<std::vector<store::history_record>> messages;
    /// read: the position stored.
    std::optional<std::uint64_t> id;
    /// token, revoke_token: the device.
    std::optional<std::string> device;
    /// token: the new token, shown this once.
    std::optional<std::string> token;
    /// read_state: one entry per conversation, as "conversations".
    std::optional<std::vector<store::read_state_record>> read_states;
    /// edit, delete, react, unreact: the message changed (the event's own id is in `id`).
    std::optional<std::uint64_t> of;
    /// A failure's explanation beside its code (room rules: "error" is a code such as
    /// "not_allowed", "detail" says why).
    std::optional<std::string> detail;
    /// A JSON object whose members are added to the reply (room rules format their own fields).
    std::optional<std::string> extra_json;
};

/// The reply's JSON: `{"ok":true,"op":...,...}` or `{"ok":false,"op":...,"error":"..."}`.
/// History payloads that are valid UTF-8 appear as "payload", others as "payload_base64"; a
/// message also shows "reply_to", "edited_ts", "reactions" when it has them, and a deleted one
/// "deleted":true without a payload.
std::string format_control_reply(const control_reply& reply);

/// The name of an event kind as user property `event` and "type" say it: edit, delete, reaction.
std::string_view event_name(store::history_kind kind);

/// The payload of the event an edit, delete, react or unreact request records and routes:
/// `{"type":"edit","of":N,"text":...}`, `{"type":"delete","of":N}`,
/// `{"type":"reaction","of":N,"emoji":...,"on":true|false}`.
std::string format_message_event(const control_request& request);

/// The retained presence payload: `{"user":...,"status":"online"|"offline","devices":N,"ts":MS}`.
std::string format_presence(std::string_view user, std::size_t devices, std::uint64_t ts_unix_ms);

/// The names used in requests, replies and room events: "owner", "admin", "member"; "public",
/// "private"; "shared", "joined".
std::string_view to_string(store::room_role role);
std::string_view to_string(store::room_visibility visibility);
std::string_view to_string(store::history_visibility visibility);

/// The read signal sent when a user marks a conversation read:
/// `{"type":"read","user":...,"conversation":...,"id":N}`.
std::string format_read_signal(std::string_view user, std::string_view conversation,
                               std::uint64_t id);

} // namespace perch::gateway
