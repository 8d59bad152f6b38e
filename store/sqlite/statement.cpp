// A prepared SQLite statement: bind, step, read columns, reset.
#include "store/sqlite/statement.hpp"

#include <sqlite3.h>

namespace perch::store::sqlite {

statement::statement(database& connection, std::string_view sql) : connection_(connection) {
    const int result =
        sqlite3_prepare_v3(connection_.handle(), sql.data(), static_cast<int>(sql.size()),
                           SQLITE_PREPARE_PERSISTENT, &handle_, nullptr);
    if (result != SQLITE_OK) {
        throw connection_.error("prepare " + std::string(sql.substr(0, 60)), result);
    }
}

statement::~statement() {
    sqlite3_finalize(handle_);
}

void statement::fail(std::string_view context, int result_code) const {
    const char* sql = sqlite3_sql(handle_);
    const std::string text = sql != nullptr ? std::string(sql).substr(0, 60) : std::string();
    throw connection_.error(std::string(context) + " " + text, result_code);
}

void statement::bind_integer(int index, std::int64_t value) {
    const int result = sqlite3_bind_int64(handle_, index, value);
    if (result != SQLITE_OK) {
        fail("bind", result);
    }
}

void statement::bind_text(int index, std::string_view value) {
    const int result = sqlite3_bind_text64(handle_, index, value.data(), value.size(),
                                           SQLITE_TRANSIENT, SQLITE_UTF8);
    if (result != SQLITE_OK) {
        fail("bind", result);
    }
}

void statement::bind_blob(int index, std::span<const std::uint8_t> value) {
    static const std::uint8_t no_bytes = 0;
    const void* data = value.empty() ? &no_bytes : static_cast<const void*>(value.data());
    const int result = sqlite3_bind_blob64(handle_, index, data, value.size(), SQLITE_TRANSIENT);
    if (result != SQLITE_OK) {
        fail("bind", result);
    }
}

void statement::bind_null(int index) {
    const int result = sqlite3_bind_null(handle_, index);
    if (result != SQLITE_OK) {
        fail("bind", result);
    }
}

bool statement::step() {
    const int result = sqlite3_step(handle_);
    if (result == SQLITE_ROW) {
        return true;
    }
    if (result == SQLITE_DONE) {
        return false;
    }
    sqlite3_reset(handle_);
    fail("step", result);
}

void statement::run() {
    step();
    reset();
}

void statement::reset() {
    sqlite3_reset(handle_);
    sqlite3_clear_bindings(handle_);
}

double statement::column_double(int index) const {
    return sqlite3_column_double(handle_, index);
}

std::int64_t statement::column_integer(int index) const {
    return sqlite3_column_int64(handle_, index);
}

std::string statement::column_text(int index) const {
    const auto* text = sqlite3_column_text(handle_, index);
    const int size = sqlite3_column_bytes(handle_, index);
    return text == nullptr ? std::string() : std::string(reinterpret_cast<const char*>(text), size);
}

std::vector<std::uint8_t> statement::column_blob(int index) const {
    const auto* data = static_cast<const std::uint8_t*>(sqlite3_column_blob(handle_, index));
    const int size = sqlite3_column_bytes(handle_, index);
    return data == nullptr ? std::vector<std::uint8_t>()
                           : std::vector<std::uint8_t>(data, data + size);
}

bool statement::column_is_null(int index) const {
    return sqlite3_column_type(handle_, index) == SQLITE_NULL;
}

} // namespace perch::store::sqlite
