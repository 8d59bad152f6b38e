// New connections per second per remote address (see connection_rate_limiter.hpp).
#include "gateway/broker/connection_rate_limiter.hpp"

#include <algorithm>

namespace perch::gateway {

connection_rate_limiter::connection_rate_limiter(std::size_t max_addresses)
    : max_per_shard_(std::max<std::size_t>(1, max_addresses / shard_count)) {}

void connection_rate_limiter::set_limit(rate_limit limit) {
    for (shard& owner : shards_) {
        std::lock_guard lock(owner.mutex);
        owner.limit = limit;
        if (!limit.is_limited()) {
            owner.entries.clear();
        }
    }
}

std::size_t connection_rate_limiter::key_hash::operator()(const key& bytes) const {
    // FNV-1a: keys are 16 bytes, and an attacker choosing addresses gains nothing from
    // collisions beyond a slower shard (the shard's size is bounded).
    std::uint64_t hash = 14'695'981'039'346'656'037ULL;
    for (const std::uint8_t byte : bytes) {
        hash = (hash ^ byte) * 1'099'511'628'211ULL;
    }
    return static_cast<std::size_t>(hash);
}

connection_rate_limiter::key
connection_rate_limiter::key_of(const boost::asio::ip::address& address) {
    key bytes{};
    if (address.is_v4()) {
        const auto v4 = address.to_v4().to_bytes();
        std::copy(v4.begin(), v4.end(), bytes.begin() + 12);
        bytes[10] = 0xFF;
        bytes[11] = 0xFF;
        return bytes;
    }
    const boost::asio::ip::address_v6 v6 = address.to_v6();
    if (v6.is_v4_mapped()) {
        const auto mapped = v6.to_bytes();
        std::copy(mapped.begin(), mapped.end(), bytes.begin());
        return bytes;
    }
    // One host usually holds a whole /64: counted as one address.
    const auto full = v6.to_bytes();
    std::copy(full.begin(), full.begin() + 8, bytes.begin());
    return bytes;
}

void connection_rate_limiter::make_room(shard& owner, time_point now) const {
    std::erase_if(owner.entries, [now](const auto& held) {
        return held.second.allowance.is_full(now) && held.second.refused.is_full(now);
    });
    if (owner.entries.size() < max_per_shard_) {
        return;
    }
    // Every entry is busy: the one closest to forgetting its address goes.
    const auto soonest = std::min_element(
        owner.entries.begin(), owner.entries.end(), [](const auto& a, const auto& b) {
            return std::max(a.second.allowance.full_at(), a.second.refused.full_at()) <
                   std::max(b.second.allowance.full_at(), b.second.refused.full_at());
        });
    owner.entries.erase(soonest);
}

connection_admission connection_rate_limiter::admit(const boost::asio::ip::address& address,
                                                    time_point now) {
    const key wanted = key_of(address);
    shard& owner = shards_[key_hash{}(wanted) % shard_count];
    std::lock_guard lock(owner.mutex);
    const rate_limit limit = owner.limit;
    if (!limit.is_limited()) {
        return connection_admission::accepted;
    }
    auto found = owner.entries.find(wanted);
    if (found == owner.entries.end()) {
        if (owner.entries.size() >= max_per_shard_) {
            make_room(owner, now);
        }
        found = owner.entries.emplace(wanted, entry{}).first;
    }
    if (found->second.allowance.try_take(limit, 1, now)) {
        return connection_admission::accepted;
    }
    const rate_limit flood{limit.per_second,
                           std::min(limit.per_second * flood_seconds, max_rate_value)};
    return found->second.refused.try_take(flood, 1, now) ? connection_admission::refused
                                                         : connection_admission::dropped;
}

std::size_t connection_rate_limiter::tracked_addresses() const {
    std::size_t count = 0;
    for (const shard& owner : shards_) {
        std::lock_guard lock(owner.mutex);
        count += owner.entries.size();
    }
    return count;
}

} // namespace perch::gateway
