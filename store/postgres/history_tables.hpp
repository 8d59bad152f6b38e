// History and what goes with it on one PostgreSQL connection: messages and their events,
// reactions, read positions, the catch-up cursors of persistent sessions, retention and heads.
// The caller owns transactions and threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "store/chat_store.hpp"

namespace perch::store::postgres {

class connection;

/// History's statements, with the SQLite chat store's semantics (chat_tables in store/sqlite/).
/// Every member throws postgres_error on failure.
class history_tables {
public:
    explicit history_tables(connection& database) : database_(database) {}

    /// Inserts `record` unless (conversation, id) exists (the first write wins); an event also
    /// changes the message it names.
    void append_history(const history_record& record);
    void set_read_position(const read_position_record& record);
    void save_session_cursors(const session_cursors_record& record);
    void remove_session_cursors(const std::string& client_id);
    void prune_history(std::uint64_t before_unix_ms, std::size_t keep_per_conversation);

    std::vector<history_record> history_page(const std::string& conversation,
                                             std::uint64_t before_id, std::size_t limit);
    std::vector<history_record> history_after(const std::string& conversation,
                                              std::uint64_t after_id, std::uint64_t since_unix_ms,
                                              std::size_t limit);
    std::vector<session_cursors_record> session_cursors();
    std::vector<read_position_record> read_positions(const std::string& user);
    std::optional<history_record> find_history(const std::string& conversation, std::uint64_t id);
    std::vector<read_state_record> read_state(const std::string& user,
                                              std::vector<conversation_head> heads,
                                              std::uint64_t unread_cap);
    std::vector<conversation_head> conversation_heads();

private:
    void apply_event(const history_record& event);
    void add_reactions(std::vector<history_record>& page);

    connection& database_;
};

} // namespace perch::store::postgres
