// The chat layer's integration fixture: a perch whose store holds users and a room, with the
// store open beside it for changes made "from another process", and Paho clients of its users.
#pragma once

#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include <gtest/gtest.h>
#include <mqtt/async_client.h>

#include "gateway/chat/password_hash.hpp"
#include "store/chat_store.hpp"

#include "broker_process.hpp"
#include "chat_client.hpp"
#include <nlohmann/json.hpp>

namespace perch::integration {

/// Waits for a directory change to be applied (the broker polls every 50 ms in these tests).
inline void wait_for_reload() {
    std::this_thread::sleep_for(400ms);
}

/// A broker whose store holds users alice, bob and carol (password "{user}-pw") and the room
/// lobby with alice and bob.
class chat_fixture : public ::testing::Test {
protected:
    void SetUp() override {
        if (broker_under_test() != broker_kind::perch) {
            GTEST_SKIP() << "perch's chat layer only";
        }
        chat_ = open_store();
        for (const std::string user : {"alice", "bob", "carol"}) {
            // A cheap hash, and a broker configured to keep it (password_iterations 1 below).
            add_user(user, gateway::hash_password(user + "-pw", 1));
        }
        expect_done([&](auto done) { chat_->add_room({"lobby", "", 1}, done); });
        expect_done([&](auto done) { chat_->add_member({"lobby", "alice"}, done); });
        expect_done([&](auto done) { chat_->add_member({"lobby", "bob"}, done); });
        start_broker();
    }

    void TearDown() override {
        if (!broker_) {
            return;
        }
        const process_exit ending = broker_->stop();
        EXPECT_TRUE(ending.is_success()) << describe(ending);
        if (HasFailure()) {
            std::cout << "---- broker output ----\n"
                      << broker_->log() << "-----------------------\n";
        }
    }

    std::unique_ptr<store::chat_store> open_store() {
        store::store_options options;
        options.durability = store::durability_level::batched;
        options.path = (data_.path() / "perch.db").string();
        options.commit_interval_ms = 1;
        return store::open_chat_store(options);
    }

    void start_broker(const std::string& extra_config = "") {
        broker_ = std::make_unique<broker_process>(
            broker_kind::perch,
            "data_dir " + data_.path().string() +
                "\ndurability batched\nchat_reload_interval_ms 50\n"
                "password_iterations 1\n" +
                extra_config,
            broker_environment_);
    }

    void add_user(const std::string& name, const std::string& hash) {
        expect_done([&](auto done) { chat_->add_user({name, hash, 1}, done); });
    }

    /// Runs a directory change and expects it to be applied.
    template <typename Change> void expect_done(Change change) {
        std::mutex mutex;
        std::condition_variable finished;
        std::optional<store::directory_result> outcome;
        change([&](store::directory_result result, const store::store_status&) {
            std::lock_guard lock(mutex);
            outcome = result;
            finished.notify_all();
        });
        std::unique_lock lock(mutex);
        ASSERT_TRUE(finished.wait_for(lock, 5s, [&] { return outcome.has_value(); }));
        ASSERT_EQ(*outcome, store::directory_result::done);
    }

    std::unique_ptr<chat_client> connected(const std::string& client_id, int version,
                                           bool is_persistent = false) {
        const std::string user = client_id.substr(0, client_id.find('/'));
        auto client = std::make_unique<chat_client>(*broker_, client_id, version);
        client->connect(user, user + "-pw", is_persistent);
        return client;
    }

    /// Sends a control request and returns the reply's JSON.
    nlohmann::json control(chat_client& client, const std::string& user,
                           const nlohmann::json& request) {
        client.publish("chat/ctl/" + user + "/req", request.dump(), 1);
        auto reply = client.next_on("chat/ctl/" + user + "/resp");
        if (!reply) {
            ADD_FAILURE() << "no reply to " << request.dump();
            return nlohmann::json::object();
        }
        return nlohmann::json::parse(reply->payload);
    }

    temporary_directory data_;
    /// Added to the environment of every broker start_broker() starts.
    std::vector<std::string> broker_environment_;
    std::unique_ptr<store::chat_store> chat_;
    std::unique_ptr<broker_process> broker_;
};

} // namespace perch::integration
