// The deadlines of a worker's connections (CONNECT timeout, keep-alive, will delay, session
// expiry, closing linger) behind one Asio timer. A connection waiting for a deadline costs one
// 24-byte heap entry instead of a timer of its own and a pending wait operation.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "mqtt/message.hpp"
#include "mqtt/subscription_tree.hpp"

namespace perch::gateway {

/// A min-heap of (time, connection, generation) entries served by one steady_timer. A connection
/// cancels or moves its deadline by bumping its own generation: stale entries are skipped when
/// they come due and dropped in bulk when they outnumber the live ones. Every member function runs
/// on the io_context's thread.
class deadline_queue {
public:
    /// Calls `fire(target, generation)` once an entry's time has come.
    using fire_handler = std::function<void(mqtt::subscriber_id target, std::uint64_t generation)>;
    /// True while the entry (`target`, `generation`) is still wanted.
    using current_check = std::function<bool(mqtt::subscriber_id target, std::uint64_t generation)>;

    deadline_queue(boost::asio::io_context& context, fire_handler fire, current_check is_current);
    /// The pending wait refers to this object: it stays where it was made.
    deadline_queue(const deadline_queue&) = delete;
    deadline_queue& operator=(const deadline_queue&) = delete;

    /// Calls fire(target, generation) at `when` (or as soon after as the worker gets to it).
    /// `live_hint` is how many entries could be current at most (the worker's connections that
    /// wait for a deadline): past twice that, stale entries are dropped.
    void schedule(mqtt::time_point when, mqtt::subscriber_id target, std::uint64_t generation,
                  std::size_t live_hint);

    /// Forgets every entry and stops the timer, so that a stopping worker's io_context can run out
    /// of work.
    void clear();

    /// Entries held, stale ones included.
    std::size_t size() const { return entries_.size(); }

private:
    struct entry {
        mqtt::time_point when;
        mqtt::subscriber_id target = 0;
        std::uint64_t generation = 0;
    };
    /// Orders the heap so that the earliest entry is at the front.
    static bool is_later(const entry& a, const entry& b) { return a.when > b.when; }
    void arm();
    void on_timer(const boost::system::error_code& error);
    void drop_stale();

    boost::asio::steady_timer timer_;
    fire_handler fire_;
    current_check is_current_;
    std::vector<entry> entries_;
    /// When the timer is set to expire, if it is waiting.
    std::optional<mqtt::time_point> armed_at_;
    /// Entries that came due in one wake-up (kept to reuse its capacity).
    std::vector<entry> due_;
};

} // namespace perch::gateway
