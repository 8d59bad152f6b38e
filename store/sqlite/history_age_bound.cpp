// Binary search over chat_history's rowids for retention's cut. Knows nothing of conversations.
#include "store/sqlite/history_age_bound.hpp"

#include <limits>
#include <optional>

#include "store/sqlite/statement.hpp"

namespace perch::store::sqlite {
namespace {

struct stamped_row {
    std::int64_t rowid = 0;
    std::uint64_t ts_unix_ms = 0;
};

/// The first row at or after `rowid`, if any.
std::optional<stamped_row> first_row_from(statement& query, std::int64_t rowid) {
    query.reset();
    query.bind_integer(1, rowid);
    std::optional<stamped_row> found;
    if (query.step()) {
        found = stamped_row{query.column_integer(0),
                            static_cast<std::uint64_t>(query.column_integer(1))};
    }
    query.reset();
    return found;
}

} // namespace

std::int64_t first_row_stamped_at_or_after(database& connection, std::uint64_t unix_ms) {
    statement first_from(connection, "SELECT rowid, ts_unix_ms FROM chat_history "
                                     "WHERE rowid >= ?1 ORDER BY rowid LIMIT 1");
    statement last(connection, "SELECT ifnull(max(rowid), 0) FROM chat_history");
    if (!last.step()) {
        return 0;
    }
    // Invariant: every probe below `low` met a row older than unix_ms; the first row at or after
    // `high` is stamped at or after it (or there is none).
    const std::int64_t last_rowid = last.column_integer(0);
    if (last_rowid == std::numeric_limits<std::int64_t>::max()) {
        return last_rowid;
    }
    std::int64_t low = std::numeric_limits<std::int64_t>::min();
    std::int64_t high = last_rowid + 1;
    const std::optional<stamped_row> first = first_row_from(first_from, low);
    if (!first) {
        return 0;
    }
    low = first->rowid;
    while (low < high) {
        const std::int64_t middle = low + (high - low) / 2;
        const std::optional<stamped_row> row = first_row_from(first_from, middle);
        if (!row || row->ts_unix_ms >= unix_ms) {
            high = middle;
        } else {
            low = row->rowid + 1;
        }
    }
    return low;
}

} // namespace perch::store::sqlite
