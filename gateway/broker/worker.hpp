// One worker: one thread, one io_context, and the connections (with their sessions) it owns for
// their whole life. Cross-worker work arrives as posted batches, one wake-up per batch.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <span>
#include <thread>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "gateway/broker/connection_placement.hpp"
#include "gateway/broker/delivery.hpp"
#include "gateway/broker/worker_counters.hpp"
#include "gateway/stream/deadline_queue.hpp"
#include "gateway/stream/output_queue.hpp"
#include "gateway/stream/readiness_poller.hpp"
#include "mqtt/session.hpp"
#include "mqtt/subscription_tree.hpp"

namespace perch::gateway {

class connection;

/// A thread with its own io_context. Except where noted, member functions must be called on the
/// worker's own thread (from a handler running on context()).
class worker {
public:
    /// Worker number `index` (< max_workers). The thread starts with start().
    explicit worker(std::size_t index);
    ~worker();
    worker(const worker&) = delete;
    worker& operator=(const worker&) = delete;

    std::size_t index() const { return index_; }
    /// The io_context every connection of this worker runs on. Any thread may post to it.
    boost::asio::io_context& context() { return context_; }
    /// The epoll set of this worker's plain TCP sockets (their transports register themselves).
    readiness_poller& poller() { return poller_; }
    /// New plain-TCP connections waiting for their CONNECT to be placed (server::place_connection).
    connect_probes& probes() { return probes_; }
    /// Output buffers of this worker's connections that have nothing to write.
    output_buffer_pool& output_pool() { return output_pool_; }
    /// This worker's statistics; any thread may read them.
    worker_counters& counters() { return counters_; }
    const worker_counters& counters() const { return counters_; }

    /// Tells the worker about every worker (itself included), indexed by worker number. Called
    /// once before start().
    void set_peers(std::span<worker* const> peers);

    /// Starts the thread. Any thread.
    void start();
    /// Lets the thread end once its handlers are done, and cuts them short after `grace`. Any
    /// thread.
    void stop(std::chrono::milliseconds grace);
    /// Waits for the thread to end. Any thread but the worker's own.
    void join();

    /// A fresh subscriber id naming this worker.
    mqtt::subscriber_id next_subscriber_id();

    // ---- the connections this worker owns ----------------------------------------------

    /// Adds `owned` under its subscriber id.
    void add_connection(std::shared_ptr<connection> owned);
    /// Removes the connection with id `subscriber`, if present.
    void remove_connection(mqtt::subscriber_id subscriber);
    /// The connection with id `subscriber`, or null.
    std::shared_ptr<connection> find_connection(mqtt::subscriber_id subscriber) const;
    /// Every connection this worker owns (a copy: callers may add or remove while visiting).
    std::vector<std::shared_ptr<connection>> connections() const;
    /// Number of connections (sessions included) this worker owns.
    std::size_t connection_count() const { return connections_.size(); }

    /// Records that the session `from` moved to `to`, so that deliveries still on their way to
    /// `from` follow it.
    void note_moved(mqtt::subscriber_id from, mqtt::subscriber_id to);

    /// Calls on_deadline(generation) on the connection `target` once `when` has come, if it is
    /// still this worker's and the deadline still current. One timer serves the whole worker.
    void schedule_deadline(mqtt::time_point when, mqtt::subscriber_id target,
                           std::uint64_t generation);
    /// A connection began or stopped waiting for a deadline (its queued entries stay until they
    /// come due or are dropped as stale, past twice the number of waiting connections).
    void note_deadline_waiter(bool is_waiting) {
        if (is_waiting) {
            ++deadline_waiters_;
        } else if (deadline_waiters_ > 0) {
            --deadline_waiters_;
        }
    }

    // ---- hand-offs between workers ----------------------------------------------------

    /// Asks the worker owning `previous` (one of the peers) to hand its session to `successor`
    /// (connection::hand_over), which answers with deliver_session_state.
    void request_handover(mqtt::subscriber_id previous, mqtt::subscriber_id successor,
                          bool is_clean_start);

    /// Posts the outcome of a handover to `successor`'s worker (one of the peers), which gives it
    /// to connection::resume_session: the previous session's state, or nothing when there is
    /// none to resume.
    void deliver_session_state(mqtt::subscriber_id successor,
                               std::optional<mqtt::session_state> state);

    // ---- routing and output --------------------------------------------------------------

    /// One delivery batch per worker, filled by the router during this loop turn.
    std::span<delivery_batch> outbox() { return outbox_; }
    /// The reusable match buffer of this thread.
    mqtt::match_output& match_scratch() { return match_scratch_; }
    /// The buffer every connection of this worker reads into (64 KiB, allocated on first use).
    /// A read turn hands what it read to its session before the next read on this worker, so one
    /// buffer serves them all; a partial packet's tail is kept by the session.
    std::span<std::uint8_t> read_buffer();

    /// Asks for flush_now() at the end of this turn: the first request of a turn posts one
    /// handler, which runs after the handlers already queued (the other sockets the same epoll
    /// wake-up found ready), so the reads of one wake-up share one write per connection and one
    /// post per peer worker. Call it from this worker's thread.
    void flush();

    /// Like flush(), but flushes at once when the outbox holds `max_pending` deliveries or more.
    /// For a handler that is a turn of its own (not inside a delivery or a read): a burst of such
    /// handlers queued together (every device of a disconnect storm routing its presence) then
    /// hands its deliveries over in slices instead of gathering all of them first.
    void flush_when_over(std::size_t max_pending = default_max_pending_deliveries);

    /// The outbox size past which flush_when_over() flushes at once.
    static constexpr std::size_t default_max_pending_deliveries = 1024;

    /// Hands each non-empty outbox batch to its worker (one post per worker; this worker's own
    /// batch is delivered directly), then flushes every connection marked dirty: one gather write
    /// per connection.
    void flush_now();

    /// Delivers a batch to the connections of this worker, following moved sessions.
    void deliver_batch(delivery_batch& batch);

    /// Keeps a delivery for the connection `subscriber`, whose session is on its way from the
    /// connection it takes over (a delivery routed to its new id may arrive first).
    void hold_during_handover(mqtt::subscriber_id subscriber, const delivery& routed);
    /// The deliveries held for `subscriber`, oldest first; they are no longer held.
    std::vector<delivery> take_held_deliveries(mqtt::subscriber_id subscriber);

    /// Marks `target` as having output to flush at the end of this turn.
    void mark_dirty(std::shared_ptr<connection> target);

    // ---- back-pressure -------------------------------------------------------------------

    /// Bytes waiting to be written on all workers' connections.
    std::uint64_t total_queued_output_bytes() const;
    /// True when readers should pause: the broker's outbound backlog is over `limit_bytes`.
    bool is_output_congested(std::uint64_t limit_bytes) const;
    /// Parks `reader` until the backlog falls below half of `limit_bytes`; then resume_reading()
    /// is called on it.
    void pause_reading(std::shared_ptr<connection> reader, std::uint64_t limit_bytes);

private:
    void run();
    void check_idle();
    void check_paused_readers();
    /// Arms the loop-lag probe for one interval from `expected`; when it fires, how late it is
    /// goes into the loop_lag counters.
    void arm_lag_probe(std::chrono::steady_clock::time_point expected);
    /// Recomputes the session queue gauges and histogram of counters_ from connections_.
    void refresh_queue_depths();

    std::size_t index_;
    boost::asio::io_context context_{1};
    /// The plain TCP sockets of this worker's connections.
    readiness_poller poller_{context_};
    connect_probes probes_;
    std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> guard_;
    boost::asio::steady_timer grace_timer_{context_};
    boost::asio::steady_timer pause_timer_{context_};
    boost::asio::steady_timer idle_timer_{context_};
    /// Fires every lag_probe_interval; how late it runs is the loop's lag (docs/OPERATIONS.md).
    boost::asio::steady_timer lag_timer_{context_};
    std::thread thread_;
    worker_counters counters_;
    std::vector<worker*> peers_;
    std::uint64_t next_sequence_ = 1;

    /// Keyed by the connection's own id, so that a node is the owning pointer and nothing else
    /// (24 bytes; a map node repeating the id is 32, one heap size class up).
    struct connection_id_hash {
        using is_transparent = void;
        std::size_t operator()(mqtt::subscriber_id id) const noexcept;
        std::size_t operator()(const std::shared_ptr<connection>& owned) const noexcept;
    };
    struct connection_id_equal {
        using is_transparent = void;
        bool operator()(const std::shared_ptr<connection>& a,
                        const std::shared_ptr<connection>& b) const noexcept;
        bool operator()(mqtt::subscriber_id id,
                        const std::shared_ptr<connection>& owned) const noexcept;
        bool operator()(const std::shared_ptr<connection>& owned,
                        mqtt::subscriber_id id) const noexcept;
    };
    /// The connection `subscriber`, or nullptr.
    connection* connection_of(mqtt::subscriber_id subscriber) const;

    std::unordered_set<std::shared_ptr<connection>, connection_id_hash, connection_id_equal>
        connections_;
    deadline_queue deadlines_;
    /// Connections waiting for a deadline (see note_deadline_waiter).
    std::size_t deadline_waiters_ = 0;
    std::unordered_map<mqtt::subscriber_id, mqtt::subscriber_id> moved_;
    /// Deliveries held for connections awaiting their session (hold_during_handover).
    std::unordered_map<mqtt::subscriber_id, std::vector<delivery>> held_during_handover_;
    /// Keys of moved_ with the time of their move, oldest first, to bound its size.
    std::deque<std::pair<mqtt::subscriber_id, std::chrono::steady_clock::time_point>> moved_order_;
    std::vector<delivery_batch> outbox_;
    mqtt::match_output match_scratch_;
    output_buffer_pool output_pool_;
    /// Not value-initialised: only the bytes a read fills are ever touched.
    std::unique_ptr<std::uint8_t[]> read_buffer_;
    std::vector<std::shared_ptr<connection>> dirty_;
    /// A flush_now() handler is posted and has not run yet.
    bool is_flush_posted_ = false;
    bool is_lag_probe_stopped_ = false;
    std::vector<std::shared_ptr<connection>> paused_;
    std::uint64_t pause_limit_bytes_ = 0;
};

} // namespace perch::gateway
