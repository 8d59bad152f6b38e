// History ids allocated by the shared PostgreSQL database (docs/POSTGRESQL.md "Consistency across
// gateways"): a heads table, chat_conversations(conversation, last_id), that every gateway moves
// forward in one statement. Knows nothing about messages.
//
// Theory of operation. allocate() queues a request and wakes the allocator thread, which owns a
// connection of its own. The thread takes every request queued, counts them per conversation
// and runs ONE statement for the batch (INSERT ... ON CONFLICT DO UPDATE SET last_id = last_id
// + n ... RETURNING), so a batch costs one round trip however many conversations and messages it
// holds. Row locks order the gateways: a conversation's n ids are last_id - n + 1 .. last_id,
// handed to its requests in request order, and completions run in request order. A failed
// statement fails the whole batch (nothing was allocated, or its answer was lost: a gap); the
// next batch waits retry_interval_ms and opens the connection again when it was lost. At
// destruction, requests still queued are served (or failed) before the thread ends.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "store/id_allocator.hpp"
#include "store/store_options.hpp"

namespace perch::store::postgres {

class connection;

/// id_allocator on PostgreSQL at options.postgresql_conninfo. Throws store_open_error when it
/// cannot connect.
class postgres_id_allocator final : public id_allocator {
public:
    explicit postgres_id_allocator(const store_options& options);
    ~postgres_id_allocator() override;
    postgres_id_allocator(const postgres_id_allocator&) = delete;
    postgres_id_allocator& operator=(const postgres_id_allocator&) = delete;

    void allocate(std::string conversation, id_completion done) override;

    /// Statements run so far (one per batch, failed ones included): round trips to the server.
    std::uint64_t round_trips() const { return round_trips_.load(); }

    /// Most conversations one statement carries (its parameters stay far below libpq's limit).
    static constexpr std::size_t max_conversations_per_statement = 1000;

private:
    using clock = std::chrono::steady_clock;
    struct request {
        std::string conversation;
        id_completion done;
    };

    void run();
    /// Allocates ids for `batch` in one statement and runs its completions in order.
    void serve(std::vector<request>& batch);

    std::uint32_t retry_interval_ms_;
    std::function<void(std::string_view)> log_error_;
    /// Used only on the allocator thread.
    std::unique_ptr<connection> connection_;
    std::atomic<std::uint64_t> round_trips_{0};

    // The queue. Lock: mutex_.
    std::mutex mutex_;
    std::condition_variable wake_;
    std::vector<request> queue_;
    bool is_stopping_ = false;
    // Used only on the allocator thread: when the last statement failed, the next waits until
    // retry_interval_ms after it.
    clock::time_point failed_at_{};
    bool has_failed_ = false;
    /// Last member: started after everything above exists, joined first.
    std::thread thread_;
};

} // namespace perch::store::postgres
