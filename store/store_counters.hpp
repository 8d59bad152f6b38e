// Counters a message store keeps for metrics. Plain data: a snapshot taken by counters().
#pragma once

#include <cstdint>

namespace perch::store {

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
};

} // namespace perch::store
