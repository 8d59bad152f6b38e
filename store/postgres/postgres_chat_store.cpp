// The PostgreSQL chat store's machinery: the connections, the writer thread that groups history
// writes and runs the other operations alone, and the search thread. The operations themselves
// are in postgres_chat_operations.cpp.
#include "store/postgres/postgres_chat_store.hpp"

#include <algorithm>
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
    {
        std::lock_guard lock(mutex_);
        queue_.push_back(std::move(operation));
        ++submitted_;
    }
    wake_writer_.notify_one();
}

void postgres_chat_store::submit_grouped(group_write write, store_completion done) {
    submit(pending_chat_operation{std::move(write), std::move(done), {}, false});
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
    if (queue_.front().was_attempted) {
        return stopping_ || now >= retry_at_;
    }
    if (stopping_ || flush_waiters_ > 0 ||
        now >= group_opened_at_ + std::chrono::milliseconds(options_.commit_interval_ms)) {
        return true;
    }
    std::size_t grouped = 0;
    for (const auto& pending : queue_) {
        if (pending.run_alone || ++grouped >= options_.max_batch_operations) {
            return true;
        }
    }
    return false;
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
        if (queue_.front().run_alone) {
            pending_chat_operation job = std::move(queue_.front());
            queue_.pop_front();
            lock.unlock();
            job.run_alone();
            lock.lock();
            ++attempted_;
            progress_.notify_all();
            continue;
        }
        const auto now = clock::now();
        if (!is_group_open_) {
            is_group_open_ = true;
            group_opened_at_ = now;
        }
        if (!is_group_due(now)) {
            wake_writer_.wait_until(
                lock,
                queue_.front().was_attempted
                    ? retry_at_
                    : group_opened_at_ + std::chrono::milliseconds(options_.commit_interval_ms));
            continue;
        }
        write_next_group(lock);
    }
}

void postgres_chat_store::write_next_group(std::unique_lock<std::mutex>& lock) {
    std::vector<pending_chat_operation> group;
    while (!queue_.empty() && !queue_.front().run_alone &&
           group.size() < std::max<std::size_t>(options_.max_batch_operations, 1)) {
        group.push_back(std::move(queue_.front()));
        queue_.pop_front();
    }
    is_group_open_ = false;
    const bool is_retry = group.front().was_attempted;
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

    lock.lock();
    attempted_ += newly_attempted;
    if (!status.is_ok()) {
        if (stopping_ && is_retry) {
            log("chat store: " + std::to_string(group.size()) +
                " history writes lost at shutdown: " + status.detail);
        } else {
            log("chat store: group commit failed, retrying: " + status.detail);
            retry_at_ = clock::now() + std::chrono::milliseconds(options_.retry_interval_ms);
            for (auto pending = group.rbegin(); pending != group.rend(); ++pending) {
                queue_.push_front(std::move(*pending));
            }
        }
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
