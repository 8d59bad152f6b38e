// The SQLite message store: opening and checking the file, the durability PRAGMAs, and the
// translation of each interface call into a queued operation.
#include "store/sqlite/sqlite_message_store.hpp"

#include <string>
#include <utility>

#include "store/sqlite/database.hpp"
#include "store/sqlite/schema.hpp"
#include "store/sqlite/store_tables.hpp"

#include <sqlite3.h>

namespace perch::store::sqlite {
namespace {

constexpr int open_flags =
    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_URI | SQLITE_OPEN_NOMUTEX;

// Refuses a file SQLite opened read-only or that fails its consistency check.
void check_usable(database& connection) {
    const std::string check = connection.query_text("PRAGMA quick_check");
    if (check != "ok") {
        throw sqlite_error(connection.path() + ": database is corrupt (quick_check: " + check + ")",
                           SQLITE_CORRUPT);
    }
    if (connection.is_read_only()) {
        throw sqlite_error(connection.path() + ": database is read-only", SQLITE_READONLY);
    }
}

// WAL lets readers (administration tools) run beside the writer. In WAL mode synchronous=FULL
// syncs the log at every commit, so a committed group survives a power cut; NORMAL syncs only at
// checkpoints, so a commit survives the process being killed (it is in the OS cache) and the file
// stays consistent on a power cut, losing at most the commits since the last checkpoint.
void configure(database& connection, const store_options& options) {
    connection.execute("PRAGMA busy_timeout = " + std::to_string(options.busy_timeout_ms));
    const std::string journal_mode = connection.query_text("PRAGMA journal_mode = WAL");
    if (journal_mode != "wal") {
        throw sqlite_error(connection.path() + ": cannot use write-ahead logging (journal mode " +
                               journal_mode + ")",
                           SQLITE_ERROR);
    }
    connection.execute(options.durability == durability_level::full
                           ? "PRAGMA synchronous = FULL"
                           : "PRAGMA synchronous = NORMAL");
    if (options.max_database_bytes != 0) {
        const auto page_size = connection.query_integer("PRAGMA page_size");
        const auto pages = static_cast<std::int64_t>(options.max_database_bytes) / page_size;
        connection.execute("PRAGMA max_page_count = " + std::to_string(pages));
    }
}

} // namespace

sqlite_message_store::sqlite_message_store(store_options options)
    : options_(std::move(options)),
      ledger_(options_.max_queued_messages, options_.max_queued_bytes) {
    try {
        database_ = std::make_unique<database>(options_.path, open_flags);
        check_usable(*database_);
        configure(*database_, options_);
        migrate_schema(*database_);
        tables_ = std::make_unique<store_tables>(*database_);
        tables_->begin();
        tables_->remove_orphans();
        tables_->commit();
        restore_ledger();
    } catch (const sqlite_error& error) {
        if (tables_) {
            tables_->rollback();
        }
        throw store_open_error("cannot open store " + options_.path + ": " + error.what());
    }
    committer_ = std::make_unique<group_committer>(
        [this](const std::vector<pending_operation>& group) { return write_group(group); },
        options_);
}

sqlite_message_store::~sqlite_message_store() {
    committer_.reset();
    tables_.reset();
}

void sqlite_message_store::restore_ledger() {
    const auto [message_id, sequence] = tables_->highest_identifiers();
    const auto rows = tables_->read_ledger();
    std::lock_guard lock(ledger_mutex_);
    ledger_ = queue_ledger(options_.max_queued_messages, options_.max_queued_bytes);
    ledger_.reserve_above(message_id, sequence);
    for (const auto& row : rows) {
        ledger_.restore(row.client_id, row.sequence, row.message_id, row.payload_bytes);
    }
}

store_status sqlite_message_store::write_group(const std::vector<pending_operation>& group) {
    group_effects effects;
    try {
        std::lock_guard writing(database_->writer_lock());
        try {
            tables_->begin();
            for (const auto& pending : group) {
                tables_->apply(pending.operation, effects);
            }
            tables_->commit();
        } catch (const sqlite_error&) {
            tables_->rollback();
            throw;
        }
    } catch (const sqlite_error& error) {
        return store_status{store_errc::write_failed, error.what()};
    }
    queue_rows_written_ += effects.queue_rows_written;
    expired_messages_ += effects.expired_messages;
    if (!effects.expired_entries.empty()) {
        std::lock_guard lock(ledger_mutex_);
        for (const auto& [client_id, sequence] : effects.expired_entries) {
            ledger_.release(client_id, sequence);
        }
    }
    return store_status{};
}

loaded_state sqlite_message_store::load(std::uint64_t now_unix_ms) {
    committer_->flush();
    loaded_state state;
    try {
        committer_->run_on_writer([&] {
            group_effects effects;
            std::vector<stored_session> expired_sessions;
            try {
                tables_->begin();
                expired_sessions = tables_->delete_expired_sessions(now_unix_ms);
                tables_->remove_orphans();
                tables_->apply(expire_messages_operation{now_unix_ms}, effects);
                tables_->commit();
            } catch (...) {
                tables_->rollback();
                throw;
            }
            expired_messages_ += effects.expired_messages;
            state = tables_->read_state();
            state.expired_messages = effects.expired_messages;
            state.expired_sessions = std::move(expired_sessions);
            restore_ledger();
        });
    } catch (const sqlite_error& error) {
        throw store_open_error("cannot load store " + options_.path + ": " + error.what());
    }
    return state;
}

void sqlite_message_store::save_session(stored_session session, store_completion done) {
    committer_->submit(save_session_operation{std::move(session)}, std::move(done));
}

void sqlite_message_store::delete_session(std::string client_id, store_completion done) {
    {
        std::lock_guard lock(ledger_mutex_);
        ledger_.release_session(client_id);
    }
    committer_->submit(delete_session_operation{std::move(client_id)}, std::move(done));
}

void sqlite_message_store::add_subscription(stored_subscription subscription,
                                            store_completion done) {
    committer_->submit(add_subscription_operation{std::move(subscription)}, std::move(done));
}

void sqlite_message_store::remove_subscription(std::string client_id, std::string topic_filter,
                                               store_completion done) {
    committer_->submit(remove_subscription_operation{std::move(client_id), std::move(topic_filter)},
                       std::move(done));
}

enqueue_receipt sqlite_message_store::enqueue(const std::vector<queue_target>& targets,
                                              stored_message message, store_completion done) {
    // The sequences are assigned and the operation queued under one lock, so that enqueues are
    // written in sequence order (read_queue relies on it).
    std::lock_guard lock(ledger_mutex_);
    enqueue_plan plan = ledger_.plan_enqueue(targets, message.payload.size());
    refused_for_quota_ += plan.receipt.refused_for_quota;
    message.message_id = plan.receipt.message_id;
    if (plan.entries.empty()) {
        committer_->submit(no_operation{}, std::move(done));
    } else {
        committer_->submit(
            enqueue_operation{std::make_shared<const stored_message>(std::move(message)),
                              std::move(plan.entries)},
            std::move(done));
    }
    return std::move(plan.receipt);
}

void sqlite_message_store::read_queue(std::string client_id, std::uint64_t after_sequence,
                                      std::size_t max_count, queue_read_completion done) {
    // An empty operation whose completion runs once everything before it is written, on the
    // writer thread, which owns the connection.
    committer_->submit(no_operation{},
                       [this, client_id = std::move(client_id), after_sequence, max_count,
                        done = std::move(done)](const store_status& status) {
                           std::vector<loaded_queue_entry> entries;
                           store_status outcome = status;
                           try {
                               std::lock_guard reading(database_->writer_lock());
                               entries = tables_->read_queue(client_id, after_sequence, max_count);
                           } catch (const sqlite_error& error) {
                               outcome = store_status{store_errc::read_failed, error.what()};
                           }
                           done(outcome, std::move(entries));
                       });
}

void sqlite_message_store::mark_sent(std::string client_id, std::uint64_t sequence,
                                     std::uint16_t packet_id, delivery_state state,
                                     store_completion done) {
    committer_->submit(mark_sent_operation{std::move(client_id), sequence, packet_id, state},
                       std::move(done));
}

void sqlite_message_store::ack(std::string client_id, std::uint64_t sequence,
                               store_completion done) {
    {
        std::lock_guard lock(ledger_mutex_);
        ledger_.release(client_id, sequence);
    }
    committer_->submit(ack_operation{std::move(client_id), sequence}, std::move(done));
}

void sqlite_message_store::put_retained(stored_message message, store_completion done) {
    committer_->submit(put_retained_operation{std::move(message)}, std::move(done));
}

void sqlite_message_store::clear_retained(std::string topic, store_completion done) {
    committer_->submit(clear_retained_operation{std::move(topic)}, std::move(done));
}

void sqlite_message_store::add_inbound_qos2(stored_inbound_qos2 record, store_completion done) {
    committer_->submit(add_inbound_qos2_operation{std::move(record)}, std::move(done));
}

void sqlite_message_store::remove_inbound_qos2(stored_inbound_qos2 record, store_completion done) {
    committer_->submit(remove_inbound_qos2_operation{std::move(record)}, std::move(done));
}

void sqlite_message_store::expire_messages(std::uint64_t now_unix_ms, store_completion done) {
    committer_->submit(expire_messages_operation{now_unix_ms}, std::move(done));
}

void sqlite_message_store::flush() {
    committer_->flush();
}

store_counters sqlite_message_store::counters() const {
    const group_commit_counters writer = committer_->counters();
    store_counters snapshot;
    snapshot.commits = writer.commits;
    snapshot.committed_operations = writer.committed_operations;
    snapshot.largest_group = writer.largest_group;
    snapshot.failed_commits = writer.failed_commits;
    snapshot.pending_operations = writer.pending_operations;
    snapshot.queue_rows_cancelled = writer.cancelled_entries;
    snapshot.operations_lost = writer.operations_lost;
    snapshot.commit_seconds = writer.commit_seconds;
    snapshot.commit_operations = writer.commit_operations;
    snapshot.is_refusing_writes = writer.is_refusing_writes;
    snapshot.write_failure = writer.write_failure;
    snapshot.queue_rows_written = queue_rows_written_.load();
    snapshot.refused_for_quota = refused_for_quota_.load();
    snapshot.expired_messages = expired_messages_.load();
    return snapshot;
}

} // namespace perch::store::sqlite
