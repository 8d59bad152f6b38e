// perch gateways sharing one PostgreSQL chat store (docs/POSTGRESQL.md), as a test fixture: each
// test gets a database of its own in the throwaway cluster (tests/support/postgres_cluster.hpp),
// starts its gateways on it with what they add to the shared configuration, and may stop, kill and
// restart one on its own data directory. Skips, saying why, unless perch is under test and the
// cluster runs. Knows nothing of bridges: the bridge tests add them in their configuration.
#pragma once

#include <chrono>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "broker_process.hpp"
#include "chat_client.hpp"
#include "support/postgres_cluster.hpp"
#include <nlohmann/json.hpp>

namespace perch::integration {

/// How long a `perch` administration command, or an acknowledgement, may take in these tests.
inline constexpr std::chrono::seconds postgres_command_timeout{30};

class postgres_gateways : public ::testing::Test {
protected:
    using json = nlohmann::json;

    /// Skips unless perch is under test and the cluster runs; makes the test's database (named
    /// after the test) and the configuration every gateway shares. Starts no gateway.
    void SetUp() override {
        if (broker_under_test() != broker_kind::perch) {
            GTEST_SKIP() << "perch's chat store only";
        }
        auto& cluster = testing_support::postgres_cluster::shared();
        if (!cluster.is_available()) {
            GTEST_SKIP() << cluster.unavailable_reason();
        }
        const auto* test = ::testing::UnitTest::GetInstance()->current_test_info();
        database_ = std::string("perch_") + test->name();
        shared_config_ = "durability batched\nchat_store postgresql\npostgresql_conninfo \"" +
                         cluster.conninfo(database_) +
                         "\"\nchat_reload_interval_ms 50\npassword_iterations 1\n";
    }

    /// Stops every running gateway and expects a clean exit; prints every gateway's output
    /// (restarted ones' earlier runs too) when the test failed.
    void TearDown() override {
        for (gateway_slot& slot : gateways_) {
            const process_exit ending = slot.process->stop();
            EXPECT_TRUE(ending.is_success()) << describe(ending);
        }
        if (!HasFailure()) {
            return;
        }
        for (const auto& earlier : stopped_runs_) {
            std::cout << "---- gateway output (an earlier run) ----\n" << earlier->log() << "\n";
        }
        for (const gateway_slot& slot : gateways_) {
            std::cout << "---- gateway output ----\n" << slot.process->log() << "\n";
        }
    }

    /// Starts a gateway with the shared configuration and then `extra_config`, on a data
    /// directory of its own that outlives its restarts. Returns its index.
    std::size_t start_gateway(const std::string& extra_config = "") {
        gateway_slot slot;
        slot.data = std::make_unique<temporary_directory>();
        // extra_config last: it may open a `connection` block, which takes the lines after it.
        slot.config =
            shared_config_ + "data_dir " + slot.data->path().string() + "\n" + extra_config;
        slot.process = std::make_unique<broker_process>(broker_kind::perch, slot.config);
        gateways_.push_back(std::move(slot));
        return gateways_.size() - 1;
    }

    /// The running gateway at `index` (its latest run).
    broker_process& gateway(std::size_t index) { return *gateways_.at(index).process; }

    /// Starts gateway `index` again on its data directory and configuration; the earlier run must
    /// have ended (stop() or kill()). Its clients must connect again: the port changes.
    broker_process& restart_gateway(std::size_t index) {
        gateway_slot& slot = gateways_.at(index);
        stopped_runs_.push_back(std::move(slot.process));
        slot.process = std::make_unique<broker_process>(broker_kind::perch, slot.config);
        return *slot.process;
    }

    /// Runs `perch WORDS` with the configuration of the first gateway (its data directory).
    command_result perch(std::vector<std::string> words, std::string_view input = "") {
        const auto config = scratch_.path() / "admin.conf";
        const std::string data_dir =
            gateways_.empty() ? "" : "data_dir " + gateways_.front().data->path().string() + "\n";
        write_file_text(config, data_dir + shared_config_);
        words.insert(words.begin(), {PERCH_BROKER_PATH, "-c", config.string()});
        return run_command(words, input, postgres_command_timeout);
    }

    /// Adds each of `users` with the password `{user}-pw`; false (with a failure) when one fails.
    bool add_users(const std::vector<std::string>& users) {
        for (const std::string& user : users) {
            const command_result added = perch({"user", "add", user, "--password", user + "-pw"});
            if (!added.ending.is_success()) {
                ADD_FAILURE() << "perch user add " << user << ": " << added.errors;
                return false;
            }
        }
        return true;
    }

    /// A chat client of `user` (password `{user}-pw`) on `gateway`, connected with a clean
    /// session; `device` names its client id `{user}/{device}` (a counter when empty).
    std::unique_ptr<chat_client> connected(broker_process& gateway, const std::string& user,
                                           const std::string& device = "") {
        const std::string name = device.empty() ? std::to_string(next_device_++) : device;
        auto client = std::make_unique<chat_client>(gateway, user + "/" + name, mqtt_5);
        // connect() throws when the CONNACK refuses; it returns Session Present (none here).
        EXPECT_FALSE(client->connect(user, user + "-pw"));
        return client;
    }

    /// Sends a control request as `user` and returns the reply (an empty object, with a
    /// failure, when none comes).
    json control(chat_client& client, const std::string& user, const json& request) {
        client.publish("chat/ctl/" + user + "/req", request.dump(), 1);
        auto reply = client.next_on("chat/ctl/" + user + "/resp");
        if (!reply) {
            ADD_FAILURE() << "no reply to " << request.dump();
            return json::object();
        }
        return json::parse(reply->payload);
    }

    /// `owner` creates room `room` and invites `guest`; false (with a failure) when a reply
    /// is not ok.
    bool create_room_with(chat_client& owner, const std::string& owner_name,
                          const std::string& room, const std::string& guest) {
        const json created = control(owner, owner_name, {{"op", "create"}, {"room", room}});
        const json invited =
            control(owner, owner_name, {{"op", "invite"}, {"room", room}, {"user", guest}});
        EXPECT_EQ(created["ok"], true) << created.dump();
        EXPECT_EQ(invited["ok"], true) << invited.dump();
        return created["ok"] == true && invited["ok"] == true;
    }

    /// The test's database, in the shared cluster.
    const std::string& database() const { return database_; }
    /// The configuration lines every gateway starts with (the database, fast directory reloads).
    const std::string& shared_config() const { return shared_config_; }

private:
    /// One gateway: what it was started with, and its data directory across runs.
    struct gateway_slot {
        std::string config;
        std::unique_ptr<temporary_directory> data;
        std::unique_ptr<broker_process> process;
    };

    std::string database_;
    std::string shared_config_;
    std::vector<gateway_slot> gateways_;
    /// Runs that restart_gateway replaced, kept for their output.
    std::vector<std::unique_ptr<broker_process>> stopped_runs_;
    /// Where the administration command's configuration file goes.
    temporary_directory scratch_;
    int next_device_ = 0;
};

} // namespace perch::integration
