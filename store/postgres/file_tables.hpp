// Uploaded files' records and the messages that reference them (docs/CHAT.md "Files"), on one
// PostgreSQL connection. A reference leaves with its message: history_tables deletes it when the
// message is deleted or pruned.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "store/chat_store.hpp"

namespace perch::store::postgres {

class connection;

/// Every member throws postgres_error on failure.
class file_tables {
public:
    explicit file_tables(connection& database) : database_(database) {}

    void insert_file(const file_record& file);
    /// Deletes a file's record and its references.
    void delete_file(const std::string& id);
    std::vector<file_record> files();
    void insert_references(const std::string& conversation, std::uint64_t message_id,
                           const std::vector<std::string>& ids);
    std::vector<file_reference> references(const std::string& id);
    std::vector<std::string> unreferenced(std::uint64_t created_before_unix_ms, std::size_t limit);

private:
    connection& database_;
};

} // namespace perch::store::postgres
