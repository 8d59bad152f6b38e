// The FIFO of a chat store's writer thread (sqlite_chat_store and postgres_chat_store alike):
// grouped writes, which commit together in one transaction, and standalone jobs (reads, searches,
// directory changes), which run alone between groups.
//
// Theory of operation
// - A group is the run of grouped writes at the head, up to max_batch_operations of them; a
//   standalone job ends it.
// - A group whose commit failed goes back to the head (put_back), its operations marked
//   attempted. Its retry takes every failed operation plus up to max_batch_operations new writes
//   behind it, skipping the standalone jobs between them, so that history keeps its order and a
//   write submitted during the failure gets the retry's outcome (docs/DURABILITY.md "Failure
//   behaviour"). Standalone jobs run past a failed group meanwhile (first_standalone).
// - Not thread-safe: the store guards it with its own mutex.
#pragma once

#include <algorithm>
#include <cstddef>
#include <deque>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "store/store_status.hpp"

namespace perch::store {

template <typename GroupWrite> class chat_operation_queue {
public:
    /// One pending operation: a grouped write (`write`, `done`) or a standalone job (`run_alone`).
    struct operation {
        GroupWrite write;
        store_completion done;
        std::function<void()> run_alone;
        /// True once a write of it has been attempted (it failed if it is still queued).
        bool was_attempted = false;
        /// What a grouped write does, for the log ("history append room/lobby #42").
        std::string description = {};
    };
    using iterator = typename std::deque<operation>::iterator;
    using const_iterator = typename std::deque<operation>::const_iterator;

    bool empty() const { return operations_.empty(); }
    const operation& front() const { return operations_.front(); }
    iterator begin() { return operations_.begin(); }
    iterator end() { return operations_.end(); }
    const_iterator begin() const { return operations_.begin(); }
    const_iterator end() const { return operations_.end(); }

    void push_back(operation pending) { operations_.push_back(std::move(pending)); }

    /// True when the head is a failed group waiting for its retry.
    bool is_failed_group_first() const { return !empty() && front().was_attempted; }

    /// True when a group should close now for its size: a standalone job follows the grouped
    /// writes at the head, or they number `max_batch_operations`.
    bool is_group_full(std::size_t max_batch_operations) const {
        std::size_t grouped = 0;
        for (const operation& pending : operations_) {
            if (pending.run_alone || ++grouped >= max_batch_operations) {
                return true;
            }
        }
        return false;
    }

    /// True when the writer must be woken for the operation just pushed: the queue was empty
    /// (the writer waits with no deadline), it is a standalone job (it closes an open group, or
    /// runs past a failed one), or the open group is full. A grouped write behind an open group
    /// or a failed one waits for that group's deadline or retry with it, so it needs no wake-up:
    /// one per message would cost a futex call and a thread switch. Constant time: with no
    /// standalone job queued (the writer was woken for any) the open group is the whole queue.
    bool wakes_writer(std::size_t max_batch_operations) const {
        return operations_.size() == 1 || static_cast<bool>(operations_.back().run_alone) ||
               (!is_failed_group_first() && operations_.size() >= max_batch_operations);
    }

    /// True when a grouped write submitted since the last failure waits (a flush wants it tried).
    bool has_unattempted_write() const {
        return std::any_of(operations_.begin(), operations_.end(), [](const operation& pending) {
            return !pending.run_alone && !pending.was_attempted;
        });
    }

    /// The oldest standalone job, or end().
    iterator first_standalone() {
        return std::find_if(operations_.begin(), operations_.end(), [](const operation& pending) {
            return static_cast<bool>(pending.run_alone);
        });
    }

    /// Takes `job` out of the queue.
    operation take(iterator job) {
        operation taken = std::move(*job);
        operations_.erase(job);
        return taken;
    }

    /// Takes the next group: the grouped writes at the head up to the first standalone job, at
    /// most `max_batch_operations` of them; after a failure, every failed operation and up to
    /// that many new writes, past the standalone jobs. The queue must not be empty.
    std::vector<operation> take_group(std::size_t max_batch_operations) {
        const std::size_t max_new = std::max<std::size_t>(max_batch_operations, 1);
        const bool is_retry = operations_.front().was_attempted;
        std::vector<operation> group;
        std::size_t new_count = 0;
        for (auto pending = operations_.begin(); pending != operations_.end();) {
            if (pending->run_alone) {
                if (!is_retry) {
                    break;
                }
                ++pending;
                continue;
            }
            if (!pending->was_attempted && new_count == max_new) {
                break;
            }
            new_count += pending->was_attempted ? 0 : 1;
            group.push_back(std::move(*pending));
            pending = operations_.erase(pending);
        }
        return group;
    }

    /// Puts a failed group back at the head, in its order, for its retry.
    void put_back(std::vector<operation>& group) {
        for (auto pending = group.rbegin(); pending != group.rend(); ++pending) {
            operations_.push_front(std::move(*pending));
        }
    }

private:
    std::deque<operation> operations_;
};

} // namespace perch::store
