// Web Push subscriptions and the preview setting in every chat store, and the migration of a
// database at the version before them (docs/CHAT.md "Web Push").
#include <future>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "store/chat_store.hpp"
#include "store/sqlite/database.hpp"
#include "store/sqlite/schema.hpp"

#include "postgres_backend.hpp"
#include "store_test_support.hpp"
#include <sqlite3.h>

namespace perch::store {
namespace {

using namespace testing_support;

template <typename Call> directory_result change(Call call) {
    std::promise<directory_result> outcome;
    call([&](directory_result result, const store_status&) { outcome.set_value(result); });
    return outcome.get_future().get();
}

push_subscription_record subscription(std::string user, std::string device, std::string endpoint) {
    return push_subscription_record{std::move(user),
                                    std::move(device),
                                    std::move(endpoint),
                                    "p256dh-" + endpoint,
                                    "auth",
                                    1'700'000'000'000,
                                    ""};
}

/// The backends: SQLite (durability full), memory (durability none) and PostgreSQL.
enum class push_backend { sqlite, memory, postgresql };

class PushStore : public ::testing::TestWithParam<push_backend> {
protected:
    PushStore() {
        options_.path = database_.path();
        options_.commit_interval_ms = 1;
    }
    void SetUp() override {
        switch (GetParam()) {
        case push_backend::sqlite: store_ = open_chat_store(options_); break;
        case push_backend::memory:
            options_.durability = durability_level::none;
            store_ = open_chat_store(options_);
            break;
        case push_backend::postgresql:
            if (const std::string reason = postgres_backend::unavailable_reason();
                !reason.empty()) {
                GTEST_SKIP() << reason;
            }
            store_ = postgres_backend::open(options_);
            break;
        }
        add_user("alice");
        add_user("bob");
    }

    void add_user(std::string name) {
        EXPECT_EQ(
            change([&](directory_completion done) {
                store_->add_user(user_record{name, "$7$101$c2FsdA==$aGFzaA==", 1}, std::move(done));
            }),
            directory_result::done);
    }
    directory_result subscribe(push_subscription_record record) {
        return change([&](directory_completion done) {
            store_->set_push_subscription(std::move(record), std::move(done));
        });
    }

    temporary_database database_;
    store_options options_;
    std::unique_ptr<chat_store> store_;
};

TEST_P(PushStore, KeepsOneSubscriptionPerDeviceWithoutMovingTheDirectory) {
    const std::uint64_t version = store_->directory_version();
    EXPECT_EQ(subscribe(subscription("alice", "phone", "https://a/1")), directory_result::done);
    EXPECT_EQ(subscribe(subscription("alice", "laptop", "https://a/2")), directory_result::done);
    EXPECT_EQ(subscribe(subscription("alice", "phone", "https://a/3")), directory_result::done);
    EXPECT_EQ(subscribe(subscription("bob", "phone", "https://b/1")), directory_result::done);
    EXPECT_EQ(subscribe(subscription("nobody", "phone", "https://n/1")),
              directory_result::not_found);
    EXPECT_EQ(store_->directory_version(), version);
    EXPECT_EQ(
        store_->push_state("alice").subscriptions,
        (std::vector<push_subscription_record>{subscription("alice", "laptop", "https://a/2"),
                                               subscription("alice", "phone", "https://a/3")}));
    EXPECT_TRUE(store_->push_state("carol").subscriptions.empty());

    EXPECT_EQ(change([&](directory_completion done) {
                  store_->remove_push_subscription("alice", "laptop", std::move(done));
              }),
              directory_result::done);
    EXPECT_EQ(change([&](directory_completion done) {
                  store_->remove_push_subscription("alice", "laptop", std::move(done));
              }),
              directory_result::not_found);
    EXPECT_EQ(store_->push_state("alice").subscriptions.size(), 1U);
}

TEST_P(PushStore, RemovesAGoneEndpointAndRecordsErrors) {
    subscribe(subscription("alice", "phone", "https://a/1"));
    subscribe(subscription("bob", "phone", "https://b/1"));
    EXPECT_EQ(change([&](directory_completion done) {
                  store_->set_push_error("https://b/1", "503", std::move(done));
              }),
              directory_result::done);
    EXPECT_EQ(store_->push_state("bob").subscriptions.at(0).last_error, "503");
    EXPECT_EQ(change([&](directory_completion done) {
                  store_->remove_push_endpoint("https://a/1", std::move(done));
              }),
              directory_result::done);
    EXPECT_EQ(change([&](directory_completion done) {
                  store_->remove_push_endpoint("https://a/1", std::move(done));
              }),
              directory_result::not_found);
    EXPECT_TRUE(store_->push_state("alice").subscriptions.empty());
    EXPECT_EQ(store_->push_state("bob").subscriptions.size(), 1U);
}

TEST_P(PushStore, PreviewIsOffUntilTheUserAllowsIt) {
    EXPECT_FALSE(store_->push_state("alice").is_preview_allowed);
    EXPECT_EQ(change([&](directory_completion done) {
                  store_->set_push_preview("alice", true, std::move(done));
              }),
              directory_result::done);
    EXPECT_TRUE(store_->push_state("alice").is_preview_allowed);
    EXPECT_FALSE(store_->push_state("bob").is_preview_allowed);
    change([&](directory_completion done) {
        store_->set_push_preview("alice", false, std::move(done));
    });
    EXPECT_FALSE(store_->push_state("alice").is_preview_allowed);
    EXPECT_EQ(change([&](directory_completion done) {
                  store_->set_push_preview("nobody", true, std::move(done));
              }),
              directory_result::not_found);
}

TEST_P(PushStore, DeletingAUserDeletesTheirSubscriptionsAndSetting) {
    EXPECT_EQ(subscribe(subscription("alice", "phone", "https://a/1")), directory_result::done);
    EXPECT_EQ(subscribe(subscription("alice", "laptop", "https://a/2")), directory_result::done);
    EXPECT_EQ(subscribe(subscription("bob", "phone", "https://b/1")), directory_result::done);
    change([&](directory_completion done) {
        store_->set_push_preview("alice", true, std::move(done));
    });
    using devices = std::vector<std::pair<std::string, std::string>>;
    EXPECT_EQ(store_->push_subscribed_devices(),
              (devices{{"alice", "laptop"}, {"alice", "phone"}, {"bob", "phone"}}));
    EXPECT_EQ(
        change([&](directory_completion done) { store_->remove_user("alice", std::move(done)); }),
        directory_result::done);
    EXPECT_TRUE(store_->push_state("alice").subscriptions.empty());
    EXPECT_EQ(store_->push_subscribed_devices(), (devices{{"bob", "phone"}}));
    // A new user of the same name starts without the old one's devices or setting.
    add_user("alice");
    EXPECT_FALSE(store_->push_state("alice").is_preview_allowed);
    EXPECT_TRUE(store_->push_state("alice").subscriptions.empty());
    EXPECT_EQ(store_->push_state("bob").subscriptions.size(), 1U);
}

// The admin API deletes a user in a batch with its audit entry: the same goes with them.
TEST_P(PushStore, DeletingAUserInABatchDeletesTheirSubscriptionsToo) {
    EXPECT_EQ(subscribe(subscription("alice", "phone", "https://a/1")), directory_result::done);
    EXPECT_EQ(subscribe(subscription("bob", "phone", "https://b/1")), directory_result::done);
    std::promise<directory_result> outcome;
    store_->apply_directory_changes({directory_change::removing_user("alice")},
                                    [&](directory_result result, std::size_t, const store_status&) {
                                        outcome.set_value(result);
                                    });
    EXPECT_EQ(outcome.get_future().get(), directory_result::done);
    using devices = std::vector<std::pair<std::string, std::string>>;
    EXPECT_EQ(store_->push_subscribed_devices(), (devices{{"bob", "phone"}}));
    EXPECT_TRUE(store_->push_state("alice").subscriptions.empty());
}

INSTANTIATE_TEST_SUITE_P(Backends, PushStore,
                         ::testing::Values(push_backend::sqlite, push_backend::memory,
                                           push_backend::postgresql));

class SqlitePushMigration : public ::testing::TestWithParam<int> {};

// From the version before, and from 11, the last one released before Web Push.
TEST_P(SqlitePushMigration, MigratesAnOlderDatabase) {
    temporary_database file;
    {
        sqlite::database connection(file.path(), SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
        sqlite::migrate_schema(connection, GetParam());
        connection.execute("INSERT INTO chat_users (name, password_hash, created_unix_ms) VALUES "
                           "('alice', 'h', 1)");
    }
    store_options options;
    options.path = file.path();
    options.durability = durability_level::full;
    {
        const auto store = open_chat_store(options);
        EXPECT_TRUE(store->push_state("alice").subscriptions.empty());
        EXPECT_EQ(change([&](directory_completion done) {
                      store->set_push_subscription(subscription("alice", "phone", "https://a/1"),
                                                   std::move(done));
                  }),
                  directory_result::done);
        store->flush();
    }
    sqlite::database connection(file.path(), SQLITE_OPEN_READWRITE);
    EXPECT_EQ(sqlite::schema_version(connection), sqlite::current_schema_version);
    EXPECT_EQ(connection.query_integer("SELECT count(*) FROM chat_push_subscriptions"), 1);
    // The existing user is still there, and a reopen finds the subscription.
    EXPECT_EQ(connection.query_integer("SELECT count(*) FROM chat_users"), 1);
    const auto store = open_chat_store(options);
    EXPECT_EQ(store->push_state("alice").subscriptions.size(), 1U);
}

INSTANTIATE_TEST_SUITE_P(Versions, SqlitePushMigration,
                         ::testing::Values(11, sqlite::current_schema_version - 1));

} // namespace
} // namespace perch::store
