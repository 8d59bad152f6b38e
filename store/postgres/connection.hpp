// One libpq connection and the few calls the PostgreSQL chat store makes on it: a statement with
// parameters (PQexecParams: text for numbers and words, binary for payloads), its rows, and the
// transaction verbs. Nothing outside store/postgres/ includes <libpq-fe.h>.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "store/records.hpp"

struct pg_conn;
struct pg_result;

namespace perch::store::postgres {

/// A failed connection or statement: the server's or libpq's message.
class postgres_error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// The parameters of one statement, $1 first.
class parameters {
public:
    parameters& text(std::string_view value);
    parameters& integer(std::int64_t value);
    /// An unsigned value stored as BIGINT (bit for bit, as the SQLite store does).
    parameters& unsigned_integer(std::uint64_t value) {
        return integer(static_cast<std::int64_t>(value));
    }
    parameters& boolean(bool value) { return text(value ? "t" : "f"); }
    /// Sent in binary format: a BYTEA value.
    parameters& bytes(std::span<const std::uint8_t> value);

    std::size_t size() const { return values_.size(); }

private:
    friend class connection;
    std::vector<std::string> values_;
    std::vector<int> formats_;
};

/// The rows of one statement (text format).
class result {
public:
    explicit result(pg_result* handle) : handle_(handle, &release) {}

    int rows() const;
    /// Rows an INSERT, UPDATE or DELETE changed.
    std::uint64_t changed() const;
    std::string text(int row, int column) const;
    std::int64_t integer(int row, int column) const;
    std::uint64_t unsigned_integer(int row, int column) const {
        return static_cast<std::uint64_t>(integer(row, column));
    }
    bool boolean(int row, int column) const;
    bool is_null(int row, int column) const;
    /// A BYTEA column.
    byte_vector bytes(int row, int column) const;

private:
    static void release(pg_result* handle);
    std::unique_ptr<pg_result, void (*)(pg_result*)> handle_;
};

/// One connection. Not thread-safe: one thread uses it at a time.
class connection {
public:
    /// Connects with a libpq connection string and runs `settings` (SET statements, run again
    /// after a reconnection); throws postgres_error (without the string, which may hold a
    /// password).
    explicit connection(const std::string& conninfo, std::string settings = {});
    ~connection();
    connection(const connection&) = delete;
    connection& operator=(const connection&) = delete;

    /// Runs one statement with `arguments`; throws postgres_error when it fails.
    result run(std::string_view sql, const parameters& arguments = {});
    /// Runs statements without parameters (several, separated by semicolons).
    void execute(std::string_view sql);

    /// Opens a read-write transaction; reconnects first when the connection was lost.
    void begin();
    /// Opens a read-only transaction over one snapshot of the database.
    void begin_snapshot();
    void commit();
    /// Rolls back the open transaction, if any; never throws.
    void rollback() noexcept;

private:
    void reconnect_if_lost();
    void apply_settings();
    std::string settings_;
    pg_conn* handle_ = nullptr;
    /// Between begin() and commit() or rollback(): a lost connection is then an error, never
    /// reopened in the middle of a transaction.
    bool is_in_transaction_ = false;
};

} // namespace perch::store::postgres
