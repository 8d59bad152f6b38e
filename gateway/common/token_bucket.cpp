// Token buckets in the generic cell rate algorithm (see token_bucket.hpp).
#include "gateway/common/token_bucket.hpp"

#include <algorithm>
#include <cmath>

namespace perch::gateway {

namespace {

using nanoseconds = std::chrono::nanoseconds;

/// The time `tokens` take to be earned at `per_second` (> 0). Both at most max_rate_value, so the
/// product stays below 2^63.
nanoseconds time_for(std::uint64_t tokens, std::uint64_t per_second) {
    const std::uint64_t capped = std::min(tokens, max_rate_value);
    return nanoseconds(static_cast<std::int64_t>(capped * 1'000'000'000ULL / per_second));
}

} // namespace

bool token_bucket::can_take(const rate_limit& limit, std::uint64_t cost, time_point now) const {
    if (!limit.is_limited()) {
        return true;
    }
    const std::uint64_t burst = std::max<std::uint64_t>(limit.burst, 1);
    const std::uint64_t needed = std::min(cost, burst);
    return std::max(full_at_, now) - now <= time_for(burst - needed, limit.per_second);
}

bool token_bucket::try_take(const rate_limit& limit, std::uint64_t cost, time_point now) {
    if (!can_take(limit, cost, now)) {
        return false;
    }
    if (limit.is_limited()) {
        full_at_ = std::max(full_at_, now) + time_for(cost, limit.per_second);
    }
    return true;
}

std::uint64_t token_bucket::available(const rate_limit& limit, time_point now) const {
    const std::uint64_t burst = std::max<std::uint64_t>(limit.burst, 1);
    if (!limit.is_limited() || full_at_ <= now) {
        return burst;
    }
    const auto owed = std::chrono::duration_cast<nanoseconds>(full_at_ - now).count();
    // Tokens missing, rounded up: a bucket part way to its next token does not hold it yet.
    const auto missing = static_cast<std::uint64_t>(
        std::ceil(static_cast<double>(owed) * static_cast<double>(limit.per_second) / 1e9));
    return missing >= burst ? 0 : burst - missing;
}

} // namespace perch::gateway
