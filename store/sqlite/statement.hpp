// A prepared SQLite statement, owned: prepared once, then bound, stepped and reset for each use.
// Nothing outside store/sqlite/ sees it.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "store/sqlite/database.hpp"

struct sqlite3_stmt;

namespace perch::store::sqlite {

/// One prepared statement on one connection. Parameters are numbered from 1, columns from 0.
/// Every failure throws sqlite_error naming the file and the statement.
class statement {
public:
    /// Prepares `sql` (one statement) for repeated use.
    statement(database& connection, std::string_view sql);
    ~statement();

    statement(const statement&) = delete;
    statement& operator=(const statement&) = delete;

    void bind_integer(int index, std::int64_t value);
    void bind_text(int index, std::string_view value);
    /// Binds bytes; an empty span binds an empty blob, never NULL.
    void bind_blob(int index, std::span<const std::uint8_t> value);
    void bind_null(int index);

    /// Advances: true when a row is available, false when the statement is done.
    bool step();
    /// Steps a statement that returns no rows, then resets it.
    void run();
    /// Makes the statement ready to run again and clears its bindings.
    void reset();

    std::int64_t column_integer(int index) const;
    double column_double(int index) const;
    std::string column_text(int index) const;
    std::vector<std::uint8_t> column_blob(int index) const;
    bool column_is_null(int index) const;

private:
    [[noreturn]] void fail(std::string_view context, int result_code) const;

    database& connection_;
    sqlite3_stmt* handle_ = nullptr;
};

} // namespace perch::store::sqlite
