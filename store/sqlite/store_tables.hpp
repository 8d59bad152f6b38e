// The store's tables on one SQLite connection: prepared statements that apply each operation
// inside the writer's transaction, and the queries that read the whole state back. The only
// place where store operations become SQL.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "store/records.hpp"
#include "store/sqlite/database.hpp"
#include "store/sqlite/statement.hpp"
#include "store/store_operation.hpp"

namespace perch::store::sqlite {

/// What a group changed beyond its own operations, reported once it commits.
struct group_effects {
    /// Queue rows inserted.
    std::uint64_t queue_rows_written = 0;
    /// Queued entries and retained messages deleted because they expired.
    std::uint64_t expired_messages = 0;
    /// The expired queue entries, (client_id, sequence), for the queue ledger.
    std::vector<std::pair<std::string, std::uint64_t>> expired_entries;
};

/// A queue entry's client, identifiers and payload size, for the queue ledger.
struct ledger_row {
    std::string client_id;
    std::uint64_t sequence = 0;
    std::uint64_t message_id = 0;
    std::uint64_t payload_bytes = 0;
};

/// Statements over the schema of schema.hpp. Every member throws sqlite_error on failure.
class store_tables {
public:
    /// Prepares every write statement; the schema must be current.
    explicit store_tables(database& connection);

    /// Opens a write transaction (BEGIN IMMEDIATE).
    void begin();
    void commit();
    /// Rolls back the open transaction, if any; never throws.
    void rollback() noexcept;

    /// Applies `operation` inside the open transaction.
    void apply(const store_operation& operation, group_effects& effects);

    /// Deletes rows that no session owns and messages no queue entry holds; returns how many.
    std::uint64_t remove_orphans();

    /// Reads every session, subscription, queue entry, inbound identifier and retained message.
    loaded_state read_state();

    /// Up to `max_count` queue entries of `client_id` above `after_sequence`, in sequence order,
    /// with their messages (outside a transaction: what is committed).
    std::vector<loaded_queue_entry> read_queue(const std::string& client_id,
                                               std::uint64_t after_sequence, std::size_t max_count);

    /// Every queue entry with its payload size.
    std::vector<ledger_row> read_ledger();

    /// The highest message identifier and sequence the tables hold (0 when empty).
    std::pair<std::uint64_t, std::uint64_t> highest_identifiers();

    /// Inside the open transaction: deletes the sessions whose expires_at_unix_ms is set and at
    /// or before `now_unix_ms`, with everything they own, and returns their records.
    std::vector<stored_session> delete_expired_sessions(std::uint64_t now_unix_ms);

private:
    void write(const save_session_operation& operation, group_effects& effects);
    void write(const delete_session_operation& operation, group_effects& effects);
    void write(const add_subscription_operation& operation, group_effects& effects);
    void write(const remove_subscription_operation& operation, group_effects& effects);
    void write(const enqueue_operation& operation, group_effects& effects);
    void write(const mark_sent_operation& operation, group_effects& effects);
    void write(const ack_operation& operation, group_effects& effects);
    void write(const put_retained_operation& operation, group_effects& effects);
    void write(const clear_retained_operation& operation, group_effects& effects);
    void write(const add_inbound_qos2_operation& operation, group_effects& effects);
    void write(const remove_inbound_qos2_operation& operation, group_effects& effects);
    void write(const expire_messages_operation& operation, group_effects& effects);
    void write(const no_operation& operation, group_effects& effects);

    /// One queue entry of the message was deleted: deletes the message when no entry holds it.
    void release_message(std::uint64_t message_id);
    /// Queue entries holding the message, the open transaction's changes included.
    std::int64_t references(std::uint64_t message_id) const;
    /// Counts the queue entries of every message (at open and load, after remove_orphans).
    void count_references();

    database& connection_;
    statement begin_;
    statement commit_;
    statement rollback_;
    statement upsert_session_;
    statement delete_session_;
    statement delete_session_subscriptions_;
    statement delete_session_inbound_;
    statement select_session_messages_;
    statement delete_session_queue_;
    statement upsert_subscription_;
    statement delete_subscription_;
    statement insert_message_;
    statement insert_queue_entry_;
    statement update_queue_entry_;
    statement select_queue_entry_message_;
    statement delete_queue_entry_;
    statement delete_message_;
    statement upsert_retained_;
    statement delete_retained_;
    statement insert_inbound_;
    statement delete_inbound_;
    statement select_any_expired_;
    statement select_expired_entries_;
    statement delete_expired_retained_;
    statement select_session_queue_;
    /// Committed queue entries per message (reference counts; messages with none are absent).
    std::unordered_map<std::uint64_t, std::uint32_t> references_;
    /// Changes of the open transaction to references_, applied at commit, dropped at rollback.
    std::unordered_map<std::uint64_t, std::int64_t> reference_changes_;
};

} // namespace perch::store::sqlite
