// One owned SQLite connection and the conversion of SQLite failures into sqlite_error.
#include "store/sqlite/database.hpp"

#include <map>

#include "store/sqlite/statement.hpp"

#include <sqlite3.h>

namespace perch::store::sqlite {
namespace {

/// The writer lock of the file `file_name` (as SQLite resolved it), shared while any connection
/// of this process to that file is open; an in-memory database (empty name) gets its own.
std::shared_ptr<std::mutex> writer_lock_of(const std::string& file_name) {
    if (file_name.empty()) {
        return std::make_shared<std::mutex>();
    }
    static std::mutex registry_mutex;
    static std::map<std::string, std::weak_ptr<std::mutex>> registry;
    std::lock_guard lock(registry_mutex);
    std::erase_if(registry, [](const auto& entry) { return entry.second.expired(); });
    std::weak_ptr<std::mutex>& held = registry[file_name];
    std::shared_ptr<std::mutex> shared = held.lock();
    if (!shared) {
        shared = std::make_shared<std::mutex>();
        held = shared;
    }
    return shared;
}

} // namespace

database::database(std::string path, int flags) : path_(std::move(path)) {
    const int result = sqlite3_open_v2(path_.c_str(), &handle_, flags, nullptr);
    if (result != SQLITE_OK) {
        sqlite_error failure = error("cannot open database", result);
        sqlite3_close_v2(handle_);
        handle_ = nullptr;
        throw failure;
    }
    sqlite3_extended_result_codes(handle_, 1);
    const char* file_name = sqlite3_db_filename(handle_, "main");
    writer_lock_ = writer_lock_of(file_name != nullptr ? file_name : "");
}

database::~database() {
    sqlite3_close_v2(handle_);
}

void database::execute(std::string_view sql) {
    const std::string text(sql);
    char* message = nullptr;
    const int result = sqlite3_exec(handle_, text.c_str(), nullptr, nullptr, &message);
    if (result != SQLITE_OK) {
        const std::string detail = message != nullptr ? message : sqlite3_errstr(result);
        sqlite3_free(message);
        throw sqlite_error(path_ + ": " + text.substr(0, 60) + ": " + detail + " (" +
                               sqlite3_errstr(result) + ")",
                           result);
    }
}

std::int64_t database::query_integer(std::string_view sql) {
    statement query(*this, sql);
    if (!query.step()) {
        throw sqlite_error(path_ + ": " + std::string(sql) + ": no result", SQLITE_ERROR);
    }
    return query.column_integer(0);
}

std::string database::query_text(std::string_view sql) {
    statement query(*this, sql);
    if (!query.step()) {
        throw sqlite_error(path_ + ": " + std::string(sql) + ": no result", SQLITE_ERROR);
    }
    return query.column_text(0);
}

bool database::is_read_only() const {
    return sqlite3_db_readonly(handle_, "main") == 1;
}

sqlite_error database::error(std::string_view context, int result_code) const {
    std::string message = path_ + ": " + std::string(context) + ": ";
    if (handle_ != nullptr && sqlite3_errcode(handle_) == result_code) {
        message += sqlite3_errmsg(handle_);
        message += " (";
        message += sqlite3_errstr(result_code);
        message += ")";
    } else {
        message += sqlite3_errstr(result_code);
    }
    return sqlite_error(message, result_code);
}

} // namespace perch::store::sqlite
