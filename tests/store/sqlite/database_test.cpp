// Tests of the connection wrapper's writer lock: connections of this process to one file share
// it, so the message store and the chat store take turns without SQLite's sleeping busy handler.
#include <chrono>
#include <thread>

#include <gtest/gtest.h>

#include "store/sqlite/database.hpp"

#include "store_test_support.hpp"
#include <sqlite3.h>

namespace perch::store::sqlite {
namespace {

using namespace testing_support;

constexpr int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;

TEST(Database, ConnectionsToOneFileShareTheWriterLock) {
    temporary_database file;
    database first(file.path(), flags);
    database second(file.path(), flags);
    database elsewhere((file.directory() / "other.db").string(), flags);
    EXPECT_EQ(&first.writer_lock(), &second.writer_lock());
    EXPECT_NE(&first.writer_lock(), &elsewhere.writer_lock());
    database memory(":memory:", flags);
    database more_memory(":memory:", flags);
    EXPECT_NE(&memory.writer_lock(), &more_memory.writer_lock());
}

TEST(Database, AWriterHoldingTheLockKeepsTheOtherWaitingNotFailing) {
    // With busy_timeout 0 a second writer would fail at once with SQLITE_BUSY; holding the shared
    // lock across the transaction makes it wait for the first instead.
    temporary_database file;
    database first(file.path(), flags);
    database second(file.path(), flags);
    first.execute("PRAGMA journal_mode = WAL; CREATE TABLE t (v INTEGER)");
    second.execute("PRAGMA busy_timeout = 0");
    std::thread other;
    {
        std::lock_guard writing(first.writer_lock());
        first.execute("BEGIN IMMEDIATE; INSERT INTO t VALUES (1)");
        other = std::thread([&second] {
            std::lock_guard waiting(second.writer_lock());
            second.execute("BEGIN IMMEDIATE; INSERT INTO t VALUES (2); COMMIT");
        });
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        first.execute("COMMIT");
    }
    other.join();
    EXPECT_EQ(first.query_integer("SELECT count(*) FROM t"), 2);
}

} // namespace
} // namespace perch::store::sqlite
