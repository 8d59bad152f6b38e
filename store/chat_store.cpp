// The chat store factory: the durability level and the backend pick the implementation.
#include "store/chat_store.hpp"

#include "store/memory/memory_chat_store.hpp"
#include "store/sqlite/sqlite_chat_store.hpp"

#if PERCH_HAS_POSTGRESQL
#include "store/postgres/postgres_chat_store.hpp"
#endif

namespace perch::store {

std::unique_ptr<chat_store> open_chat_store(const store_options& options) {
    if (options.durability == durability_level::none) {
        return std::make_unique<memory::memory_chat_store>(options.is_search_enabled);
    }
    if (options.chat == chat_backend::postgresql) {
#if PERCH_HAS_POSTGRESQL
        return std::make_unique<postgres::postgres_chat_store>(options);
#else
        throw store_open_error("chat_store postgresql: this build has no PostgreSQL support "
                               "(built with -DPERCH_POSTGRESQL=OFF)");
#endif
    }
    return std::make_unique<sqlite::sqlite_chat_store>(options);
}

} // namespace perch::store
