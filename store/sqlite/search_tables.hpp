// The full-text search of chat history on one SQLite connection (docs/CHAT.md "Search"): the
// query over the FTS5 index that schema version 11 creates (12 with prefixes) and its triggers
// keep.
#pragma once

#include <vector>

#include "store/chat_store.hpp"
#include "store/sqlite/database.hpp"
#include "store/sqlite/statement.hpp"

namespace perch::store::sqlite {

/// The search statement. Not thread-safe: one thread uses an instance at a time.
class search_tables {
public:
    /// Prepares the statement; the schema must be at version 11 or later.
    explicit search_tables(database& connection);

    /// One page of the messages of `request.scopes` holding every term, newest first (in the
    /// order history recorded them). Throws sqlite_error.
    std::vector<search_hit> search(const search_request& request);

private:
    statement search_;
};

/// The FTS5 query of `terms`: each term quoted (a `"` doubled), a prefix term followed by `*`,
/// all of them required.
std::string fts_query(const std::vector<search_term>& terms);

} // namespace perch::store::sqlite
