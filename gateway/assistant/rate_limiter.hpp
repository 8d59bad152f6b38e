// Request rate limits of the assistant: a token bucket per user and one for everybody. Time
// arrives as a parameter; no clock, no threads (one limiter per owner thread, or a lock around it).
//
// Theory of operation. Each limit is a token bucket holding at most `burst` tokens that gains
// `per_minute` tokens per minute, kept exactly in integer clock ticks as the time at which the
// bucket would next be full (the generic cell rate algorithm): a request at `now` fits when
// full_at - (burst - 1) * interval <= now, and taking it moves full_at to max(full_at, now) +
// interval. A request takes a token from its user's bucket and one from the global bucket, or
// neither when either is empty. Buckets that are full again are forgotten, so memory follows the
// active users, not every user ever seen.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>

namespace perch::gateway::assistant {

/// One limit: a rate and the burst allowed above it. per_minute 0 means no limit.
struct rate_limit {
    std::uint32_t per_minute = 0;
    std::uint32_t burst = 1;
};

/// Which limit refused a request.
enum class rate_decision : std::uint8_t { allowed, user_limited, globally_limited };

/// The two limits together.
class rate_limiter {
public:
    using time_point = std::chrono::steady_clock::time_point;

    rate_limiter(rate_limit per_user, rate_limit global);

    /// Takes a token for `user` at `now` from both buckets, or none.
    rate_decision try_acquire(std::string_view user, time_point now);

    /// Users with a bucket in memory.
    std::size_t tracked_users() const { return users_.size(); }

private:
    /// One bucket: when it would be full again (at or before now: it is full).
    using bucket = time_point;

    /// True when `full_at` leaves a token for a request at `now` under `limit`.
    static bool has_token(bucket full_at, const rate_limit& limit, time_point now);
    /// Takes a token: `full_at` moves one interval later.
    static void take_token(bucket& full_at, const rate_limit& limit, time_point now);
    void forget_full_buckets(time_point now);

    rate_limit per_user_;
    rate_limit global_;
    bucket global_full_at_{};
    std::unordered_map<std::string, bucket> users_;
    time_point last_sweep_{};
};

} // namespace perch::gateway::assistant
