// When to hand the heap left by a burst of TLS handshakes back to the system: wolfSSL allocates
// ~57 KB per handshake and frees it at the record take-over, but glibc keeps freed heap below
// long-lived allocations, so after a login storm the process would keep its peak.
#pragma once

#include <atomic>
#include <cstddef>

namespace perch::gateway {

/// Counts the process's TLS handshakes in progress and those completed since the last trim;
/// says "trim now" when the last handshake in progress ends and at least `handshakes_per_trim`
/// completed since the last trim (so a steady trickle of logins trims rarely, a storm once at its
/// end). Thread-safe: one instance serves every worker.
class handshake_heap_trim {
public:
    explicit handshake_heap_trim(std::size_t handshakes_per_trim)
        : handshakes_per_trim_(handshakes_per_trim) {}

    /// A handshake began.
    void on_started() { in_progress_.fetch_add(1, std::memory_order_relaxed); }

    /// A handshake ended, `is_completed` when it succeeded. True for exactly one caller when the
    /// heap should be trimmed now.
    bool on_ended(bool is_completed) {
        if (is_completed) {
            completed_since_trim_.fetch_add(1, std::memory_order_relaxed);
        }
        if (in_progress_.fetch_sub(1, std::memory_order_acq_rel) != 1 ||
            completed_since_trim_.load(std::memory_order_relaxed) < handshakes_per_trim_) {
            return false;
        }
        return completed_since_trim_.exchange(0, std::memory_order_relaxed) >= handshakes_per_trim_;
    }

    std::size_t in_progress() const { return in_progress_.load(std::memory_order_relaxed); }

private:
    std::size_t handshakes_per_trim_;
    std::atomic<std::size_t> in_progress_{0};
    std::atomic<std::size_t> completed_since_trim_{0};
};

} // namespace perch::gateway
