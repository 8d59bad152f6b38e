// The operations submitted and not yet handed to the writer, oldest first, with the one
// optimisation the durability contract asks for: a queue entry acknowledged while its enqueue is
// still waiting here is dropped from that enqueue, so it is never written. Not thread-safe: the
// owner holds its lock around every call.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <unordered_map>
#include <vector>

#include "store/store_operation.hpp"
#include "store/store_status.hpp"

namespace perch::store {

/// An operation and the completion owed for it.
struct pending_operation {
    store_operation operation;
    /// Emptied once it has fired.
    store_completion completion;
    /// True once a write of this operation has been attempted (it failed if it is still pending).
    bool was_attempted = false;
};

/// FIFO of pending operations that coalesces writes to entries not yet written:
/// - an ack_operation for such an entry cancels it (sets its sequence to 0) and is queued as a
///   no_operation carrying the ack's completion;
/// - a mark_sent_operation for such an entry updates the entry in place, likewise.
/// Every push adds exactly one operation, so completions still fire in submission order.
class operation_queue {
public:
    /// Appends `operation`, coalesced as described above.
    void push(store_operation operation, store_completion completion);

    /// True when the oldest operation has been attempted before (the last write failed).
    bool is_retrying() const { return !operations_.empty() && operations_.front()->was_attempted; }

    /// True when some operation waiting was never attempted.
    bool has_new() const { return !operations_.empty() && !operations_.back()->was_attempted; }

    /// Removes and returns the oldest operations: every one attempted before (a failed group,
    /// always at the head) and up to `max_new_count` of the others, so that a retry also
    /// attempts the operations submitted since, however long the failed backlog. Their entries
    /// can no longer be coalesced.
    std::vector<pending_operation> take(std::size_t max_new_count);

    /// Puts operations taken earlier (a group whose write failed) back at the head, in their
    /// order, where acks can cancel their entries again.
    void return_to_front(std::vector<pending_operation> operations);

    /// Operations waiting.
    std::size_t size() const { return operations_.size(); }
    /// True when nothing waits.
    bool empty() const { return operations_.empty(); }
    /// Entries cancelled so far by an ack before they were taken.
    std::uint64_t cancelled_entries() const { return cancelled_entries_; }

private:
    /// Records the entries of `pending` in entries_ when it is an enqueue.
    void index_entries(pending_operation& pending);

    /// Where a not-yet-taken queue entry lives.
    struct entry_location {
        enqueue_operation* operation = nullptr;
        std::size_t index = 0;
    };

    /// The waiting entry `sequence` of `client_id`, or nullptr.
    queue_entry* find_entry(const std::string& client_id, std::uint64_t sequence);

    /// Heap-allocated so that entry_location pointers stay valid while the deque changes.
    std::deque<std::unique_ptr<pending_operation>> operations_;
    /// sequence -> location, for every entry of a waiting enqueue that is not cancelled.
    std::unordered_map<std::uint64_t, entry_location> entries_;
    std::uint64_t cancelled_entries_ = 0;
};

} // namespace perch::store
