// The search index in batches (store/sqlite/search_index.*, docs/DECISIONS.md "Search index in
// batches"): what is indexed when, that a message is found as soon as its append is acknowledged
// whatever the index holds, that the watermark's rows stay consistent through deletions and reused
// rowids, and the migration of a version 14 file. (Kill -9 between batches: crash_test.cpp.)
#include <cstdint>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "store/chat_store.hpp"
#include "store/sqlite/database.hpp"
#include "store/sqlite/schema.hpp"

#include "store_test_support.hpp"
#include <sqlite3.h>

namespace perch::store {
namespace {

using namespace testing_support;

history_record message(std::string conversation, std::uint64_t id, std::string text,
                       std::uint64_t ts_unix_ms = 1'000) {
    return history_record{conversation,           id,         "alice",
                          "chat/" + conversation, ts_unix_ms, bytes_of(text)};
}

std::unique_ptr<chat_store> open_store(const temporary_database& file, std::size_t batch) {
    store_options options;
    options.path = "file:" + file.path() + "?search_index_batch=" + std::to_string(batch);
    options.commit_interval_ms = 1;
    return open_chat_store(options);
}

/// "conversation#id" of every hit of `word` in room/kitchen and room/attic, newest first.
std::vector<std::string> found(chat_store& store, const std::string& word) {
    search_request request;
    request.terms = {{word, false}};
    request.scopes = {{"room/kitchen", 0}, {"room/attic", 0}};
    std::promise<std::vector<std::string>> keys;
    store.search_history(
        std::move(request), [&](std::vector<search_hit> hits, const store_status& status) {
            EXPECT_TRUE(status.is_ok()) << status.detail;
            std::vector<std::string> result;
            for (const search_hit& hit : hits) {
                result.push_back(hit.message.conversation + "#" + std::to_string(hit.message.id));
            }
            keys.set_value(std::move(result));
        });
    return keys.get_future().get();
}

/// Reads the file beside the store: the rows indexed, the watermark, FTS5's own check.
class index_probe {
public:
    explicit index_probe(const temporary_database& file)
        : connection_(file.path(), SQLITE_OPEN_READWRITE) {}

    std::int64_t indexed_rows() {
        return connection_.query_integer("SELECT count(*) FROM chat_search_docsize");
    }
    std::int64_t watermark() {
        return connection_.query_integer("SELECT indexed_upto FROM chat_search_state");
    }
    /// FTS5's check of the index's structure (rank 0: without comparing it to the content
    /// table, which also holds rows that are not indexed); throws when it is corrupt.
    void check() {
        connection_.execute(
            "INSERT INTO chat_search (chat_search, rank) VALUES ('integrity-check', 0)");
    }

private:
    sqlite::database connection_;
};

TEST(SqliteSearchIndex, AnAcknowledgedMessageIsFoundBeforeItsBatchIsIndexed) {
    temporary_database file;
    const auto store = open_store(file, 1000);
    std::promise<store_status> appended;
    store->append_history(message("room/kitchen", 1, "kettle is on"),
                          [&](const store_status& status) { appended.set_value(status); });
    ASSERT_TRUE(appended.get_future().get().is_ok());
    EXPECT_EQ(found(*store, "kettle"), (std::vector<std::string>{"room/kitchen#1"}));
    index_probe probe(file);
    EXPECT_EQ(probe.indexed_rows(), 0);
    EXPECT_EQ(probe.watermark(), 0);
}

TEST(SqliteSearchIndex, IndexesOnceTheRowsAboveTheWatermarkFillABatch) {
    temporary_database file;
    const auto store = open_store(file, 3);
    index_probe probe(file);
    store->append_history(message("room/kitchen", 1, "one tea"));
    store->append_history(message("room/kitchen", 2, "two tea"));
    store->flush();
    EXPECT_EQ(probe.indexed_rows(), 0);
    store->append_history(message("room/kitchen", 3, "three tea"));
    store->flush();
    EXPECT_EQ(probe.indexed_rows(), 3);
    EXPECT_EQ(probe.watermark(), 3);
    store->append_history(message("room/kitchen", 4, "four tea"));
    store->flush();
    EXPECT_EQ(probe.indexed_rows(), 3);
    // Pages run from the rows not indexed into the index without a gap or a repeat.
    EXPECT_EQ(found(*store, "tea"), (std::vector<std::string>{"room/kitchen#4", "room/kitchen#3",
                                                              "room/kitchen#2", "room/kitchen#1"}));
    probe.check();
}

TEST(SqliteSearchIndex, ACleanStopIndexesTheRestAndTheNextOpenFindsNothingMissing) {
    temporary_database file;
    {
        const auto store = open_store(file, 1000);
        store->append_history(message("room/kitchen", 1, "left for the stop"));
        store->append_history(message("room/kitchen", 2, "and another"));
    }
    {
        index_probe probe(file);
        EXPECT_EQ(probe.indexed_rows(), 2);
        EXPECT_EQ(probe.watermark(), 2);
    }
    const auto store = open_store(file, 1000);
    EXPECT_EQ(found(*store, "stop"), (std::vector<std::string>{"room/kitchen#1"}));
}

history_record event(std::uint64_t id, history_kind kind, std::uint64_t of_id,
                     std::string change = {}) {
    history_record record = message("room/kitchen", id, "{}", 2'000);
    record.kind = kind;
    record.of_id = of_id;
    record.change = std::move(change);
    return record;
}

// Edits and deletions of rows on both sides of the watermark: an indexed row leaves the index by
// the text it was indexed with, a row above it is indexed by its final text or not at all.
TEST(SqliteSearchIndex, EditsAndDeletionsOnBothSidesOfTheWatermarkKeepTheIndexExact) {
    temporary_database file;
    const auto store = open_store(file, 4);
    index_probe probe(file);
    store->append_history(message("room/kitchen", 1, "indexed apple"));
    store->append_history(message("room/kitchen", 2, "indexed pear"));
    store->append_history(message("room/kitchen", 3, "indexed cherry"));
    store->append_history(message("room/kitchen", 4, "indexed lime"));
    store->flush();
    ASSERT_EQ(probe.watermark(), 4);
    store->append_history(message("room/kitchen", 5, "waiting plum"));
    store->append_history(event(6, history_kind::edit, 1, "indexed quince"));
    store->append_history(event(7, history_kind::edit, 5, "waiting fig"));
    store->flush();
    ASSERT_EQ(probe.watermark(), 4);
    EXPECT_TRUE(found(*store, "apple").empty());
    EXPECT_EQ(found(*store, "quince"), (std::vector<std::string>{"room/kitchen#1"}));
    EXPECT_TRUE(found(*store, "plum").empty());
    EXPECT_EQ(found(*store, "fig"), (std::vector<std::string>{"room/kitchen#5"}));
    // The fourth row above the watermark: the batch indexes message 5 by its final text.
    store->append_history(event(8, history_kind::deletion, 2));
    store->flush();
    EXPECT_EQ(probe.watermark(), 8);
    EXPECT_TRUE(found(*store, "pear").empty());
    EXPECT_TRUE(found(*store, "plum").empty());
    EXPECT_EQ(found(*store, "fig"), (std::vector<std::string>{"room/kitchen#5"}));
    EXPECT_EQ(found(*store, "indexed"),
              (std::vector<std::string>{"room/kitchen#4", "room/kitchen#3", "room/kitchen#1"}));
    probe.check();
    // Messages 1, 3, 4 and 5, each once.
    EXPECT_EQ(probe.indexed_rows(), 4);
}

// The newest rows deleted (retention), the next row takes a rowid below the watermark: it is
// indexed in its own transaction, since no batch would reach it.
TEST(SqliteSearchIndex, ARowidReusedBelowTheWatermarkIsIndexedAtOnce) {
    temporary_database file;
    {
        const auto store = open_store(file, 1000);
        store->append_history(message("room/kitchen", 1, "kept", 5'000));
        store->append_history(message("room/attic", 1, "old dust", 1'000));
        store->append_history(message("room/attic", 2, "old cobweb", 1'000));
    }
    const auto store = open_store(file, 1000);
    index_probe probe(file);
    EXPECT_EQ(probe.watermark(), 3);
    store->prune_history(2'000, 0);
    store->append_history(message("room/kitchen", 2, "reused slot", 6'000));
    store->flush();
    EXPECT_EQ(probe.indexed_rows(), 2);
    EXPECT_EQ(found(*store, "slot"), (std::vector<std::string>{"room/kitchen#2"}));
    EXPECT_TRUE(found(*store, "dust").empty());
    probe.check();
}

TEST(SqliteSearchIndex, MigratesAVersionFourteenFileWhoseHistoryIsIndexed) {
    temporary_database file;
    {
        sqlite::database connection(file.path(), SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
        sqlite::migrate_schema(connection, 14);
        // Version 11's triggers index these as they are written.
        connection.execute(
            "INSERT INTO chat_history (conversation, id, sender, topic, ts_unix_ms, payload) "
            "VALUES ('room/kitchen', 1, 'alice', 'chat/room/kitchen/alice', 5, 'tea early'), "
            "('room/kitchen', 2, 'bob', 'chat/room/kitchen/bob', 6, 'tea late')");
    }
    {
        const auto store = open_store(file, 1000);
        index_probe probe(file);
        EXPECT_EQ(probe.watermark(), 2);
        EXPECT_EQ(probe.indexed_rows(), 2);
        store->append_history(message("room/kitchen", 3, "tea again"));
        store->flush();
        // Left to a batch now, not indexed twice.
        EXPECT_EQ(probe.indexed_rows(), 2);
        EXPECT_EQ(found(*store, "tea"),
                  (std::vector<std::string>{"room/kitchen#3", "room/kitchen#2", "room/kitchen#1"}));
    }
    index_probe probe(file);
    EXPECT_EQ(probe.indexed_rows(), 3);
    probe.check();
}

// A file whose index was off at the migration keeps it off, and turning it on fills it.
TEST(SqliteSearchIndex, MigratesAVersionFourteenFileWithTheIndexOff) {
    temporary_database file;
    {
        sqlite::database connection(file.path(), SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
        sqlite::migrate_schema(connection, 14);
        connection.execute("DROP TRIGGER chat_search_insert; DROP TRIGGER chat_search_delete; "
                           "DROP TRIGGER chat_search_update;");
        connection.execute(
            "INSERT INTO chat_history (conversation, id, sender, topic, ts_unix_ms, payload) "
            "VALUES ('room/kitchen', 1, 'alice', 'chat/room/kitchen/alice', 5, 'tea early')");
        sqlite::migrate_schema(connection);
        EXPECT_EQ(connection.query_integer("SELECT count(*) FROM sqlite_master WHERE "
                                           "type = 'trigger' AND name LIKE 'chat_search_%'"),
                  0);
    }
    const auto store = open_store(file, 1000);
    EXPECT_EQ(found(*store, "tea"), (std::vector<std::string>{"room/kitchen#1"}));
    index_probe probe(file);
    EXPECT_EQ(probe.indexed_rows(), 1);
    probe.check();
}

} // namespace
} // namespace perch::store
