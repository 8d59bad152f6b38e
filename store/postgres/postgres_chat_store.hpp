// The chat store in PostgreSQL, shared by several gateways (docs/POSTGRESQL.md): the same
// operations and results as the SQLite chat store, on three libpq connections of its own.
//
// Theory of operation, as the SQLite chat store's (sqlite_chat_store.hpp). Every submitted
// operation joins one FIFO served by a writer thread that owns the write connection. Grouped
// operations (history appends, read positions, cursors, retention, file records) are written in
// one transaction per group: the group closes after commit_interval_ms, at max_batch_operations,
// when a flush() waits, when an operation run alone is behind it, or at shutdown. A failed group
// is rolled back, its completions fire with write_failed, and it is tried again after
// retry_interval_ms (a lost connection is opened again first); meanwhile the operations run
// alone pass it, and new grouped ones join the retry (see "Failure" in sqlite_chat_store.hpp; at
// shutdown each operation still failing is logged as lost). A directory change runs alone in
// its own transaction; the reads that must see what was submitted before them (history pages,
// read state, file references) run alone on the write connection. The synchronous reads
// (load_directory, directory_version, heads, cursors, files, push state, audit) use a read
// connection under a mutex and see what is committed, by any gateway. A search passes through the
// FIFO as a marker and is then run by the search thread on a connection of its own.
//
// Several gateways: creations are INSERT ... ON CONFLICT DO NOTHING (one winner, the other gets
// already_exists); every directory change raises one version row, whose lock orders directory
// changes across gateways. History ids come from the database (open_id_allocator), so that
// gateways writing one conversation at once never pick the same id.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "store/chat_operation_queue.hpp"
#include "store/chat_store.hpp"

namespace perch::store::postgres {

class connection;
class search_tables;
struct table_set;

/// chat_store on PostgreSQL at options.postgresql_conninfo. Opening connects three times and
/// creates or migrates the schema (schema.hpp); every failure at open throws store_open_error
/// with PostgreSQL's message (never the connection string). durability batched turns
/// synchronous_commit off for this store's connections. Completions run on the writer thread,
/// search completions on the search thread.
class postgres_chat_store final : public chat_store {
public:
    explicit postgres_chat_store(store_options options);
    /// Writes what is pending, then closes.
    ~postgres_chat_store() override;

    postgres_chat_store(const postgres_chat_store&) = delete;
    postgres_chat_store& operator=(const postgres_chat_store&) = delete;

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
    /// Reads committed heads (flush() first when pending appends matter).
    std::vector<conversation_head> conversation_heads() override;
    /// A postgres_id_allocator on a connection of its own (throws store_open_error when it
    /// cannot connect).
    std::unique_ptr<id_allocator> open_id_allocator() override;
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
    void search_history(search_request request, search_completion done) override;
    void add_file(file_record file, store_completion done) override;
    void remove_file(std::string id, store_completion done) override;
    std::vector<file_record> load_files() override;
    void add_file_references(std::string conversation, std::uint64_t message_id,
                             std::vector<std::string> ids, store_completion done) override;
    void file_references(std::string id, file_references_completion done) override;
    void unreferenced_files(std::uint64_t created_before_unix_ms, std::size_t limit,
                            file_ids_completion done) override;
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
    /// Must not be called from a completion. Does not wait for searches handed to the search
    /// thread.
    std::vector<std::uint8_t> relay_key() override;
    void flush() override;

private:
    using clock = std::chrono::steady_clock;
    using group_write = std::function<void(table_set&)>;

    using pending_chat_operation = chat_operation_queue<group_write>::operation;

    void submit(pending_chat_operation operation);
    /// `description` names the write in the log line if it is lost at shutdown.
    void submit_grouped(std::string description, group_write write, store_completion done);
    void change_directory(std::function<directory_result(table_set&)> change,
                          directory_completion done);
    /// Runs `query` alone on the write connection, then `done` with its value (empty on failure).
    template <typename Value>
    void query_alone(std::function<Value(table_set&)> query,
                     std::function<void(Value, const store_status&)> done);
    /// Runs `query` on the read connection now; throws store_open_error naming `what`.
    template <typename Value>
    Value read_now(std::string_view what, const std::function<Value(table_set&)>& query,
                   bool is_snapshot = false);
    void run();
    bool is_group_due(clock::time_point now) const;
    /// As in sqlite_chat_store: the oldest standalone operation (or queue_.end()), running one,
    /// taking the next group (a retry takes every failed operation plus up to
    /// max_batch_operations new ones), logging a group lost at shutdown.
    /// True when the failed group at the head should be tried again now: at shutdown, after
    /// retry_interval_ms, or when a flush() waits for writes submitted since the failure.
    bool is_retry_due(clock::time_point now) const;
    void run_standalone(std::unique_lock<std::mutex>& lock,
                        chat_operation_queue<group_write>::iterator job);
    void log_lost(const std::vector<pending_chat_operation>& group, const std::string& detail);
    void write_next_group(std::unique_lock<std::mutex>& lock);
    void log(std::string_view line) const;
    void run_searches();
    void hand_over_search(std::function<void()> search);

    store_options options_;
    std::unique_ptr<connection> writer_connection_;
    std::unique_ptr<table_set> writer_;
    /// Guards the read connection.
    std::mutex reader_mutex_;
    std::unique_ptr<connection> reader_connection_;
    std::unique_ptr<table_set> reader_;
    /// Used only on the search thread.
    std::unique_ptr<connection> search_connection_;
    std::unique_ptr<search_tables> search_tables_;

    std::mutex search_mutex_;
    std::condition_variable wake_searcher_;
    std::deque<std::function<void()>> searches_;
    std::size_t pending_searches_ = 0;
    bool searches_stopping_ = false;
    std::thread search_thread_;

    mutable std::mutex mutex_;
    std::condition_variable wake_writer_;
    std::condition_variable progress_;
    chat_operation_queue<group_write> queue_;
    bool is_group_open_ = false;
    clock::time_point group_opened_at_{};
    clock::time_point retry_at_{};
    std::uint64_t submitted_ = 0;
    std::uint64_t attempted_ = 0;
    unsigned flush_waiters_ = 0;
    bool stopping_ = false;
    /// Last member: started after everything above exists, joined first.
    std::thread thread_;
};

} // namespace perch::store::postgres
