// What the PostgreSQL chat store does while a group keeps failing, as the SQLite one does
// (tests/store/sqlite/sqlite_chat_store_failure_test.cpp): reads and directory changes run past
// it, a flush returns, and a stop logs each lost operation. The group fails for good here
// because its row is not valid UTF-8, which the server refuses at every attempt. Skips, saying
// why, when the build has no PostgreSQL or the cluster cannot run.
#include <chrono>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "store/chat_store.hpp"

#include "postgres_backend.hpp"
#include "store_test_support.hpp"

namespace perch::store {
namespace {

using namespace testing_support;
using namespace std::chrono_literals;

history_record message(std::string conversation, std::uint64_t id) {
    return history_record{std::move(conversation),   id, "alice",
                          "chat/room/kitchen/alice", 0,  bytes_of("message " + std::to_string(id))};
}

class PostgresChatStoreFailure : public ::testing::Test {
protected:
    void SetUp() override {
        if (const std::string reason = postgres_backend::unavailable_reason(); !reason.empty()) {
            GTEST_SKIP() << reason;
        }
        options_.path = database_.path();
        options_.commit_interval_ms = 1;
        // Only the first attempt of the failed group happens while a test runs.
        options_.retry_interval_ms = 600'000;
        options_.log_error = [this](std::string_view line) {
            std::lock_guard lock(log_mutex_);
            log_.emplace_back(line);
        };
        store_ = postgres_backend::open(options_);
        store_->append_history(message("room/kitchen", 1), committed_.record());
        store_->flush();
        ASSERT_EQ(committed_.failures(), 0u);
        store_->append_history(message("room/\xff", 2), failed_.record());
        store_->flush();
        ASSERT_EQ(failed_.failures(), 1u);
    }

    temporary_database database_;
    store_options options_;
    completion_recorder committed_;
    completion_recorder failed_;
    std::mutex log_mutex_;
    std::vector<std::string> log_;
    /// Last: closed (its completions fired) before the members above go.
    std::unique_ptr<chat_store> store_;
};

TEST_F(PostgresChatStoreFailure, ReadsAndDirectoryChangesRunPastAFailedGroup) {
    std::promise<std::size_t> page;
    store_->history_page("room/kitchen", 0, 10,
                         [&](std::vector<history_record> records, const store_status&) {
                             page.set_value(records.size());
                         });
    auto page_ready = page.get_future();
    ASSERT_EQ(page_ready.wait_for(60s), std::future_status::ready)
        << "a history read waits for the failed group";
    EXPECT_EQ(page_ready.get(), 1u);

    std::promise<directory_result> added;
    store_->add_user(
        user_record{"carol", "$7$101$c2FsdA==$aGFzaA==", 1},
        [&](directory_result result, const store_status&) { added.set_value(result); });
    auto added_ready = added.get_future();
    ASSERT_EQ(added_ready.wait_for(60s), std::future_status::ready)
        << "a directory change waits for the failed group";
    EXPECT_EQ(added_ready.get(), directory_result::done);
}

TEST_F(PostgresChatStoreFailure, FlushAndStopEndWhileWritesFailAndLogEachLostOperation) {
    completion_recorder joined;
    store_->append_history(message("room/kitchen", 3), joined.record());
    store_->flush();
    EXPECT_EQ(joined.count(), 1u);
    EXPECT_EQ(joined.failures(), 1u) << "refused with the group it joined";
    store_.reset();
    std::lock_guard lock(log_mutex_);
    std::size_t lost = 0;
    for (const auto& line : log_) {
        lost += line.find("lost at shutdown: history append") != std::string::npos ? 1 : 0;
    }
    EXPECT_EQ(lost, 2u);
}

} // namespace
} // namespace perch::store
