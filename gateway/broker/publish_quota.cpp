// The publish rate quota of one connection (see publish_quota.hpp).
#include "gateway/broker/publish_quota.hpp"

#include <algorithm>

namespace perch::gateway {

namespace {

/// The bucket refusals of `limit` fill: the same rate, flood_seconds of it as its burst.
rate_limit flood_limit(const rate_limit& limit) {
    return {limit.per_second,
            std::min(limit.per_second * publish_quota::flood_seconds, max_rate_value)};
}

} // namespace

publish_admission publish_quota::admit(const client_quota& quota, std::uint64_t bytes,
                                       time_point now) {
    const rate_limit message_limit = quota.message_limit();
    const rate_limit byte_limit = quota.byte_limit();
    if (!messages_.can_take(message_limit, 1, now)) {
        return refused_messages_.try_take(flood_limit(message_limit), 1, now)
                   ? publish_admission::message_rate
                   : publish_admission::message_flood;
    }
    if (!bytes_.can_take(byte_limit, bytes, now)) {
        return refused_bytes_.try_take(flood_limit(byte_limit), bytes, now)
                   ? publish_admission::byte_rate
                   : publish_admission::byte_flood;
    }
    messages_.try_take(message_limit, 1, now);
    bytes_.try_take(byte_limit, bytes, now);
    return publish_admission::accepted;
}

} // namespace perch::gateway
