// The threads that check passwords. A password hash costs about a fifth of a second of CPU by
// design (PBKDF2, docs/CHAT.md "Passwords"), so it never runs on a worker, where it would stall
// every connection of that worker; a CONNECT waits for its check while the others go on.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace perch::gateway {

/// A fixed set of threads running queued checks in arrival order, with a bounded queue so that a
/// flood of logins (wrong passwords included) cannot hold unbounded memory. Thread-safe.
class password_check_pool {
public:
    /// Starts `thread_count` threads (at least one); at most `max_waiting` checks wait at once.
    password_check_pool(std::size_t thread_count, std::size_t max_waiting);
    /// Stops as stop() does.
    ~password_check_pool();
    password_check_pool(const password_check_pool&) = delete;
    password_check_pool& operator=(const password_check_pool&) = delete;

    /// Queues `check` to run on one of the threads. False, and `check` dropped, when max_waiting
    /// checks already wait or the pool stopped: the caller refuses the login as busy.
    bool submit(std::function<void()> check);

    /// Runs what is queued, then joins the threads (idempotent). Later submits are refused.
    void stop();

    /// How many threads a machine with `cores` cores gets: half of them, at least one, so that
    /// a login storm leaves the workers cores to run on.
    static std::size_t threads_for(unsigned cores);

private:
    void run();

    std::mutex mutex_;
    std::condition_variable wake_;
    std::deque<std::function<void()>> waiting_;
    std::size_t max_waiting_;
    bool is_stopping_ = false;
    std::vector<std::thread> threads_;
};

} // namespace perch::gateway
