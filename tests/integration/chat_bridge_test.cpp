// Chat across gateways (docs/BRIDGES.md "Chat across gateways"): two perch gateways sharing one
// PostgreSQL chat store, bridged with bridge_chat through Debian's Mosquitto. alice is on A, bob
// on B: room and direct messages arrive once each way with the origin's id and ts, history pages
// them once at either gateway, presence crosses, and a forged relay copy on the upstream is
// dropped. The database is a throwaway cluster (tests/support/postgres_cluster.hpp).
#include <chrono>
#include <filesystem>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <mqtt/async_client.h>

#include "broker_process.hpp"
#include "chat_client.hpp"
#include "mosquitto_upstream.hpp"
#include "support/postgres_cluster.hpp"
#include <nlohmann/json.hpp>

namespace perch::integration {
namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;

/// How long the tests listen for a message that must not arrive.
constexpr auto silence_window = 1500ms;

class ChatAcrossGateways : public ::testing::Test {
protected:
    void SetUp() override {
        if (broker_under_test() != broker_kind::perch) {
            GTEST_SKIP() << "perch's chat layer only";
        }
        if (!std::filesystem::exists(PERCH_MOSQUITTO_PATH)) {
            GTEST_SKIP() << "no mosquitto at " << PERCH_MOSQUITTO_PATH
                         << " (apt-get install mosquitto)";
        }
        auto& cluster = testing_support::postgres_cluster::shared();
        if (!cluster.is_available()) {
            GTEST_SKIP() << cluster.unavailable_reason();
        }
        upstream_ = std::make_unique<upstream_broker>();
        const auto* test = ::testing::UnitTest::GetInstance()->current_test_info();
        shared_config_ = "durability batched\nchat_store postgresql\npostgresql_conninfo \"" +
                         cluster.conninfo(std::string("perch_") + test->name()) +
                         "\"\nchat_reload_interval_ms 50\npassword_iterations 1\n";
        gateway_a_ = std::make_unique<broker_process>(broker_kind::perch, gateway_config("a"));
        gateway_b_ = std::make_unique<broker_process>(broker_kind::perch, gateway_config("b"));
    }

    void TearDown() override {
        for (auto* gateway : {gateway_a_.get(), gateway_b_.get()}) {
            if (gateway == nullptr) {
                continue;
            }
            const process_exit ending = gateway->stop();
            EXPECT_TRUE(ending.is_success()) << describe(ending);
            if (HasFailure()) {
                std::cout << "---- gateway output ----\n" << gateway->log() << "\n";
            }
        }
    }

    std::string gateway_config(const std::string& side) const {
        return shared_config_ + "gateway_name board-" + side +
               "\nconnection up\naddress 127.0.0.1:" + std::to_string(upstream_->port()) +
               "\nbridge_protocol_version mqttv50\nkeepalive_interval 10\nremote_clientid "
               "gateway-" +
               side + "\nbridge_chat true\n";
    }

    /// Runs `perch WORDS` against the shared database.
    command_result perch(std::vector<std::string> words) {
        const auto config = gateway_a_->scratch_directory() / "admin.conf";
        write_file_text(config, "data_dir " + (gateway_a_->scratch_directory() / "data").string() +
                                    "\n" + shared_config_);
        words.insert(words.begin(), {PERCH_BROKER_PATH, "-c", config.string()});
        return run_command(words, "", 30s);
    }

    std::unique_ptr<chat_client> connected(broker_process& gateway, const std::string& user,
                                           const std::string& device) {
        auto client = std::make_unique<chat_client>(gateway, user + "/" + device, 5);
        EXPECT_FALSE(client->connect(user, user + "-pw"));
        return client;
    }

    json control(chat_client& client, const std::string& user, const json& request) {
        client.publish("chat/ctl/" + user + "/req", request.dump(), 1);
        auto reply = client.next_on("chat/ctl/" + user + "/resp");
        if (!reply) {
            ADD_FAILURE() << "no reply to " << request.dump();
            return json::object();
        }
        return json::parse(reply->payload);
    }

    static void wait_bridge_connected(broker_process& gateway) {
        chat_client watcher(gateway, "state-watcher", 5);
        watcher.connect_anonymous();
        watcher.subscribe("$SYS/broker/connection/up/state", 1);
        const auto deadline = std::chrono::steady_clock::now() + 20s;
        while (std::chrono::steady_clock::now() < deadline) {
            auto state = watcher.next_on("$SYS/broker/connection/up/state", 1s);
            if (state && state->payload == "1") {
                return;
            }
        }
        FAIL() << "the bridge did not connect:\n" << gateway.log();
    }

    /// Waits until `watcher` sees `user`'s presence say `status`; nothing when it never does.
    static bool sees_presence(chat_client& watcher, const std::string& user,
                              const std::string& status, std::chrono::milliseconds timeout = 10s) {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        while (std::chrono::steady_clock::now() < deadline) {
            auto presence = watcher.next_on("chat/presence/" + user, 500ms);
            if (presence && json::parse(presence->payload)["status"] == status) {
                return true;
            }
        }
        return false;
    }

    std::string shared_config_;
    std::unique_ptr<upstream_broker> upstream_;
    std::unique_ptr<broker_process> gateway_a_;
    std::unique_ptr<broker_process> gateway_b_;
};

struct stamp {
    std::string id;
    std::string ts;
};

/// `message`'s id and ts user properties (empty when missing).
stamp stamp_of(const received_message& message) {
    return {user_property(message.properties, "id").value_or(""),
            user_property(message.properties, "ts").value_or("")};
}

/// Publishes `payload` on `topic` from `sender`, and checks that `reader` (on the other gateway)
/// gets it once, with the id and ts that `witness` (another device of the sender, at the
/// origin) got. Returns the id.
std::string carries_once(chat_client& sender, chat_client& witness, chat_client& reader,
                         const std::string& topic, const std::string& payload) {
    EXPECT_EQ(sender.publish(topic, payload, 1), mqtt::ReasonCode::SUCCESS);
    const auto at_origin = witness.next_on(topic);
    const auto across = reader.next_on(topic);
    if (!at_origin || !across) {
        ADD_FAILURE() << topic << ": at the origin " << at_origin.has_value() << ", across "
                      << across.has_value();
        return {};
    }
    EXPECT_EQ(across->payload, payload);
    const stamp origin_stamp = stamp_of(*at_origin);
    const stamp across_stamp = stamp_of(*across);
    EXPECT_FALSE(origin_stamp.id.empty());
    EXPECT_FALSE(origin_stamp.ts.empty());
    EXPECT_EQ(across_stamp.id, origin_stamp.id) << topic;
    EXPECT_EQ(across_stamp.ts, origin_stamp.ts) << topic;
    EXPECT_FALSE(reader.next_on(topic, silence_window)) << topic << " arrived twice across";
    EXPECT_FALSE(witness.next_on(topic, silence_window)) << topic << " came back to its origin";
    return origin_stamp.id;
}

TEST_F(ChatAcrossGateways, RoomAndDirectMessagesCrossOnceWithTheOriginsStamps) {
    for (const std::string user : {"alice", "bob"}) {
        ASSERT_TRUE(perch({"user", "add", user, "--password", user + "-pw"}).ending.is_success());
    }
    wait_bridge_connected(*gateway_a_);
    wait_bridge_connected(*gateway_b_);
    std::this_thread::sleep_for(400ms); // the gateways reload the directory every 50 ms
    auto alice = connected(*gateway_a_, "alice", "phone");
    ASSERT_EQ(control(*alice, "alice", {{"op", "create"}, {"room", "lobby"}})["ok"], true);
    ASSERT_EQ(
        control(*alice, "alice", {{"op", "invite"}, {"room", "lobby"}, {"user", "bob"}})["ok"],
        true);
    std::this_thread::sleep_for(400ms);
    auto alice_laptop = connected(*gateway_a_, "alice", "laptop");
    auto bob = connected(*gateway_b_, "bob", "phone");
    // Presence across gateways: bob's device at B shows at A. It also shows that B's relay
    // copies reach A.
    ASSERT_TRUE(sees_presence(*alice, "bob", "online")) << "bob's presence never reached A";
    // And A's reach B: a new device of alice changes her count at A.
    bool is_alice_seen = false;
    for (int attempt = 0; attempt < 5 && !is_alice_seen; ++attempt) {
        auto extra = connected(*gateway_a_, "alice", "probe" + std::to_string(attempt));
        is_alice_seen = sees_presence(*bob, "alice", "online", 3s);
    }
    ASSERT_TRUE(is_alice_seen) << "alice's presence never reached B";
    auto bob_laptop = connected(*gateway_b_, "bob", "laptop");

    const std::string room_from_a =
        carries_once(*alice, *alice_laptop, *bob, "chat/room/lobby/alice", "hello from A");
    const std::string room_from_b =
        carries_once(*bob, *bob_laptop, *alice, "chat/room/lobby/bob", "hello from B");
    const std::string dm_from_a =
        carries_once(*alice, *alice_laptop, *bob, "chat/dm/bob/alice", "psst from A");
    const std::string dm_from_b =
        carries_once(*bob, *bob_laptop, *alice, "chat/dm/alice/bob", "psst from B");
    EXPECT_NE(room_from_a, room_from_b);

    // History is shared: either gateway pages each message once, under the origin's id.
    std::this_thread::sleep_for(400ms); // the history groups commit
    for (const auto& [client, user] : std::vector<std::pair<chat_client*, std::string>>{
             {alice.get(), "alice"}, {bob.get(), "bob"}}) {
        const json room = control(
            *client, user, {{"op", "history"}, {"conversation", "room/lobby"}, {"limit", 50}});
        std::vector<std::pair<std::string, std::string>> texts;
        for (const json& row : room["messages"]) {
            const std::string payload = row["payload"].get<std::string>();
            if (payload.starts_with("hello")) {
                texts.emplace_back(payload, std::to_string(row["id"].get<std::uint64_t>()));
            }
        }
        EXPECT_EQ(texts, (std::vector<std::pair<std::string, std::string>>{
                             {"hello from A", room_from_a}, {"hello from B", room_from_b}}))
            << user << ": " << room.dump();
        const json direct = control(
            *client, user, {{"op", "history"}, {"conversation", "dm/alice/bob"}, {"limit", 50}});
        std::vector<std::pair<std::string, std::string>> dms;
        for (const json& row : direct["messages"]) {
            dms.emplace_back(row["payload"].get<std::string>(),
                             std::to_string(row["id"].get<std::uint64_t>()));
        }
        EXPECT_EQ(dms, (std::vector<std::pair<std::string, std::string>>{
                           {"psst from A", dm_from_a}, {"psst from B", dm_from_b}}))
            << user << ": " << direct.dump();
    }

    // bob leaves B: A shows him offline.
    bob_laptop.reset();
    bob.reset();
    EXPECT_TRUE(sees_presence(*alice, "bob", "offline")) << "bob still online at A";
}

TEST_F(ChatAcrossGateways, AForgedRelayCopyOnTheUpstreamIsDropped) {
    for (const std::string user : {"alice", "bob"}) {
        ASSERT_TRUE(perch({"user", "add", user, "--password", user + "-pw"}).ending.is_success());
    }
    wait_bridge_connected(*gateway_a_);
    wait_bridge_connected(*gateway_b_);
    std::this_thread::sleep_for(400ms);
    auto alice = connected(*gateway_a_, "alice", "phone");
    ASSERT_EQ(control(*alice, "alice", {{"op", "create"}, {"room", "lobby"}})["ok"], true);
    ASSERT_EQ(
        control(*alice, "alice", {{"op", "invite"}, {"room", "lobby"}, {"user", "bob"}})["ok"],
        true);
    std::this_thread::sleep_for(400ms);
    auto bob = connected(*gateway_b_, "bob", "phone");
    ASSERT_TRUE(sees_presence(*alice, "bob", "online")) << "B's relay copies never reached A";

    // Anyone on the upstream can publish there; without the shared key the copy is refused.
    mqtt::async_client forger(upstream_->uri(), "forger", mqtt::create_options(MQTTVERSION_5));
    forger.connect(mqtt::connect_options_builder().mqtt_version(MQTTVERSION_5).finalize())
        ->wait_for(5s);
    std::string forged = "\x01m";
    forged += std::string(200, 'x');
    forger.publish(mqtt::message::create("chat/relay/board-b/message", forged, 1, false))
        ->wait_for(5s);
    EXPECT_TRUE(wait_for_text(gateway_a_->scratch_directory() / "broker.log",
                              "the HMAC does not match", 20s))
        << gateway_a_->log();
    EXPECT_FALSE(alice->next_on("chat/room/lobby/bob", silence_window));
    forger.disconnect()->wait_for(5s);

    // The path still carries genuine messages.
    EXPECT_EQ(bob->publish("chat/room/lobby/bob", "genuine", 1), mqtt::ReasonCode::SUCCESS);
    const auto genuine = alice->next_on("chat/room/lobby/bob");
    ASSERT_TRUE(genuine);
    EXPECT_EQ(genuine->payload, "genuine");
}

TEST_F(ChatAcrossGateways, AMessageWhoseHistoryRowFailsLeavesNoRelayCopy) {
    for (const std::string user : {"alice", "bob"}) {
        ASSERT_TRUE(perch({"user", "add", user, "--password", user + "-pw"}).ending.is_success());
    }
    wait_bridge_connected(*gateway_a_);
    wait_bridge_connected(*gateway_b_);
    std::this_thread::sleep_for(400ms);
    auto alice = connected(*gateway_a_, "alice", "phone");
    ASSERT_EQ(control(*alice, "alice", {{"op", "create"}, {"room", "lobby"}})["ok"], true);
    ASSERT_EQ(
        control(*alice, "alice", {{"op", "invite"}, {"room", "lobby"}, {"user", "bob"}})["ok"],
        true);
    std::this_thread::sleep_for(400ms);
    auto bob = connected(*gateway_b_, "bob", "phone");
    ASSERT_TRUE(sees_presence(*alice, "bob", "online")) << "B's relay copies never reached A";
    bool is_alice_seen = false;
    for (int attempt = 0; attempt < 5 && !is_alice_seen; ++attempt) {
        auto extra = connected(*gateway_a_, "alice", "probe" + std::to_string(attempt));
        is_alice_seen = sees_presence(*bob, "alice", "online", 3s);
    }
    ASSERT_TRUE(is_alice_seen) << "A's relay copies never reached B";

    // Every new history row refused by the database, as by a full disk.
    auto& cluster = testing_support::postgres_cluster::shared();
    const std::string database =
        std::string("perch_") + ::testing::UnitTest::GetInstance()->current_test_info()->name();
    ASSERT_TRUE(cluster.run_sql(
        database, "ALTER TABLE chat_history ADD CONSTRAINT refused CHECK (false) NOT VALID"));
    EXPECT_EQ(alice->publish("chat/room/lobby/alice", "refused", 1),
              mqtt::ReasonCode::UNSPECIFIED_ERROR);
    EXPECT_FALSE(bob->next_on("chat/room/lobby/alice", silence_window))
        << "a relay copy left for a row that failed";

    // Rows accepted again: the next message crosses, and it alone.
    ASSERT_TRUE(cluster.run_sql(database, "ALTER TABLE chat_history DROP CONSTRAINT refused"));
    EXPECT_EQ(alice->publish("chat/room/lobby/alice", "accepted", 1), mqtt::ReasonCode::SUCCESS);
    const auto across = bob->next_on("chat/room/lobby/alice");
    ASSERT_TRUE(across);
    EXPECT_EQ(across->payload, "accepted");
}

} // namespace
} // namespace perch::integration
