// The allocator thread of postgres_id_allocator.hpp and its one statement per batch.
#include "store/postgres/postgres_id_allocator.hpp"

#include <algorithm>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "store/postgres/connection.hpp"
#include "store/store_open_error.hpp"

namespace perch::store::postgres {
namespace {

/// The allocator's commits do not wait for the server's disk: a history row is committed after
/// the allocation of its id, with a commit that waits for the WAL up to it (durability full), so
/// an id whose row is durable has a durable allocation; an allocation lost in a crash of the
/// server belongs to a row that was lost too, and was never acknowledged.
constexpr std::string_view allocator_settings = "SET synchronous_commit = off";

/// The statement that moves `conversations` heads forward, each by its count.
std::string allocation_statement(std::size_t conversations) {
    std::string sql = "INSERT INTO chat_conversations AS heads (conversation, last_id) VALUES ";
    for (std::size_t index = 0; index < conversations; ++index) {
        if (index > 0) {
            sql += ", ";
        }
        sql += "($" + std::to_string(2 * index + 1) + ", $" + std::to_string(2 * index + 2) +
               "::bigint)";
    }
    sql += " ON CONFLICT (conversation) DO UPDATE SET last_id = heads.last_id + excluded.last_id "
           "RETURNING conversation, last_id";
    return sql;
}

/// The ids one batch wants in one conversation, and the next one to hand out.
struct conversation_need {
    std::uint64_t count = 0;
    /// 0 until allocated (and when the allocation failed).
    std::uint64_t next_id = 0;
};

} // namespace

postgres_id_allocator::postgres_id_allocator(const store_options& options)
    : retry_interval_ms_(options.retry_interval_ms), log_error_(options.log_error) {
    try {
        connection_ = std::make_unique<connection>(options.postgresql_conninfo,
                                                   std::string(allocator_settings));
    } catch (const postgres_error& error) {
        throw store_open_error(std::string("cannot open the PostgreSQL id allocator: ") +
                               error.what());
    }
    thread_ = std::thread([this] { run(); });
}

postgres_id_allocator::~postgres_id_allocator() {
    {
        std::lock_guard lock(mutex_);
        is_stopping_ = true;
    }
    wake_.notify_one();
    thread_.join();
}

void postgres_id_allocator::allocate(std::string conversation, id_completion done) {
    {
        std::lock_guard lock(mutex_);
        queue_.push_back(request{std::move(conversation), std::move(done)});
    }
    wake_.notify_one();
}

void postgres_id_allocator::run() {
    std::unique_lock lock(mutex_);
    std::vector<request> batch;
    while (true) {
        if (queue_.empty()) {
            if (is_stopping_) {
                return;
            }
            wake_.wait(lock);
            continue;
        }
        if (has_failed_ && !is_stopping_) {
            // After a failure the next batch waits (and gathers what arrives meanwhile).
            const auto retry_at = failed_at_ + std::chrono::milliseconds(retry_interval_ms_);
            if (clock::now() < retry_at) {
                wake_.wait_until(lock, retry_at);
                continue;
            }
        }
        batch.swap(queue_);
        lock.unlock();
        serve(batch);
        batch.clear();
        lock.lock();
    }
}

void postgres_id_allocator::serve(std::vector<request>& batch) {
    std::unordered_map<std::string_view, conversation_need> needs;
    std::vector<std::string_view> order;
    for (const request& wanted : batch) {
        auto [need, is_new] = needs.try_emplace(wanted.conversation);
        if (is_new) {
            order.push_back(wanted.conversation);
        }
        ++need->second.count;
    }
    store_status status;
    for (std::size_t first = 0; first < order.size(); first += max_conversations_per_statement) {
        const std::size_t count = std::min(max_conversations_per_statement, order.size() - first);
        parameters arguments;
        for (std::size_t index = first; index < first + count; ++index) {
            arguments.text(order[index]).unsigned_integer(needs[order[index]].count);
        }
        ++round_trips_;
        try {
            const result heads = connection_->run(allocation_statement(count), arguments);
            for (int row = 0; row < heads.rows(); ++row) {
                const std::string conversation = heads.text(row, 0);
                const auto need = needs.find(conversation);
                if (need != needs.end()) {
                    need->second.next_id = heads.unsigned_integer(row, 1) - need->second.count + 1;
                }
            }
        } catch (const postgres_error& error) {
            status = store_status{store_errc::write_failed, error.what()};
        }
    }
    has_failed_ = !status.is_ok();
    if (has_failed_) {
        failed_at_ = clock::now();
        if (log_error_) {
            log_error_("chat store: history id allocation failed: " + status.detail);
        }
    }
    for (request& wanted : batch) {
        if (!wanted.done) {
            continue;
        }
        conversation_need& need = needs[wanted.conversation];
        if (need.next_id == 0) {
            wanted.done(0, status.is_ok() ? store_status{store_errc::write_failed, "no head"}
                                          : status);
            continue;
        }
        wanted.done(need.next_id++, store_status{});
    }
}

} // namespace perch::store::postgres
