// The writer thread of a durable store: collects submitted operations into groups and hands each
// group to a backend function that writes it in one transaction, then fires the completions.
// Knows nothing about SQL; the backend function owns the connection and runs only on this thread.
//
// Theory of operation. A group opens when an operation arrives at an idle writer and closes when
// commit_interval_ms has passed since then, when it holds max_batch_operations, when someone
// waits in flush(), or at shutdown. The writer takes the group out of the operation queue (from
// then on its entries can no longer be cancelled by an ack), writes it without holding the lock,
// and fires each completion with the outcome.
//
// Failure. A group whose write fails is rolled back by the backend. Its completions fire with
// write_failed, but its operations go back, in order, to the head of the operation queue, where
// an ack can still cancel their entries; the next attempt waits retry_interval_ms (or comes at
// once when a flush() waits for operations submitted since) and carries every failed operation
// plus up to max_batch_operations submitted meanwhile, so each of those completes, once, with the
// retry's outcome however long the backlog. So the durable state never skips an operation the
// in-memory state has applied, it catches up when the disk recovers, and a queue drained by its
// consumer while the disk was full needs no space at all. Completions fire once: an operation
// retried after a failure completes silently. Jobs (run_on_writer) never wait for a failed group.
// At shutdown a failing group gets one more attempt; if that fails too each operation is logged
// and counted as lost.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "store/operation_queue.hpp"
#include "store/store_counters.hpp"
#include "store/store_options.hpp"
#include "store/store_status.hpp"

namespace perch::store {

/// Writes one group in one transaction, all or nothing; returns ok or the failure. Runs on the
/// writer thread only.
using group_writer = std::function<store_status(const std::vector<pending_operation>& group)>;

/// Totals kept by the writer.
struct group_commit_counters {
    std::uint64_t commits = 0;
    std::uint64_t committed_operations = 0;
    std::uint64_t largest_group = 0;
    std::uint64_t failed_commits = 0;
    std::uint64_t pending_operations = 0;
    std::uint64_t cancelled_entries = 0;
    std::uint64_t operations_lost = 0;
    /// Duration (seconds) and size (operations) of each successful commit.
    fixed_histogram commit_seconds = fixed_histogram::with_bounds(
        {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5});
    fixed_histogram commit_operations =
        fixed_histogram::with_bounds({1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096});
    /// The last attempt failed (see store_counters::is_refusing_writes), and why.
    bool is_refusing_writes = false;
    std::string write_failure;
};

/// The writer thread and its operation queue. All members are thread-safe.
class group_committer {
public:
    /// Starts the writer thread. Uses commit_interval_ms, max_batch_operations,
    /// retry_interval_ms and log_error from `options`.
    group_committer(group_writer writer, const store_options& options);
    /// Writes everything still pending (see "Failure" above), then stops the thread.
    ~group_committer();

    group_committer(const group_committer&) = delete;
    group_committer& operator=(const group_committer&) = delete;

    /// Queues an operation; never waits for the disk.
    void submit(store_operation operation, store_completion completion);

    /// Blocks until every operation submitted before the call has been attempted (its
    /// completion fired), closing the current group early.
    void flush();

    /// Runs `job` on the writer thread between two groups and waits for it. An exception thrown
    /// by the job is rethrown here.
    void run_on_writer(const std::function<void()>& job);

    /// A snapshot of the totals, taken under the lock the writer updates them under.
    group_commit_counters counters() const;

private:
    using clock = std::chrono::steady_clock;

    void run();
    /// Waits until a group should be written or a job run; false when the thread should end.
    bool wait_for_work(std::unique_lock<std::mutex>& lock);
    void write_next_group(std::unique_lock<std::mutex>& lock);
    /// Logs a failed group (each operation by name when it is lost at shutdown) or a recovery.
    void log_outcome(const std::vector<pending_operation>& group, const store_status& status,
                     bool is_stopping, bool is_retry) const;
    void log(std::string_view line) const;

    group_writer writer_;
    const std::chrono::milliseconds commit_interval_;
    const std::size_t max_batch_operations_;
    const std::chrono::milliseconds retry_interval_;
    std::function<void(std::string_view)> log_error_;

    /// Guards every member below.
    mutable std::mutex mutex_;
    /// Wakes the writer: work arrived, flush requested, or stopping.
    std::condition_variable wake_writer_;
    /// Wakes flush() and run_on_writer() callers.
    std::condition_variable progress_;
    /// Operations not yet written, failed ones (already completed) first.
    operation_queue queue_;
    std::deque<std::function<void()>*> jobs_;
    clock::time_point group_opened_at_{};
    clock::time_point retry_at_{};
    /// Operations of the group being written (out of queue_ meanwhile).
    std::size_t writing_count_ = 0;
    std::uint64_t submitted_ = 0;
    std::uint64_t attempted_ = 0;
    std::uint64_t jobs_done_ = 0;
    std::uint64_t jobs_queued_ = 0;
    unsigned flush_waiters_ = 0;
    bool stopping_ = false;
    group_commit_counters counters_;

    /// Last member: started after everything above exists, joined first.
    std::thread thread_;
};

} // namespace perch::store
