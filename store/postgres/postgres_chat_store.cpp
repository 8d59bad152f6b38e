// The PostgreSQL chat store's machinery: the connections, the writer thread that groups history
// writes and runs the other operations alone, and the search thread. The operations themselves
// are in postgres_chat_operations.cpp.
#include "store/postgres/postgres_chat_store.hpp"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "store/postgres/connection.hpp"
#include "store/postgres/schema.hpp"
#include "store/postgres/search_tables.hpp"
#include "store/postgres/table_set.hpp"

namespace perch::store::postgres {
namespace {

/// The settings of every connection of the store: batched durability does not wait for the
/// server's disk at commit (a crash of the server may lose the last commits, never consistency).
std::string session_settings(const store_options& options) {
    return options.durability == durability_level::batched ? "SET synchronous_commit = off" : "";
}

store_status failure(const std::exception& error) {
    return store_status{store_errc::write_failed, error.what()};
}

} // namespace

postgres_chat_store::postgres_chat_store(store_options options) : options_(std::move(options)) {
    try {
        const std::string settings = session_settings(options_);
        writer_connection_ = std::make_unique<connection>(options_.postgresql_conninfo, settings);
        migrate_schema(*writer_connection_);
        writer_ = std::make_unique<table_set>(*writer_connection_);
        reader_connection_ = std::make_unique<connection>(options_.postgresql_conninfo, settings);
        reader_ = std::make_unique<table_set>(*reader_connection_);
        if (options_.is_search_enabled) {
            search_connection_ =
                std::make_unique<connection>(options_.postgresql_conninfo, settings);
            search_tables_ = std::make_unique<search_tables>(*search_connection_);
        }
    } catch (const postgres_error& error) {
        throw store_open_error(std::string("cannot open the PostgreSQL chat store: ") +
                               error.what());
    }
    search_thread_ = std::thread([this] { run_searches(); });
    thread_ = std::thread([this] { run(); });
}

postgres_chat_store::~postgres_chat_store() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_writer_.notify_one();
    thread_.join();
    {
        std::lock_guard lock(search_mutex_);
        searches_stopping_ = true;
    }
    wake_searcher_.notify_one();
    search_thread_.join();
}

void postgres_chat_store::run_searches() {
    std::unique_lock lock(search_mutex_);
    while (true) {
        if (searches_.empty()) {
            if (searches_stopping_) {
                return;
            }
            wake_searcher_.wait(lock);
            continue;
        }
        std::function<void()> search = std::move(searches_.front());
        searches_.pop_front();
        lock.unlock();
        search();
        lock.lock();
        --pending_searches_;
    }
}

void postgres_chat_store::hand_over_search(std::function<void()> search) {
    {
        std::lock_guard lock(search_mutex_);
        searches_.push_back(std::move(search));
    }
    wake_searcher_.notify_one();
}

void postgres_chat_store::log(std::string_view line) const {
    if (options_.log_error) {
        options_.log_error(line);
    }
}

void postgres_chat_store::submit(pending_chat_operation operation) {
    bool should_wake = false;
    {
        std::lock_guard lock(mutex_);
        queue_.push_back(std::move(operation));
        ++submitted_;
        should_wake = queue_.wakes_writer(options_.max_batch_operations);
    }
    if (should_wake) {
        wake_writer_.notify_one();
    }
}

void postgres_chat_store::submit_grouped(std::string description, group_write write,
                                         store_completion done) {
    submit(pending_chat_operation{
        std::move(write), std::move(done), {}, false, std::move(description)});
}

void postgres_chat_store::change_directory(std::function<directory_result(table_set&)> change,
                                           directory_completion done) {
    submit(
        pending_chat_operation{{}, {}, [this, change = std::move(change), done = std::move(done)] {
                                   directory_result result = directory_result::failed;
                                   store_status status;
                                   try {
                                       writer_connection_->begin();
                                       result = change(*writer_);
                                       if (result == directory_result::done) {
                                           writer_connection_->commit();
                                       } else {
                                           writer_connection_->rollback();
                                       }
                                   } catch (const postgres_error& error) {
                                       writer_connection_->rollback();
                                       result = directory_result::failed;
                                       status = failure(error);
                                   }
                                   if (done) {
                                       done(result, status);
                                   }
                               }});
}

bool postgres_chat_store::is_group_due(clock::time_point now) const {
    if (stopping_ || flush_waiters_ > 0 ||
        now >= group_opened_at_ + std::chrono::milliseconds(options_.commit_interval_ms)) {
        return true;
    }
    return queue_.is_group_full(options_.max_batch_operations);
}

void postgres_chat_store::run() {
    std::unique_lock lock(mutex_);
    while (true) {
        if (queue_.empty()) {
            if (stopping_) {
                return;
            }
            wake_writer_.wait(lock);
            continue;
        }
        const auto now = clock::now();
        if (queue_.front().was_attempted) {
            // A failed group waits for its retry: what stands alone runs past it.
            if (is_retry_due(now)) {
                write_next_group(lock);
            } else if (const auto job = queue_.first_standalone(); job != queue_.end()) {
                run_standalone(lock, job);
            } else {
                wake_writer_.wait_until(lock, retry_at_);
            }
            continue;
        }
        if (queue_.front().run_alone) {
            run_standalone(lock, queue_.begin());
            continue;
        }
        if (!is_group_open_) {
            is_group_open_ = true;
            group_opened_at_ = now;
        }
        if (!is_group_due(now)) {
            wake_writer_.wait_until(
                lock, group_opened_at_ + std::chrono::milliseconds(options_.commit_interval_ms));
            continue;
        }
        write_next_group(lock);
    }
}

bool postgres_chat_store::is_retry_due(clock::time_point now) const {
    if (stopping_ || now >= retry_at_) {
        return true;
    }
    // A flush() attempts what was submitted before it: the writes that joined the retry.
    return flush_waiters_ > 0 && queue_.has_unattempted_write();
}

void postgres_chat_store::run_standalone(std::unique_lock<std::mutex>& lock,
                                         chat_operation_queue<group_write>::iterator job) {
    pending_chat_operation taken = queue_.take(job);
    lock.unlock();
    taken.run_alone();
    lock.lock();
    ++attempted_;
    progress_.notify_all();
}

void postgres_chat_store::log_lost(const std::vector<pending_chat_operation>& group,
                                   const std::string& detail) {
    for (const auto& pending : group) {
        log("chat store: lost at shutdown: " + pending.description);
    }
    log("chat store: " + std::to_string(group.size()) +
        " operations lost at shutdown (operations_lost): " + detail);
}

void postgres_chat_store::write_next_group(std::unique_lock<std::mutex>& lock) {
    std::vector<pending_chat_operation> group = queue_.take_group(options_.max_batch_operations);
    is_group_open_ = false;
    const bool is_retry = group.front().was_attempted;
    const bool is_stopping = stopping_;
    lock.unlock();

    store_status status;
    try {
        writer_connection_->begin();
        for (const auto& pending : group) {
            pending.write(*writer_);
        }
        writer_connection_->commit();
    } catch (const postgres_error& error) {
        writer_connection_->rollback();
        status = failure(error);
    }
    std::uint64_t newly_attempted = 0;
    for (auto& pending : group) {
        if (!pending.was_attempted) {
            ++newly_attempted;
            if (pending.done) {
                pending.done(status);
            }
        }
        pending.was_attempted = true;
        pending.done = {};
    }
    const bool is_lost = !status.is_ok() && is_stopping && is_retry;
    if (is_lost) {
        log_lost(group, status.detail);
    } else if (!status.is_ok()) {
        log("chat store: group commit failed, retrying: " + status.detail);
    }

    lock.lock();
    attempted_ += newly_attempted;
    if (!status.is_ok() && !is_lost) {
        retry_at_ = clock::now() + std::chrono::milliseconds(options_.retry_interval_ms);
        queue_.put_back(group);
    }
    progress_.notify_all();
}

void postgres_chat_store::flush() {
    std::unique_lock lock(mutex_);
    const std::uint64_t target = submitted_;
    ++flush_waiters_;
    wake_writer_.notify_one();
    progress_.wait(lock, [&] { return attempted_ >= target; });
    --flush_waiters_;
}

} // namespace perch::store::postgres
