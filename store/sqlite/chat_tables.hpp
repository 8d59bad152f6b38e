// The chat tables on one SQLite connection: prepared statements for each directory change, history
// append, read position and query of chat_store.hpp. The only place where chat operations become
// SQL; the caller owns transactions and threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "store/chat_store.hpp"
#include "store/sqlite/database.hpp"
#include "store/sqlite/statement.hpp"

namespace perch::store::sqlite {

/// Statements over the chat tables of schema.hpp (version 5 and later). Not thread-safe: one
/// thread uses an instance at a time. Every member throws sqlite_error on failure.
class chat_tables {
public:
    /// Prepares every statement; the schema must be current.
    explicit chat_tables(database& connection);

    /// Opens a write transaction (BEGIN IMMEDIATE: waits up to the busy timeout for the lock).
    void begin_write();
    /// Opens a read transaction (a consistent snapshot until commit()).
    void begin_read();
    /// Commits the open transaction.
    void commit();
    /// Rolls back the open transaction, if any; never throws.
    void rollback() noexcept;

    // Directory changes, inside a write transaction. Each returns done or the reason nothing
    // changed (already_exists, not_found); done also increments the directory version.

    /// Inserts a user; already_exists when the name is taken.
    directory_result add_user(const user_record& user);
    /// Deletes a user with its memberships and read positions; not_found when unknown.
    directory_result remove_user(const std::string& name);
    /// Replaces a user's hash and deletes its device tokens; not_found when unknown.
    directory_result set_password(const std::string& name, const std::string& password_hash);
    /// Sets a user's admin flag; not_found when unknown.
    directory_result set_admin(const std::string& name, bool is_admin);
    /// Replaces a user's hash while it is `old_hash`, keeping its device tokens; not_found when
    /// the user is unknown or its hash is another.
    directory_result upgrade_password_hash(const std::string& name, const std::string& old_hash,
                                           const std::string& new_hash);
    /// Inserts or replaces the token of (user, device); not_found when the user is unknown.
    directory_result set_device_token(const device_token_record& token);
    /// Deletes the token of (user, device); not_found when there is none.
    directory_result remove_device_token(const std::string& user, const std::string& device);
    /// Inserts a room; already_exists when the name is taken.
    directory_result add_room(const room_record& room);
    /// Deletes a room with its memberships; not_found when unknown.
    directory_result remove_room(const std::string& name);
    /// Adds a member; not_found when the room or the user is unknown, already_exists when a
    /// member.
    directory_result add_member(const membership_record& membership);
    /// Removes a member; not_found when not a member.
    directory_result remove_member(const membership_record& membership);

    // Room rules and moderation (docs/CHAT.md "Room rules").

    /// Replaces a room's visibility, history visibility, display name and topic; not_found when
    /// unknown.
    directory_result update_room(const room_record& room);
    /// Replaces a member's role and mute; not_found when not a member.
    directory_result update_member(const membership_record& membership);
    /// Inserts or replaces a room ban; not_found for an unknown room.
    directory_result add_room_ban(const room_ban_record& ban);
    /// Deletes the room ban of (room, user); not_found when there is none.
    directory_result remove_room_ban(const room_ban_record& ban);
    /// Inserts or replaces an invitation; not_found for an unknown room or user.
    directory_result add_invitation(const invitation_record& invitation);
    /// Deletes the invitation of (room, user); not_found when there is none.
    directory_result remove_invitation(const invitation_record& invitation);
    /// Appends an audit entry (the directory version stays: the log is not part of it).
    directory_result add_audit(const audit_record& audit);
    /// The newest `limit` audit entries of `room` (every room when empty), oldest first.
    std::vector<audit_record> audit_log(const std::string& room, std::size_t limit);

    /// Inserts or replaces a ban and deletes the bans expired before its creation time.
    directory_result add_ban(const ban_record& ban);
    /// Deletes a ban; not_found when there is none.
    directory_result remove_ban(ban_kind kind, const std::string& value);
    /// Inserts a rule or replaces its access; already_exists when it has that access already.
    directory_result add_acl_rule(const acl_rule_record& rule);
    /// Deletes the rule of (scope, user, filter); not_found when there is none.
    directory_result remove_acl_rule(const acl_rule_record& rule);

    /// The whole directory; call inside a read transaction for a consistent snapshot.
    chat_directory_snapshot read_directory();
    /// The directory version counter.
    std::uint64_t directory_version();

    // History and read positions, inside a write transaction.

    /// Inserts `record` unless (conversation, id) exists already (the first write wins), and
    /// raises the conversation's head to its id.
    void append_history(const history_record& record);
    /// Raises a read position; a lower id changes nothing.
    void set_read_position(const read_position_record& record);
    /// Raises the cursors of `record.client_id` and sets its baseline when not 0.
    void save_session_cursors(const session_cursors_record& record);
    /// Deletes the cursors and baseline of `client_id`.
    void remove_session_cursors(const std::string& client_id);
    /// Deletes history older than `before_unix_ms` beyond the newest `keep_per_conversation`,
    /// after raising every conversation's stored head to its last id in history.
    void prune_history(std::uint64_t before_unix_ms, std::size_t keep_per_conversation);

    // Queries.

    /// Up to `limit` records of `conversation` with ids below `before_id` (0: no bound), oldest
    /// first.
    std::vector<history_record> history_page(const std::string& conversation,
                                             std::uint64_t before_id, std::size_t limit);
    /// Up to `limit` records of `conversation` with ids above `after_id` stamped at or after
    /// `since_unix_ms`, oldest first.
    std::vector<history_record> history_after(const std::string& conversation,
                                              std::uint64_t after_id, std::uint64_t since_unix_ms,
                                              std::size_t limit);
    /// Every stored session's cursors and baseline, by client id.
    std::vector<session_cursors_record> session_cursors();
    /// Every read position of `user`, by conversation.
    std::vector<read_position_record> read_positions(const std::string& user);
    /// The row `id` of `conversation`, without reactions.
    std::optional<history_record> find_history(const std::string& conversation, std::uint64_t id);
    /// The read state of `user` in each of `heads` (chat_store::read_state).
    std::vector<read_state_record> read_state(const std::string& user,
                                              std::vector<conversation_head> heads,
                                              std::uint64_t unread_cap);
    /// The head of every conversation ever written, by conversation: the larger of its stored
    /// head (written by prune_history) and its last id in history (appends write no head).
    std::vector<conversation_head> conversation_heads();

private:
    /// Rows the last statement on the connection changed.
    int changes() const;
    /// Applies the event just inserted to the message it names.
    void apply_event(const history_record& event);
    /// Adds the reactions of the messages of `page` (one conversation, ascending ids).
    void add_reactions(std::vector<history_record>& page);
    /// Increments the directory version counter.
    void bump_version();
    bool user_exists(const std::string& name);
    bool room_exists(const std::string& name);

    database& connection_;
    statement begin_write_;
    statement begin_read_;
    statement commit_;
    statement insert_user_;
    statement delete_user_;
    statement delete_user_memberships_;
    statement delete_user_read_positions_;
    statement update_password_;
    statement insert_admin_;
    statement delete_admin_;
    statement upgrade_password_;
    statement upsert_device_token_;
    statement delete_device_token_;
    statement delete_user_device_tokens_;
    statement select_device_tokens_;
    statement find_user_;
    statement insert_room_;
    statement delete_room_;
    statement delete_room_memberships_;
    statement delete_room_bans_;
    statement delete_room_invitations_;
    statement update_room_;
    statement update_member_;
    statement upsert_room_ban_;
    statement delete_room_ban_;
    statement select_room_bans_;
    statement upsert_invitation_;
    statement delete_invitation_;
    statement delete_user_invitations_;
    statement select_invitations_;
    statement insert_audit_;
    statement select_audit_;
    statement find_room_;
    statement insert_member_;
    statement delete_member_;
    statement bump_version_;
    statement select_version_;
    statement select_users_;
    statement select_rooms_;
    statement select_members_;
    statement insert_history_;
    statement apply_edit_;
    statement apply_deletion_;
    statement blank_edits_;
    statement delete_reactions_of_;
    statement add_reaction_;
    statement remove_reaction_;
    statement delete_orphan_reactions_;
    statement select_history_row_;
    statement select_reactions_;
    statement raise_heads_;
    statement upsert_read_position_;
    statement prune_by_age_;
    statement prune_by_age_keeping_;
    statement select_history_page_;
    statement select_read_positions_;
    statement count_unread_;
    statement select_heads_;
    statement select_history_after_;
    statement upsert_session_cursor_;
    statement upsert_session_baseline_;
    statement delete_session_cursors_;
    statement delete_session_baseline_;
    statement select_session_cursors_;
    statement select_session_baselines_;
    statement upsert_ban_;
    statement delete_expired_bans_;
    statement delete_ban_;
    statement select_bans_;
    statement find_acl_rule_;
    statement upsert_acl_rule_;
    statement delete_acl_rule_;
    statement select_acl_rules_;
};

} // namespace perch::store::sqlite
