// One worker thread with its own io_context and the connections it owns.
#include "gateway/broker/worker.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include <boost/asio/post.hpp>

#include "gateway/broker/churn_heap_trim.hpp"
#include "gateway/broker/connection.hpp"
#include "gateway/common/log.hpp"
#include "gateway/stream/tls_context.hpp"

namespace perch::gateway {

namespace {

/// Size of the worker's read buffer: one read takes at most this much.
constexpr std::size_t read_buffer_bytes = 64 * 1024;
/// How often paused readers check whether the backlog has drained.
constexpr std::chrono::milliseconds pause_check_interval{5};
/// How often the loop-lag probe fires on each worker.
constexpr std::chrono::milliseconds lag_probe_interval{1000};

/// Connections accepted or closed, across all workers, before the heap is worth trimming once
/// they stop: a trim walks the heap (milliseconds), so a trickle of logins never trims.
constexpr std::uint64_t connection_changes_per_heap_trim = 1000;

churn_heap_trim& storm_heap_trim() {
    static churn_heap_trim trim(connection_changes_per_heap_trim, std::chrono::seconds(1));
    return trim;
}
/// Forwarding entries for moved sessions are kept while this many are recorded; older ones are
/// dropped first (a delivery in flight during a takeover arrives within microseconds).
constexpr std::size_t max_moved_entries = 4096;
/// How long a moved_ entry is kept at least, whatever their number.
constexpr std::chrono::seconds min_moved_entry_age{60};

} // namespace

worker::worker(std::size_t index)
    : index_(index), deadlines_(
                         context_,
                         [this](mqtt::subscriber_id target, std::uint64_t generation) {
                             if (const std::shared_ptr<connection> due = find_connection(target)) {
                                 due->on_deadline(generation);
                             }
                         },
                         [this](mqtt::subscriber_id target, std::uint64_t generation) {
                             const connection* due = connection_of(target);
                             return due != nullptr && due->is_deadline_current(generation);
                         }) {}

worker::~worker() {
    if (thread_.joinable()) {
        context_.stop();
        thread_.join();
    }
}

std::span<std::uint8_t> worker::read_buffer() {
    if (!read_buffer_) {
        read_buffer_.reset(new std::uint8_t[read_buffer_bytes]);
    }
    return {read_buffer_.get(), read_buffer_bytes};
}

void worker::set_peers(std::span<worker* const> peers) {
    peers_.assign(peers.begin(), peers.end());
    outbox_.resize(peers_.size());
}

void worker::request_handover(mqtt::subscriber_id previous, mqtt::subscriber_id successor,
                              bool is_clean_start) {
    worker& holder = *peers_[worker_of(previous)];
    boost::asio::post(holder.context(), [&holder, previous, successor, is_clean_start] {
        if (auto owner = holder.find_connection(previous)) {
            owner->hand_over(successor, is_clean_start);
            return;
        }
        // The previous session ended meanwhile: there is nothing to resume.
        holder.deliver_session_state(successor, std::nullopt);
    });
}

void worker::deliver_session_state(mqtt::subscriber_id successor,
                                   std::optional<mqtt::session_state> state) {
    worker& target = *peers_[worker_of(successor)];
    boost::asio::post(target.context(), [&target, successor, moved = std::move(state)]() mutable {
        if (auto resumed = target.find_connection(successor)) {
            resumed->resume_session(std::move(moved));
        }
    });
}

void worker::start() {
    guard_.emplace(context_.get_executor());
    boost::asio::post(
        context_, [this] { arm_lag_probe(std::chrono::steady_clock::now() + lag_probe_interval); });
    thread_ = std::thread([this] {
        run();
        // wolfSSL's per-thread ECC cache would otherwise outlive the thread.
        release_tls_thread_state();
    });
}

void worker::run() {
    while (true) {
        try {
            context_.run();
            return;
        } catch (const std::exception& error) {
            // A bug in one handler must not take the broker down; the handler's connection is
            // lost, the others carry on.
            log_error("worker {}: unexpected exception: {}", index_, error.what());
        }
    }
}

void worker::stop(std::chrono::milliseconds grace) {
    boost::asio::post(context_, [this, grace] {
        guard_.reset();
        pause_timer_.cancel();
        lag_timer_.cancel();
        is_lag_probe_stopped_ = true;
        grace_timer_.expires_after(grace);
        grace_timer_.async_wait([this](const boost::system::error_code& error) {
            if (!error) {
                log_warning("worker {}: connections still open after the grace period", index_);
                context_.stop();
            }
        });
        // Once only the grace timer is left, nothing else can happen: stop waiting.
        boost::asio::post(context_, [this] { check_idle(); });
    });
}

void worker::refresh_queue_depths() {
    std::uint64_t messages = 0;
    std::uint64_t bytes = 0;
    std::uint64_t deepest = 0;
    std::array<std::uint64_t, session_queue_depth_bounds.size() + 1> buckets{};
    for (const std::shared_ptr<connection>& owned : connections_) {
        const std::uint64_t depth = owned->queued_messages();
        messages += depth;
        bytes += owned->queued_bytes();
        deepest = std::max(deepest, depth);
        std::size_t bucket = 0;
        while (bucket < session_queue_depth_bounds.size() &&
               depth > session_queue_depth_bounds[bucket]) {
            ++bucket;
        }
        ++buckets[bucket];
    }
    counters_.session_queued_messages.set(messages);
    counters_.session_queued_bytes.set(bytes);
    counters_.session_queue_deepest.set(deepest);
    for (std::size_t bucket = 0; bucket < buckets.size(); ++bucket) {
        counters_.session_queue_depth_buckets[bucket].set(buckets[bucket]);
    }
}

void worker::arm_lag_probe(std::chrono::steady_clock::time_point expected) {
    if (is_lag_probe_stopped_) {
        return;
    }
    lag_timer_.expires_at(expected);
    lag_timer_.async_wait([this, expected](const boost::system::error_code& error) {
        if (error || is_lag_probe_stopped_) {
            return;
        }
        const auto now = std::chrono::steady_clock::now();
        const auto lag_us = static_cast<std::uint64_t>(std::max<std::int64_t>(
            0, std::chrono::duration_cast<std::chrono::microseconds>(now - expected).count()));
        counters_.loop_lag_us.set(lag_us);
        counters_.loop_lag_sum_us.add(lag_us);
        counters_.loop_lag_probes.add();
        std::size_t bucket = 0;
        while (bucket < loop_lag_bounds_us.size() && lag_us > loop_lag_bounds_us[bucket]) {
            ++bucket;
        }
        counters_.loop_lag_buckets[bucket].add();
        refresh_queue_depths();
        if (storm_heap_trim().is_due(now)) {
#if defined(__GLIBC__)
            // docs/PERFORMANCE.md round 15: without it each login or logout storm leaves the
            // process a few megabytes larger.
            ::malloc_trim(0);
#endif
        }
        // From now, not from `expected`: a stalled loop gets one late sample, not a burst.
        arm_lag_probe(now + lag_probe_interval);
    });
}

void worker::check_idle() {
    if (connections_.empty()) {
        grace_timer_.cancel();
        deadlines_.clear();
        return;
    }
    idle_timer_.expires_after(std::chrono::milliseconds(10));
    idle_timer_.async_wait([this](const boost::system::error_code& error) {
        if (!error) {
            check_idle();
        }
    });
}

void worker::join() {
    if (thread_.joinable()) {
        thread_.join();
    }
}

mqtt::subscriber_id worker::next_subscriber_id() {
    return make_subscriber_id(next_sequence_++, index_);
}

std::size_t worker::connection_id_hash::operator()(mqtt::subscriber_id id) const noexcept {
    return std::hash<mqtt::subscriber_id>{}(id);
}

std::size_t
worker::connection_id_hash::operator()(const std::shared_ptr<connection>& owned) const noexcept {
    return (*this)(owned->id());
}

bool worker::connection_id_equal::operator()(const std::shared_ptr<connection>& a,
                                             const std::shared_ptr<connection>& b) const noexcept {
    return a->id() == b->id();
}

bool worker::connection_id_equal::operator()(
    mqtt::subscriber_id id, const std::shared_ptr<connection>& owned) const noexcept {
    return id == owned->id();
}

bool worker::connection_id_equal::operator()(const std::shared_ptr<connection>& owned,
                                             mqtt::subscriber_id id) const noexcept {
    return owned->id() == id;
}

void worker::add_connection(std::shared_ptr<connection> owned) {
    connections_.insert(std::move(owned));
    storm_heap_trim().on_change(std::chrono::steady_clock::now());
}

connection* worker::connection_of(mqtt::subscriber_id subscriber) const {
    const auto found = connections_.find(subscriber);
    return found == connections_.end() ? nullptr : found->get();
}

void worker::schedule_deadline(mqtt::time_point when, mqtt::subscriber_id target,
                               std::uint64_t generation) {
    deadlines_.schedule(when, target, generation, deadline_waiters_);
}

void worker::remove_connection(mqtt::subscriber_id subscriber) {
    const auto found = connections_.find(subscriber);
    if (found != connections_.end()) {
        connections_.erase(found);
        storm_heap_trim().on_change(std::chrono::steady_clock::now());
    }
}

std::shared_ptr<connection> worker::find_connection(mqtt::subscriber_id subscriber) const {
    const auto found = connections_.find(subscriber);
    return found == connections_.end() ? nullptr : *found;
}

std::vector<std::shared_ptr<connection>> worker::connections() const {
    std::vector<std::shared_ptr<connection>> all;
    all.reserve(connections_.size());
    for (const auto& owned : connections_) {
        all.push_back(owned);
    }
    return all;
}

void worker::note_moved(mqtt::subscriber_id from, mqtt::subscriber_id to) {
    // An entry goes only once it is old enough that no delivery matched before the move can still
    // be on its way: a reconnect storm moves thousands of sessions at once while the workers'
    // queues hold seconds of deliveries, and dropping an entry then would lose them.
    const auto now = std::chrono::steady_clock::now();
    while (moved_order_.size() >= max_moved_entries &&
           now - moved_order_.front().second >= min_moved_entry_age) {
        moved_.erase(moved_order_.front().first);
        moved_order_.pop_front();
    }
    moved_[from] = to;
    moved_order_.emplace_back(from, now);
}

void worker::hold_during_handover(mqtt::subscriber_id subscriber, const delivery& routed) {
    held_during_handover_[subscriber].push_back(routed);
}

std::vector<delivery> worker::take_held_deliveries(mqtt::subscriber_id subscriber) {
    const auto found = held_during_handover_.find(subscriber);
    if (found == held_during_handover_.end()) {
        return {};
    }
    std::vector<delivery> held = std::move(found->second);
    held_during_handover_.erase(found);
    return held;
}

void worker::flush() {
    if (is_flush_posted_) {
        return;
    }
    is_flush_posted_ = true;
    boost::asio::post(context(), [this] {
        is_flush_posted_ = false;
        flush_now();
    });
}

void worker::flush_when_over(std::size_t max_pending) {
    std::size_t pending = 0;
    for (const delivery_batch& batch : outbox_) {
        pending += batch.size();
    }
    if (pending >= max_pending) {
        flush_now();
        return;
    }
    flush();
}

void worker::flush_now() {
    // Delivering locally may forward deliveries of moved sessions into the outbox again, so
    // repeat until it is empty (forwarding happens at most once per takeover).
    bool has_work = true;
    while (has_work) {
        has_work = false;
        for (std::size_t target = 0; target < outbox_.size(); ++target) {
            if (outbox_[target].empty()) {
                continue;
            }
            if (target == index_) {
                delivery_batch local = std::move(outbox_[target]);
                outbox_[target].clear();
                deliver_batch(local);
                has_work = true;
                continue;
            }
            worker* peer = peers_[target];
            boost::asio::post(peer->context(),
                              [peer, batch = std::move(outbox_[target])]() mutable {
                                  peer->deliver_batch(batch);
                                  peer->flush();
                              });
            outbox_[target].clear();
        }
    }
    for (const std::shared_ptr<connection>& target : dirty_) {
        target->flush_output();
    }
    dirty_.clear();
}

void worker::deliver_batch(delivery_batch& batch) {
    const mqtt::time_point now = std::chrono::steady_clock::now();
    for (delivery& routed : batch) {
        // A session handed over goes to its successor even while its old connection is still
        // here (closing): the old one holds no session any more.
        if (!moved_.empty()) {
            const auto moved = moved_.find(routed.subscriber);
            if (moved != moved_.end()) {
                routed.subscriber = moved->second;
                outbox_[worker_of(moved->second)].push_back(std::move(routed));
                continue;
            }
        }
        if (connection* target = connection_of(routed.subscriber)) {
            target->deliver(routed, now);
            continue;
        }
        // Otherwise the session ended after the message was matched: nobody to deliver to.
    }
}

void worker::mark_dirty(std::shared_ptr<connection> target) {
    dirty_.push_back(std::move(target));
}

std::uint64_t worker::total_queued_output_bytes() const {
    std::uint64_t total = 0;
    for (const worker* peer : peers_) {
        total += peer->counters().queued_output_bytes.value();
    }
    return total;
}

bool worker::is_output_congested(std::uint64_t limit_bytes) const {
    // This worker's own backlog is the common case; the sum is only taken when it is large.
    if (counters_.queued_output_bytes.value() * peers_.size() < limit_bytes / 2) {
        return false;
    }
    return total_queued_output_bytes() > limit_bytes;
}

void worker::pause_reading(std::shared_ptr<connection> reader, std::uint64_t limit_bytes) {
    const bool was_idle = paused_.empty();
    paused_.push_back(std::move(reader));
    pause_limit_bytes_ = limit_bytes;
    if (was_idle) {
        log_debug("worker {}: output backlog over {} bytes, pausing readers", index_, limit_bytes);
        check_paused_readers();
    }
}

void worker::check_paused_readers() {
    if (paused_.empty()) {
        return;
    }
    if (total_queued_output_bytes() <= pause_limit_bytes_ / 2) {
        std::vector<std::shared_ptr<connection>> resumed;
        resumed.swap(paused_);
        for (const std::shared_ptr<connection>& reader : resumed) {
            reader->resume_reading();
        }
        return;
    }
    pause_timer_.expires_after(pause_check_interval);
    pause_timer_.async_wait([this](const boost::system::error_code& error) {
        if (!error) {
            check_paused_readers();
        }
    });
}

} // namespace perch::gateway
