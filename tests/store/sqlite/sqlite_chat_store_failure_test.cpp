// What the SQLite chat store does while a group keeps failing (store/README.md "Failure
// behaviour"): the database is capped with max_database_bytes and a history row too large for it
// stays at the head of the queue. Reads and directory changes run past it, writes submitted after
// it join its retry and complete once each, and a flush and a stop end while it still fails, each
// lost operation logged. The retry interval is long so that only a store that runs past the
// failed group passes; a store that waits for it never completes (and the test times out).
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

#include "store_test_support.hpp"

namespace perch::store {
namespace {

using namespace testing_support;
using namespace std::chrono_literals;

/// Far longer than any test: only the first attempt of the failed group happens while it runs.
constexpr std::uint32_t never_retried_ms = 600'000;
/// How long a completion may take before the test gives up waiting (it fires at once when the
/// store runs past the failed group).
constexpr auto completion_deadline = 60s;

history_record message(std::uint64_t id, std::size_t payload_bytes = 16) {
    return history_record{
        "room/kitchen", id, "alice", "chat/room/kitchen/alice", 0, byte_vector(payload_bytes, 'm')};
}

std::vector<std::uint64_t> ids_of(const std::vector<history_record>& records) {
    std::vector<std::uint64_t> ids;
    for (const auto& record : records) {
        ids.push_back(record.id);
    }
    return ids;
}

class SqliteChatStoreFailure : public ::testing::Test {
protected:
    SqliteChatStoreFailure() {
        options_.path = database_.path();
        options_.durability = durability_level::full;
        options_.commit_interval_ms = 1;
        options_.retry_interval_ms = never_retried_ms;
        // Room for the schema and small rows; never for the 2 MB row below.
        options_.max_database_bytes = 1024 * 1024;
        options_.log_error = [this](std::string_view line) {
            std::lock_guard lock(log_mutex_);
            log_.emplace_back(line);
        };
    }

    /// Opens the store with one committed message (id 1), then submits message 2, too large for
    /// the file: its group fails and waits at the head of the queue for a retry.
    void open_with_failed_group() {
        store_ = open_chat_store(options_);
        store_->append_history(message(1), committed_.record());
        store_->flush();
        ASSERT_EQ(committed_.failures(), 0u);
        store_->append_history(message(2, 2'000'000), failed_.record());
        store_->flush();
        ASSERT_EQ(failed_.count(), 1u);
        ASSERT_EQ(failed_.failures(), 1u);
    }

    std::vector<std::string> log_lines() const {
        std::lock_guard lock(log_mutex_);
        return log_;
    }

    temporary_database database_;
    store_options options_;
    completion_recorder committed_;
    completion_recorder failed_;
    /// For the writes submitted after the failed one.
    completion_recorder joined_;
    mutable std::mutex log_mutex_;
    std::vector<std::string> log_;
    /// Last: closed (its completions fired) before the members above go.
    std::unique_ptr<chat_store> store_;
};

TEST_F(SqliteChatStoreFailure, ReadsRunPastAFailedGroupAndSeeWhatIsCommitted) {
    open_with_failed_group();
    store_->append_history(message(3), joined_.record());

    std::promise<std::vector<history_record>> page;
    store_->history_page("room/kitchen", 0, 10,
                         [&](std::vector<history_record> records, const store_status& status) {
                             EXPECT_TRUE(status.is_ok()) << status.detail;
                             page.set_value(std::move(records));
                         });
    auto page_ready = page.get_future();
    ASSERT_EQ(page_ready.wait_for(completion_deadline), std::future_status::ready)
        << "a history read waits for the failed group";
    // Committed rows only: 2 failed, 3 waits for the retry.
    EXPECT_EQ(ids_of(page_ready.get()), (std::vector<std::uint64_t>{1}));

    std::promise<std::vector<read_state_record>> state;
    store_->read_state("bob", {{"room/kitchen", 1, 0}}, 100,
                       [&](std::vector<read_state_record> result, const store_status& status) {
                           EXPECT_TRUE(status.is_ok()) << status.detail;
                           state.set_value(std::move(result));
                       });
    auto state_ready = state.get_future();
    ASSERT_EQ(state_ready.wait_for(completion_deadline), std::future_status::ready)
        << "a login's read state waits for the failed group";
    const std::vector<read_state_record> read = state_ready.get();
    ASSERT_EQ(read.size(), 1u);
    EXPECT_EQ(read[0].unread, 1u) << "alice's committed message 1";
    EXPECT_EQ(joined_.count(), 0u) << "the write behind stays queued for the retry";
}

TEST_F(SqliteChatStoreFailure, DirectoryChangesRunPastAFailedGroup) {
    open_with_failed_group();
    std::promise<directory_result> added;
    store_->add_user(
        user_record{"carol", "$7$101$c2FsdA==$aGFzaA==", 1},
        [&](directory_result result, const store_status&) { added.set_value(result); });
    auto added_ready = added.get_future();
    ASSERT_EQ(added_ready.wait_for(completion_deadline), std::future_status::ready)
        << "a directory change waits for the failed group";
    EXPECT_EQ(added_ready.get(), directory_result::done);
    EXPECT_EQ(store_->load_directory().users.size(), 1u);
}

TEST_F(SqliteChatStoreFailure, WritesAfterAFailedGroupJoinItsRetryAndCompleteOnce) {
    options_.retry_interval_ms = 1;
    options_.max_batch_operations = 2;
    open_with_failed_group();
    // More than one batch behind the failed row: each retry must still carry new ones.
    for (std::uint64_t id = 3; id < 10; ++id) {
        store_->append_history(message(id), joined_.record());
    }
    store_->flush();
    EXPECT_EQ(joined_.count(), 7u);
    EXPECT_EQ(joined_.failures(), 7u) << "refused with the group they joined";
    store_->flush();
    EXPECT_EQ(joined_.count(), 7u) << "a completion fires once";
    EXPECT_EQ(failed_.count(), 1u);
}

TEST_F(SqliteChatStoreFailure, FlushAndStopEndWhileWritesFailAndLogEachLostOperation) {
    open_with_failed_group();
    store_->append_history(message(3), {});
    std::promise<void> read;
    store_->read_positions(
        "alice", [&](std::vector<read_position_record>, const store_status&) { read.set_value(); });
    // Returns once the read ran and message 3 was attempted once (it joins the retry at the
    // stop): what a chat service's stop() waits for.
    store_->flush();
    EXPECT_EQ(read.get_future().wait_for(0s), std::future_status::ready);
    store_.reset();

    const std::vector<std::string> lines = log_lines();
    std::vector<std::string> lost;
    bool has_summary = false;
    for (const auto& line : lines) {
        if (line.find("lost at shutdown: ") != std::string::npos) {
            lost.push_back(line.substr(line.find("lost at shutdown: ") + 18));
        }
        has_summary =
            has_summary || line.find("2 operations lost at shutdown") != std::string::npos;
    }
    EXPECT_EQ(lost, (std::vector<std::string>{"history append room/kitchen #2",
                                              "history append room/kitchen #3"}));
    EXPECT_TRUE(has_summary);

    // Reopened with room: only the committed message is there.
    options_.max_database_bytes = 0;
    const auto reopened = open_chat_store(options_);
    std::promise<std::vector<history_record>> page;
    reopened->history_page("room/kitchen", 0, 10,
                           [&](std::vector<history_record> records, const store_status&) {
                               page.set_value(std::move(records));
                           });
    EXPECT_EQ(ids_of(page.get_future().get()), (std::vector<std::uint64_t>{1}));
}

} // namespace
} // namespace perch::store
