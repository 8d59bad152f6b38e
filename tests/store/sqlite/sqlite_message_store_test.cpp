// Tests of what only the SQLite store does: group commit, completions after the commit, rows that
// are never written, reference-counted message rows, and loud failure at open and at run time.
// A second connection (as an administration tool would open) checks what reached the file.
#include <atomic>
#include <chrono>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>

#include "store/sqlite/sqlite_message_store.hpp"

#include "store_test_support.hpp"
#include <sqlite3.h>
#include <sys/mount.h>

namespace perch::store::sqlite {
namespace {

using namespace testing_support;

/// A read-only connection of its own to the store's file.
class inspector {
public:
    explicit inspector(const std::string& path) {
        sqlite3_open_v2(path.c_str(), &handle_, SQLITE_OPEN_READWRITE, nullptr);
        sqlite3_busy_timeout(handle_, 5000);
    }
    ~inspector() { sqlite3_close_v2(handle_); }
    inspector(const inspector&) = delete;
    inspector& operator=(const inspector&) = delete;

    std::int64_t integer(const std::string& sql) {
        sqlite3_stmt* query = nullptr;
        std::int64_t result = -1;
        if (sqlite3_prepare_v2(handle_, sql.c_str(), -1, &query, nullptr) == SQLITE_OK &&
            sqlite3_step(query) == SQLITE_ROW) {
            result = sqlite3_column_int64(query, 0);
        }
        sqlite3_finalize(query);
        return result;
    }
    std::string text(const std::string& sql) {
        sqlite3_stmt* query = nullptr;
        std::string result;
        if (sqlite3_prepare_v2(handle_, sql.c_str(), -1, &query, nullptr) == SQLITE_OK &&
            sqlite3_step(query) == SQLITE_ROW) {
            result = reinterpret_cast<const char*>(sqlite3_column_text(query, 0));
        }
        sqlite3_finalize(query);
        return result;
    }
    int execute(const std::string& sql) {
        return sqlite3_exec(handle_, sql.c_str(), nullptr, nullptr, nullptr);
    }
    std::int64_t count(const std::string& table) {
        return integer("SELECT count(*) FROM " + table);
    }

private:
    sqlite3* handle_ = nullptr;
};

class SqliteMessageStore : public ::testing::Test {
protected:
    SqliteMessageStore() {
        options_.path = database_.path();
        // Only flush(), batch size or shutdown close a group: these tests assert on grouping,
        // never on time.
        options_.commit_interval_ms = 60'000;
        options_.retry_interval_ms = 5;
    }

    /// The store under test, used through the interface as the gateway uses it.
    std::unique_ptr<message_store> open() {
        return std::make_unique<sqlite_message_store>(options_);
    }

    /// Submits nothing and waits until every failed operation has been written again.
    static bool wait_until_caught_up(message_store& store) {
        for (int attempt = 0; attempt < 2000; ++attempt) {
            store.flush();
            if (store.counters().pending_operations == 0) {
                return true;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
        return false;
    }

    temporary_database database_;
    store_options options_;
};

std::string open_error_of(const store_options& options) {
    try {
        sqlite_message_store store(options);
    } catch (const store_open_error& error) {
        return error.what();
    }
    return {};
}

TEST_F(SqliteMessageStore, ManySubmitsShareOneCommit) {
    auto store = open();
    completion_recorder done;
    store->save_session(make_session("alice"));
    for (int index = 0; index < 1000; ++index) {
        store->enqueue({target("alice")}, make_message("t", std::to_string(index)), done.record());
    }
    store->flush();
    EXPECT_EQ(done.count(), 1000u);
    EXPECT_EQ(done.failures(), 0u);
    EXPECT_EQ(store->counters().commits, 1u);
    EXPECT_EQ(store->counters().committed_operations, 1001u);
    EXPECT_EQ(store->counters().queue_rows_written, 1000u);
    inspector file(database_.path());
    EXPECT_EQ(file.count("queue"), 1000);
}

TEST_F(SqliteMessageStore, GroupsAreBoundedByBatchSize) {
    options_.max_batch_operations = 10;
    auto store = open();
    store->save_session(make_session("alice"));
    for (int index = 0; index < 99; ++index) {
        store->enqueue({target("alice")}, make_message("t", "x"));
    }
    store->flush();
    const store_counters counters = store->counters();
    EXPECT_EQ(counters.committed_operations, 100u);
    EXPECT_LE(counters.largest_group, 10u);
    EXPECT_GE(counters.commits, 10u);
}

TEST_F(SqliteMessageStore, EnqueueCompletesOnlyAfterItsRowIsCommitted) {
    auto store = open();
    inspector file(database_.path());
    std::atomic<std::int64_t> rows_seen_at_completion{-1};
    store->save_session(make_session("alice"));
    store->enqueue({target("alice")}, make_message("t", "durable"),
                   [&](const store_status&) { rows_seen_at_completion = file.count("queue"); });
    EXPECT_EQ(file.count("queue"), 0);
    store->flush();
    EXPECT_EQ(rows_seen_at_completion.load(), 1);
}

TEST_F(SqliteMessageStore, EntryAcknowledgedBeforeItsCommitIsNeverWritten) {
    auto store = open();
    store->save_session(make_session("alice"));
    completion_recorder done;
    const auto receipt =
        store->enqueue({target("alice")}, make_message("t", "read at once"), done.record());
    store->mark_sent("alice", receipt.sequences[0], 1, delivery_state::awaiting_puback,
                     done.record());
    store->ack("alice", receipt.sequences[0], done.record());
    store->flush();
    EXPECT_EQ(done.count(), 3u);
    EXPECT_EQ(done.failures(), 0u);
    EXPECT_EQ(store->counters().queue_rows_written, 0u);
    EXPECT_EQ(store->counters().queue_rows_cancelled, 1u);
    inspector file(database_.path());
    EXPECT_EQ(file.count("queue"), 0);
    EXPECT_EQ(file.count("messages"), 0);
    // No identifier bookkeeping row either (no AUTOINCREMENT since schema version 4).
    EXPECT_EQ(file.count("sqlite_sequence WHERE name IN ('queue', 'messages')"), 0);
}

TEST_F(SqliteMessageStore, OnlyTheAcknowledgedRecipientIsCancelled) {
    auto store = open();
    store->save_session(make_session("alice"));
    store->save_session(make_session("bob"));
    const auto receipt = store->enqueue({target("alice"), target("bob")}, make_message("r", "hi"));
    store->ack("alice", receipt.sequences[0]);
    store->flush();
    inspector file(database_.path());
    EXPECT_EQ(file.count("queue"), 1);
    EXPECT_EQ(file.text("SELECT client_id FROM queue"), "bob");
    EXPECT_EQ(file.count("messages"), 1);
}

TEST_F(SqliteMessageStore, CommittedEntryIsDeletedInALaterGroup) {
    auto store = open();
    store->save_session(make_session("alice"));
    const auto receipt = store->enqueue({target("alice")}, make_message("t", "offline"));
    store->flush();
    inspector file(database_.path());
    EXPECT_EQ(file.count("queue"), 1);
    store->ack("alice", receipt.sequences[0]);
    store->flush();
    EXPECT_EQ(file.count("queue"), 0);
    EXPECT_EQ(file.count("messages"), 0);
    EXPECT_EQ(store->counters().commits, 2u);
}

TEST_F(SqliteMessageStore, SharedMessageRowGoesWithItsLastEntry) {
    auto store = open();
    for (const char* client_id : {"alice", "bob", "carol"}) {
        store->save_session(make_session(client_id));
    }
    const auto receipt = store->enqueue({target("alice"), target("bob"), target("carol")},
                                        make_message("room", "one row"));
    store->flush();
    inspector file(database_.path());
    EXPECT_EQ(file.count("messages"), 1);
    EXPECT_EQ(file.count("queue"), 3);
    store->ack("alice", receipt.sequences[0]);
    store->delete_session("bob");
    store->flush();
    EXPECT_EQ(file.count("messages"), 1);
    store->ack("carol", receipt.sequences[2]);
    store->flush();
    EXPECT_EQ(file.count("messages"), 0);
}

TEST_F(SqliteMessageStore, AFailedGroupLeavesTheMessageReferenceCountsAsTheyWere) {
    // A lock held by another connection makes a group fail at once; it is retried afterwards.
    options_.busy_timeout_ms = 1;
    auto store = open();
    store->save_session(make_session("alice"));
    store->save_session(make_session("bob"));
    const auto receipt =
        store->enqueue({target("alice"), target("bob")}, make_message("room", "shared"));
    store->flush();
    inspector file(database_.path());
    ASSERT_EQ(file.execute("BEGIN EXCLUSIVE"), SQLITE_OK);
    store->ack("alice", receipt.sequences[0]);
    store->flush();
    EXPECT_GE(store->counters().failed_commits, 1u);
    ASSERT_EQ(file.execute("COMMIT"), SQLITE_OK);
    ASSERT_TRUE(wait_until_caught_up(*store));
    EXPECT_EQ(file.count("queue"), 1);
    EXPECT_EQ(file.count("messages"), 1);
    store->ack("bob", receipt.sequences[1]);
    store->flush();
    EXPECT_EQ(file.count("queue"), 0);
    EXPECT_EQ(file.count("messages"), 0);
}

TEST_F(SqliteMessageStore, AQueuedMessageWritesOnlyItsMessageAndQueuePages) {
    // Each page a commit touches is one frame (page size + 24 bytes) in the write-ahead log: a
    // message for one offline session touches the messages leaf and the queue leaf, no index
    // and no sqlite_sequence row.
    auto store = open();
    store->save_session(make_session("alice"));
    store->enqueue({target("alice")}, make_message("warm", "up"));
    store->flush();
    inspector file(database_.path());
    const auto page_size = file.integer("PRAGMA page_size");
    const auto wal = database_.path() + "-wal";
    const auto before = std::filesystem::file_size(wal);
    store->enqueue({target("alice")}, make_message("room", "one"));
    store->flush();
    const auto frames =
        (std::filesystem::file_size(wal) - before) / static_cast<std::uintmax_t>(page_size + 24);
    EXPECT_EQ(frames, 2u);
    EXPECT_EQ(file.count("sqlite_sequence"), 0);
}

TEST_F(SqliteMessageStore, UsesTheWriteAheadLog) {
    auto store = open();
    inspector file(database_.path());
    EXPECT_EQ(file.text("PRAGMA journal_mode"), "wal");
}

TEST_F(SqliteMessageStore, AdministrationConnectionCanWriteBetweenGroups) {
    auto store = open();
    store->save_session(make_session("alice"));
    store->flush();
    inspector file(database_.path());
    EXPECT_EQ(file.execute("UPDATE sessions SET session_expiry_interval_s = 7"), SQLITE_OK);
    store->save_session(make_session("bob"));
    store->flush();
    EXPECT_EQ(file.count("sessions"), 2);
}

TEST_F(SqliteMessageStore, MissingDirectoryFailsToOpenNamingTheFile) {
    options_.path = (database_.directory() / "no-such-dir" / "perch.db").string();
    const std::string error = open_error_of(options_);
    EXPECT_NE(error.find(options_.path), std::string::npos) << error;
    EXPECT_NE(error.find("unable to open"), std::string::npos) << error;
}

TEST_F(SqliteMessageStore, FileThatIsNotADatabaseFailsToOpen) {
    std::ofstream(database_.path()) << std::string(8192, 'x');
    const std::string error = open_error_of(options_);
    EXPECT_NE(error.find(database_.path()), std::string::npos) << error;
    EXPECT_NE(error.find("not a database"), std::string::npos) << error;
}

TEST_F(SqliteMessageStore, CorruptDatabaseFailsToOpen) {
    {
        auto store = open();
        store->save_session(make_session("alice"));
        for (int index = 0; index < 300; ++index) {
            store->enqueue({target("alice")}, make_message("t", std::string(300, 'p')));
        }
    }
    const auto size = std::filesystem::file_size(database_.path());
    ASSERT_GT(size, 16u * 4096u);
    {
        std::fstream file(database_.path(), std::ios::in | std::ios::out | std::ios::binary);
        for (std::uintmax_t page = 2; page < size / 4096; page += 2) {
            file.seekp(static_cast<std::streamoff>(page * 4096));
            file << std::string(64, '\xa5');
        }
    }
    const std::string error = open_error_of(options_);
    EXPECT_NE(error.find(database_.path()), std::string::npos) << error;
    EXPECT_FALSE(error.empty());
}

TEST_F(SqliteMessageStore, ReadOnlyDatabaseFailsToOpen) {
    open().reset();
    options_.path = "file:" + database_.path() + "?mode=ro";
    const std::string error = open_error_of(options_);
    EXPECT_NE(error.find(database_.path()), std::string::npos) << error;
    EXPECT_NE(error.find("read-only"), std::string::npos) << error;
}

/// Room for the schema and one 150,000-byte message (37 pages), not for two: the schema's own
/// pages grow with its versions.
constexpr std::uint64_t one_big_message_bytes = 96 * 4096;

TEST_F(SqliteMessageStore, FullDatabaseFailsTheGroupThenRecoversWhenSpaceIsFreed) {
    options_.max_database_bytes = one_big_message_bytes;
    std::vector<std::string> log;
    std::mutex log_mutex;
    options_.log_error = [&](std::string_view line) {
        std::lock_guard lock(log_mutex);
        log.emplace_back(line);
    };
    auto store = open();
    store->save_session(make_session("alice"));
    store->put_retained(make_message("big", std::string(150'000, 'r')));
    store->flush();
    ASSERT_EQ(store->counters().failed_commits, 0u);

    completion_recorder done;
    store->enqueue({target("alice")}, make_message("t", std::string(150'000, 'q')), done.record());
    store->flush();
    ASSERT_EQ(done.count(), 1u);
    EXPECT_EQ(done.statuses()[0].code, store_errc::write_failed);
    EXPECT_NE(done.statuses()[0].detail.find("full"), std::string::npos)
        << done.statuses()[0].detail;
    EXPECT_GE(store->counters().failed_commits, 1u);
    {
        std::lock_guard lock(log_mutex);
        ASSERT_FALSE(log.empty());
        EXPECT_NE(log.front().find(database_.path()), std::string::npos) << log.front();
    }

    // Someone frees space (here: an administration tool deletes the retained message).
    inspector file(database_.path());
    ASSERT_EQ(file.execute("DELETE FROM retained"), SQLITE_OK);
    ASSERT_TRUE(wait_until_caught_up(*store));
    EXPECT_EQ(done.count(), 1u) << "a completion fires once";
    EXPECT_EQ(file.count("queue"), 1);

    store.reset();
    auto reopened = open();
    const loaded_state state = reopened->load(0);
    ASSERT_EQ(state.sessions.size(), 1u);
    ASSERT_EQ(state.sessions[0].queue.size(), 1u);
    EXPECT_EQ(state.sessions[0].queue[0].message->payload.size(), 150'000u);
}

TEST_F(SqliteMessageStore, OperationsAfterAFailureKeepTheirOrder) {
    options_.max_database_bytes = one_big_message_bytes;
    auto store = open();
    store->save_session(make_session("alice"));
    store->put_retained(make_message("big", std::string(150'000, 'r')));
    store->flush();
    const auto receipt =
        store->enqueue({target("alice")}, make_message("t", std::string(150'000, 'q')));
    store->flush();
    // Submitted while the enqueue is failing: the ack must still apply after it.
    store->ack("alice", receipt.sequences[0]);
    store->clear_retained("big");
    ASSERT_TRUE(wait_until_caught_up(*store));
    inspector file(database_.path());
    EXPECT_EQ(file.count("queue"), 0);
    EXPECT_EQ(file.count("messages"), 0);
    EXPECT_EQ(file.count("retained"), 0);
}

/// A small tmpfs of its own, for a real full disk. Skips the test where mounting is not allowed.
class SqliteMessageStoreOnTmpfs : public SqliteMessageStore {
protected:
    void SetUp() override {
        mount_point_ = database_.directory() / "disk";
        std::filesystem::create_directories(mount_point_);
        if (::mount("tmpfs", mount_point_.c_str(), "tmpfs", 0, "size=1m") != 0) {
            GTEST_SKIP() << "cannot mount a tmpfs here";
        }
        is_mounted_ = true;
        options_.path = (mount_point_ / "perch.db").string();
    }
    void TearDown() override {
        if (is_mounted_) {
            ::umount2(mount_point_.c_str(), MNT_DETACH);
        }
    }

    std::filesystem::path mount_point_;
    bool is_mounted_ = false;
};

TEST_F(SqliteMessageStoreOnTmpfs, FullDiskFailsTheGroupThenRecovers) {
    auto store = open();
    store->save_session(make_session("alice"));
    store->flush();
    const auto filler = mount_point_ / "filler";
    {
        std::ofstream fill(filler, std::ios::binary);
        const std::string block(4096, 'f');
        while (fill.write(block.data(), static_cast<std::streamsize>(block.size()))) {
            fill.flush();
        }
    }
    completion_recorder done;
    store->enqueue({target("alice")}, make_message("t", std::string(200'000, 'q')), done.record());
    store->flush();
    ASSERT_EQ(done.count(), 1u);
    EXPECT_EQ(done.statuses()[0].code, store_errc::write_failed);
    std::filesystem::remove(filler);
    ASSERT_TRUE(wait_until_caught_up(*store));
    inspector file(options_.path);
    EXPECT_EQ(file.count("queue"), 1);
}

TEST_F(SqliteMessageStoreOnTmpfs, FullDiskAtOpenFailsNamingTheFile) {
    const auto filler = mount_point_ / "filler";
    {
        std::ofstream fill(filler, std::ios::binary);
        const std::string block(4096, 'f');
        while (fill.write(block.data(), static_cast<std::streamsize>(block.size()))) {
            fill.flush();
        }
    }
    const std::string error = open_error_of(options_);
    EXPECT_NE(error.find(options_.path), std::string::npos) << error;
}

} // namespace
} // namespace perch::store::sqlite
