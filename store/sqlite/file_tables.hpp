// The tables of uploaded files on one SQLite connection (docs/CHAT.md "Files"): their records and
// the messages that reference them, as schema version 13 creates them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "store/chat_store.hpp"
#include "store/sqlite/database.hpp"
#include "store/sqlite/statement.hpp"

namespace perch::store::sqlite {

/// The file statements. Not thread-safe: one thread uses an instance at a time. Every member
/// throws sqlite_error.
class file_tables {
public:
    /// Prepares the statements; the schema must be at version 13 or later.
    explicit file_tables(database& connection);

    void insert_file(const file_record& file);
    /// Deletes the record and the references.
    void delete_file(const std::string& id);
    std::vector<file_record> files();
    void insert_references(const std::string& conversation, std::uint64_t message_id,
                           const std::vector<std::string>& ids);
    std::vector<file_reference> references(const std::string& id);
    std::vector<std::string> unreferenced(std::uint64_t created_before_unix_ms, std::size_t limit);

private:
    statement insert_file_;
    statement delete_file_;
    statement delete_file_references_;
    statement select_files_;
    statement insert_reference_;
    statement select_references_;
    statement select_unreferenced_;
};

} // namespace perch::store::sqlite
