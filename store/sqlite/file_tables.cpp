// The statements over chat_files and chat_file_refs. References leave with their message through
// the triggers of schema version 13, whoever deletes it.
#include "store/sqlite/file_tables.hpp"

#include <algorithm>
#include <limits>

namespace perch::store::sqlite {
namespace {

std::int64_t to_column(std::uint64_t value) {
    return static_cast<std::int64_t>(
        std::min<std::uint64_t>(value, std::numeric_limits<std::int64_t>::max()));
}

} // namespace

file_tables::file_tables(database& connection)
    : insert_file_(connection,
                   "INSERT OR REPLACE INTO chat_files (id, owner, size, content_type, "
                   "name, sha256, created_unix_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"),
      delete_file_(connection, "DELETE FROM chat_files WHERE id = ?1"),
      delete_file_references_(connection, "DELETE FROM chat_file_refs WHERE file_id = ?1"),
      select_files_(connection, "SELECT id, owner, size, content_type, name, sha256, "
                                "created_unix_ms FROM chat_files ORDER BY created_unix_ms, id"),
      insert_reference_(connection, "INSERT OR IGNORE INTO chat_file_refs (file_id, "
                                    "conversation, message_id) VALUES (?1, ?2, ?3)"),
      select_references_(connection, "SELECT conversation, message_id FROM chat_file_refs WHERE "
                                     "file_id = ?1 ORDER BY conversation, message_id"),
      select_unreferenced_(connection,
                           "SELECT id FROM chat_files WHERE created_unix_ms < ?1 AND NOT EXISTS "
                           "(SELECT 1 FROM chat_file_refs WHERE file_id = chat_files.id) ORDER "
                           "BY created_unix_ms, id LIMIT ?2") {}

void file_tables::insert_file(const file_record& file) {
    insert_file_.bind_text(1, file.id);
    insert_file_.bind_text(2, file.owner);
    insert_file_.bind_integer(3, to_column(file.size_bytes));
    insert_file_.bind_text(4, file.content_type);
    insert_file_.bind_text(5, file.name);
    insert_file_.bind_text(6, file.sha256);
    insert_file_.bind_integer(7, to_column(file.created_unix_ms));
    insert_file_.run();
}

void file_tables::delete_file(const std::string& id) {
    delete_file_references_.bind_text(1, id);
    delete_file_references_.run();
    delete_file_.bind_text(1, id);
    delete_file_.run();
}

std::vector<file_record> file_tables::files() {
    std::vector<file_record> found;
    while (select_files_.step()) {
        file_record file;
        file.id = select_files_.column_text(0);
        file.owner = select_files_.column_text(1);
        file.size_bytes = static_cast<std::uint64_t>(select_files_.column_integer(2));
        file.content_type = select_files_.column_text(3);
        file.name = select_files_.column_text(4);
        file.sha256 = select_files_.column_text(5);
        file.created_unix_ms = static_cast<std::uint64_t>(select_files_.column_integer(6));
        found.push_back(std::move(file));
    }
    select_files_.reset();
    return found;
}

void file_tables::insert_references(const std::string& conversation, std::uint64_t message_id,
                                    const std::vector<std::string>& ids) {
    for (const std::string& id : ids) {
        insert_reference_.bind_text(1, id);
        insert_reference_.bind_text(2, conversation);
        insert_reference_.bind_integer(3, to_column(message_id));
        insert_reference_.run();
    }
}

std::vector<file_reference> file_tables::references(const std::string& id) {
    std::vector<file_reference> found;
    select_references_.bind_text(1, id);
    while (select_references_.step()) {
        found.push_back({select_references_.column_text(0),
                         static_cast<std::uint64_t>(select_references_.column_integer(1))});
    }
    select_references_.reset();
    return found;
}

std::vector<std::string> file_tables::unreferenced(std::uint64_t created_before_unix_ms,
                                                   std::size_t limit) {
    std::vector<std::string> found;
    select_unreferenced_.bind_integer(1, to_column(created_before_unix_ms));
    select_unreferenced_.bind_integer(2, static_cast<std::int64_t>(std::min<std::size_t>(
                                             limit, std::numeric_limits<int>::max())));
    while (select_unreferenced_.step()) {
        found.push_back(select_unreferenced_.column_text(0));
    }
    select_unreferenced_.reset();
    return found;
}

} // namespace perch::store::sqlite
