// One SQLite connection, owned: opened in the constructor, closed in the destructor, with the
// error type every SQLite failure in store/sqlite/ becomes. Nothing outside store/sqlite/ sees it.
#pragma once

#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>

struct sqlite3;

namespace perch::store::sqlite {

/// A failed SQLite call. what() reads "FILE: CONTEXT: MESSAGE (ERROR NAME)".
class sqlite_error : public std::runtime_error {
public:
    sqlite_error(const std::string& what, int result_code)
        : std::runtime_error(what), result_code_(result_code) {}
    /// The SQLite extended result code.
    int result_code() const { return result_code_; }

private:
    int result_code_;
};

/// An open connection. Not thread-safe: one thread uses it at a time.
class database {
public:
    /// Opens `path` (a `file:` URI is accepted) with sqlite3_open_v2 `flags`. Throws sqlite_error
    /// naming the file when it cannot be opened.
    database(std::string path, int flags);
    ~database();

    database(const database&) = delete;
    database& operator=(const database&) = delete;

    /// The raw handle, for statements.
    sqlite3* handle() const { return handle_; }
    /// The path it was opened with.
    const std::string& path() const { return path_; }

    /// Runs one or more statements that return no rows. Throws sqlite_error.
    void execute(std::string_view sql);

    /// Runs a statement that returns one integer (a PRAGMA, a count). Throws sqlite_error.
    std::int64_t query_integer(std::string_view sql);

    /// Runs a statement that returns one text value. Throws sqlite_error.
    std::string query_text(std::string_view sql);

    /// True when the main database was opened read-only (by flags, URI or file permissions).
    bool is_read_only() const;

    /// Builds the sqlite_error for `result_code` in `context`, with the connection's message.
    sqlite_error error(std::string_view context, int result_code) const;

    /// A mutex shared by every connection of this process to the same database file (one per
    /// in-memory database). Writers hold it from BEGIN IMMEDIATE to COMMIT, so two writers of one
    /// process take turns at once instead of through SQLite's busy handler, which polls with
    /// sleeps of up to 20 ms; other processes still meet busy_timeout.
    std::mutex& writer_lock() const { return *writer_lock_; }

private:
    std::string path_;
    sqlite3* handle_ = nullptr;
    std::shared_ptr<std::mutex> writer_lock_;
};

} // namespace perch::store::sqlite
