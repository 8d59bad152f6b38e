// The statements over chat_files and chat_file_refs.
#include "store/postgres/file_tables.hpp"

#include <algorithm>
#include <limits>

#include "store/postgres/connection.hpp"

namespace perch::store::postgres {
namespace {

std::uint64_t capped(std::uint64_t value) {
    return std::min<std::uint64_t>(value, std::numeric_limits<std::int64_t>::max());
}

} // namespace

void file_tables::insert_file(const file_record& file) {
    database_.run("INSERT INTO chat_files (id, owner, size, content_type, name, sha256, "
                  "created_unix_ms) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO "
                  "UPDATE SET owner = excluded.owner, size = excluded.size, content_type = "
                  "excluded.content_type, name = excluded.name, sha256 = excluded.sha256, "
                  "created_unix_ms = excluded.created_unix_ms",
                  parameters()
                      .text(file.id)
                      .text(file.owner)
                      .unsigned_integer(capped(file.size_bytes))
                      .text(file.content_type)
                      .text(file.name)
                      .text(file.sha256)
                      .unsigned_integer(capped(file.created_unix_ms)));
}

void file_tables::delete_file(const std::string& id) {
    database_.run("DELETE FROM chat_file_refs WHERE file_id = $1", parameters().text(id));
    database_.run("DELETE FROM chat_files WHERE id = $1", parameters().text(id));
}

std::vector<file_record> file_tables::files() {
    const result rows = database_.run("SELECT id, owner, size, content_type, name, sha256, "
                                      "created_unix_ms FROM chat_files ORDER BY "
                                      "created_unix_ms, id");
    std::vector<file_record> found;
    for (int row = 0; row < rows.rows(); ++row) {
        found.push_back(file_record{
            rows.text(row, 0), rows.text(row, 1), rows.unsigned_integer(row, 2), rows.text(row, 3),
            rows.text(row, 4), rows.text(row, 5), rows.unsigned_integer(row, 6)});
    }
    return found;
}

void file_tables::insert_references(const std::string& conversation, std::uint64_t message_id,
                                    const std::vector<std::string>& ids) {
    for (const std::string& id : ids) {
        database_.run(
            "INSERT INTO chat_file_refs (file_id, conversation, message_id) VALUES "
            "($1, $2, $3) ON CONFLICT DO NOTHING",
            parameters().text(id).text(conversation).unsigned_integer(capped(message_id)));
    }
}

std::vector<file_reference> file_tables::references(const std::string& id) {
    const result rows =
        database_.run("SELECT conversation, message_id FROM chat_file_refs WHERE file_id = $1 "
                      "ORDER BY conversation, message_id",
                      parameters().text(id));
    std::vector<file_reference> found;
    for (int row = 0; row < rows.rows(); ++row) {
        found.push_back({rows.text(row, 0), rows.unsigned_integer(row, 1)});
    }
    return found;
}

std::vector<std::string> file_tables::unreferenced(std::uint64_t created_before_unix_ms,
                                                   std::size_t limit) {
    const result rows = database_.run(
        "SELECT id FROM chat_files WHERE created_unix_ms < $1 AND NOT EXISTS (SELECT 1 FROM "
        "chat_file_refs WHERE file_id = chat_files.id) ORDER BY created_unix_ms, id LIMIT $2",
        parameters()
            .unsigned_integer(capped(created_before_unix_ms))
            .integer(static_cast<std::int64_t>(
                std::min<std::size_t>(limit, std::numeric_limits<int>::max()))));
    std::vector<std::string> found;
    for (int row = 0; row < rows.rows(); ++row) {
        found.push_back(rows.text(row, 0));
    }
    return found;
}

} // namespace perch::store::postgres
