// Where retention's cut falls in chat history without an index by time: history is appended in
// time order, so the rows older than a time are (nearly) a prefix of the table by rowid, found by
// a binary search over rowids.
#pragma once

#include <cstdint>

#include "store/sqlite/database.hpp"

namespace perch::store::sqlite {

/// The rowid at which `chat_history`'s rows stamped at or after `unix_ms` begin, when stamps
/// increase with rowids: a binary search over rowids, each probe reading the first row at or
/// after a rowid (about 2 log2(rows) point reads). With stamps out of order (a clock stepped
/// back) it returns some rowid such that the first row at or after it is stamped at or after
/// `unix_ms`; rows below it may still be newer, rows above it older. Callers therefore delete
/// the rows below it that are also older than `unix_ms` (never a newer one), and an out-of-order
/// older row above it waits for a later prune. One past the last rowid when every row is older;
/// the first rowid (or 0 for an empty table) when none is. Throws sqlite_error.
std::int64_t first_row_stamped_at_or_after(database& connection, std::uint64_t unix_ms);

} // namespace perch::store::sqlite
