// The chat layer's persistent state as the rest of Perch sees it: users with their password
// hashes, rooms and their members, the history of every conversation and each user's read
// positions. No SQL or backend type appears here.
//
// Theory of operation. The directory (users, rooms, members) is small and changes rarely; the
// gateway loads all of it at start and keeps it in memory, and reloads it when
// directory_version() changes, whoever changed it (the gateway itself, or `perch user|room`
// running beside it on the same file). History is the chat traffic itself: appends are submitted
// from any thread without waiting for the disk and are written in groups by the store's writer
// thread, like the message store's operations. Every completion runs on that writer thread: it
// must be cheap and must not block (post the result to the caller's own thread).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "store/id_allocator.hpp"
#include "store/records.hpp"
#include "store/store_open_error.hpp"
#include "store/store_options.hpp"
#include "store/store_status.hpp"

namespace perch::store {

/// A user: the name is the MQTT user name; the hash is in mosquitto_passwd's `$7$` format
/// (PBKDF2-SHA512) and is never interpreted by the store.
struct user_record {
    std::string name;
    std::string password_hash;
    std::uint64_t created_unix_ms = 0;
    /// May use the admin page and the HTTP admin API (docs/ADMIN.md).
    bool is_admin = false;
    bool operator==(const user_record&) const = default;
};

/// Who may find and join a room (docs/CHAT.md "Room rules").
enum class room_visibility : std::uint8_t {
    /// Anyone may find it (public_rooms) and join it.
    open,
    /// Joined by invitation only.
    invited,
};

/// What history a newcomer to a room may read.
enum class history_visibility : std::uint8_t {
    /// The whole history.
    shared,
    /// Only what was said after the member joined.
    joined,
};

/// A member's role in a room; the order is the rank (an owner outranks an admin).
enum class room_role : std::uint8_t { member, admin, owner };

/// A chat room.
struct room_record {
    std::string name;
    /// The user who created it; empty when created by an administrator.
    std::string created_by;
    std::uint64_t created_unix_ms = 0;
    room_visibility visibility = room_visibility::open;
    history_visibility history = history_visibility::shared;
    /// The name shown to people (the room's id is `name`); may be empty.
    std::string display_name{};
    std::string topic{};
    bool operator==(const room_record&) const = default;
};

/// One member of one room.
struct membership_record {
    std::string room;
    std::string user;
    room_role role = room_role::member;
    /// A muted member receives the room but may not post to it.
    bool is_muted = false;
    /// The room's last message id when the member joined: with history_visibility::joined the
    /// member reads nothing at or below it.
    std::uint64_t joined_after_id = 0;
    bool operator==(const membership_record&) const = default;
};

/// A user banned from one room (not a connection ban): may not join it until unbanned.
struct room_ban_record {
    std::string room;
    std::string user;
    /// Who banned them (a user, or empty for an administrator).
    std::string by{};
    std::uint64_t created_unix_ms = 0;
    bool operator==(const room_ban_record&) const = default;
};

/// A pending invitation of `user` into `room`, accepted by joining, ended by declining.
struct invitation_record {
    std::string room;
    std::string user;
    /// Who invited them (a user, or empty for an administrator).
    std::string by{};
    std::uint64_t created_unix_ms = 0;
    bool operator==(const invitation_record&) const = default;
};

/// One entry of the rooms' audit log: who did what to whom, where and when.
struct audit_record {
    /// Assigned by the store, increasing.
    std::uint64_t id = 0;
    std::uint64_t ts_unix_ms = 0;
    std::string room;
    /// The user who acted; empty for an administrator (`perch room`).
    std::string actor;
    /// The action's name as the room event names it (`kick`, `ban`, `role`, ...).
    std::string action;
    /// The user it applied to; empty when none.
    std::string target;
    /// Anything else (a new role, name or topic), free text.
    std::string detail;
    bool operator==(const audit_record&) const = default;
};

/// A device token: a random secret one device of a user presents instead of the password
/// (docs/CHAT.md "Device tokens"). Only its hash is kept, and never interpreted by the store.
struct device_token_record {
    std::string user;
    /// The device it was issued to: a user has at most one token per device.
    std::string device;
    /// The token's SHA-256, in hex.
    std::string token_hash;
    std::uint64_t created_unix_ms = 0;
    bool operator==(const device_token_record&) const = default;
};

/// A Web Push subscription of one device of a user (docs/CHAT.md "Web Push"): the browser's
/// PushSubscription. The store never interprets the endpoint or the keys.
struct push_subscription_record {
    std::string user;
    /// The device it belongs to: a user has at most one subscription per device.
    std::string device;
    /// The push resource URL the notifications are POSTed to.
    std::string endpoint;
    /// keys.p256dh and keys.auth, base64url as the browser gave them.
    std::string p256dh;
    std::string auth;
    std::uint64_t created_unix_ms = 0;
    /// The last failure the push service answered (empty when none).
    std::string last_error;
    bool operator==(const push_subscription_record&) const = default;
};

/// What Web Push knows of one user: the setting and the subscriptions, by device.
struct push_state_record {
    /// The user allowed message text in notifications (push_preview on).
    bool is_preview_allowed = false;
    std::vector<push_subscription_record> subscriptions;
    bool operator==(const push_state_record&) const = default;
};

/// What a ban names.
enum class ban_kind : std::uint8_t { user, client, address };

/// A ban (docs/ACCESS.md "Bans"): connections matching it are refused and dropped. The store
/// never interprets `value` (a user name, a client id, or an address or CIDR block).
struct ban_record {
    ban_kind kind = ban_kind::user;
    std::string value;
    std::string reason;
    std::uint64_t created_unix_ms = 0;
    /// When it ends (Unix time, ms); 0: never.
    std::uint64_t expires_unix_ms = 0;
    bool operator==(const ban_record&) const = default;
};

/// Whom a stored topic access rule applies to, as the blocks of an acl_file.
enum class acl_scope : std::uint8_t { anonymous, user, pattern };

/// One topic access rule held in the store (docs/ACCESS.md "Rules in the store"). The store never
/// interprets `access` or `filter`.
struct acl_rule_record {
    acl_scope scope = acl_scope::anonymous;
    /// The user for acl_scope::user; empty otherwise.
    std::string user;
    /// `read`, `write`, `readwrite` or `deny`.
    std::string access;
    std::string filter;
    std::uint64_t created_unix_ms = 0;
    bool operator==(const acl_rule_record&) const = default;
};

/// Everything the directory holds, as loaded in one read transaction.
struct chat_directory_snapshot {
    std::vector<user_record> users;
    std::vector<room_record> rooms;
    std::vector<membership_record> memberships;
    /// By user, then device.
    std::vector<device_token_record> device_tokens;
    /// By kind, then value; expired ones included.
    std::vector<ban_record> bans;
    /// By scope, user, then filter.
    std::vector<acl_rule_record> acl_rules;
    /// By room, then user.
    std::vector<room_ban_record> room_bans;
    /// By room, then user.
    std::vector<invitation_record> invitations;
    /// The directory_version() this snapshot reflects.
    std::uint64_t version = 0;
};

/// What a history row is: a message, or an event that changes the message its `of_id` names
/// (docs/CHAT.md "Edits, deletes and reactions").
enum class history_kind : std::uint8_t {
    message = 0,
    edit = 1,
    deletion = 2,
    reaction_added = 3,
    reaction_removed = 4,
};

/// The users who reacted to one message with one emoji, in byte order.
struct reaction_record {
    std::string emoji;
    std::vector<std::string> users;
    bool operator==(const reaction_record&) const = default;
};

/// One chat message in history. `conversation` is `room/{room}` or `dm/{a}/{b}` with a < b
/// (byte order), so both parties of a DM share one conversation.
struct history_record {
    std::string conversation;
    /// The server message id: increasing within the conversation, assigned by the gateway.
    std::uint64_t id = 0;
    std::string sender;
    /// The topic it was published to.
    std::string topic;
    /// Server time of reception (Unix time, ms).
    std::uint64_t ts_unix_ms = 0;
    byte_vector payload;
    /// A message: the id of the message it answers (its user property `reply_to`); 0: none.
    std::uint64_t reply_to = 0;
    history_kind kind = history_kind::message;
    /// An event: the id of the message it changes.
    std::uint64_t of_id = 0;
    /// An event given to append_history: an edit's new payload, a reaction's emoji. Not kept in
    /// the event's own row (its payload says it); empty when read back.
    std::string change{};
    /// A message: when its last edit was recorded (Unix time, ms); 0: never edited.
    std::uint64_t edited_unix_ms = 0;
    /// A message that was deleted: its payload is gone (empty).
    bool is_deleted = false;
    /// A message read by history_page: its reactions, by emoji in byte order.
    std::vector<reaction_record> reactions{};
    bool operator==(const history_record&) const = default;
};

/// How far a user has read a conversation (every id at or below `id` is read).
struct read_position_record {
    std::string user;
    std::string conversation;
    std::uint64_t id = 0;
    bool operator==(const read_position_record&) const = default;
};

/// Where a user stands in one conversation (chat_store::read_state).
struct read_state_record {
    std::string conversation;
    /// The conversation's last id, as the caller gave it.
    std::uint64_t last_id = 0;
    /// The user's read position (0: none stored).
    std::uint64_t read_id = 0;
    /// The messages with read_id < id <= last_id that the user did not send, counted up to the
    /// cap the caller gave; events and deleted messages are not counted.
    std::uint64_t unread = 0;
    bool operator==(const read_state_record&) const = default;
};

/// The highest history id written so far in one conversation.
struct conversation_head {
    std::string conversation;
    std::uint64_t last_id = 0;
    /// For a read-state query: the asking user reads nothing at or below this id (a room whose
    /// history newcomers see from their join), so nothing there counts as unread.
    std::uint64_t hidden_through_id = 0;
    bool operator==(const conversation_head&) const = default;
};

/// Where one persistent chat session stands in one conversation: every message of it up to `id`
/// is owed to the session no more (acknowledged, or not for it).
struct conversation_cursor {
    std::string conversation;
    std::uint64_t id = 0;

    bool operator==(const conversation_cursor&) const = default;
};

/// The catch-up state of one persistent chat session (docs/DURABILITY.md "Chat messages").
struct session_cursors_record {
    std::string client_id;
    /// A conversation without a cursor is owed its history rows stamped at or after this time;
    /// 0 leaves the stored baseline as it is (save_session_cursors).
    std::uint64_t baseline_unix_ms = 0;
    /// By conversation.
    std::vector<conversation_cursor> cursors;

    bool operator==(const session_cursors_record&) const = default;
};

/// What a directory change did.
enum class directory_result : std::uint8_t {
    /// Applied and durable.
    done,
    /// The user, room or membership to create exists already.
    already_exists,
    /// The user, room or membership named does not exist (for add_member: the room or the user).
    not_found,
    /// The write failed; the detail is in the status passed beside it.
    failed,
};

/// Reports a directory change: its result, and for `failed` the reason.
using directory_completion = std::function<void(directory_result, const store_status&)>;

/// Reports one history row, or none.
using history_row_completion =
    std::function<void(std::optional<history_record>, const store_status&)>;

// Search (docs/CHAT.md "Search").

/// One word of a search: a message matches when it holds every term of the search.
struct search_term {
    /// A word as the tokenizer cuts them (letters and digits; ASCII is compared without case).
    std::string word;
    /// The term also matches the words that begin with it (`word*`).
    bool is_prefix = false;
    bool operator==(const search_term&) const = default;
};

/// A conversation a search may look into, and the ids it may not see there.
struct search_scope {
    std::string conversation;
    /// Only messages with a higher id match (a `joined` room's join point; 0: all).
    std::uint64_t after_id = 0;
    bool operator==(const search_scope&) const = default;
};

/// A full-text search over history.
struct search_request {
    std::vector<search_term> terms;
    /// The conversations searched; a message elsewhere never matches.
    std::vector<search_scope> scopes;
    /// The hits skipped (a page's start), and the most returned.
    std::size_t offset = 0;
    std::size_t limit = 20;
    /// What snippets put around a matched word.
    std::string mark_open = "**";
    std::string mark_close = "**";
};

/// One message a search found, newest first.
struct search_hit {
    /// In its final state (edits applied), without reactions.
    history_record message;
    /// A short extract of the text with the matched words marked.
    std::string snippet;
    /// Not computed (0): hits are ordered newest first, and FTS5's bm25 would count every
    /// match of the words in history, the cost that order avoids. Kept for a relevance order
    /// to come.
    double score = 0;
};

/// Reports search hits, newest first; read_failed when the index is off or the search failed,
/// busy when too many searches are waiting.
using search_completion = std::function<void(std::vector<search_hit>, const store_status&)>;

/// Reports a history page (oldest first) or the read positions of a user.
using history_completion = std::function<void(std::vector<history_record>, const store_status&)>;
using read_positions_completion =
    std::function<void(std::vector<read_position_record>, const store_status&)>;
/// Reports the read state of a user, one record per conversation asked for, in that order.
using read_state_completion =
    std::function<void(std::vector<read_state_record>, const store_status&)>;
/// Reports audit entries, oldest first.
using audit_completion = std::function<void(std::vector<audit_record>, const store_status&)>;

/// One change of a batch given to chat_store::apply_directory_changes.
struct directory_change {
    enum class action {
        add_user,
        set_password,
        add_room,
        add_member,
        // Room rules and moderation (docs/CHAT.md "Room rules").
        /// Replaces the visibility, history visibility, display name and topic of `room.name`;
        /// not_found for an unknown room.
        update_room,
        /// Deletes `room.name` with its memberships, bans and invitations; not_found when unknown.
        remove_room,
        /// Removes `membership`; not_found when not a member.
        remove_member,
        /// Replaces the role and mute of `membership`; not_found when not a member.
        update_member,
        /// Stores `ban` (replacing one of the same room and user); not_found for an unknown room.
        add_room_ban,
        /// Deletes the ban of `ban.room`, `ban.user`; not_found when there is none.
        remove_room_ban,
        /// Stores `invitation` (replacing one of the same room and user); not_found for an unknown
        /// room or user.
        add_invitation,
        /// Deletes the invitation of `invitation.room`, `invitation.user`; not_found when none.
        remove_invitation,
        /// Appends `audit` to the audit log (its id is assigned); always done.
        add_audit,
        // Users and bans, so that an administrator's change is written with its audit entry.
        /// Sets the admin flag of `user.name` to `user.is_admin`; not_found for an unknown user.
        set_admin,
        /// Deletes `user.name` as remove_user does; not_found for an unknown user.
        remove_user,
        /// Stores `server_ban` as add_ban does; always done.
        add_ban,
        /// Deletes the ban of `server_ban.kind` and `server_ban.value`; not_found when none.
        remove_ban,
    };
    action what = action::add_user;
    /// add_user: the new user; set_password: its name and new hash (its device tokens are
    /// revoked, as set_password does).
    user_record user;
    /// add_room, update_room, remove_room.
    room_record room;
    /// add_member, remove_member, update_member. add_member keeps its role, mute and join point.
    membership_record membership;
    /// add_room_ban, remove_room_ban.
    room_ban_record ban{};
    /// add_invitation, remove_invitation.
    invitation_record invitation{};
    /// add_audit.
    audit_record audit{};
    /// add_ban, remove_ban.
    ban_record server_ban{};

    static directory_change adding_user(user_record user) {
        return {action::add_user, std::move(user), {}, {}};
    }
    static directory_change setting_password(std::string name, std::string password_hash) {
        return {action::set_password, {std::move(name), std::move(password_hash), 0}, {}, {}};
    }
    static directory_change adding_room(room_record room) {
        return {action::add_room, {}, std::move(room), {}};
    }
    static directory_change adding_member(membership_record membership) {
        return {action::add_member, {}, {}, std::move(membership)};
    }
    /// A change of `what` on a membership (remove_member, update_member).
    static directory_change of_member(action what, membership_record membership) {
        return {what, {}, {}, std::move(membership)};
    }
    /// A change of `what` on a room (update_room, remove_room).
    static directory_change of_room(action what, room_record room) {
        return {what, {}, std::move(room), {}};
    }
    /// add_room_ban or remove_room_ban.
    static directory_change of_ban(action what, room_ban_record ban) {
        return {what, {}, {}, {}, std::move(ban)};
    }
    /// add_invitation or remove_invitation.
    static directory_change of_invitation(action what, invitation_record invitation) {
        return {what, {}, {}, {}, {}, std::move(invitation)};
    }
    static directory_change auditing(audit_record audit) {
        return {action::add_audit, {}, {}, {}, {}, {}, std::move(audit)};
    }
    static directory_change setting_admin(std::string name, bool is_admin) {
        return {action::set_admin, {std::move(name), {}, 0, is_admin}, {}, {}};
    }
    static directory_change removing_user(std::string name) {
        return {action::remove_user, {std::move(name), {}, 0}, {}, {}};
    }
    /// add_ban or remove_ban.
    static directory_change of_server_ban(action what, ban_record ban) {
        return {what, {}, {}, {}, {}, {}, {}, std::move(ban)};
    }
};

// Files (docs/CHAT.md "Files").

/// An uploaded file: its bytes lie in `{data_dir}/files/{id}`, its record in the store.
struct file_record {
    /// 32 lowercase hex digits (128 random bits).
    std::string id;
    /// The user who uploaded it.
    std::string owner;
    std::uint64_t size_bytes = 0;
    std::string content_type;
    /// The name the uploader gave (may be empty).
    std::string name;
    /// SHA-256 of the bytes, 64 lowercase hex digits.
    std::string sha256;
    std::uint64_t created_unix_ms = 0;
    bool operator==(const file_record&) const = default;
};

/// A message that references a file.
struct file_reference {
    std::string conversation;
    std::uint64_t message_id = 0;
    bool operator==(const file_reference&) const = default;
};

using file_references_completion =
    std::function<void(std::vector<file_reference>, const store_status&)>;
using file_ids_completion = std::function<void(std::vector<std::string>, const store_status&)>;

/// Reports a batch of directory changes: `result` is done when every change was applied;
/// otherwise none was, and `refused_index` names the change that was not done (its own result is
/// `result`), or is the batch's size when the write itself failed.
using directory_batch_completion =
    std::function<void(directory_result result, std::size_t refused_index, const store_status&)>;

/// The chat store. Every member is safe to call from any thread. Operations are applied in
/// submission order; each completion fires exactly once.
class chat_store {
public:
    virtual ~chat_store() = default;

    // Directory. Each change is its own transaction, durable (at the store's durability level)
    // before its completion fires, and moves directory_version() forward.

    /// Creates a user; already_exists when the name is taken.
    virtual void add_user(user_record user, directory_completion done) = 0;
    /// Deletes a user with its memberships, read positions and device tokens; history stays.
    virtual void remove_user(std::string name, directory_completion done) = 0;
    /// Replaces a user's password hash and revokes its device tokens (a new password ends every
    /// device's standing login); not_found for an unknown user.
    virtual void set_password(std::string name, std::string password_hash,
                              directory_completion done) = 0;
    /// Replaces a user's password hash by `new_hash` only while it is still `old_hash`: a
    /// stronger hash of the same password, written after a login, so the device tokens stay.
    /// not_found when the user is gone or its hash changed meanwhile (that change wins).
    virtual void upgrade_password_hash(std::string name, std::string old_hash, std::string new_hash,
                                       directory_completion done) = 0;
    /// Stores the token of (token.user, token.device), replacing the one that device had;
    /// not_found for an unknown user.
    virtual void set_device_token(device_token_record token, directory_completion done) = 0;
    /// Revokes the token of `device` of `user`; not_found when it has none.
    virtual void remove_device_token(std::string user, std::string device,
                                     directory_completion done) = 0;
    /// Creates a room; already_exists when the name is taken.
    virtual void add_room(room_record room, directory_completion done) = 0;
    /// Deletes a room with its memberships; its history stays until retention removes it.
    virtual void remove_room(std::string name, directory_completion done) = 0;
    /// Adds `user` to `room`; not_found when either is unknown, already_exists when a member.
    virtual void add_member(membership_record membership, directory_completion done) = 0;
    /// Removes `user` from `room`; not_found when not a member.
    virtual void remove_member(membership_record membership, directory_completion done) = 0;
    /// Stores a ban, replacing the one of the same kind and value (its reason and expiry), and
    /// deletes the bans that expired before `ban.created_unix_ms`.
    virtual void add_ban(ban_record ban, directory_completion done) = 0;
    /// Deletes the ban of `kind` and `value`; not_found when there is none.
    virtual void remove_ban(ban_kind kind, std::string value, directory_completion done) = 0;
    /// Stores a topic access rule, replacing the access of the rule with the same scope, user
    /// and filter; already_exists when that rule has the same access.
    virtual void add_acl_rule(acl_rule_record rule, directory_completion done) = 0;
    /// Deletes the rule with `rule`'s scope, user and filter (its access is not compared);
    /// not_found when there is none.
    virtual void remove_acl_rule(acl_rule_record rule, directory_completion done) = 0;
    /// Applies `changes` in order as one transaction: all of them when each is done (each with
    /// the result its single call would give), none otherwise. Moves directory_version() forward
    /// when applied.
    virtual void apply_directory_changes(std::vector<directory_change> changes,
                                         directory_batch_completion done) = 0;

    /// The audit log of `room` (every room when empty), oldest first, at most `limit` newest
    /// entries. Synchronous: meant for `perch room audit` and control requests off the workers.
    virtual std::vector<audit_record> audit_log(std::string room, std::size_t limit) = 0;

    /// Reads the whole directory in one transaction. Synchronous: meant for start-up and for
    /// reloads off the event loops. Throws store_open_error when it cannot be read.
    virtual chat_directory_snapshot load_directory() = 0;

    /// A number that changes after every directory change, by any process using the same
    /// database. Synchronous and cheap (one small read).
    virtual std::uint64_t directory_version() = 0;

    // History and read positions.

    /// Appends one message or event to history; written with the next group. `done` may be
    /// empty. An event also changes the message it names, in the same transaction: an edit
    /// replaces its payload with `change` and sets its edited_unix_ms to the event's time; a
    /// deletion empties its payload and the payloads of its edit events, marks it deleted and
    /// drops its reactions; a reaction adds or removes (`sender`, emoji `change`). An event
    /// naming no message, or a deleted one (a deletion recorded after the event was checked),
    /// changes nothing. Only the first write of an id counts, events included.
    virtual void append_history(history_record record, store_completion done = {}) = 0;

    /// Reads the row `id` of `conversation`, message or event, without reactions; empty when
    /// there is none. Runs after every operation submitted before it.
    virtual void find_history(std::string conversation, std::uint64_t id,
                              history_row_completion done) = 0;

    /// Reads up to `limit` messages of `conversation` with ids below `before_id` (0 = from the
    /// newest), oldest first, in their final state: event rows are left out, their changes are
    /// in the messages they name (payload, edited_unix_ms, is_deleted, reactions).
    virtual void history_page(std::string conversation, std::uint64_t before_id, std::size_t limit,
                              history_completion done) = 0;

    /// The last id of every conversation in history. Synchronous: meant for start-up, so that
    /// ids keep increasing across restarts.
    virtual std::vector<conversation_head> conversation_heads() = 0;

    /// The allocator of history ids of a store that several gateways share (PostgreSQL): ids
    /// come from the database, so that gateways writing one conversation never pick the same.
    /// Null for a store of one gateway (SQLite, memory): the gateway counts ids itself from
    /// conversation_heads(). Call once; the allocator must be destroyed before the store.
    virtual std::unique_ptr<id_allocator> open_id_allocator() { return nullptr; }

    /// Sets a read position (moving it backwards is ignored).
    virtual void set_read_position(read_position_record record, store_completion done = {}) = 0;

    /// Reads every read position of `user`.
    virtual void read_positions(std::string user, read_positions_completion done) = 0;

    /// The read state of `user` in each of `heads` (a conversation and its last id): the user's
    /// read position, and the messages after it up to the head that the user did not send,
    /// counted up to `unread_cap`. Costs one read of the user's read positions, and one count
    /// bounded by `unread_cap` on the history's (conversation, id) key per conversation read
    /// below its head; a conversation read up to its head costs no count.
    virtual void read_state(std::string user, std::vector<conversation_head> heads,
                            std::uint64_t unread_cap, read_state_completion done) = 0;

    /// Reads up to `limit` rows of `conversation` (messages and events, without reactions) with
    /// ids above `after_id` and stamped at or after `since_unix_ms`, oldest first. Runs after every
    /// operation submitted before it, so it sees every append submitted before it (committed
    /// first).
    virtual void read_history_after(std::string conversation, std::uint64_t after_id,
                                    std::uint64_t since_unix_ms, std::size_t limit,
                                    history_completion done) = 0;

    // Catch-up cursors of persistent chat sessions, written with the history groups.

    /// Raises (never lowers) the cursors of `record.client_id` in `record.cursors`, and sets its
    /// baseline when `record.baseline_unix_ms` is not 0. `done` may be empty.
    virtual void save_session_cursors(session_cursors_record record,
                                      store_completion done = {}) = 0;

    /// Deletes the cursors and the baseline of `client_id` (its session ended).
    virtual void remove_session_cursors(std::string client_id, store_completion done = {}) = 0;

    /// Every stored session's cursors and baseline, by client id. Synchronous: meant for start-up
    /// (reads what is committed).
    virtual std::vector<session_cursors_record> load_session_cursors() = 0;

    /// Deletes history older than `before_unix_ms`, keeping at least the newest
    /// `keep_per_conversation` messages of each conversation (0 = keep none by count).
    virtual void prune_history(std::uint64_t before_unix_ms, std::size_t keep_per_conversation,
                               store_completion done = {}) = 0;

    /// Searches the text of the messages in `request.scopes` (docs/CHAT.md "Search"): messages
    /// holding every term, in their final state (an edited message by its last text only; deleted
    /// messages and events never match), newest first (in the order history recorded them; the
    /// memory store: by timestamp, then conversation, then id, newest first), one page of them.
    /// Runs after every operation submitted before it (it reads what they wrote).
    /// read_failed when the store's index is off
    /// (store_options::is_search_enabled); busy, at once, when store_options::max_pending_searches
    /// searches are already waiting or running. The SQLite store runs it on a thread and a read
    /// connection of its own, so a slow search never delays a write; its completion runs on that
    /// thread. The memory store completes it before the call returns.
    virtual void search_history(search_request request, search_completion done) = 0;

    // Files (docs/CHAT.md "Files").
    /// Records an uploaded file (grouped with history).
    virtual void add_file(file_record file, store_completion done = {}) = 0;
    /// Deletes a file's record and every reference to it.
    virtual void remove_file(std::string id, store_completion done = {}) = 0;
    /// Every file's record. Synchronous: meant for start-up (reads what is committed).
    virtual std::vector<file_record> load_files() = 0;
    /// Records that message `message_id` of `conversation` references each of `ids` (grouped with
    /// history, submitted after the message's row). A reference goes with its message: when the
    /// message is deleted (op delete) or pruned.
    virtual void add_file_references(std::string conversation, std::uint64_t message_id,
                                     std::vector<std::string> ids, store_completion done = {}) = 0;
    /// The messages that reference `id` now, after every operation submitted before.
    virtual void file_references(std::string id, file_references_completion done) = 0;
    /// Up to `limit` ids of files created before `created_before_unix_ms` that no message
    /// references, oldest first.
    virtual void unreferenced_files(std::uint64_t created_before_unix_ms, std::size_t limit,
                                    file_ids_completion done) = 0;
    // Web Push (docs/CHAT.md "Web Push"). Not part of the directory: directory_version() stays.

    /// Stores the subscription of (subscription.user, subscription.device), replacing the one
    /// that device had; not_found for an unknown user.
    virtual void set_push_subscription(push_subscription_record subscription,
                                       directory_completion done) = 0;
    /// Deletes the subscription of `device` of `user`; not_found when it has none.
    virtual void remove_push_subscription(std::string user, std::string device,
                                          directory_completion done) = 0;
    /// Deletes every subscription with `endpoint` (its push service reported it gone);
    /// not_found when there is none.
    virtual void remove_push_endpoint(std::string endpoint, directory_completion done) = 0;
    /// Records `error` as the last failure of the subscriptions with `endpoint`.
    virtual void set_push_error(std::string endpoint, std::string error,
                                directory_completion done) = 0;
    /// Sets whether `user` allows message text in notifications; not_found for an unknown user.
    virtual void set_push_preview(std::string user, bool is_allowed, directory_completion done) = 0;
    /// The setting and the subscriptions of `user`, by device. Synchronous: meant for the push
    /// sender's own thread.
    virtual push_state_record push_state(std::string user) = 0;
    /// The (user, device) of every subscription, by user: what the chat service loads at start
    /// to know who has any. Synchronous; empty after remove_user() of them (a deleted user's
    /// subscriptions and setting go in the same transaction as the user).
    virtual std::vector<std::pair<std::string, std::string>> push_subscribed_devices() = 0;

    /// The key the gateways sharing this store seal their relay copies with (docs/BRIDGES.md
    /// "Chat across gateways"): 32 random bytes made once by the first gateway, the same for all.
    /// Empty for a store no other gateway shares (SQLite, memory). Synchronous.
    virtual std::vector<std::uint8_t> relay_key() { return {}; }

    /// Blocks until every operation submitted before the call has completed.
    virtual void flush() = 0;
};

/// Opens the chat store `options` describe: memory only for durability_level::none, otherwise
/// the PostgreSQL database of options.postgresql_conninfo for chat_backend::postgresql (a
/// store_open_error when the build has no PostgreSQL support), or the SQLite database at
/// options.path (the same file as the message store; the schema is one).
/// Throws store_open_error when it cannot be opened.
std::unique_ptr<chat_store> open_chat_store(const store_options& options);

} // namespace perch::store
