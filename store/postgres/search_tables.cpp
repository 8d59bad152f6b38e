// The search walk: the messages of the conversations in scope (above their floors), newest first
// by `seq` (the order history recorded them, as the SQLite index's rowid), read in batches on the
// (seq) key and matched in the store until a page is full. Matching in the store keeps the
// tokenizer, prefix terms and snippets identical to the other backends'; a PostgreSQL text
// search configuration would cut and fold words its own way. The cost is a walk of the history
// in scope newer than the page's last hit.
#include "store/postgres/search_tables.hpp"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

#include "store/postgres/connection.hpp"
#include "store/search_text.hpp"

namespace perch::store::postgres {
namespace {

/// Rows read per batch of the walk.
constexpr std::int64_t batch_rows = 512;

/// A PostgreSQL array literal of `values` (each quoted, `"` and `\` escaped).
std::string array_literal(const std::vector<std::string>& values) {
    std::string literal = "{";
    for (const std::string& value : values) {
        if (literal.size() > 1) {
            literal += ',';
        }
        literal += '"';
        for (const char byte : value) {
            if (byte == '"' || byte == '\\') {
                literal += '\\';
            }
            literal += byte;
        }
        literal += '"';
    }
    literal += '}';
    return literal;
}

} // namespace

std::vector<search_hit> search_tables::search(const search_request& request) {
    std::vector<search_hit> hits;
    if (request.terms.empty() || request.scopes.empty() || request.limit == 0) {
        return hits;
    }
    std::vector<std::string> conversations;
    std::vector<std::string> floors;
    for (const search_scope& scope : request.scopes) {
        conversations.push_back(scope.conversation);
        floors.push_back(std::to_string(
            std::min<std::uint64_t>(scope.after_id, std::numeric_limits<std::int64_t>::max())));
    }
    const std::vector<std::string> words = folded_terms(request.terms);
    std::size_t skipped = 0;
    std::int64_t below = std::numeric_limits<std::int64_t>::max();
    while (hits.size() < request.limit) {
        const result rows = database_.run(
            "SELECT h.seq, h.conversation, h.id, h.sender, h.topic, h.ts_unix_ms, h.payload, "
            "h.reply_to, h.edited_unix_ms FROM chat_history AS h JOIN unnest($1::text[], "
            "$2::bigint[]) AS scope (conversation, after_id) ON h.conversation = "
            "scope.conversation COLLATE \"C\" AND h.id > scope.after_id WHERE h.seq < $3 AND "
            "h.event = 0 AND NOT h.is_deleted ORDER BY h.seq DESC LIMIT $4",
            parameters()
                .text(array_literal(conversations))
                .text(array_literal(floors))
                .integer(below)
                .integer(batch_rows));
        for (int row = 0; row < rows.rows() && hits.size() < request.limit; ++row) {
            below = rows.integer(row, 0);
            history_record message{
                rows.text(row, 1), rows.unsigned_integer(row, 2), rows.text(row, 3),
                rows.text(row, 4), rows.unsigned_integer(row, 5), rows.bytes(row, 6)};
            const std::string_view text(reinterpret_cast<const char*>(message.payload.data()),
                                        message.payload.size());
            std::optional<std::string> snippet = match_text(text, request, words);
            if (!snippet) {
                continue;
            }
            if (skipped < request.offset) {
                ++skipped;
                continue;
            }
            message.reply_to = rows.unsigned_integer(row, 7);
            message.edited_unix_ms = rows.unsigned_integer(row, 8);
            hits.push_back(search_hit{std::move(message), std::move(*snippet), 0});
        }
        if (rows.rows() < batch_rows) {
            break;
        }
    }
    return hits;
}

} // namespace perch::store::postgres
