// Where an idle session keeps less: the rarely used state made on demand and freed when it holds
// nothing again (session::extras), and the per-turn block of unpolled actions and a partial
// packet, lent from a per-thread free list while a turn is in progress (session::turn). The
// protocol itself is in session.cpp, session_publish.cpp and session_subscribe.cpp.
#include <memory>
#include <vector>

#include "mqtt/session.hpp"

namespace perch::mqtt {
namespace {

// Spare turn blocks a thread keeps, and the storage a spare block may keep: enough for the
// sessions one worker serves in a burst, without holding a large read or batch forever. A
// session_action is about a kilobyte, so a full set of spares stays near 1.5 MB per thread.
constexpr std::size_t max_spare_turns = 64;
constexpr std::size_t max_spare_action_capacity = 16;
constexpr std::size_t max_spare_input_capacity = 4 * 1024;

// Set once this thread's spare turn blocks are gone (thread exit): later blocks are just freed.
thread_local bool is_spare_turn_pool_gone = false;

} // namespace

const session_counters& session::counters() const {
    static const session_counters none{};
    return extras_ ? extras_->counters : none;
}

session::extras& session::rare() {
    if (!extras_) {
        extras_ = std::make_unique<extras>();
    }
    return *extras_;
}

void session::release_rare_if_unused() {
    if (extras_ && !extras_->will && !extras_->will_deadline && !extras_->session_deadline &&
        extras_->pending_requests.empty() && extras_->deferred_packets.empty() &&
        !extras_->inbound_aliases && !extras_->outbound_aliases &&
        extras_->counters == session_counters{}) {
        extras_.reset();
    }
}

inbound_topic_aliases& session::inbound_aliases() {
    auto& aliases = rare().inbound_aliases;
    if (!aliases) {
        aliases.emplace(limits_->topic_alias_maximum);
    }
    return *aliases;
}

namespace {

// This thread's spare turn blocks; null once the thread is ending.
template <typename Block> std::vector<std::unique_ptr<Block>>* spare_turns() {
    struct pool {
        std::vector<std::unique_ptr<Block>> blocks;
        pool() { blocks.reserve(max_spare_turns); }
        pool(const pool&) = delete;
        pool& operator=(const pool&) = delete;
        ~pool() { is_spare_turn_pool_gone = true; }
    };
    if (is_spare_turn_pool_gone) {
        return nullptr;
    }
    thread_local pool spare;
    return &spare.blocks;
}

} // namespace

session::turn& session::current_turn() {
    if (!turn_) {
        auto* spare = spare_turns<turn>();
        if (spare != nullptr && !spare->empty()) {
            turn_.reset(spare->back().release());
            spare->pop_back();
        } else {
            turn_.reset(new turn);
        }
    }
    return *turn_;
}

void session::turn_recycler::operator()(turn* block) const noexcept {
    auto* spare = spare_turns<turn>();
    if (spare == nullptr || spare->size() >= max_spare_turns) {
        delete block;
        return;
    }
    block->actions.clear();
    block->next_action = 0;
    block->input.clear();
    if (block->actions.capacity() > max_spare_action_capacity) {
        std::vector<session_action>().swap(block->actions);
    }
    if (block->input.capacity() > max_spare_input_capacity) {
        byte_vector().swap(block->input);
    }
    spare->emplace_back(block); // within the reserved capacity: never allocates
}

void session::end_turn_if_idle() {
    if (turn_ && !has_pending_actions() && turn_->input.empty()) {
        turn_.reset();
    }
}

void session::consume_input(std::size_t used) {
    byte_vector& input = turn_->input;
    input.erase(input.begin(), input.begin() + static_cast<std::ptrdiff_t>(used));
}

} // namespace perch::mqtt
