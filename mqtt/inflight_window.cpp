// Outbound in-flight deliveries and their packet identifiers.
#include "mqtt/inflight_window.hpp"

#include <algorithm>
#include <cassert>
#include <utility>

namespace perch::mqtt {
namespace {

// Distance from `from` to `to` going up through the identifier space 1..65535 (0 is skipped).
std::uint32_t forward_distance(std::uint16_t from, std::uint16_t to) {
    const std::uint32_t a = from - 1u;
    const std::uint32_t b = to - 1u;
    return (b + 65535u - a) % 65535u;
}

std::uint16_t following(std::uint16_t packet_id) {
    return packet_id == 65535 ? 1 : static_cast<std::uint16_t>(packet_id + 1);
}

} // namespace

std::uint16_t inflight_window::allocate_packet_id() {
    assert(entries_.size() < 65535);
    // Identifiers are handed out in order, so in-flight ones normally lie between the oldest and
    // the newest entry and the next candidate is free at once; contains() is exact either way.
    while (contains(next_packet_id_)) {
        next_packet_id_ = following(next_packet_id_);
    }
    const std::uint16_t packet_id = next_packet_id_;
    next_packet_id_ = following(next_packet_id_);
    return packet_id;
}

bool inflight_window::contains(std::uint16_t packet_id) const {
    if (entries_.empty() || packet_id == 0) {
        return false;
    }
    const std::uint16_t oldest = entries_.front().packet_id;
    if (is_ordered_ &&
        forward_distance(oldest, packet_id) > forward_distance(oldest, entries_.back().packet_id)) {
        // Ordered entries lie between the oldest and the newest: anything beyond is free.
        return false;
    }
    return std::any_of(entries_.begin(), entries_.end(),
                       [packet_id](const auto& entry) { return entry.packet_id == packet_id; });
}

void inflight_window::push(outbound_delivery delivery) {
    assert(delivery.packet_id != 0 && !contains(delivery.packet_id));
    if (!entries_.empty()) {
        const std::uint16_t oldest = entries_.front().packet_id;
        if (forward_distance(oldest, delivery.packet_id) <=
            forward_distance(oldest, entries_.back().packet_id)) {
            is_ordered_ = false;
        }
    }
    entries_.push_back(std::move(delivery));
}

outbound_delivery* inflight_window::find(std::uint16_t packet_id) {
    const auto found =
        std::find_if(entries_.begin(), entries_.end(),
                     [packet_id](const auto& entry) { return entry.packet_id == packet_id; });
    return found == entries_.end() ? nullptr : &*found;
}

bool inflight_window::remove(std::uint16_t packet_id) {
    const auto found =
        std::find_if(entries_.begin(), entries_.end(),
                     [packet_id](const auto& entry) { return entry.packet_id == packet_id; });
    if (found == entries_.end()) {
        return false;
    }
    entries_.erase(found);
    if (entries_.empty()) {
        is_ordered_ = true;
        // Most sessions have nothing in flight most of the time: a drained window costs a pointer.
        entries_.release_if_empty();
    }
    return true;
}

void inflight_window::set_next_packet_id(std::uint16_t packet_id) {
    next_packet_id_ = packet_id == 0 ? 1 : packet_id;
}

} // namespace perch::mqtt
