// The publish rate quota of one connection (docs/LIMITS.md): messages and bytes per second with
// a burst, and the rule that ends a flood. Time is given by the caller; the connection owns it.
//
// Theory of operation. A PUBLISH costs one token of the message bucket and its size (topic name
// and payload) in tokens of the byte bucket; it is admitted when both hold enough, and then takes
// from both. A refused PUBLISH takes its cost from a second pair of buckets at the same rates
// holding flood_seconds of each rate: refusals a well-meaning client causes (a burst, retries
// that back off) drain away at the rate, while a client that keeps sending far past its rate
// empties them, and is then disconnected.
#pragma once

#include <cstdint>

#include "gateway/common/config.hpp"
#include "gateway/common/token_bucket.hpp"

namespace perch::gateway {

/// What the quota says about one PUBLISH.
enum class publish_admission : std::uint8_t {
    accepted,
    /// Over the message rate: refused (0x96 Message rate too high).
    message_rate,
    /// Over the byte rate: refused (0x96 too).
    byte_rate,
    /// Over the message rate by more than flood_seconds' worth: disconnect with 0x96.
    message_flood,
    /// Over the byte rate by more than flood_seconds' worth: disconnect with 0x96.
    byte_flood,
};

/// One connection's publish buckets. A default one has every bucket full.
class publish_quota {
public:
    using time_point = token_bucket::time_point;

    /// Seconds' worth of the rate that refused publishes may add up to before the client is
    /// disconnected.
    static constexpr std::uint64_t flood_seconds = 10;

    /// Admits or refuses a PUBLISH of `bytes` at `now` under `quota`.
    publish_admission admit(const client_quota& quota, std::uint64_t bytes, time_point now);

private:
    token_bucket messages_;
    token_bucket bytes_;
    token_bucket refused_messages_;
    token_bucket refused_bytes_;
};

} // namespace perch::gateway
