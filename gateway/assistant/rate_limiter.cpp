// Token buckets for the assistant's request limits, in integer clock ticks.
#include "gateway/assistant/rate_limiter.hpp"

#include <algorithm>

namespace perch::gateway::assistant {
namespace {

/// How often buckets that are full again are dropped.
constexpr auto sweep_interval = std::chrono::minutes(1);

/// The time one token takes to come back under `limit` (per_minute > 0).
rate_limiter::time_point::duration token_interval(const rate_limit& limit) {
    return std::chrono::duration_cast<rate_limiter::time_point::duration>(std::chrono::minutes(1)) /
           limit.per_minute;
}

} // namespace

rate_limiter::rate_limiter(rate_limit per_user, rate_limit global)
    : per_user_(per_user), global_(global) {}

bool rate_limiter::has_token(bucket full_at, const rate_limit& limit, time_point now) {
    if (limit.per_minute == 0) {
        return true;
    }
    const auto tolerance = token_interval(limit) * (std::max<std::uint32_t>(limit.burst, 1) - 1);
    return full_at - tolerance <= now;
}

void rate_limiter::take_token(bucket& full_at, const rate_limit& limit, time_point now) {
    if (limit.per_minute != 0) {
        full_at = std::max(full_at, now) + token_interval(limit);
    }
}

rate_decision rate_limiter::try_acquire(std::string_view user, time_point now) {
    forget_full_buckets(now);
    auto [entry, is_new] = users_.try_emplace(std::string(user), now);
    if (!has_token(entry->second, per_user_, now)) {
        return rate_decision::user_limited;
    }
    if (!has_token(global_full_at_, global_, now)) {
        if (is_new) {
            users_.erase(entry);
        }
        return rate_decision::globally_limited;
    }
    take_token(entry->second, per_user_, now);
    take_token(global_full_at_, global_, now);
    return rate_decision::allowed;
}

void rate_limiter::forget_full_buckets(time_point now) {
    if (now - last_sweep_ < sweep_interval) {
        return;
    }
    last_sweep_ = now;
    std::erase_if(users_, [now](const auto& entry) { return entry.second <= now; });
}

} // namespace perch::gateway::assistant
