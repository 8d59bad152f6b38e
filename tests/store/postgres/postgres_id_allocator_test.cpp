// History ids from the shared PostgreSQL database (store/postgres/postgres_id_allocator.hpp):
// two stores (gateways) allocating in one conversation at once get disjoint ids without gaps,
// each in increasing order, and the requests that queue while a statement runs share the next
// round trip.
#include <algorithm>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "store/chat_store.hpp"
#include "store/postgres/connection.hpp"
#include "store/postgres/postgres_id_allocator.hpp"

#include "postgres_backend.hpp"
#include "store_test_support.hpp"
#include "two_postgres_stores.hpp"

namespace perch::store {
namespace {

using namespace testing_support;

/// The ids one allocator handed out, in the order their completions ran.
class id_log {
public:
    id_completion record(std::string conversation) {
        return [this, conversation = std::move(conversation)](std::uint64_t id,
                                                              const store_status& status) {
            std::lock_guard lock(mutex_);
            EXPECT_TRUE(status.is_ok()) << status.detail;
            ids_.push_back({conversation, id});
            changed_.notify_all();
        };
    }
    /// Waits for `count` completions and returns them.
    std::vector<std::pair<std::string, std::uint64_t>> wait_for(std::size_t count) {
        std::unique_lock lock(mutex_);
        changed_.wait(lock, [&] { return ids_.size() >= count; });
        return ids_;
    }

private:
    std::mutex mutex_;
    std::condition_variable changed_;
    std::vector<std::pair<std::string, std::uint64_t>> ids_;
};

std::vector<std::uint64_t> ids_of(const std::vector<std::pair<std::string, std::uint64_t>>& log,
                                  const std::string& conversation) {
    std::vector<std::uint64_t> ids;
    for (const auto& [named, id] : log) {
        if (named == conversation) {
            ids.push_back(id);
        }
    }
    return ids;
}

class PostgresIdAllocator : public two_postgres_stores {};

TEST_F(PostgresIdAllocator, TwoStoresAllocatingInOneConversationGetDisjointGapFreeIds) {
    constexpr std::size_t per_store = 500;
    std::unique_ptr<id_allocator> first_ids = first_->open_id_allocator();
    std::unique_ptr<id_allocator> second_ids = second_->open_id_allocator();
    ASSERT_TRUE(first_ids && second_ids);
    id_log first_log;
    id_log second_log;
    std::thread racer([&] {
        for (std::size_t index = 0; index < per_store; ++index) {
            second_ids->allocate("room/lobby", second_log.record("room/lobby"));
        }
    });
    for (std::size_t index = 0; index < per_store; ++index) {
        first_ids->allocate("room/lobby", first_log.record("room/lobby"));
    }
    racer.join();
    const std::vector<std::uint64_t> from_first =
        ids_of(first_log.wait_for(per_store), "room/lobby");
    const std::vector<std::uint64_t> from_second =
        ids_of(second_log.wait_for(per_store), "room/lobby");
    // Each allocator hands its ids out in request order: increasing.
    EXPECT_TRUE(std::is_sorted(from_first.begin(), from_first.end()));
    EXPECT_TRUE(std::is_sorted(from_second.begin(), from_second.end()));
    std::vector<std::uint64_t> all = from_first;
    all.insert(all.end(), from_second.begin(), from_second.end());
    std::sort(all.begin(), all.end());
    ASSERT_EQ(all.size(), 2 * per_store);
    for (std::size_t index = 0; index < all.size(); ++index) {
        ASSERT_EQ(all[index], index + 1) << "ids are unique and without gaps";
    }
    // The heads the gateways seed their counters from at start say the same.
    const std::vector<conversation_head> heads = second_->conversation_heads();
    ASSERT_EQ(heads.size(), 1u);
    EXPECT_EQ(heads[0].last_id, 2 * per_store);
}

TEST_F(PostgresIdAllocator, RequestsQueuedDuringAStatementShareTheNextRoundTrip) {
    std::unique_ptr<id_allocator> ids = first_->open_id_allocator();
    auto* allocator = dynamic_cast<postgres::postgres_id_allocator*>(ids.get());
    ASSERT_NE(allocator, nullptr);
    id_log log;
    ids->allocate("room/a", log.record("room/a"));
    log.wait_for(1);
    ASSERT_EQ(allocator->round_trips(), 1u);

    // Another session holds the head of room/a: the next statement waits on its row lock while
    // more requests queue behind it.
    postgres::connection holder(postgres_backend::with_database(options_).postgresql_conninfo);
    holder.begin();
    holder.run("SELECT last_id FROM chat_conversations WHERE conversation = 'room/a' FOR UPDATE");
    ids->allocate("room/a", log.record("room/a"));
    while (allocator->round_trips() < 2) {
        std::this_thread::yield();
    }
    constexpr std::size_t queued = 300;
    const std::vector<std::string> conversations = {"room/a", "room/b", "dm/alice/bob"};
    for (std::size_t index = 0; index < queued; ++index) {
        const std::string& conversation = conversations[index % conversations.size()];
        ids->allocate(conversation, log.record(conversation));
    }
    holder.commit();
    const auto served = log.wait_for(2 + queued);
    // One statement for the held request, one for all 300 behind it (three conversations).
    EXPECT_EQ(allocator->round_trips(), 3u);
    const std::vector<std::uint64_t> room_a = ids_of(served, "room/a");
    ASSERT_EQ(room_a.size(), 2 + queued / 3);
    for (std::size_t index = 0; index < room_a.size(); ++index) {
        EXPECT_EQ(room_a[index], index + 1);
    }
    const std::vector<std::uint64_t> room_b = ids_of(served, "room/b");
    ASSERT_EQ(room_b.size(), queued / 3);
    EXPECT_EQ(room_b.front(), 1u);
    EXPECT_EQ(room_b.back(), queued / 3);
    EXPECT_TRUE(std::is_sorted(room_b.begin(), room_b.end()));
}

TEST_F(PostgresIdAllocator, AllocationContinuesAboveHistoryWrittenBefore) {
    // History stamped before the heads table moved (a gateway of an earlier version): the
    // upgrade seeds the heads from it, so a fresh database opened again continues above.
    for (std::uint64_t id = 1; id <= 3; ++id) {
        first_->append_history(
            history_record{"room/old", id, "alice", "chat/room/old/alice", 1'000, bytes_of("x")});
    }
    first_->flush();
    {
        postgres::connection admin(postgres_backend::with_database(options_).postgresql_conninfo);
        admin.execute(
            "DELETE FROM chat_conversations; UPDATE perch_schema_version SET version = 1");
    }
    postgres_backend::reopen(first_, options_);
    std::unique_ptr<id_allocator> ids = first_->open_id_allocator();
    id_log log;
    ids->allocate("room/old", log.record("room/old"));
    EXPECT_EQ(log.wait_for(1).front().second, 4u);
}

} // namespace
} // namespace perch::store
