// The held session records and the thread that submits them when due.
#include "gateway/broker/deferred_record_writer.hpp"

#include <utility>

namespace perch::gateway {

namespace {

/// Records due within this much of the first are submitted with it: one group commit for a
/// second's worth of ended connections.
constexpr std::chrono::milliseconds batch_window{1000};

} // namespace

deferred_record_writer::deferred_record_writer(deferred_submit submit,
                                               std::chrono::milliseconds delay)
    : submit_(std::move(submit)), delay_(delay), thread_([this] { run(); }) {}

deferred_record_writer::~deferred_record_writer() {
    {
        std::lock_guard lock(mutex_);
        is_stopping_ = true;
    }
    wake_.notify_all();
    thread_.join();
    submit_all();
}

void deferred_record_writer::defer(store::stored_session record, store::stored_session stored) {
    std::string client_id = record.client_id;
    bool is_first = false;
    {
        std::lock_guard lock(mutex_);
        const auto found = held_.find(client_id);
        if (found != held_.end()) {
            // Still due when the first was: the store keeps what it held before.
            found->second.record = std::move(record);
            return;
        }
        const std::uint64_t generation = next_generation_++;
        is_first = due_.empty();
        due_.push_back({std::chrono::steady_clock::now() + delay_, client_id, generation});
        held_.emplace(std::move(client_id),
                      held_record{std::move(record), std::move(stored), generation});
    }
    if (is_first) {
        wake_.notify_all();
    }
}

std::optional<store::stored_session> deferred_record_writer::take(const std::string& client_id) {
    std::lock_guard lock(mutex_);
    const auto found = held_.find(client_id);
    if (found == held_.end()) {
        return std::nullopt;
    }
    store::stored_session stored = std::move(found->second.stored);
    held_.erase(found);
    return stored;
}

void deferred_record_writer::erase_then(const std::string& client_id,
                                        const std::function<void()>& write) {
    std::lock_guard lock(mutex_);
    held_.erase(client_id);
    write();
}

void deferred_record_writer::submit_all() {
    std::lock_guard lock(mutex_);
    submit_due(std::chrono::steady_clock::time_point::max());
}

std::size_t deferred_record_writer::held() const {
    std::lock_guard lock(mutex_);
    return held_.size();
}

void deferred_record_writer::run() {
    std::unique_lock lock(mutex_);
    while (!is_stopping_) {
        if (due_.empty()) {
            wake_.wait(lock, [this] { return is_stopping_ || !due_.empty(); });
            continue;
        }
        const auto first_due = due_.front().due;
        if (std::chrono::steady_clock::now() < first_due) {
            wake_.wait_until(lock, first_due);
            continue;
        }
        submit_due(first_due + batch_window);
    }
}

void deferred_record_writer::submit_due(std::chrono::steady_clock::time_point until) {
    while (!due_.empty() && due_.front().due <= until) {
        const due_entry entry = std::move(due_.front());
        due_.pop_front();
        const auto found = held_.find(entry.client_id);
        if (found == held_.end() || found->second.generation != entry.generation) {
            continue;
        }
        held_record held = std::move(found->second);
        held_.erase(found);
        submit_(std::move(held.record));
    }
}

} // namespace perch::gateway
