// The writer thread: group commit, completions, retry after failure. See the header for the
// theory of operation.
#include "store/group_committer.hpp"

#include <algorithm>
#include <exception>
#include <iterator>
#include <string>
#include <utility>
#include <variant>

namespace perch::store {
namespace {

/// What `operation` writes, for the line that logs it lost.
std::string describe(const store_operation& operation) {
    struct describer {
        std::string operator()(const save_session_operation& save) const {
            return "session of " + save.session.client_id;
        }
        std::string operator()(const delete_session_operation& removal) const {
            return "removal of the session of " + removal.client_id;
        }
        std::string operator()(const add_subscription_operation& added) const {
            return "subscription of " + added.subscription.client_id + " to " +
                   added.subscription.topic_filter;
        }
        std::string operator()(const remove_subscription_operation& removal) const {
            return "removal of the subscription of " + removal.client_id + " to " +
                   removal.topic_filter;
        }
        std::string operator()(const enqueue_operation& enqueue) const {
            return "message on " + enqueue.message->topic + " for " +
                   std::to_string(enqueue.entries.size()) + " queues";
        }
        std::string operator()(const mark_sent_operation& sent) const {
            return "delivery state of " + sent.client_id + " #" + std::to_string(sent.sequence);
        }
        std::string operator()(const ack_operation& ack) const {
            return "acknowledgement of " + ack.client_id + " #" + std::to_string(ack.sequence);
        }
        std::string operator()(const put_retained_operation& put) const {
            return "retained message on " + put.message.topic;
        }
        std::string operator()(const clear_retained_operation& clear) const {
            return "removal of the retained message on " + clear.topic;
        }
        std::string operator()(const add_inbound_qos2_operation& added) const {
            return "QoS 2 record of " + added.record.client_id + " packet " +
                   std::to_string(added.record.packet_id);
        }
        std::string operator()(const remove_inbound_qos2_operation& removal) const {
            return "removal of the QoS 2 record of " + removal.record.client_id + " packet " +
                   std::to_string(removal.record.packet_id);
        }
        std::string operator()(const expire_messages_operation&) const {
            return "expiry of messages";
        }
        std::string operator()(const no_operation&) const { return "completion only"; }
    };
    return std::visit(describer{}, operation);
}

} // namespace

group_committer::group_committer(group_writer writer, const store_options& options)
    : writer_(std::move(writer)), commit_interval_(options.commit_interval_ms),
      max_batch_operations_(std::max<std::size_t>(1, options.max_batch_operations)),
      retry_interval_(options.retry_interval_ms), log_error_(options.log_error),
      thread_([this] { run(); }) {}

group_committer::~group_committer() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_writer_.notify_all();
    thread_.join();
}

void group_committer::submit(store_operation operation, store_completion completion) {
    bool should_wake = false;
    {
        std::lock_guard lock(mutex_);
        if (queue_.empty()) {
            group_opened_at_ = clock::now();
            should_wake = true;
        }
        queue_.push(std::move(operation), std::move(completion));
        ++submitted_;
        should_wake = should_wake || queue_.size() >= max_batch_operations_;
    }
    if (should_wake) {
        wake_writer_.notify_one();
    }
}

void group_committer::flush() {
    std::unique_lock lock(mutex_);
    const std::uint64_t target = submitted_;
    if (attempted_ >= target) {
        return;
    }
    ++flush_waiters_;
    wake_writer_.notify_one();
    progress_.wait(lock, [&] { return attempted_ >= target; });
    --flush_waiters_;
}

void group_committer::run_on_writer(const std::function<void()>& job) {
    std::exception_ptr failure;
    std::function<void()> guarded = [&] {
        try {
            job();
        } catch (...) {
            failure = std::current_exception();
        }
    };
    {
        std::unique_lock lock(mutex_);
        jobs_.push_back(&guarded);
        const std::uint64_t ticket = ++jobs_queued_;
        wake_writer_.notify_one();
        progress_.wait(lock, [&] { return jobs_done_ >= ticket; });
    }
    if (failure) {
        std::rethrow_exception(failure);
    }
}

group_commit_counters group_committer::counters() const {
    std::lock_guard lock(mutex_);
    group_commit_counters snapshot = counters_;
    snapshot.pending_operations = queue_.size() + writing_count_;
    snapshot.cancelled_entries = queue_.cancelled_entries();
    return snapshot;
}

void group_committer::run() {
    std::unique_lock lock(mutex_);
    while (wait_for_work(lock)) {
        if (!jobs_.empty()) {
            std::function<void()>* job = jobs_.front();
            jobs_.pop_front();
            lock.unlock();
            (*job)();
            lock.lock();
            ++jobs_done_;
            progress_.notify_all();
            continue;
        }
        write_next_group(lock);
    }
}

bool group_committer::wait_for_work(std::unique_lock<std::mutex>& lock) {
    for (;;) {
        if (!jobs_.empty()) {
            return true;
        }
        if (stopping_) {
            return !queue_.empty();
        }
        if (queue_.empty()) {
            wake_writer_.wait(lock);
            continue;
        }
        if (queue_.is_retrying()) {
            // A flush() attempts what was submitted before it: the operations behind the retry.
            if (clock::now() >= retry_at_ || (flush_waiters_ > 0 && queue_.has_new())) {
                return true;
            }
            wake_writer_.wait_until(lock, retry_at_);
            continue;
        }
        const auto closes_at = group_opened_at_ + commit_interval_;
        if (queue_.size() >= max_batch_operations_ || flush_waiters_ > 0 ||
            clock::now() >= closes_at) {
            return true;
        }
        wake_writer_.wait_until(lock, closes_at);
    }
}

void group_committer::write_next_group(std::unique_lock<std::mutex>& lock) {
    std::vector<pending_operation> group = queue_.take(max_batch_operations_);
    const bool is_retry = !group.empty() && group.front().was_attempted;
    std::size_t fresh_count = 0;
    for (auto& operation : group) {
        fresh_count += operation.was_attempted ? 0 : 1;
        operation.was_attempted = true;
    }
    const bool is_stopping = stopping_;
    writing_count_ = group.size();
    lock.unlock();

    store_status status;
    const clock::time_point started_at = clock::now();
    try {
        status = writer_(group);
    } catch (const std::exception& error) {
        status = store_status{store_errc::write_failed, error.what()};
    }
    const double commit_seconds = std::chrono::duration<double>(clock::now() - started_at).count();
    for (auto& operation : group) {
        if (operation.completion) {
            store_completion completion = std::move(operation.completion);
            operation.completion = nullptr;
            completion(status);
        }
    }
    log_outcome(group, status, is_stopping, is_retry);

    lock.lock();
    writing_count_ = 0;
    attempted_ += fresh_count;
    if (status.is_ok()) {
        ++counters_.commits;
        counters_.committed_operations += group.size();
        counters_.largest_group = std::max<std::uint64_t>(counters_.largest_group, group.size());
        counters_.commit_seconds.observe(commit_seconds);
        counters_.commit_operations.observe(static_cast<double>(group.size()));
        counters_.is_refusing_writes = false;
        counters_.write_failure.clear();
    } else {
        ++counters_.failed_commits;
        counters_.is_refusing_writes = true;
        counters_.write_failure = status.detail;
        if (is_stopping) {
            counters_.operations_lost += group.size();
        } else {
            queue_.return_to_front(std::move(group));
            retry_at_ = clock::now() + retry_interval_;
        }
    }
    progress_.notify_all();
}

void group_committer::log_outcome(const std::vector<pending_operation>& group,
                                  const store_status& status, bool is_stopping,
                                  bool is_retry) const {
    if (!status.is_ok()) {
        for (std::size_t index = 0; is_stopping && index < group.size(); ++index) {
            log("store: lost at shutdown: " + describe(group[index].operation));
        }
        log("store commit of " + std::to_string(group.size()) + " operations failed: " +
            status.detail + (is_stopping ? "; shutting down, operations lost" : "; will retry"));
    } else if (is_retry) {
        log("store commit succeeded again after earlier failures");
    }
}

void group_committer::log(std::string_view line) const {
    if (log_error_) {
        log_error_(line);
    }
}

} // namespace perch::store
