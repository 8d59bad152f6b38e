// The subscribe rate quota of one connection (see subscribe_quota.hpp).
#include "gateway/broker/subscribe_quota.hpp"

#include <algorithm>

namespace perch::gateway {

subscribe_admission subscribe_quota::admit(const client_quota& quota, time_point now) {
    if (granted_.try_take(quota.subscribe_limit(), 1, now)) {
        return subscribe_admission::accepted;
    }
    return refuse(quota, now);
}

subscribe_admission subscribe_quota::refuse(const client_quota& quota, time_point now) {
    const rate_limit limit = quota.subscribe_limit();
    if (!limit.is_limited()) {
        return subscribe_admission::refused;
    }
    const rate_limit storm_limit{limit.per_second,
                                 std::min(limit.per_second * flood_seconds, max_rate_value)};
    return refused_.try_take(storm_limit, 1, now) ? subscribe_admission::refused
                                                  : subscribe_admission::storm;
}

} // namespace perch::gateway
