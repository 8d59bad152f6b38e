// New connections per second per remote address (docs/LIMITS.md), shared by every worker: a
// token bucket per address in a small sharded map, each shard behind its own mutex.
//
// Theory of operation. An address maps to a key: an IPv4 address (or an IPv4-mapped IPv6 one) as
// itself, an IPv6 address by its /64 prefix (one host usually owns a whole /64). Each key has
// two buckets at the configured rate: `allowance` (the burst) pays for accepted connections, and
// `refused` (flood_seconds of the rate) for refused ones. A connection that finds its allowance
// empty is refused (the client is told so in its CONNACK); one that finds the refused bucket
// empty as well comes from an address flooding far past its rate and is closed at once, unread.
// A key whose buckets are both full again is equivalent to no key: such entries are swept when a
// shard reaches its share of max_addresses, and when every entry is still busy the one that
// would be full soonest goes, so the map never grows past its bound whatever the addresses.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <unordered_map>

#include <boost/asio/ip/address.hpp>

#include "gateway/common/token_bucket.hpp"

namespace perch::gateway {

/// What the limiter says about one new connection.
enum class connection_admission : std::uint8_t {
    accepted,
    /// Over the rate: answer its CONNECT with Connection rate exceeded, then close.
    refused,
    /// Far over the rate (flood_seconds of refused connections): close without reading.
    dropped,
};

/// The per-address limiter. Thread-safe.
class connection_rate_limiter {
public:
    using time_point = token_bucket::time_point;

    /// Seconds' worth of the rate that refused connections may add up to before an address's
    /// connections are closed unread.
    static constexpr std::uint64_t flood_seconds = 10;

    /// Tracks at most `max_addresses` addresses (at least one per shard).
    explicit connection_rate_limiter(std::size_t max_addresses = 65'536);

    /// Sets the rate for connections admitted from now on (a reload). Any thread.
    void set_limit(rate_limit limit);

    /// Takes a connection from `address` at `now`. Always accepted while no rate is set.
    connection_admission admit(const boost::asio::ip::address& address, time_point now);

    /// Addresses with an entry (for tests and statistics).
    std::size_t tracked_addresses() const;

private:
    using key = std::array<std::uint8_t, 16>;
    struct key_hash {
        std::size_t operator()(const key& bytes) const;
    };
    struct entry {
        token_bucket allowance;
        token_bucket refused;
    };
    struct shard {
        mutable std::mutex mutex;
        rate_limit limit;
        std::unordered_map<key, entry, key_hash> entries;
    };
    static constexpr std::size_t shard_count = 16;

    static key key_of(const boost::asio::ip::address& address);
    /// Makes room for one more entry in `owner` (its mutex held).
    void make_room(shard& owner, time_point now) const;

    std::size_t max_per_shard_;
    std::array<shard, shard_count> shards_;
};

} // namespace perch::gateway
