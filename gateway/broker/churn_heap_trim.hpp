// When to hand the heap left by a storm of connections back to the system: glibc keeps the
// freed heap of a login or logout storm (password checks, presence fan-out, output buffers)
// below long-lived session state, so without a trim each storm would leave the process larger.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace perch::gateway {

/// Counts connections accepted and closed across every worker; is_due() says "trim now" once
/// at least `changes_per_trim` happened since the last trim and none during the last
/// `quiet_time` (the storm is over). Thread-safe: one instance serves every worker.
class churn_heap_trim {
public:
    using clock = std::chrono::steady_clock;

    churn_heap_trim(std::uint64_t changes_per_trim, clock::duration quiet_time)
        : changes_per_trim_(changes_per_trim), quiet_time_(quiet_time) {}

    /// A connection was accepted or closed at `now`.
    void on_change(clock::time_point now) {
        changes_since_trim_.fetch_add(1, std::memory_order_relaxed);
        last_change_.store(now.time_since_epoch().count(), std::memory_order_relaxed);
    }

    /// True for exactly one caller when the heap should be trimmed now.
    bool is_due(clock::time_point now) {
        if (changes_since_trim_.load(std::memory_order_relaxed) < changes_per_trim_) {
            return false;
        }
        const clock::time_point last{clock::duration(last_change_.load(std::memory_order_relaxed))};
        if (now - last < quiet_time_) {
            return false;
        }
        return changes_since_trim_.exchange(0, std::memory_order_relaxed) >= changes_per_trim_;
    }

private:
    std::uint64_t changes_per_trim_;
    clock::duration quiet_time_;
    std::atomic<std::uint64_t> changes_since_trim_{0};
    std::atomic<clock::rep> last_change_{0};
};

} // namespace perch::gateway
