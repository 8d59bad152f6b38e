// Settings of a message store: durability level, group commit bounds, queue caps and the
// error log. Plain data; the gateway fills it from its config.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace perch::store {

/// How hard the store works to keep what it acknowledged (docs in store/README.md).
enum class durability_level : std::uint8_t {
    /// WAL, synchronous=FULL: every group commit is fsynced; survives a power cut.
    full,
    /// WAL, synchronous=NORMAL: commits reach the OS but are fsynced only at checkpoints;
    /// survives kill -9, may lose the last commits (never consistency) on a power cut.
    batched,
    /// Memory only: nothing survives the process.
    none,
};

/// Where the chat store keeps its state (docs/POSTGRESQL.md). The message store is always SQLite.
enum class chat_backend : std::uint8_t {
    /// The SQLite file at `path`, shared with the message store.
    sqlite,
    /// The PostgreSQL database `postgresql_conninfo` names, shared by several gateways.
    postgresql,
};

/// Everything a store needs to open.
struct store_options {
    durability_level durability = durability_level::full;
    /// The database file (created when missing). A `file:` URI is accepted, with SQLite's query
    /// parameters. Ignored by the memory store.
    std::string path;
    /// The longest an operation waits for its group to commit.
    std::uint32_t commit_interval_ms = 5;
    /// A group commits as soon as it holds this many operations.
    std::size_t max_batch_operations = 4096;
    /// After a failed commit, the wait before the failed group is tried again.
    std::uint32_t retry_interval_ms = 1000;
    /// Entries one session's queue may hold (in flight included); 0 = no limit.
    std::uint32_t max_queued_messages = 0;
    /// Payload bytes one session's queue may hold (in flight included); 0 = no limit.
    std::uint64_t max_queued_bytes = 0;
    /// The largest the database file may grow, in bytes (rounded down to whole pages); 0 = no
    /// limit. A write past it fails as on a full disk.
    std::uint64_t max_database_bytes = 0;
    /// How long a connection waits for another one's lock (administration tools share the file).
    std::uint32_t busy_timeout_ms = 5000;
    /// Receives one line per run-time failure (failed commit, recovery, operations lost at
    /// shutdown). Called on the writer thread; may be empty.
    std::function<void(std::string_view)> log_error;
    /// The chat store keeps a full-text index of history (docs/CHAT.md "Search"); off: nothing
    /// is indexed, the index is emptied at open, and search_history fails.
    bool is_search_enabled = true;
    /// The chat store's backend (with durability none, the memory store whatever this says).
    chat_backend chat = chat_backend::sqlite;
    /// The libpq connection string of chat_backend::postgresql (may hold a password: never
    /// logged).
    std::string postgresql_conninfo;
    /// Searches the chat store accepts at once (waiting and running); one more is refused with
    /// store_errc::busy. At least 1.
    std::size_t max_pending_searches = 8;
};

} // namespace perch::store
