// The full-text search of chat history on one SQLite connection (docs/CHAT.md "Search"): the
// query over the FTS5 index that schema version 11 creates and search_index.hpp keeps, and over
// the rows not indexed yet.
#pragma once

#include <vector>

#include "store/chat_store.hpp"
#include "store/sqlite/database.hpp"
#include "store/sqlite/statement.hpp"

namespace perch::store::sqlite {

/// The search statements. Not thread-safe: one thread uses an instance at a time. The connection
/// writes its own temporary table (the tail's index), so it cannot be query_only.
class search_tables {
public:
    /// Creates the connection's temporary table and prepares the statements; the schema must be
    /// at version 15 or later.
    explicit search_tables(database& connection);

    /// One page of the messages of `request.scopes` holding every term, newest first (in the
    /// order history recorded them), from the index and the rows not indexed yet alike, in one
    /// read transaction. Throws sqlite_error.
    std::vector<search_hit> search(const search_request& request);

private:
    /// Fills the temporary table with the messages above the watermark; false when there are
    /// none. Inside the search's transaction.
    bool fill_tail();
    /// Appends the hits of `query` (the index's or the tail's) from `offset`, at most `limit`.
    void read_page(statement& query, const search_request& request, std::size_t offset,
                   std::size_t limit, std::vector<search_hit>& hits);

    database& connection_;
    statement search_;
    statement search_tail_;
    statement begin_;
    statement commit_;
    statement watermark_;
    statement clear_tail_;
    statement clear_tail_rows_;
    statement fill_tail_;
    statement index_tail_;
};

/// The FTS5 query of `terms`: each term quoted (a `"` doubled), a prefix term followed by `*`,
/// all of them required.
std::string fts_query(const std::vector<search_term>& terms);

} // namespace perch::store::sqlite
