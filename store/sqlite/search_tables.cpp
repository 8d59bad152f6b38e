// The search query: candidates from the FTS5 index, newest first, each joined to its history row
// by rowid and kept when its conversation is in scope above the scope's floor, until a page is
// full.
#include "store/sqlite/search_tables.hpp"

#include <algorithm>
#include <limits>
#include <string>

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

std::int64_t capped(std::size_t value) {
    return static_cast<std::int64_t>(
        std::min<std::size_t>(value, static_cast<std::size_t>(std::numeric_limits<int>::max())));
}

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

// Two steps. The page: the index drives (CROSS JOIN keeps it the outer loop) and hands its
// matches newest first (ORDER BY its rowid DESC is consumed by FTS5, no sorter), each match is
// joined to its row by rowid and checked against the scopes, a list (?2) materialized once as an
// ephemeral index, and the floors of the few conversations that have one (?3, an object by
// conversation); the walk stops as soon as the page is full, so a frequent word costs the matches
// newer than the page's last, not every match in history. Then the rows of the page alone are
// read whole, and their snippets made (the index seeks each rowid). No bm25: FTS5 counts every
// match of each word in history for it, the very cost the order avoids.
search_tables::search_tables(database& connection)
    : search_(connection,
              "WITH page AS MATERIALIZED (SELECT h.rowid AS row "
              "FROM chat_search CROSS JOIN chat_history AS h ON h.rowid = chat_search.rowid "
              "WHERE chat_search MATCH ?1 AND h.conversation IN (SELECT value FROM json_each(?2)) "
              "AND h.id > ifnull((SELECT value FROM json_each(?3) WHERE key = h.conversation), 0) "
              "ORDER BY chat_search.rowid DESC LIMIT ?6 OFFSET ?7) "
              "SELECT h.conversation, h.id, h.sender, h.topic, h.ts_unix_ms, h.payload, "
              "h.reply_to, h.edited_unix_ms, snippet(chat_search, 0, ?4, ?5, '…', 16) "
              "FROM page CROSS JOIN chat_search ON chat_search.rowid = page.row "
              "CROSS JOIN chat_history AS h ON h.rowid = page.row WHERE chat_search MATCH ?1 "
              "ORDER BY page.row DESC") {}

std::vector<search_hit> search_tables::search(const search_request& request) {
    std::vector<search_hit> hits;
    if (request.terms.empty() || request.scopes.empty() || request.limit == 0) {
        return hits;
    }
    std::string scopes = "[";
    std::string floors = "{";
    for (const search_scope& scope : request.scopes) {
        if (scopes.size() > 1) {
            scopes += ',';
        }
        append_json_string(scopes, scope.conversation);
        if (scope.after_id != 0) {
            if (floors.size() > 1) {
                floors += ',';
            }
            append_json_string(floors, scope.conversation);
            floors += ':' + std::to_string(scope.after_id);
        }
    }
    scopes += ']';
    floors += '}';
    search_.bind_text(1, fts_query(request.terms));
    search_.bind_text(2, scopes);
    search_.bind_text(3, floors);
    search_.bind_text(4, request.mark_open);
    search_.bind_text(5, request.mark_close);
    search_.bind_integer(6, capped(request.limit));
    search_.bind_integer(7, capped(request.offset));
    try {
        while (search_.step()) {
            search_hit hit;
            history_record& message = hit.message;
            message.conversation = search_.column_text(0);
            message.id = static_cast<std::uint64_t>(search_.column_integer(1));
            message.sender = search_.column_text(2);
            message.topic = search_.column_text(3);
            message.ts_unix_ms = static_cast<std::uint64_t>(search_.column_integer(4));
            message.payload = search_.column_blob(5);
            message.reply_to = static_cast<std::uint64_t>(search_.column_integer(6));
            message.edited_unix_ms = static_cast<std::uint64_t>(search_.column_integer(7));
            hit.snippet = search_.column_text(8);
            hits.push_back(std::move(hit));
        }
    } catch (...) {
        search_.reset();
        throw;
    }
    search_.reset();
    return hits;
}

} // namespace perch::store::sqlite
