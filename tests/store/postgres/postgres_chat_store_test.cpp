// What only the PostgreSQL chat store shows: several stores (gateways) on one database see each
// other's directory and history, creations racing from two stores have one winner, and a server
// that cannot be reached is a clean open error that does not show the connection string.
#include <future>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "store/chat_store.hpp"

#include "store_test_support.hpp"
#include "two_postgres_stores.hpp"

namespace perch::store {
namespace {

using namespace testing_support;

directory_result add_user(chat_store& store, std::string name) {
    std::promise<directory_result> outcome;
    store.add_user(
        user_record{std::move(name), "$7$101$c2FsdA==$aGFzaA==", 1},
        [&](directory_result result, const store_status&) { outcome.set_value(result); });
    return outcome.get_future().get();
}

std::vector<history_record> page(chat_store& store, const std::string& conversation,
                                 std::uint64_t before_id, std::size_t limit) {
    std::promise<std::vector<history_record>> result;
    store.history_page(conversation, before_id, limit,
                       [&](std::vector<history_record> records, const store_status& status) {
                           EXPECT_TRUE(status.is_ok()) << status.detail;
                           result.set_value(std::move(records));
                       });
    return result.get_future().get();
}

class PostgresChatStore : public two_postgres_stores {
protected:
    void SetUp() override {
        options_.commit_interval_ms = 1;
        two_postgres_stores::SetUp();
    }
};

TEST_F(PostgresChatStore, TwoStoresOnOneDatabaseShareTheDirectory) {
    const std::uint64_t before = second_->directory_version();
    EXPECT_EQ(add_user(*first_, "alice"), directory_result::done);
    EXPECT_NE(second_->directory_version(), before);
    const chat_directory_snapshot snapshot = second_->load_directory();
    ASSERT_EQ(snapshot.users.size(), 1u);
    EXPECT_EQ(snapshot.users[0].name, "alice");
    EXPECT_EQ(add_user(*second_, "alice"), directory_result::already_exists);
}

TEST_F(PostgresChatStore, HistoryWrittenThroughOneIsPagedAtTheOther) {
    for (std::uint64_t id = 1; id <= 5; ++id) {
        first_->append_history(history_record{"room/lobby", id, "alice", "chat/room/lobby",
                                              1'000 + id, bytes_of("hello " + std::to_string(id))});
    }
    first_->flush();
    const std::vector<history_record> newest = page(*second_, "room/lobby", 0, 3);
    ASSERT_EQ(newest.size(), 3u);
    EXPECT_EQ(newest.front().id, 3u);
    EXPECT_EQ(newest.back().payload, bytes_of("hello 5"));
    EXPECT_EQ(page(*second_, "room/lobby", 3, 10).size(), 2u);
    const std::vector<conversation_head> heads = second_->conversation_heads();
    ASSERT_EQ(heads.size(), 1u);
    EXPECT_EQ(heads[0].last_id, 5u);
}

TEST_F(PostgresChatStore, CreationsRacingFromTwoStoresHaveOneWinner) {
    constexpr int rounds = 20;
    std::vector<directory_result> first_results(rounds);
    std::vector<directory_result> second_results(rounds);
    std::thread racer([&] {
        for (int round = 0; round < rounds; ++round) {
            second_results[static_cast<std::size_t>(round)] =
                add_user(*second_, "user" + std::to_string(round));
        }
    });
    for (int round = 0; round < rounds; ++round) {
        first_results[static_cast<std::size_t>(round)] =
            add_user(*first_, "user" + std::to_string(round));
    }
    racer.join();
    for (std::size_t round = 0; round < rounds; ++round) {
        const bool first_won = first_results[round] == directory_result::done;
        const bool second_won = second_results[round] == directory_result::done;
        EXPECT_NE(first_won, second_won) << "round " << round;
        EXPECT_EQ(first_won ? second_results[round] : first_results[round],
                  directory_result::already_exists);
    }
    EXPECT_EQ(first_->load_directory().users.size(), static_cast<std::size_t>(rounds));
}

TEST(PostgresChatStoreOpen, AnUnreachableServerIsAnOpenErrorWithoutTheConnectionString) {
    store_options options;
    options.chat = chat_backend::postgresql;
    options.postgresql_conninfo =
        "host=/nonexistent-perch-folder port=1 user=perch password=sesame-secret dbname=x "
        "connect_timeout=2";
    try {
        open_chat_store(options);
        FAIL() << "opened a store on no server";
    } catch (const store_open_error& error) {
        const std::string message = error.what();
        EXPECT_NE(message.find("PostgreSQL"), std::string::npos) << message;
        EXPECT_EQ(message.find("sesame-secret"), std::string::npos) << message;
    }
}

} // namespace
} // namespace perch::store
