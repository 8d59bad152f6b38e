// History search in PostgreSQL (docs/CHAT.md "Search"): the messages in scope walked newest
// first, in the order history recorded them, and matched with the rules of search_text.hpp.
#pragma once

#include <vector>

#include "store/chat_store.hpp"

namespace perch::store::postgres {

class connection;

class search_tables {
public:
    explicit search_tables(connection& database) : database_(database) {}
    /// One page of hits, newest first; throws postgres_error on failure.
    std::vector<search_hit> search(const search_request& request);

private:
    connection& database_;
};

} // namespace perch::store::postgres
