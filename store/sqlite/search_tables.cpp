// The search query: candidates from the FTS5 index, newest first, each joined to its history row
// by rowid and kept when its conversation is in scope above the scope's floor, until a page is
// full. The rows not indexed yet (above the watermark, search_index.hpp) are newer than every
// indexed one: a search first indexes them into a temporary FTS5 table of its connection, with
// the same tokenizer, and asks it the same query, so the pages are the ones a complete index
// would give, snippets included.
#include "store/sqlite/search_tables.hpp"

#include <algorithm>
#include <limits>
#include <string>
#include <utility>

#include <sqlite3.h>

namespace perch::store::sqlite {
namespace {

/// A JSON string literal of `text` (the scopes travel as JSON, read by json_each).
void append_json_string(std::string& out, std::string_view text) {
    out += '"';
    for (const char byte : text) {
        const auto value = static_cast<unsigned char>(byte);
        if (byte == '"' || byte == '\\') {
            out += '\\';
            out += byte;
        } else if (value < 0x20) {
            constexpr std::string_view hex = "0123456789abcdef";
            out += "\\u00";
            out += hex[value >> 4];
            out += hex[value & 0xF];
        } else {
            out += byte;
        }
    }
    out += '"';
}

/// The largest offset and page size asked of SQLite (an int there).
constexpr std::size_t max_page = static_cast<std::size_t>(std::numeric_limits<int>::max());

} // namespace

std::string fts_query(const std::vector<search_term>& terms) {
    std::string query;
    for (const search_term& term : terms) {
        if (!query.empty()) {
            query += ' ';
        }
        query += '"';
        for (const char byte : term.word) {
            query += byte;
            if (byte == '"') {
                query += '"';
            }
        }
        query += '"';
        if (term.is_prefix) {
            query += '*';
        }
    }
    return query;
}

namespace {

// Two steps. The page: the index drives (CROSS JOIN keeps it the outer loop) and hands its
// matches newest first (ORDER BY its rowid DESC is consumed by FTS5, no sorter), each match is
// joined to its row by rowid and checked against the scopes, a list (?2) materialized once as an
// ephemeral index, and the floors of the few conversations that have one (?3, an object by
// conversation); the walk stops as soon as the page is full, so a frequent word costs the matches
// newer than the page's last, not every match in history. Then the rows of the page alone are
// read whole, and their snippets made (the index seeks each rowid). No bm25: FTS5 counts every
// match of each word in history for it, the very cost the order avoids. `index` (for each `@`) is
// the FTS5 table asked: the index of history or the temporary one of its tail.
std::string search_sql(std::string_view index) {
    std::string sql =
        "WITH page AS MATERIALIZED (SELECT h.rowid AS row "
        "FROM @ CROSS JOIN chat_history AS h ON h.rowid = @.rowid "
        "WHERE @ MATCH ?1 AND h.conversation IN (SELECT value FROM json_each(?2)) "
        "AND h.id > ifnull((SELECT value FROM json_each(?3) WHERE key = h.conversation), 0) "
        "ORDER BY @.rowid DESC LIMIT ?6 OFFSET ?7) "
        "SELECT h.conversation, h.id, h.sender, h.topic, h.ts_unix_ms, h.payload, "
        "h.reply_to, h.edited_unix_ms, snippet(@, 0, ?4, ?5, '…', 16) "
        "FROM page CROSS JOIN @ ON @.rowid = page.row "
        "CROSS JOIN chat_history AS h ON h.rowid = page.row WHERE @ MATCH ?1 "
        "ORDER BY page.row DESC";
    for (std::size_t at = sql.find('@'); at != std::string::npos; at = sql.find('@', at)) {
        sql.replace(at, 1, index);
        at += index.size();
    }
    return sql;
}

/// Creates the tail's tables (the connection's own, in its temp schema) before they are
/// prepared: the rows, and their FTS5 index with them as external content, which 'delete-all'
/// empties at once (a regular FTS5 table would tokenize every row again to delete it).
database& with_tail_table(database& connection) {
    connection.execute("CREATE TEMP TABLE IF NOT EXISTS chat_search_tail_rows (payload BLOB)");
    connection.execute("CREATE VIRTUAL TABLE IF NOT EXISTS temp.chat_search_tail USING fts5 "
                       "(payload, content = 'chat_search_tail_rows', "
                       "tokenize = 'unicode61 remove_diacritics 2')");
    return connection;
}

} // namespace

search_tables::search_tables(database& connection)
    : connection_(with_tail_table(connection)), search_(connection, search_sql("chat_search")),
      search_tail_(connection, search_sql("chat_search_tail")), begin_(connection, "BEGIN"),
      commit_(connection, "COMMIT"),
      watermark_(connection, "SELECT indexed_upto FROM chat_search_state"),
      clear_tail_(connection,
                  "INSERT INTO temp.chat_search_tail (chat_search_tail) VALUES ('delete-all')"),
      clear_tail_rows_(connection, "DELETE FROM temp.chat_search_tail_rows"),
      fill_tail_(connection, "INSERT INTO temp.chat_search_tail_rows (rowid, payload) "
                             "SELECT rowid, payload FROM chat_history "
                             "WHERE rowid > ?1 AND event = 0 AND is_deleted = 0"),
      index_tail_(connection, "INSERT INTO temp.chat_search_tail (rowid, payload) "
                              "SELECT rowid, payload FROM temp.chat_search_tail_rows") {}

namespace {

/// The scopes as a JSON list and the floors as a JSON object by conversation.
std::pair<std::string, std::string> scopes_and_floors(const std::vector<search_scope>& scopes) {
    std::string list = "[";
    std::string floors = "{";
    for (const search_scope& scope : scopes) {
        if (list.size() > 1) {
            list += ',';
        }
        append_json_string(list, scope.conversation);
        if (scope.after_id != 0) {
            if (floors.size() > 1) {
                floors += ',';
            }
            append_json_string(floors, scope.conversation);
            floors += ':' + std::to_string(scope.after_id);
        }
    }
    list += ']';
    floors += '}';
    return {std::move(list), std::move(floors)};
}

} // namespace

std::vector<search_hit> search_tables::search(const search_request& request) {
    std::vector<search_hit> hits;
    if (request.terms.empty() || request.scopes.empty() || request.limit == 0) {
        return hits;
    }
    // One read transaction: the watermark, the tail and the index are of one moment.
    begin_.run();
    try {
        const std::size_t offset = std::min<std::size_t>(request.offset, max_page);
        const std::size_t limit = std::min<std::size_t>(request.limit, max_page);
        if (fill_tail()) {
            // The tail's matches come first (newer than every indexed row): all of them up to
            // the end of the page, then the index's from where they stop.
            read_page(search_tail_, request, 0, offset + limit, hits);
            const std::size_t from_tail = hits.size();
            hits.erase(hits.begin(),
                       hits.begin() + static_cast<std::ptrdiff_t>(std::min(offset, from_tail)));
            if (from_tail < offset + limit) {
                read_page(search_, request, offset - std::min(offset, from_tail),
                          limit - hits.size(), hits);
            }
        } else {
            read_page(search_, request, offset, limit, hits);
        }
        commit_.run();
    } catch (...) {
        search_.reset();
        search_tail_.reset();
        sqlite3_exec(connection_.handle(), "ROLLBACK", nullptr, nullptr, nullptr);
        throw;
    }
    return hits;
}

bool search_tables::fill_tail() {
    if (!watermark_.step()) {
        watermark_.reset();
        return false;
    }
    const std::int64_t watermark = watermark_.column_integer(0);
    watermark_.reset();
    clear_tail_.run();
    clear_tail_rows_.run();
    fill_tail_.bind_integer(1, watermark);
    fill_tail_.run();
    if (sqlite3_changes(connection_.handle()) == 0) {
        return false;
    }
    index_tail_.run();
    return true;
}

void search_tables::read_page(statement& query, const search_request& request, std::size_t offset,
                              std::size_t limit, std::vector<search_hit>& hits) {
    const auto [scopes, floors] = scopes_and_floors(request.scopes);
    query.bind_text(1, fts_query(request.terms));
    query.bind_text(2, scopes);
    query.bind_text(3, floors);
    query.bind_text(4, request.mark_open);
    query.bind_text(5, request.mark_close);
    query.bind_integer(6, static_cast<std::int64_t>(limit));
    query.bind_integer(7, static_cast<std::int64_t>(offset));
    while (query.step()) {
        search_hit hit;
        history_record& message = hit.message;
        message.conversation = query.column_text(0);
        message.id = static_cast<std::uint64_t>(query.column_integer(1));
        message.sender = query.column_text(2);
        message.topic = query.column_text(3);
        message.ts_unix_ms = static_cast<std::uint64_t>(query.column_integer(4));
        message.payload = query.column_blob(5);
        message.reply_to = static_cast<std::uint64_t>(query.column_integer(6));
        message.edited_unix_ms = static_cast<std::uint64_t>(query.column_integer(7));
        hit.snippet = query.column_text(8);
        hits.push_back(std::move(hit));
    }
    query.reset();
}

} // namespace perch::store::sqlite
