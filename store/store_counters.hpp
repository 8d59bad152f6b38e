// Counters a message store keeps for metrics. Plain data: a snapshot taken by counters().
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace perch::store {

/// A distribution over fixed upper bounds. `bucket_counts` has one count per bound plus a last one
/// for values above every bound; each counts only its own bucket (not cumulative).
struct fixed_histogram {
    std::vector<double> upper_bounds;
    std::vector<std::uint64_t> bucket_counts;
    double sum = 0;
    std::uint64_t count = 0;

    /// A histogram over `bounds` (ascending) with nothing observed.
    static fixed_histogram with_bounds(std::vector<double> bounds) {
        fixed_histogram made;
        made.bucket_counts.assign(bounds.size() + 1, 0);
        made.upper_bounds = std::move(bounds);
        return made;
    }
    /// Counts `value` in the first bucket whose bound is at least `value`.
    void observe(double value) {
        std::size_t bucket = 0;
        while (bucket < upper_bounds.size() && value > upper_bounds[bucket]) {
            ++bucket;
        }
        ++bucket_counts[bucket];
        sum += value;
        ++count;
    }
};

/// Totals since the store opened.
struct store_counters {
    /// Groups committed.
    std::uint64_t commits = 0;
    /// Operations those groups carried.
    std::uint64_t committed_operations = 0;
    /// The most operations one group carried.
    std::uint64_t largest_group = 0;
    /// Commit attempts that failed (each is retried).
    std::uint64_t failed_commits = 0;
    /// Operations submitted and not yet committed, failed ones included.
    std::uint64_t pending_operations = 0;
    /// Queue rows inserted into durable storage.
    std::uint64_t queue_rows_written = 0;
    /// Queue rows acknowledged before their group committed, and so never written.
    std::uint64_t queue_rows_cancelled = 0;
    /// Enqueue targets refused because their session's queue was at its cap.
    std::uint64_t refused_for_quota = 0;
    /// Queued entries and retained messages deleted because they expired.
    std::uint64_t expired_messages = 0;
    /// Operations abandoned at shutdown because their writes kept failing.
    std::uint64_t operations_lost = 0;
    /// How long each successful group commit took, in seconds (empty for the memory store).
    fixed_histogram commit_seconds;
    /// How many operations each successful group commit carried.
    fixed_histogram commit_operations;
    /// True while the last commit attempt failed: nothing new becomes durable (full disk, I/O
    /// error) until a retry succeeds.
    bool is_refusing_writes = false;
    /// The last failure, for the operator; empty when is_refusing_writes is false.
    std::string write_failure;
};

} // namespace perch::store
