// The full-text index of chat history, indexed in batches (docs/CHAT.md "Search", docs/DECISIONS.md
// "Search index in batches"): the triggers that keep what is indexed in step with history, the
// watermark below which every message is indexed, and the batch that indexes the rows above it.
#pragma once

#include <cstdint>

#include "store/sqlite/database.hpp"

namespace perch::store::sqlite {

/// Turns the full-text index of chat history on or off (docs/CHAT.md "Search"), in one
/// transaction, when it is not so already: on creates the triggers that keep it and fills it from
/// history; off drops them and empties it. The schema must be at version 15 or later. Throws
/// sqlite_error.
void set_search_index(database& connection, bool is_enabled);

/// True when the full-text index of chat history is kept (its triggers exist).
bool is_search_index_enabled(database& connection);

/// Schema version 15's step: replaces the triggers of version 11, which indexed every row in the
/// transaction that wrote it, by those that keep only the rows at or below the watermark, when
/// the index is on. Runs inside the migration's transaction.
void replace_search_triggers(database& connection);

/// History rows above the watermark (not indexed yet), counted by rowid: messages, events and
/// rows since deleted alike. Throws sqlite_error.
std::int64_t unindexed_rows(database& connection);

/// Rows above the watermark that start a batch: 1,000, or the `search_index_batch` parameter of
/// the database's `file:` URI (at least 1; tests use it to index at every group commit, or in
/// batches of a few rows).
std::int64_t search_index_batch(database& connection);

/// Indexes every message above the watermark and raises it to the last row, in one transaction
/// of its own (the caller holds the file's writer lock). Does nothing when the index is off.
/// Throws sqlite_error (the transaction rolled back: the rows stay for the next batch).
void index_search_tail(database& connection);

} // namespace perch::store::sqlite
