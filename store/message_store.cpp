// The store factory: the durability level picks the implementation.
#include "store/message_store.hpp"

#include "store/memory/memory_message_store.hpp"
#include "store/sqlite/sqlite_message_store.hpp"

namespace perch::store {

std::unique_ptr<message_store> open_message_store(const store_options& options) {
    if (options.durability == durability_level::none) {
        return std::make_unique<memory::memory_message_store>(options);
    }
    return std::make_unique<sqlite::sqlite_message_store>(options);
}

} // namespace perch::store
