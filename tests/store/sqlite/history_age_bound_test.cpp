// History without an index by time (store/sqlite/history_age_bound.*, schema version 16,
// docs/DECISIONS.md "History without an index by time"): where retention's cut falls, that a
// prune never deletes a newer row and deletes a late row once a cut passes it, and the migration
// of a version 15 file with history in it.
#include <cstdint>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "store/chat_store.hpp"
#include "store/sqlite/database.hpp"
#include "store/sqlite/history_age_bound.hpp"
#include "store/sqlite/schema.hpp"

#include "store_test_support.hpp"
#include <sqlite3.h>

namespace perch::store {
namespace {

using namespace testing_support;

history_record message(std::string conversation, std::uint64_t id, std::uint64_t ts_unix_ms) {
    return history_record{conversation,           id,         "alice",
                          "chat/" + conversation, ts_unix_ms, bytes_of("hello")};
}

std::unique_ptr<chat_store> open_store(const temporary_database& file) {
    store_options options;
    options.path = file.path();
    options.commit_interval_ms = 1;
    return open_chat_store(options);
}

std::vector<std::uint64_t> ids_in(chat_store& store, const std::string& conversation) {
    std::promise<std::vector<std::uint64_t>> ids;
    store.history_page(conversation, 0, 100,
                       [&](std::vector<history_record> records, const store_status& status) {
                           EXPECT_TRUE(status.is_ok()) << status.detail;
                           std::vector<std::uint64_t> result;
                           for (const history_record& record : records) {
                               result.push_back(record.id);
                           }
                           ids.set_value(std::move(result));
                       });
    return ids.get_future().get();
}

/// A current schema with history rows stamped `stamps`, in that append order (rowids 1, 2, ...).
void write_stamps(sqlite::database& connection, const std::vector<std::uint64_t>& stamps) {
    std::uint64_t id = 0;
    for (const std::uint64_t stamp : stamps) {
        ++id;
        connection.execute("INSERT INTO chat_history (conversation, id, sender, topic, "
                           "ts_unix_ms, payload) VALUES ('room/kitchen', " +
                           std::to_string(id) + ", 'alice', 't', " + std::to_string(stamp) +
                           ", x'00')");
    }
}

TEST(HistoryAgeBound, FindsTheFirstRowStampedAtOrAfterATime) {
    temporary_database file;
    sqlite::database connection(file.path(), SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    sqlite::migrate_schema(connection);
    // An empty history has no cut.
    EXPECT_EQ(sqlite::first_row_stamped_at_or_after(connection, 500), 0);
    write_stamps(connection, {100, 200, 300, 400, 500, 600, 700});
    EXPECT_EQ(sqlite::first_row_stamped_at_or_after(connection, 0), 1);
    EXPECT_EQ(sqlite::first_row_stamped_at_or_after(connection, 100), 1);
    EXPECT_EQ(sqlite::first_row_stamped_at_or_after(connection, 101), 2);
    EXPECT_EQ(sqlite::first_row_stamped_at_or_after(connection, 450), 5);
    EXPECT_EQ(sqlite::first_row_stamped_at_or_after(connection, 700), 7);
    // Every row older: one past the last.
    EXPECT_EQ(sqlite::first_row_stamped_at_or_after(connection, 701), 8);
}

TEST(HistoryAgeBound, SkipsTheGapsThatDeletedRowsLeave) {
    temporary_database file;
    sqlite::database connection(file.path(), SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    sqlite::migrate_schema(connection);
    write_stamps(connection, {100, 200, 300, 400, 500, 600, 700, 800, 900});
    connection.execute("DELETE FROM chat_history WHERE rowid IN (1, 2, 4, 5, 6, 8)");
    // Left: rowid 3 (300), 7 (700), 9 (900).
    EXPECT_EQ(sqlite::first_row_stamped_at_or_after(connection, 0), 3);
    EXPECT_EQ(sqlite::first_row_stamped_at_or_after(connection, 301), 4);
    const std::int64_t cut = sqlite::first_row_stamped_at_or_after(connection, 800);
    EXPECT_GT(cut, 7);
    EXPECT_LE(cut, 9);
}

TEST(HistoryAgeBound, CutIsAlwaysBeforeARowAtOrAfterTheTimeWhenStampsAreOutOfOrder) {
    temporary_database file;
    sqlite::database connection(file.path(), SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    sqlite::migrate_schema(connection);
    const std::vector<std::uint64_t> stamps = {100, 900, 200, 800, 300, 700, 400, 600, 500};
    write_stamps(connection, stamps);
    for (std::uint64_t time = 0; time <= 1'000; time += 50) {
        const std::int64_t cut = sqlite::first_row_stamped_at_or_after(connection, time);
        if (cut <= static_cast<std::int64_t>(stamps.size())) {
            EXPECT_GE(stamps[static_cast<std::size_t>(cut - 1)], time) << time;
        } else {
            EXPECT_EQ(cut, static_cast<std::int64_t>(stamps.size()) + 1) << time;
        }
    }
}

TEST(HistoryAgeBound, PruneNeverDeletesANewerRowAndTakesALateRowOnceACutPassesIt) {
    temporary_database file;
    const auto store = open_store(file);
    store->append_history(message("room/kitchen", 1, 100));
    store->append_history(message("room/kitchen", 2, 500));
    store->append_history(message("room/kitchen", 3, 600));
    store->append_history(message("room/kitchen", 4, 700));
    // Appended after newer rows (a relayed message stamped by a slower clock): late.
    store->append_history(message("room/attic", 1, 200));
    store->append_history(message("room/kitchen", 5, 800));
    store->prune_history(300, 0);
    store->flush();
    // The cut falls before kitchen 2 (500): kitchen 1 goes, the late attic row waits.
    EXPECT_EQ(ids_in(*store, "room/kitchen"), (std::vector<std::uint64_t>{2, 3, 4, 5}));
    EXPECT_EQ(ids_in(*store, "room/attic"), (std::vector<std::uint64_t>{1}));
    store->prune_history(750, 0);
    store->flush();
    // The cut now falls before kitchen 5: every older row below it goes, the late one with them.
    EXPECT_EQ(ids_in(*store, "room/kitchen"), (std::vector<std::uint64_t>{5}));
    EXPECT_TRUE(ids_in(*store, "room/attic").empty());
    store->prune_history(10'000, 0);
    store->flush();
    EXPECT_TRUE(ids_in(*store, "room/kitchen").empty());
}

TEST(HistoryAgeBound, MigratesAVersionFifteenHistoryDroppingItsIndexByTime) {
    temporary_database file;
    {
        sqlite::database connection(file.path(), SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
        sqlite::migrate_schema(connection, 15);
        ASSERT_EQ(connection.query_integer(
                      "SELECT count(*) FROM sqlite_master WHERE name = 'chat_history_by_ts'"),
                  1);
        for (std::uint64_t id = 1; id <= 300; ++id) {
            connection.execute("INSERT INTO chat_history (conversation, id, sender, topic, "
                               "ts_unix_ms, payload) VALUES ('room/" +
                               std::string(id % 2 == 0 ? "kitchen" : "attic") + "', " +
                               std::to_string(id) + ", 'alice', 't', " + std::to_string(id * 10) +
                               ", x'00')");
        }
    }
    {
        const auto store = open_store(file);
        EXPECT_EQ(ids_in(*store, "room/kitchen").size(), 100U); // a page's limit
        store->prune_history(1'505, 0);
        store->flush();
        // Ids 1..150 were stamped before 1,505.
        const std::vector<std::uint64_t> kitchen = ids_in(*store, "room/kitchen");
        ASSERT_EQ(kitchen.size(), 75U);
        EXPECT_EQ(kitchen.front(), 152U);
        EXPECT_EQ(store->conversation_heads(),
                  (std::vector<conversation_head>{{"room/attic", 299}, {"room/kitchen", 300}}));
    }
    sqlite::database connection(file.path(), SQLITE_OPEN_READWRITE);
    EXPECT_EQ(sqlite::schema_version(connection), sqlite::current_schema_version);
    EXPECT_EQ(connection.query_integer(
                  "SELECT count(*) FROM sqlite_master WHERE name = 'chat_history_by_ts'"),
              0);
    EXPECT_EQ(connection.query_integer("SELECT count(*) FROM chat_history"), 150);
    // Running the migration again is harmless.
    connection.execute("PRAGMA user_version = 15");
    sqlite::migrate_schema(connection);
    EXPECT_EQ(connection.query_integer("SELECT count(*) FROM chat_history"), 150);
}

} // namespace
} // namespace perch::store
