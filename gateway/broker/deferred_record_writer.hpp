// Session records whose write may wait: the record a persistent session gets when its connection
// ends is held here for a while, so that a session that comes back meanwhile (a reconnect storm,
// a takeover) writes nothing for its end nor for its return, and so that the records of sessions
// that stay away are submitted together and share their group commits. Knows nothing about
// sockets; no SQL.
//
// Theory of operation. defer() holds one record per client id, with what the store holds for the
// session meanwhile (its last connected record) and a due time `delay` later; a newer deferral of
// the same session replaces the record and keeps the first due time. One thread submits every
// record due within the next second at once, and everything still held when the writer stops. A
// record leaves unwritten only through take(): the session came back and the caller writes what
// it needs itself. submit_now() and erase_then() run a write of the same session under the lock
// that submissions take, so that a held record can never be submitted after a newer write or a
// deletion of its session.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>

#include "store/message_store.hpp"

namespace perch::gateway {

/// How long the record written when a connection ends waits (docs/DURABILITY.md "What is written
/// when"): a client back within it costs the disk no session record at all.
inline constexpr std::chrono::milliseconds deferred_record_delay{60'000};

/// Submits a held record to the store.
using deferred_submit = std::function<void(store::stored_session record)>;

/// The held records and the thread that submits them. Thread-safe.
class deferred_record_writer {
public:
    /// Starts the thread; `submit` runs on it (and in the destructor) under the writer's lock.
    deferred_record_writer(deferred_submit submit, std::chrono::milliseconds delay);
    /// Submits every record still held, then stops the thread.
    ~deferred_record_writer();

    deferred_record_writer(const deferred_record_writer&) = delete;
    deferred_record_writer& operator=(const deferred_record_writer&) = delete;

    /// Holds `record` until the delay has passed; `stored` is what the store holds for the
    /// session until then.
    void defer(store::stored_session record, store::stored_session stored);

    /// Takes the held record of `client_id` back unwritten and returns what the store holds for
    /// the session instead; empty when none is held (never deferred, or submitted already).
    std::optional<store::stored_session> take(const std::string& client_id);

    /// Drops the held record of `client_id` and runs `write` (a newer write or the deletion of
    /// the session) before any other submission can run.
    void erase_then(const std::string& client_id, const std::function<void()>& write);

    /// Submits every held record now.
    void submit_all();

    /// Records held.
    std::size_t held() const;

private:
    struct held_record {
        store::stored_session record;
        store::stored_session stored;
        std::uint64_t generation = 0;
    };
    struct due_entry {
        std::chrono::steady_clock::time_point due;
        std::string client_id;
        std::uint64_t generation = 0;
    };

    void run();
    /// Submits the held records whose due time is at or before `until`; lock held.
    void submit_due(std::chrono::steady_clock::time_point until);

    deferred_submit submit_;
    const std::chrono::milliseconds delay_;
    // Owner: any thread. Lock: mutex_.
    mutable std::mutex mutex_;
    std::condition_variable wake_;
    std::unordered_map<std::string, held_record> held_;
    /// Due times in deferral order (hence in due order); entries whose record was taken, erased
    /// or replaced carry a stale generation and are skipped.
    std::deque<due_entry> due_;
    std::uint64_t next_generation_ = 1;
    bool is_stopping_ = false;
    std::thread thread_;
};

} // namespace perch::gateway
