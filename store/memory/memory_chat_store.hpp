// The chat store for durability = none and for tests: the same directory, history and read
// positions as the SQLite chat store, held in memory only. Nothing survives the process.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "store/chat_store.hpp"

namespace perch::store::memory {

/// chat_store in memory. Every operation is applied at once under one lock, and its completion
/// fires on the caller's thread before the call returns (never under the lock).
class memory_chat_store final : public chat_store {
public:
    /// `is_search_enabled` false: search_history fails, as the SQLite store with its index off.
    explicit memory_chat_store(bool is_search_enabled = true)
        : is_search_enabled_(is_search_enabled) {}

    void add_user(user_record user, directory_completion done) override;
    void remove_user(std::string name, directory_completion done) override;
    void set_password(std::string name, std::string password_hash,
                      directory_completion done) override;
    void upgrade_password_hash(std::string name, std::string old_hash, std::string new_hash,
                               directory_completion done) override;
    void set_device_token(device_token_record token, directory_completion done) override;
    void remove_device_token(std::string user, std::string device,
                             directory_completion done) override;
    void add_room(room_record room, directory_completion done) override;
    void remove_room(std::string name, directory_completion done) override;
    void add_member(membership_record membership, directory_completion done) override;
    void remove_member(membership_record membership, directory_completion done) override;
    void add_ban(ban_record ban, directory_completion done) override;
    void remove_ban(ban_kind kind, std::string value, directory_completion done) override;
    void add_acl_rule(acl_rule_record rule, directory_completion done) override;
    void remove_acl_rule(acl_rule_record rule, directory_completion done) override;
    void apply_directory_changes(std::vector<directory_change> changes,
                                 directory_batch_completion done) override;
    std::vector<audit_record> audit_log(std::string room, std::size_t limit) override;
    chat_directory_snapshot load_directory() override;
    std::uint64_t directory_version() override;
    void append_history(history_record record, store_completion done) override;
    void find_history(std::string conversation, std::uint64_t id,
                      history_row_completion done) override;
    void history_page(std::string conversation, std::uint64_t before_id, std::size_t limit,
                      history_completion done) override;
    std::vector<conversation_head> conversation_heads() override;
    void read_history_after(std::string conversation, std::uint64_t after_id,
                            std::uint64_t since_unix_ms, std::size_t limit,
                            history_completion done) override;
    void save_session_cursors(session_cursors_record record, store_completion done) override;
    void remove_session_cursors(std::string client_id, store_completion done) override;
    std::vector<session_cursors_record> load_session_cursors() override;
    void set_read_position(read_position_record record, store_completion done) override;
    void read_positions(std::string user, read_positions_completion done) override;
    void read_state(std::string user, std::vector<conversation_head> heads,
                    std::uint64_t unread_cap, read_state_completion done) override;
    void prune_history(std::uint64_t before_unix_ms, std::size_t keep_per_conversation,
                       store_completion done) override;
    /// Scans the history in scope (memory_chat_search.cpp): the same matches and
    /// order as the SQLite index, snippets cut more simply.
    void search_history(search_request request, search_completion done) override;
    void add_file(file_record file, store_completion done) override;
    void remove_file(std::string id, store_completion done) override;
    std::vector<file_record> load_files() override;
    void add_file_references(std::string conversation, std::uint64_t message_id,
                             std::vector<std::string> ids, store_completion done) override;
    void file_references(std::string id, file_references_completion done) override;
    void unreferenced_files(std::uint64_t created_before_unix_ms, std::size_t limit,
                            file_ids_completion done) override;
    // Web Push.
    void set_push_subscription(push_subscription_record subscription,
                               directory_completion done) override;
    void remove_push_subscription(std::string user, std::string device,
                                  directory_completion done) override;
    void remove_push_endpoint(std::string endpoint, directory_completion done) override;
    void set_push_error(std::string endpoint, std::string error,
                        directory_completion done) override;
    void set_push_preview(std::string user, bool is_allowed, directory_completion done) override;
    push_state_record push_state(std::string user) override;
    std::vector<std::pair<std::string, std::string>> push_subscribed_devices() override;
    /// Nothing is ever pending: returns at once.
    void flush() override {}

private:
    /// Applies a directory change under the lock, moves the version on `done`, then reports.
    template <typename Change> void change_directory(Change change, directory_completion& done);
    // The directory changes a batch can hold, applied with mutex_ held.
    directory_result add_user_locked(user_record user);
    /// Deletes `name` with its memberships, invitations, read positions and device tokens.
    directory_result remove_user_locked(const std::string& name);
    directory_result add_ban_locked(ban_record ban);
    directory_result set_password_locked(const std::string& name, std::string password_hash);
    directory_result add_room_locked(room_record room);
    directory_result add_member_locked(const membership_record& membership);
    /// Applies the event `event` to the message it names in `records`, with mutex_ held.
    static void apply_event_locked(std::map<std::uint64_t, history_record>& records,
                                   const history_record& event);
    directory_result remove_member_locked(const membership_record& membership);
    directory_result update_room_locked(const room_record& room);
    directory_result remove_room_locked(const std::string& name);
    /// True when message `message_id` of `conversation` is in history and not deleted; mutex_
    /// held.
    bool is_referencing_locked(const std::string& conversation, std::uint64_t message_id) const;

    const bool is_search_enabled_;
    /// Guards every member below.
    std::mutex mutex_;
    std::map<std::string, user_record> users_;
    std::map<std::string, room_record> rooms_;
    /// (room, user) -> membership.
    std::map<std::pair<std::string, std::string>, membership_record> memberships_;
    /// (room, user) -> room ban.
    std::map<std::pair<std::string, std::string>, room_ban_record> room_bans_;
    /// (room, user) -> pending invitation.
    std::map<std::pair<std::string, std::string>, invitation_record> invitations_;
    /// The audit log, oldest first.
    std::vector<audit_record> audit_;
    /// (user, device) -> token.
    std::map<std::pair<std::string, std::string>, device_token_record> device_tokens_;
    /// (user, device) -> Web Push subscription.
    std::map<std::pair<std::string, std::string>, push_subscription_record> push_subscriptions_;
    /// Users who allowed message text in notifications.
    std::set<std::string> push_previews_;
    /// (kind, value) -> ban.
    std::map<std::pair<ban_kind, std::string>, ban_record> bans_;
    /// (scope, user, filter) -> rule.
    std::map<std::tuple<acl_scope, std::string, std::string>, acl_rule_record> acl_rules_;
    std::uint64_t directory_version_ = 0;
    /// conversation -> id -> record.
    std::map<std::string, std::map<std::uint64_t, history_record>> history_;
    /// Baseline and cursors by client id, then by conversation.
    std::map<std::string, std::pair<std::uint64_t, std::map<std::string, std::uint64_t>>>
        session_cursors_;
    /// conversation -> highest id ever appended.
    std::map<std::string, std::uint64_t> heads_;
    /// (user, conversation) -> id.
    std::map<std::pair<std::string, std::string>, std::uint64_t> read_positions_;
    /// id -> uploaded file.
    std::map<std::string, file_record> files_;
    /// (file id, conversation, message id): a reference, kept while its message is in history and
    /// not deleted (as the SQLite store's triggers do).
    std::set<std::tuple<std::string, std::string, std::uint64_t>> file_references_;
};

} // namespace perch::store::memory
