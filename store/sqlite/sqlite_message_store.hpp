// The durable message store on one SQLite file: a write connection owned by the group-commit
// writer thread, WAL mode, a versioned schema, and the queue ledger that enforces the caps.
// Nothing outside store/sqlite/ sees SQLite through it.
#pragma once

#include <atomic>
#include <memory>
#include <mutex>

#include "store/group_committer.hpp"
#include "store/message_store.hpp"
#include "store/queue_ledger.hpp"

namespace perch::store::sqlite {

class database;
class store_tables;

/// message_store on SQLite. Opening:
/// - opens (creating) options.path, failing on a file that is not a database, fails PRAGMA
///   quick_check, is read-only, has a newer schema, or cannot be written (full disk);
/// - sets journal_mode=WAL, synchronous=FULL (durability full) or NORMAL (batched),
///   busy_timeout, and max_page_count from max_database_bytes;
/// - migrates the schema, deletes rows no session owns, and reads the queue ledger.
/// Every failure at open throws store_open_error naming the file and the SQLite error.
/// Writes are applied by the writer thread in groups (group_committer.hpp); completions run on it.
class sqlite_message_store final : public message_store {
public:
    /// Opens the store; see above. options.durability must not be none.
    explicit sqlite_message_store(store_options options);
    /// Writes what is pending, then closes.
    ~sqlite_message_store() override;

    loaded_state load(std::uint64_t now_unix_ms) override;
    void save_session(stored_session session, store_completion done) override;
    void delete_session(std::string client_id, store_completion done) override;
    void add_subscription(stored_subscription subscription, store_completion done) override;
    void remove_subscription(std::string client_id, std::string topic_filter,
                             store_completion done) override;
    enqueue_receipt enqueue(const std::vector<queue_target>& targets, stored_message message,
                            store_completion done) override;
    void read_queue(std::string client_id, std::uint64_t after_sequence, std::size_t max_count,
                    queue_read_completion done) override;
    void mark_sent(std::string client_id, std::uint64_t sequence, std::uint16_t packet_id,
                   delivery_state state, store_completion done) override;
    void ack(std::string client_id, std::uint64_t sequence, store_completion done) override;
    void put_retained(stored_message message, store_completion done) override;
    void clear_retained(std::string topic, store_completion done) override;
    void add_inbound_qos2(stored_inbound_qos2 record, store_completion done) override;
    void remove_inbound_qos2(stored_inbound_qos2 record, store_completion done) override;
    void expire_messages(std::uint64_t now_unix_ms, store_completion done) override;
    void flush() override;
    store_counters counters() const override;

private:
    /// Writes one group in one transaction (runs on the writer thread).
    store_status write_group(const std::vector<pending_operation>& group);
    /// Rebuilds the ledger from the rows on disk (runs on the writer thread).
    void restore_ledger();

    store_options options_;
    /// The write connection: used by the constructor, then only on the writer thread.
    std::unique_ptr<database> database_;
    std::unique_ptr<store_tables> tables_;

    /// Guards ledger_.
    mutable std::mutex ledger_mutex_;
    queue_ledger ledger_;

    std::atomic<std::uint64_t> queue_rows_written_{0};
    std::atomic<std::uint64_t> refused_for_quota_{0};
    std::atomic<std::uint64_t> expired_messages_{0};

    /// Last member: its thread starts once everything above exists and stops first.
    std::unique_ptr<group_committer> committer_;
};

} // namespace perch::store::sqlite
