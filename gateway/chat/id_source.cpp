// The two sources of message ids.
#include "gateway/chat/id_source.hpp"

#include <utility>

namespace perch::gateway {

std::optional<std::uint64_t> counter_id_source::allocate_now(const std::string& conversation) {
    return counters_.next_id(conversation);
}

void counter_id_source::allocate_later(std::string conversation, completion done) {
    done(counters_.next_id(conversation));
}

std::optional<std::uint64_t> store_id_source::allocate_now(const std::string&) {
    return std::nullopt;
}

void store_id_source::allocate_later(std::string conversation, completion done) {
    std::string named = conversation;
    allocator_->allocate(std::move(named),
                         [this, conversation = std::move(conversation), done = std::move(done)](
                             std::uint64_t id, const store::store_status& status) {
                             if (!status.is_ok()) {
                                 done(std::nullopt);
                                 return;
                             }
                             done(id);
                             counters_.raise(conversation, id);
                         });
}

} // namespace perch::gateway
