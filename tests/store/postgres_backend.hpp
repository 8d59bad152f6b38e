// The PostgreSQL chat store as a backend of the typed store tests: each test gets a database of
// its own (named after its temporary path) in the cluster of tests/support/postgres_cluster.hpp.
// The tests skip, with the reason, when the cluster cannot run or the build has no PostgreSQL.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "store/chat_store.hpp"

#include "support/postgres_cluster.hpp"

namespace perch::store::testing_support {

struct postgres_backend {
    /// Why the PostgreSQL tests cannot run here; empty when they can.
    static std::string unavailable_reason() {
#if PERCH_HAS_POSTGRESQL
        return perch::testing_support::postgres_cluster::shared().unavailable_reason();
#else
        return "built without PostgreSQL (-DPERCH_POSTGRESQL=OFF)";
#endif
    }
    /// The options of the database named after `options.path`.
    static store_options with_database(store_options options) {
        options.chat = chat_backend::postgresql;
        options.postgresql_conninfo = perch::testing_support::postgres_cluster::shared().conninfo(
            "perch_" + std::to_string(std::hash<std::string>{}(options.path)));
        return options;
    }
    static std::unique_ptr<chat_store> open(store_options options) {
        options.durability = durability_level::full;
        return open_chat_store(with_database(std::move(options)));
    }
    /// Closes the connections and connects again.
    static void reopen(std::unique_ptr<chat_store>& store, const store_options& options) {
        store.reset();
        store = open(options);
    }
};

/// Why `Backend` cannot run here (the PostgreSQL backend without a server); empty when it can.
template <typename Backend> std::string backend_skip_reason() {
    if constexpr (requires { Backend::unavailable_reason(); }) {
        return Backend::unavailable_reason();
    } else {
        return {};
    }
}

} // namespace perch::store::testing_support
