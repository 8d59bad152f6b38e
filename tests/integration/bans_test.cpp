// Bans, failed-login backoff and the topic access rules held in the store, on the real binary:
// `perch ban|acl` run beside the broker, CONNACK and DISCONNECT reason codes at both protocol
// levels, live connections dropped or re-checked within the directory's polling, the counters in
// $SYS, and well-behaved clients on the same broker served meanwhile.
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <mqtt/async_client.h>

#include "chat_client.hpp"
#include "chat_fixture.hpp"
#include "raw_mqtt_client.hpp"

namespace perch::integration {
namespace {

using namespace std::chrono_literals;

constexpr auto answer_timeout = 5s;
/// How long a change made with `perch ban|acl` may take to be seen: the broker polls every 50 ms;
/// the rest is room for a loaded machine.
constexpr auto poll_timeout = 15s;
constexpr auto command_timeout = 30s;
constexpr int connack_banned = 0x8A;
constexpr int connack_bad_credentials = 0x86;
constexpr int return_code_not_authorized = 5;

class BansTest : public chat_fixture {
protected:
    void SetUp() override {
        chat_fixture::SetUp();
        if (IsSkipped() || HasFatalFailure()) {
            return;
        }
        broker_->stop();
        // A backoff long enough that no machine is too slow to see it in force.
        start_broker("sys_interval 1\nlogin_backoff_initial_ms 60000\n");
    }

    /// Runs `perch WORDS` on the broker's data directory and expects it to succeed.
    void perch(std::vector<std::string> words) {
        words.insert(words.begin(), PERCH_BROKER_PATH);
        words.emplace_back("--data-dir");
        words.push_back(data_.path().string());
        const command_result result = run_command(words, "", command_timeout);
        ASSERT_TRUE(result.ending.is_success()) << result.errors;
    }

    /// The CONNACK code of a refused connect (5.0 reason code or 3.1.1 return code); 0 when
    /// accepted.
    int connect_code(const std::string& client_id, const std::string& user,
                     const std::string& password, int version = mqtt_5) {
        chat_client client(*broker_, client_id, version);
        try {
            client.connect(user, password);
        } catch (const mqtt::exception& refusal) {
            return refusal.get_reason_code() != 0 ? refusal.get_reason_code()
                                                  : refusal.get_return_code();
        }
        client.disconnect();
        return 0;
    }

    /// Polls until a connect of `user` as `client_id` is answered `wanted` (bounded): the broker
    /// follows store changes within its polling interval. The failure names the last answer.
    ::testing::AssertionResult eventually_answered(int wanted, const std::string& client_id,
                                                   const std::string& user, int version = mqtt_5) {
        const auto deadline = std::chrono::steady_clock::now() + poll_timeout;
        int last = -1;
        while (std::chrono::steady_clock::now() < deadline) {
            last = connect_code(client_id, user, user + "-pw", version);
            if (last == wanted) {
                return ::testing::AssertionSuccess();
            }
            std::this_thread::sleep_for(20ms);
        }
        return ::testing::AssertionFailure()
               << client_id << " answered " << last << ", not " << wanted;
    }

    /// Waits (bounded) until `$SYS/broker/{name}` reads at least `wanted` at `reader`.
    void expect_sys_at_least(chat_client& reader, const std::string& name, std::uint64_t wanted) {
        const std::string topic = "$SYS/broker/" + name;
        ASSERT_EQ(reader.subscribe(topic, 0).front(), mqtt::ReasonCode::GRANTED_QOS_0);
        const auto deadline = std::chrono::steady_clock::now() + poll_timeout;
        std::uint64_t last = 0;
        while (std::chrono::steady_clock::now() < deadline && last < wanted) {
            if (const auto value = reader.next_on(topic, 2s)) {
                last = std::stoull(value->payload);
            }
        }
        EXPECT_GE(last, wanted) << topic;
        reader.unsubscribe(topic);
    }
};

TEST_F(BansTest, BannedUsersClientsAndAddressesAreRefusedWithTheirCode) {
    perch({"ban", "add", "user", "carol", "--reason", "spam"});
    ASSERT_TRUE(eventually_answered(connack_banned, "carol", "carol"));
    EXPECT_EQ(connect_code("carol", "carol", "carol-pw", mqtt_311), return_code_not_authorized);
    // Refused before the password is looked at: a wrong one gets the same answer.
    EXPECT_EQ(connect_code("carol", "carol", "wrong"), connack_banned);

    perch({"ban", "add", "client", "alice/phone"});
    ASSERT_TRUE(eventually_answered(connack_banned, "alice/phone", "alice"));
    EXPECT_EQ(connect_code("alice/laptop", "alice", "alice-pw"), 0);

    perch({"ban", "add", "address", "127.0.0.0/8", "--for", "1h"});
    ASSERT_TRUE(eventually_answered(connack_banned, "bob", "bob"));
    raw_mqtt_client anonymous;
    EXPECT_FALSE(anonymous.connect(broker_->port(), "guest", true, answer_timeout));
    EXPECT_EQ(anonymous.connack_code(), return_code_not_authorized);

    perch({"ban", "remove", "address", "127.0.0.0/8"});
    ASSERT_TRUE(eventually_answered(0, "bob", "bob"));
    auto bob = connected("bob", mqtt_5);
    expect_sys_at_least(*bob, "bans/connects_refused", 6);
}

TEST_F(BansTest, ALiveConnectionIsDroppedWhenBannedAndOthersStay) {
    auto alice = connected("alice", mqtt_5);
    chat_client alice_311(*broker_, "alice/old", mqtt_311);
    alice_311.connect("alice", "alice-pw");
    auto bob = connected("bob", mqtt_5);
    ASSERT_EQ(bob->subscribe("home/#", 1).front(), mqtt::ReasonCode::GRANTED_QOS_1);

    perch({"ban", "add", "user", "alice", "--reason", "compromised"});
    ASSERT_TRUE(alice->wait_for_connection_lost());
    EXPECT_EQ(alice->disconnect_reason(), mqtt::ReasonCode::ADMINISTRATIVE_ACTION);
    ASSERT_TRUE(alice_311.wait_for_connection_lost());
    EXPECT_EQ(connect_code("alice", "alice", "alice-pw"), connack_banned);

    // bob was not touched: still connected, still served.
    EXPECT_TRUE(bob->is_connected());
    EXPECT_EQ(bob->publish("home/door", "open", 1), mqtt::ReasonCode::SUCCESS);
    const auto delivered = bob->next_on("home/door");
    ASSERT_TRUE(delivered);
    EXPECT_EQ(delivered->payload, "open");
    expect_sys_at_least(*bob, "bans/disconnects", 2);
}

TEST_F(BansTest, BackoffRefusesAGuesserWhileAnotherUserLogsIn) {
    for (int guess = 0; guess < 3; ++guess) {
        EXPECT_EQ(connect_code("carol", "carol", "guess" + std::to_string(guess)),
                  connack_bad_credentials);
    }
    // Backing off: even the right password is refused now, answered as a wrong one.
    EXPECT_EQ(connect_code("carol", "carol", "carol-pw"), connack_bad_credentials);
    EXPECT_EQ(connect_code("carol", "carol", "carol-pw", mqtt_311), 4);
    EXPECT_NE(broker_->log().find("backing off"), std::string::npos) << broker_->log();
    // Another user from the same address logs in meanwhile.
    auto bob = connected("bob", mqtt_5);
    EXPECT_TRUE(bob->is_connected());
    expect_sys_at_least(*bob, "logins/failed", 3);
    expect_sys_at_least(*bob, "logins/backoff_refusals", 2);
}

class StoredAclTest : public BansTest {};

TEST_F(StoredAclTest, RulesApplyToSubscribePublishAndRetainedAndChangeLive) {
    // Without any rule, chat users may use every topic outside chat/ on a loopback-only perch.
    auto alice = connected("alice", mqtt_5);
    ASSERT_EQ(alice->publish_retained("home/door", "closed", 1), mqtt::ReasonCode::SUCCESS);
    ASSERT_EQ(alice->publish_retained("home/safe", "code", 1), mqtt::ReasonCode::SUCCESS);

    perch({"acl", "add", "--user", "alice", "readwrite", "home/#"});
    perch({"acl", "add", "--user", "bob", "read", "home/#"});
    perch({"acl", "add", "--user", "bob", "deny", "home/safe"});
    perch({"acl", "add", "--anonymous", "read", "public/#"});
    auto bob = connected("bob", mqtt_5);
    // Rules in force once bob may no longer publish to home/ (bounded wait for the reload).
    const auto deadline = std::chrono::steady_clock::now() + poll_timeout;
    while (bob->publish("home/door", "x", 1) != mqtt::ReasonCode::NOT_AUTHORIZED &&
           std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(20ms);
    }
    EXPECT_EQ(bob->publish("home/door", "x", 1), mqtt::ReasonCode::NOT_AUTHORIZED);
    EXPECT_EQ(bob->subscribe("home/safe", 1).front(), mqtt::ReasonCode::NOT_AUTHORIZED);
    EXPECT_EQ(bob->subscribe("garden/#", 1).front(), mqtt::ReasonCode::NOT_AUTHORIZED);
    EXPECT_EQ(bob->subscribe("home/#", 1).front(), mqtt::ReasonCode::GRANTED_QOS_1);
    const auto retained = bob->next_on("home/door");
    ASSERT_TRUE(retained);
    EXPECT_TRUE(retained->is_retained);
    EXPECT_TRUE(bob->stays_silent_on("home/safe"));
    EXPECT_EQ(alice->publish("garden/tap", "on", 1), mqtt::ReasonCode::NOT_AUTHORIZED);

    // 3.1.1: a refused SUBSCRIBE is 0x80 in the SUBACK.
    raw_mqtt_client anonymous;
    ASSERT_TRUE(anonymous.connect(broker_->port(), "guest", true, answer_timeout));
    EXPECT_TRUE(anonymous.subscribe("public/#", 1, 1, answer_timeout));
    EXPECT_FALSE(anonymous.subscribe("home/#", 1, 2, answer_timeout));
    anonymous.disconnect();

    // A rule removed applies to the live subscription: bob no longer receives home/.
    perch({"acl", "remove", "--user", "bob", "home/#"});
    const auto removed_by = std::chrono::steady_clock::now() + poll_timeout;
    bool is_refused = false;
    while (!is_refused && std::chrono::steady_clock::now() < removed_by) {
        is_refused = bob->subscribe("home/window", 1).front() == mqtt::ReasonCode::NOT_AUTHORIZED;
        if (!is_refused) {
            std::this_thread::sleep_for(20ms);
        }
    }
    ASSERT_TRUE(is_refused);
    ASSERT_EQ(alice->publish("home/door", "open", 1), mqtt::ReasonCode::SUCCESS);
    EXPECT_TRUE(bob->stays_silent_on("home/door"));
}

TEST_F(StoredAclTest, AStoredDenyWinsOverTheAclFile) {
    broker_->stop();
    const auto acl_path = data_.path() / "perch.acl";
    write_file_text(acl_path, "user bob\ntopic readwrite home/#\n");
    start_broker("acl_file " + acl_path.string() + "\n");
    auto bob = connected("bob", mqtt_5);
    EXPECT_EQ(bob->publish("home/safe", "x", 1), mqtt::ReasonCode::SUCCESS);
    perch({"acl", "add", "--user", "bob", "deny", "home/safe"});
    const auto deadline = std::chrono::steady_clock::now() + poll_timeout;
    while (bob->publish("home/safe", "x", 1) != mqtt::ReasonCode::NOT_AUTHORIZED &&
           std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(20ms);
    }
    EXPECT_EQ(bob->publish("home/safe", "x", 1), mqtt::ReasonCode::NOT_AUTHORIZED);
    // The file's grant still holds elsewhere.
    EXPECT_EQ(bob->publish("home/door", "x", 1), mqtt::ReasonCode::SUCCESS);
}

} // namespace
} // namespace perch::integration
