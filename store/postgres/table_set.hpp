// The statements of every table of the chat store over one connection.
#pragma once

#include "store/postgres/connection.hpp"
#include "store/postgres/directory_tables.hpp"
#include "store/postgres/file_tables.hpp"
#include "store/postgres/history_tables.hpp"
#include "store/postgres/push_tables.hpp"

namespace perch::store::postgres {

struct table_set {
    explicit table_set(connection& database)
        : database(database), directory(database), history(database), files(database),
          push(database) {}

    connection& database;
    directory_tables directory;
    history_tables history;
    file_tables files;
    push_tables push;
};

} // namespace perch::store::postgres
