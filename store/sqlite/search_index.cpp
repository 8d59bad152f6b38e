// The full-text index of chat history, indexed in batches. Every history row at or below the
// watermark (chat_search_state.indexed_upto, a rowid of chat_history) is in the index while it is a
// message not deleted, by its current payload; the rows above it (the tail) are not, and a search
// reads them directly (search_tables). Indexing each group commit's few messages made FTS5 write a
// new small segment and merge segments at every commit; a batch writes one segment for hundreds.
#include "store/sqlite/search_index.hpp"

#include <sqlite3.h>

namespace perch::store::sqlite {
namespace {

// The triggers keep the index in step with every change of history at or below the watermark,
// whoever writes it (the gateway's group commits, `perch room`, retention): a new row there (a
// rowid reused after the last rows were deleted) is indexed at once, a deleted or edited one
// leaves the index with the text it was indexed with (external content: the index holds no text).
// A row above the watermark is left to the next batch, which reads its text as it is then.
constexpr std::string_view search_triggers = R"sql(
CREATE TRIGGER IF NOT EXISTS chat_search_insert AFTER INSERT ON chat_history
    WHEN new.event = 0 AND new.is_deleted = 0
        AND new.rowid <= (SELECT indexed_upto FROM chat_search_state) BEGIN
    INSERT INTO chat_search (rowid, payload) VALUES (new.rowid, new.payload);
END;
CREATE TRIGGER IF NOT EXISTS chat_search_delete AFTER DELETE ON chat_history
    WHEN old.event = 0 AND old.is_deleted = 0
        AND old.rowid <= (SELECT indexed_upto FROM chat_search_state) BEGIN
    INSERT INTO chat_search (chat_search, rowid, payload) VALUES ('delete', old.rowid, old.payload);
END;
CREATE TRIGGER IF NOT EXISTS chat_search_update AFTER UPDATE OF payload, is_deleted ON chat_history
    WHEN old.event = 0 AND old.rowid <= (SELECT indexed_upto FROM chat_search_state) BEGIN
    INSERT INTO chat_search (chat_search, rowid, payload)
        SELECT 'delete', old.rowid, old.payload WHERE old.is_deleted = 0;
    INSERT INTO chat_search (rowid, payload) SELECT new.rowid, new.payload WHERE new.is_deleted = 0;
END;
)sql";

constexpr std::string_view drop_triggers = R"sql(
DROP TRIGGER IF EXISTS chat_search_insert;
DROP TRIGGER IF EXISTS chat_search_delete;
DROP TRIGGER IF EXISTS chat_search_update;
)sql";

// Empties the index and fills it from history: every message not deleted, by its final text; the
// watermark goes to the last row.
constexpr std::string_view search_fill = R"sql(
INSERT INTO chat_search (chat_search) VALUES ('delete-all');
INSERT INTO chat_search (rowid, payload)
    SELECT rowid, payload FROM chat_history WHERE event = 0 AND is_deleted = 0;
UPDATE chat_search_state SET indexed_upto = ifnull((SELECT max(rowid) FROM chat_history), 0);
)sql";

// The batch: the tail's messages, then the watermark to the last row (never down: rows below it
// may have been deleted since).
constexpr std::string_view tail_fill = R"sql(
INSERT INTO chat_search (rowid, payload) SELECT rowid, payload FROM chat_history
    WHERE rowid > (SELECT indexed_upto FROM chat_search_state) AND event = 0 AND is_deleted = 0;
UPDATE chat_search_state
    SET indexed_upto = max(indexed_upto, ifnull((SELECT max(rowid) FROM chat_history), 0));
)sql";

void in_transaction(database& connection, std::string_view sql) {
    connection.execute("BEGIN IMMEDIATE");
    try {
        connection.execute(sql);
        connection.execute("COMMIT");
    } catch (...) {
        sqlite3_exec(connection.handle(), "ROLLBACK", nullptr, nullptr, nullptr);
        throw;
    }
}

} // namespace

bool is_search_index_enabled(database& connection) {
    return connection.query_integer("SELECT count(*) FROM sqlite_master WHERE type = 'trigger' "
                                    "AND name = 'chat_search_insert'") != 0;
}

void set_search_index(database& connection, bool is_enabled) {
    if (is_search_index_enabled(connection) == is_enabled) {
        return;
    }
    connection.execute("BEGIN IMMEDIATE");
    try {
        // Another process may have changed it while this one waited for the lock.
        if (is_search_index_enabled(connection) != is_enabled) {
            if (is_enabled) {
                connection.execute(search_triggers);
                connection.execute(search_fill);
            } else {
                connection.execute(drop_triggers);
                connection.execute("INSERT INTO chat_search (chat_search) VALUES ('delete-all')");
            }
        }
        connection.execute("COMMIT");
    } catch (...) {
        sqlite3_exec(connection.handle(), "ROLLBACK", nullptr, nullptr, nullptr);
        throw;
    }
}

void replace_search_triggers(database& connection) {
    if (is_search_index_enabled(connection)) {
        connection.execute(drop_triggers);
        connection.execute(search_triggers);
    }
}

std::int64_t unindexed_rows(database& connection) {
    const std::int64_t rows =
        connection.query_integer("SELECT ifnull((SELECT max(rowid) FROM chat_history), 0) - "
                                 "(SELECT indexed_upto FROM chat_search_state)");
    return rows > 0 ? rows : 0;
}

std::int64_t search_index_batch(database& connection) {
    constexpr sqlite3_int64 rows = 1000;
    const sqlite3_int64 batch = sqlite3_uri_int64(sqlite3_db_filename(connection.handle(), "main"),
                                                  "search_index_batch", rows);
    return batch > 0 ? batch : 1;
}

void index_search_tail(database& connection) {
    if (unindexed_rows(connection) == 0 || !is_search_index_enabled(connection)) {
        return;
    }
    in_transaction(connection, tail_fill);
}

} // namespace perch::store::sqlite
