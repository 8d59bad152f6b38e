// The chat store on the message store's SQLite file: its own write connection owned by a writer
// thread that writes history and read positions in groups and each directory change in its own
// transaction, and a read connection for the synchronous queries. Nothing outside store/sqlite/
// sees SQLite through it.
//
// Theory of operation. Every submitted operation joins one FIFO. A grouped operation (history
// append, read position, prune) waits for its group to close: commit_interval_ms after the writer
// first saw it, max_batch_operations reached, a flush() waiting, an operation of the other kind
// behind it, or shutdown. The group is written in one transaction and each completion fires with
// its outcome. A standalone operation (directory change, history page, read positions) runs alone
// between groups, in order.
//
// Failure. A group whose write fails is rolled back; its completions fire with write_failed, and
// its operations go back to the head of the FIFO and are tried again after retry_interval_ms
// (completing silently then), so history catches up when the disk recovers. While a failed group
// waits there, standalone operations run past it, in their order: a read sees what is committed,
// not the writes still waiting; a directory change commits or fails on its own. Grouped writes
// submitted meanwhile join the retry (every failed operation plus up to max_batch_operations new
// ones, in submission order), so each completes, once, with the retry's outcome; a flush()
// waiting for such writes brings the retry forward. At shutdown a failing group gets one more
// attempt; then each of its operations is logged as lost.
//
// A search passes through the FIFO too, as a marker that costs the writer nothing: when the
// writer reaches it (every operation submitted before it committed, or failed), it hands the
// search to the search thread, which runs it on a read connection of its own (WAL readers do not
// block the writer nor wait for it). So a search sees what was acknowledged before it, and a slow
// one delays only the searches behind it. At most max_pending_searches are admitted at once.
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

namespace perch::store::sqlite {

class database;
class chat_tables;
class search_tables;
class file_tables;
class push_tables;

/// chat_store on SQLite. Opening creates options.path when missing, sets journal_mode=WAL,
/// synchronous (FULL for durability full, NORMAL for batched), busy_timeout and max_page_count as
/// the message store does, and migrates the schema. Every failure at open throws
/// store_open_error naming the file and the SQLite error. Completions run on the writer thread.
class sqlite_chat_store final : public chat_store {
public:
    /// Opens the store; see above. options.durability must not be none.
    explicit sqlite_chat_store(store_options options);
    /// Writes what is pending, then closes.
    ~sqlite_chat_store() override;

    sqlite_chat_store(const sqlite_chat_store&) = delete;
    sqlite_chat_store& operator=(const sqlite_chat_store&) = delete;

    void add_user(user_record user, directory_completion done) override;
    void remove_user(std::string name, directory_completion done) override;
    void set_password(std::string name, std::string password_hash,
                      directory_completion done) override;
    void add_room(room_record room, directory_completion done) override;
    void remove_room(std::string name, directory_completion done) override;
    void upgrade_password_hash(std::string name, std::string old_hash, std::string new_hash,
                               directory_completion done) override;
    void set_device_token(device_token_record token, directory_completion done) override;
    void remove_device_token(std::string user, std::string device,
                             directory_completion done) override;
    void add_member(membership_record membership, directory_completion done) override;
    void remove_member(membership_record membership, directory_completion done) override;
    void add_ban(ban_record ban, directory_completion done) override;
    void remove_ban(ban_kind kind, std::string value, directory_completion done) override;
    void add_acl_rule(acl_rule_record rule, directory_completion done) override;
    void remove_acl_rule(acl_rule_record rule, directory_completion done) override;
    void apply_directory_changes(std::vector<directory_change> changes,
                                 directory_batch_completion done) override;
    /// Reads through the read connection: sees every committed change, by any process.
    std::vector<audit_record> audit_log(std::string room, std::size_t limit) override;
    chat_directory_snapshot load_directory() override;
    std::uint64_t directory_version() override;
    void append_history(history_record record, store_completion done) override;
    void find_history(std::string conversation, std::uint64_t id,
                      history_row_completion done) override;
    void history_page(std::string conversation, std::uint64_t before_id, std::size_t limit,
                      history_completion done) override;
    /// Reads committed heads: appends still waiting for their group are not included (call
    /// flush() first when that matters).
    std::vector<conversation_head> conversation_heads() override;
    void read_history_after(std::string conversation, std::uint64_t after_id,
                            std::uint64_t since_unix_ms, std::size_t limit,
                            history_completion done) override;
    void save_session_cursors(session_cursors_record record, store_completion done) override;
    void remove_session_cursors(std::string client_id, store_completion done) override;
    /// Reads committed cursors through the read connection.
    std::vector<session_cursors_record> load_session_cursors() override;
    void set_read_position(read_position_record record, store_completion done) override;
    void read_positions(std::string user, read_positions_completion done) override;
    void read_state(std::string user, std::vector<conversation_head> heads,
                    std::uint64_t unread_cap, read_state_completion done) override;
    void prune_history(std::uint64_t before_unix_ms, std::size_t keep_per_conversation,
                       store_completion done) override;
    /// Runs on the search thread and its read connection, after every operation submitted
    /// before it has been written; busy when max_pending_searches are already admitted.
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
    /// Must not be called from a completion (it would wait for its own thread). Does not wait
    /// for searches handed to the search thread.
    void flush() override;

private:
    using clock = std::chrono::steady_clock;
    using group_write = std::function<void(chat_tables&)>;

    /// One submitted operation: either a grouped write with its completion, or a job run alone.
    using pending_chat_operation = chat_operation_queue<group_write>::operation;

    void submit(pending_chat_operation operation);
    /// `description` names the write in the log line if it is lost at shutdown.
    void submit_grouped(std::string description, group_write write, store_completion done);
    void change_directory(std::function<directory_result(chat_tables&)> change,
                          directory_completion done);
    /// The writer thread's loop.
    void run();
    /// True when the grouped operations at the head of the FIFO should be written now.
    bool is_group_due(clock::time_point now) const;
    /// True when the failed group at the head should be tried again now: at shutdown, after
    /// retry_interval_ms, or when a flush() waits for writes submitted since the failure.
    bool is_retry_due(clock::time_point now) const;
    /// Runs the standalone operation `job` (taken out of queue_); lock held on entry and exit.
    void run_standalone(std::unique_lock<std::mutex>& lock,
                        chat_operation_queue<group_write>::iterator job);
    /// Writes `group` in one transaction, rolled back on failure; writer thread only.
    store_status commit_group(const std::vector<pending_chat_operation>& group);
    /// Logs each operation of a group that failed at shutdown as lost.
    void log_lost(const std::vector<pending_chat_operation>& group, const std::string& detail);
    /// Writes the grouped operations at the head of the FIFO; lock held on entry and exit.
    void write_next_group(std::unique_lock<std::mutex>& lock);
    void log(std::string_view line) const;
    /// The search thread's loop: runs the searches the writer handed over, in order; at
    /// shutdown, those still queued, then returns.
    void run_searches();
    /// Called by the writer when a search's turn comes: queues it for the search thread.
    void hand_over_search(std::function<void()> search);
    /// On the writer thread after a group commit: indexes the rows not indexed yet for search
    /// once they are search_index_batch_ or more (search_index.hpp).
    void index_search_tail_when_due();
    std::chrono::milliseconds commit_interval() const {
        return std::chrono::milliseconds(options_.commit_interval_ms);
    }

    store_options options_;
    /// The write connection: used by the constructor, then only on the writer thread.
    std::unique_ptr<database> writer_database_;
    std::unique_ptr<chat_tables> writer_tables_;
    std::unique_ptr<file_tables> writer_files_;
    std::unique_ptr<push_tables> writer_push_;

    /// Guards the read connection and its statements.
    std::mutex reader_mutex_;
    std::unique_ptr<database> reader_database_;
    std::unique_ptr<chat_tables> reader_tables_;
    std::unique_ptr<file_tables> reader_files_;

    /// The search connection (reads the file, writes only its temporary table) and its
    /// statement: used only on the search thread.
    std::unique_ptr<database> search_database_;
    std::unique_ptr<search_tables> search_tables_;
    /// Rows above the search index's watermark that start a batch (search_index.hpp).
    std::int64_t search_index_batch_ = 1;
    /// Guards the search members below.
    std::mutex search_mutex_;
    std::condition_variable wake_searcher_;
    /// Searches whose turn came, oldest first.
    std::deque<std::function<void()>> searches_;
    /// Searches admitted and not yet completed (in the FIFO, queued or running).
    std::size_t pending_searches_ = 0;
    bool searches_stopping_ = false;
    /// Started after the connections exist; joined after the writer thread (which hands it
    /// searches until it stops).
    std::thread search_thread_;
    std::unique_ptr<push_tables> reader_push_;

    /// Guards every member below.
    mutable std::mutex mutex_;
    /// Wakes the writer: work arrived, flush requested, or stopping.
    std::condition_variable wake_writer_;
    /// Wakes flush() callers.
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

} // namespace perch::store::sqlite
