// The book a store keeps of its queues: the identifiers it hands out and how many entries and
// payload bytes each session's queue holds, which is what the queue caps are checked against.
// Not thread-safe: the owning store holds its lock around every call.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include "store/message_store.hpp"
#include "store/records.hpp"

namespace perch::store {

/// What enqueue decided: the receipt for the caller and the entries to write.
struct enqueue_plan {
    enqueue_receipt receipt;
    /// The accepted entries, in target order, with message_id and sequence filled in.
    std::vector<queue_entry> entries;
};

/// Identifier allocation and per-session queue usage.
///
/// Cap policy: a session's queue never holds more than `max_queued_messages` entries or
/// `max_queued_bytes` payload bytes (0 = no limit), counting in-flight entries. An entry that
/// would cross either limit is refused when it is enqueued, before anything is acknowledged to
/// its publisher; entries already queued are never dropped to make room.
class queue_ledger {
public:
    queue_ledger(std::uint32_t max_queued_messages, std::uint64_t max_queued_bytes);

    /// Records an entry found in storage; later identifiers are above its sequence and message.
    void restore(const std::string& client_id, std::uint64_t sequence, std::uint64_t message_id,
                 std::uint64_t payload_bytes);

    /// Makes later message identifiers and sequences larger than these (values found in storage
    /// after their entries were removed).
    void reserve_above(std::uint64_t message_id, std::uint64_t sequence);

    /// Assigns a message identifier and one sequence per target that has room; records the
    /// accepted entries. Targets without room get sequence 0 in the receipt.
    enqueue_plan plan_enqueue(const std::vector<queue_target>& targets,
                              std::uint64_t payload_bytes);

    /// Forgets the entry; false when the ledger does not hold it.
    bool release(const std::string& client_id, std::uint64_t sequence);

    /// Forgets every entry of the session.
    void release_session(const std::string& client_id);

    /// Entries the session's queue holds.
    std::size_t queued_messages(const std::string& client_id) const;
    /// Payload bytes the session's queue holds.
    std::uint64_t queued_bytes(const std::string& client_id) const;

private:
    struct session_usage {
        /// sequence -> payload bytes of each entry.
        std::map<std::uint64_t, std::uint64_t> entries;
        std::uint64_t bytes = 0;
    };

    bool has_room(const session_usage& usage, std::uint64_t payload_bytes) const;

    std::uint32_t max_queued_messages_;
    std::uint64_t max_queued_bytes_;
    std::uint64_t last_message_id_ = 0;
    std::uint64_t last_sequence_ = 0;
    std::unordered_map<std::string, session_usage> sessions_;
};

} // namespace perch::store
