// The chat store factory: the durability level picks the implementation.
#include "store/chat_store.hpp"

#include "store/memory/memory_chat_store.hpp"
#include "store/sqlite/sqlite_chat_store.hpp"

namespace perch::store {

std::unique_ptr<chat_store> open_chat_store(const store_options& options) {
    if (options.durability == durability_level::none) {
        return std::make_unique<memory::memory_chat_store>(options.is_search_enabled);
    }
    return std::make_unique<sqlite::sqlite_chat_store>(options);
}

} // namespace perch::store
