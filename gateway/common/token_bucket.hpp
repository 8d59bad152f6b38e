// A token bucket (rate and burst) kept as one time point, with time given by the caller: no clock,
// no lock (each bucket has one owner thread, or a lock around it).
//
// Theory of operation. A bucket holds at most `burst` tokens and gains `per_second` tokens per
// second. It is stored as the moment it would be full again (the generic cell rate algorithm):
// at or before `now` it is full; each token taken moves that moment 1/per_second later. Taking
// `cost` tokens fits when the bucket holds them, i.e. full_at - now <= (burst - cost) tokens'
// worth of time. A cost larger than the whole burst (one big message against a byte rate) fits
// only in a full bucket and leaves it owing the difference, so that the rate still holds on
// average and such a message is never refused forever.
#pragma once

#include <chrono>
#include <cstdint>

namespace perch::gateway {

/// A rate and the burst allowed above it. per_second 0 means no limit. Both at most
/// max_rate_value (so that the arithmetic in nanoseconds cannot overflow).
struct rate_limit {
    std::uint64_t per_second = 0;
    std::uint64_t burst = 1;
    bool is_limited() const { return per_second != 0; }
    bool operator==(const rate_limit&) const = default;
};

/// The largest per_second, burst and cost a rate_limit may be used with.
inline constexpr std::uint64_t max_rate_value = 1'000'000'000;

/// One bucket. A default bucket is full.
class token_bucket {
public:
    using time_point = std::chrono::steady_clock::time_point;

    /// Takes `cost` tokens at `now` when the bucket holds them (or is full, for a cost above the
    /// burst) and returns true; otherwise changes nothing and returns false. Always true for a
    /// limit without a rate.
    bool try_take(const rate_limit& limit, std::uint64_t cost, time_point now);

    /// Whether try_take would take `cost` at `now`, changing nothing.
    bool can_take(const rate_limit& limit, std::uint64_t cost, time_point now) const;

    /// Whole tokens the bucket holds at `now` (burst when full; 0 while it owes tokens).
    std::uint64_t available(const rate_limit& limit, time_point now) const;

    /// True when the bucket is full at `now`: it remembers nothing and may be forgotten.
    bool is_full(time_point now) const { return full_at_ <= now; }

    /// When the bucket is full again.
    time_point full_at() const { return full_at_; }

private:
    time_point full_at_{};
};

} // namespace perch::gateway
