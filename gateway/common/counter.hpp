// A count written by one thread and read by any: a relaxed atomic the owner bumps with a plain
// load and store, so the hot path takes no locked instruction.
#pragma once

#include <atomic>
#include <cstdint>

namespace perch::gateway {

/// A count written by one thread and read by any.
class counter {
public:
    /// Adds `amount`. Only the owning thread may call this.
    void add(std::uint64_t amount = 1) {
        value_.store(value_.load(std::memory_order_relaxed) + amount, std::memory_order_relaxed);
    }
    /// Subtracts `amount` (for gauges). Only the owning thread may call this.
    void subtract(std::uint64_t amount = 1) {
        value_.store(value_.load(std::memory_order_relaxed) - amount, std::memory_order_relaxed);
    }
    /// Replaces the value (for gauges that hold the last measurement). Only the owning thread.
    void set(std::uint64_t value) { value_.store(value, std::memory_order_relaxed); }
    /// The current value, from any thread.
    std::uint64_t value() const { return value_.load(std::memory_order_relaxed); }

private:
    std::atomic<std::uint64_t> value_{0};
};

} // namespace perch::gateway
