// The subscribe rate quota of one connection (docs/LIMITS.md): new subscriptions per second with
// a burst, and the rule that ends a subscription storm. Time is given by the caller.
//
// Theory of operation. A filter the session does not hold yet costs one token of the subscribe
// bucket; it is granted when the bucket holds one (a filter held already, replaced, costs
// nothing). Every refusal for quota (over this rate, or over max_subscriptions_per_client) takes
// one token from a second bucket at the same rate holding flood_seconds (2) of it: a client that
// subscribes in bursts and backs off when refused drains nothing away for long, while one that
// keeps sending filters it is refused empties it and is then disconnected.
#pragma once

#include <cstdint>

#include "gateway/common/config.hpp"
#include "gateway/common/token_bucket.hpp"

namespace perch::gateway {

/// What the quota says about one new subscription, or about one refusal.
enum class subscribe_admission : std::uint8_t {
    accepted,
    /// Over the subscribe rate (or refused for another quota): SUBACK 0x97 (0x80 at 3.1.1).
    refused,
    /// Refused past flood_seconds of the rate: disconnect with 0x97.
    storm,
};

/// One connection's subscribe buckets. A default one has every bucket full.
class subscribe_quota {
public:
    using time_point = token_bucket::time_point;

    /// Seconds' worth of the rate that refused subscriptions may add up to before the client is
    /// disconnected: 200 refusals at the default rate. Two rather than the publish flood rule's
    /// ten: each refused filter still costs a packet decoded and a SUBACK, and a storm that is
    /// disconnected comes back with a new burst only as fast as max_connection_rate lets it.
    static constexpr std::uint64_t flood_seconds = 2;

    /// Admits or refuses one new subscription at `now` under `quota`.
    subscribe_admission admit(const client_quota& quota, time_point now);

    /// Records a subscription refused for another quota (max_subscriptions_per_client):
    /// `refused`, or `storm` when such refusals went past flood_seconds of the rate.
    subscribe_admission refuse(const client_quota& quota, time_point now);

private:
    token_bucket granted_;
    token_bucket refused_;
};

} // namespace perch::gateway
