// One timer for all of a worker's connection deadlines.
#include "gateway/stream/deadline_queue.hpp"

#include <algorithm>
#include <chrono>
#include <utility>

namespace perch::gateway {

namespace {

/// Entries are never dropped in bulk below this many, so that a worker with few connections does
/// not rebuild its heap all the time.
constexpr std::size_t min_entries_for_cleanup = 64;

} // namespace

deadline_queue::deadline_queue(boost::asio::io_context& context, fire_handler fire,
                               current_check is_current)
    : timer_(context), fire_(std::move(fire)), is_current_(std::move(is_current)) {}

void deadline_queue::schedule(mqtt::time_point when, mqtt::subscriber_id target,
                              std::uint64_t generation, std::size_t live_hint) {
    if (entries_.size() >= min_entries_for_cleanup && entries_.size() > 2 * live_hint) {
        drop_stale();
    }
    entries_.push_back(entry{when, target, generation});
    std::push_heap(entries_.begin(), entries_.end(), is_later);
    if (!armed_at_ || when < *armed_at_) {
        arm();
    }
}

void deadline_queue::clear() {
    entries_.clear();
    entries_.shrink_to_fit();
    armed_at_.reset();
    timer_.cancel();
}

void deadline_queue::arm() {
    if (entries_.empty()) {
        return;
    }
    const mqtt::time_point when = entries_.front().when;
    armed_at_ = when;
    // Re-arming cancels the wait already pending; its handler sees operation_aborted.
    timer_.expires_at(when);
    timer_.async_wait([this](const boost::system::error_code& error) { on_timer(error); });
}

void deadline_queue::on_timer(const boost::system::error_code& error) {
    if (error == boost::asio::error::operation_aborted) {
        return;
    }
    armed_at_.reset();
    const mqtt::time_point now = std::chrono::steady_clock::now();
    // Take every due entry first: a handler may schedule again, which changes the heap (never
    // due_).
    due_.clear();
    while (!entries_.empty() && entries_.front().when <= now) {
        std::pop_heap(entries_.begin(), entries_.end(), is_later);
        due_.push_back(entries_.back());
        entries_.pop_back();
    }
    for (const entry& due : due_) {
        fire_(due.target, due.generation);
    }
    due_.clear();
    if (!armed_at_) {
        arm();
    }
}

void deadline_queue::drop_stale() {
    std::erase_if(entries_,
                  [this](const entry& held) { return !is_current_(held.target, held.generation); });
    std::make_heap(entries_.begin(), entries_.end(), is_later);
    if (entries_.capacity() > 4 * entries_.size() + min_entries_for_cleanup) {
        // A storm of connections left room nobody needs now.
        entries_.shrink_to_fit();
    }
}

} // namespace perch::gateway
