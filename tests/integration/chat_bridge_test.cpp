// Chat across gateways (docs/BRIDGES.md "Chat across gateways"): two perch gateways sharing one
// PostgreSQL chat store, bridged with bridge_chat through Debian's Mosquitto. alice is on A, bob
// on B: room and direct messages arrive once each way with the origin's id and ts, history pages
// them once at either gateway, presence crosses, a forged relay copy on the upstream is dropped,
// and relay copies queued at A while the upstream is away cross once after A restarts (clean stop
// or kill -9). The gateways and their database come from the fixture of postgres_gateways.hpp.
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <mqtt/async_client.h>

#include "mosquitto_upstream.hpp"
#include "postgres_gateways.hpp"

namespace perch::integration {
namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;

/// How long the tests listen for a message that must not arrive.
constexpr auto silence_window = 1500ms;

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

/// Gateways A and B on one database, each bridged with bridge_chat to one Mosquitto upstream.
class ChatAcrossGateways : public postgres_gateways {
protected:
    void SetUp() override {
        if (!std::filesystem::exists(PERCH_MOSQUITTO_PATH)) {
            GTEST_SKIP() << "no mosquitto at " << PERCH_MOSQUITTO_PATH
                         << " (apt-get install mosquitto)";
        }
        postgres_gateways::SetUp();
        if (IsSkipped()) {
            return;
        }
        // Every packet in its log, which a failed test prints: where a relay copy stopped.
        upstream_ = std::make_unique<upstream_broker>("log_type all\n");
        gateway_a_ = start_gateway(bridge_config("a"));
        gateway_b_ = start_gateway(bridge_config("b"));
    }

    void TearDown() override {
        postgres_gateways::TearDown();
        if (HasFailure() && upstream_) {
            std::cout << "---- upstream output ----\n" << upstream_->log() << "\n";
        }
    }

    /// Gateway `side`'s name and its bridge to the upstream.
    std::string bridge_config(const std::string& side) const {
        return "gateway_name board-" + side +
               "\nconnection up\naddress 127.0.0.1:" + std::to_string(upstream_->port()) +
               "\nbridge_protocol_version mqttv50\nkeepalive_interval 10\nremote_clientid "
               "gateway-" +
               side + "\nbridge_chat true\n";
    }

    broker_process& gateway_a() { return gateway(gateway_a_); }
    broker_process& gateway_b() { return gateway(gateway_b_); }

    /// alice and bob exist, both bridges are up, and alice, at A, made room lobby and invited
    /// bob; both gateways know it. Returns alice's client, or null (with a failure).
    std::unique_ptr<chat_client> alice_with_bob_in_lobby() {
        if (!add_users({"alice", "bob"})) {
            return nullptr;
        }
        wait_bridge_state(gateway_a(), "1");
        wait_bridge_state(gateway_b(), "1");
        std::this_thread::sleep_for(400ms); // the gateways reload the directory every 50 ms
        auto alice = connected(gateway_a(), "alice", "phone");
        if (!create_room_with(*alice, "alice", "lobby", "bob")) {
            return nullptr;
        }
        std::this_thread::sleep_for(400ms);
        return alice;
    }

    /// Waits until `gateway`'s bridge state ($SYS/broker/connection/up/state) is `state`
    /// ("1" connected, "0" not).
    static void wait_bridge_state(broker_process& gateway, const std::string& state) {
        chat_client watcher(gateway, "state-watcher", mqtt_5);
        watcher.connect_anonymous();
        watcher.subscribe("$SYS/broker/connection/up/state", 1);
        const auto deadline = std::chrono::steady_clock::now() + 20s;
        while (std::chrono::steady_clock::now() < deadline) {
            auto seen = watcher.next_on("$SYS/broker/connection/up/state", 1s);
            if (seen && seen->payload == state) {
                return;
            }
        }
        FAIL() << "the bridge state never became " << state << ":\n" << gateway.log();
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

    /// How gateway A goes down while relay copies wait in its bridge's session.
    enum class a_goes_down : std::uint8_t { clean_stop, killed };

    /// The upstream is away; alice on A sends room and direct messages, each acknowledged; A
    /// goes down `how` and starts again on its data; the upstream comes back: bob, connected at
    /// B all along with a clean session (no catch-up from the shared history), gets each of them
    /// exactly once, with the id and ts A stamped.
    void queued_relay_copies_survive_a_restart_of_a(a_goes_down how) {
        auto alice = alice_with_bob_in_lobby();
        ASSERT_TRUE(alice);
        auto alice_laptop = connected(gateway_a(), "alice", "laptop");
        auto bob = connected(gateway_b(), "bob", "phone");
        // The path works before the outage (A's bridge has its chat/relay/# subscription).
        carries_once(*alice, *alice_laptop, *bob, "chat/room/lobby/alice", "before the outage");

        upstream_->stop();
        wait_bridge_state(gateway_a(), "0");
        const std::vector<std::pair<std::string, std::string>> sent = {
            {"chat/room/lobby/alice", "room 1"}, {"chat/room/lobby/alice", "room 2"},
            {"chat/dm/bob/alice", "direct 1"},   {"chat/room/lobby/alice", "room 3"},
            {"chat/dm/bob/alice", "direct 2"},   {"chat/room/lobby/alice", "room 4"}};
        for (const auto& [topic, payload] : sent) {
            ASSERT_EQ(alice->publish(topic, payload, 1), mqtt::ReasonCode::SUCCESS) << payload;
        }
        if (how == a_goes_down::killed) {
            gateway_a().kill();
        } else {
            const process_exit ending = gateway_a().stop();
            EXPECT_TRUE(ending.is_success()) << describe(ending);
        }
        // What A stamped, as alice's other device got it live before A went down.
        std::map<std::string, stamp> stamped;
        for (const auto& [topic, payload] : sent) {
            const auto at_origin = alice_laptop->next_on(topic);
            ASSERT_TRUE(at_origin) << payload << " never reached alice's laptop";
            ASSERT_EQ(at_origin->payload, payload);
            stamped[payload] = stamp_of(*at_origin);
        }

        restart_gateway(gateway_a_);
        upstream_->start();
        wait_bridge_state(gateway_a(), "1");
        std::map<std::string, std::vector<stamp>> across;
        const auto take = [&](const received_message& message) {
            if (message.topic == "chat/room/lobby/alice" || message.topic == "chat/dm/bob/alice") {
                across[message.payload].push_back(stamp_of(message));
            }
        };
        const auto deadline = std::chrono::steady_clock::now() + 30s;
        while (across.size() < sent.size() && std::chrono::steady_clock::now() < deadline) {
            if (auto message = bob->next_message(1s)) {
                take(*message);
            }
        }
        while (auto late = bob->next_message(silence_window)) {
            take(*late);
        }
        for (const auto& [topic, payload] : sent) {
            const std::vector<stamp>& copies = across[payload];
            ASSERT_EQ(copies.size(), 1U)
                << payload << " reached bob at B " << copies.size() << " times";
            EXPECT_EQ(copies[0].id, stamped[payload].id) << payload;
            EXPECT_EQ(copies[0].ts, stamped[payload].ts) << payload;
        }
        EXPECT_EQ(across.size(), sent.size()) << "bob got messages alice never sent";
    }

    std::unique_ptr<upstream_broker> upstream_;
    std::size_t gateway_a_ = 0;
    std::size_t gateway_b_ = 0;
};

TEST_F(ChatAcrossGateways, RoomAndDirectMessagesCrossOnceWithTheOriginsStamps) {
    auto alice = alice_with_bob_in_lobby();
    ASSERT_TRUE(alice);
    auto alice_laptop = connected(gateway_a(), "alice", "laptop");
    auto bob = connected(gateway_b(), "bob", "phone");
    // Presence across gateways: bob's device at B shows at A. It also shows that B's relay
    // copies reach A.
    ASSERT_TRUE(sees_presence(*alice, "bob", "online")) << "bob's presence never reached A";
    // And A's reach B: a new device of alice changes her count at A.
    bool is_alice_seen = false;
    for (int attempt = 0; attempt < 5 && !is_alice_seen; ++attempt) {
        auto extra = connected(gateway_a(), "alice", "probe" + std::to_string(attempt));
        is_alice_seen = sees_presence(*bob, "alice", "online", 3s);
    }
    ASSERT_TRUE(is_alice_seen) << "alice's presence never reached B";
    auto bob_laptop = connected(gateway_b(), "bob", "laptop");

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
    auto alice = alice_with_bob_in_lobby();
    ASSERT_TRUE(alice);
    auto bob = connected(gateway_b(), "bob", "phone");
    ASSERT_TRUE(sees_presence(*alice, "bob", "online")) << "B's relay copies never reached A";

    // Anyone on the upstream can publish there; without the shared key the copy is refused.
    mqtt::async_client forger(upstream_->uri(), "forger", mqtt::create_options(MQTTVERSION_5));
    forger.connect(mqtt::connect_options_builder().mqtt_version(MQTTVERSION_5).finalize())
        ->wait_for(5s);
    std::string forged = "\x01m";
    forged += std::string(200, 'x');
    forger.publish(mqtt::message::create("chat/relay/board-b/message", forged, 1, false))
        ->wait_for(5s);
    EXPECT_TRUE(wait_for_text(gateway_a().scratch_directory() / "broker.log",
                              "the HMAC does not match", 20s))
        << gateway_a().log();
    EXPECT_FALSE(alice->next_on("chat/room/lobby/bob", silence_window));
    forger.disconnect()->wait_for(5s);

    // The path still carries genuine messages.
    EXPECT_EQ(bob->publish("chat/room/lobby/bob", "genuine", 1), mqtt::ReasonCode::SUCCESS);
    const auto genuine = alice->next_on("chat/room/lobby/bob");
    ASSERT_TRUE(genuine);
    EXPECT_EQ(genuine->payload, "genuine");
}

TEST_F(ChatAcrossGateways, AMessageWhoseHistoryRowFailsLeavesNoRelayCopy) {
    auto alice = alice_with_bob_in_lobby();
    ASSERT_TRUE(alice);
    auto bob = connected(gateway_b(), "bob", "phone");
    ASSERT_TRUE(sees_presence(*alice, "bob", "online")) << "B's relay copies never reached A";
    bool is_alice_seen = false;
    for (int attempt = 0; attempt < 5 && !is_alice_seen; ++attempt) {
        auto extra = connected(gateway_a(), "alice", "probe" + std::to_string(attempt));
        is_alice_seen = sees_presence(*bob, "alice", "online", 3s);
    }
    ASSERT_TRUE(is_alice_seen) << "A's relay copies never reached B";

    // Every new history row refused by the database, as by a full disk.
    auto& cluster = testing_support::postgres_cluster::shared();
    ASSERT_TRUE(cluster.run_sql(
        database(), "ALTER TABLE chat_history ADD CONSTRAINT refused CHECK (false) NOT VALID"));
    EXPECT_EQ(alice->publish("chat/room/lobby/alice", "refused", 1),
              mqtt::ReasonCode::UNSPECIFIED_ERROR);
    EXPECT_FALSE(bob->next_on("chat/room/lobby/alice", silence_window))
        << "a relay copy left for a row that failed";

    // Rows accepted again: the next message crosses, and it alone.
    ASSERT_TRUE(cluster.run_sql(database(), "ALTER TABLE chat_history DROP CONSTRAINT refused"));
    EXPECT_EQ(alice->publish("chat/room/lobby/alice", "accepted", 1), mqtt::ReasonCode::SUCCESS);
    const auto across = bob->next_on("chat/room/lobby/alice");
    ASSERT_TRUE(across);
    EXPECT_EQ(across->payload, "accepted");
}

// The relay copies of messages acknowledged while the upstream is away wait in the bridge's
// session at A; a restart must restore that session with its chat/relay/# subscription and its
// queue (the bridge's user is a relay peer before stored sessions are restored).
TEST_F(ChatAcrossGateways, RelayCopiesQueuedAtAGatewayReachTheOtherOnceAfterACleanRestart) {
    queued_relay_copies_survive_a_restart_of_a(a_goes_down::clean_stop);
}

// The same after kill -9 right after the acknowledgements: an acknowledged message's relay copy
// is as durable as the message.
TEST_F(ChatAcrossGateways, RelayCopiesQueuedAtAGatewayReachTheOtherOnceAfterAKill) {
    queued_relay_copies_survive_a_restart_of_a(a_goes_down::killed);
}

} // namespace
} // namespace perch::integration
