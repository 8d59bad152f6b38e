// Two perch gateways sharing one PostgreSQL chat store (docs/POSTGRESQL.md): a user created with
// `perch user add` against one gateway's configuration logs in at the other, and a room's history
// written through one is paged at the other, and two gateways writing one room at once give its
// messages unique ids without gaps (the database allocates them). The PostgreSQL server is a
// throwaway cluster in a temporary folder, on a unix socket only
// (tests/support/postgres_cluster.hpp), set up by the fixture of postgres_gateways.hpp.
#include <algorithm>
#include <chrono>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "postgres_gateways.hpp"

namespace perch::integration {
namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;

/// Two gateways on one database, started in that order.
class PostgresGateways : public postgres_gateways {
protected:
    void SetUp() override {
        postgres_gateways::SetUp();
        if (IsSkipped()) {
            return;
        }
        first_ = &gateway(start_gateway());
        second_ = &gateway(start_gateway());
    }

    /// alice and bob exist, and alice, at the first gateway, made room lobby and invited bob;
    /// both gateways know it. Returns alice's client, or null (with a failure).
    std::unique_ptr<chat_client> alice_with_bob_in_lobby() {
        if (!add_users({"alice", "bob"})) {
            return nullptr;
        }
        // The gateways reload the directory when its version moves (every 50 ms here).
        std::this_thread::sleep_for(400ms);
        auto alice = connected(*first_, "alice");
        if (!create_room_with(*alice, "alice", "lobby", "bob")) {
            return nullptr;
        }
        std::this_thread::sleep_for(400ms);
        return alice;
    }

    broker_process* first_ = nullptr;
    broker_process* second_ = nullptr;
};

// libpq is loaded when the store opens its first connection, not linked (docs/DECISIONS.md "libpq
// loaded on demand"); a gateway on SQLite never maps it (SafeDefaults).
TEST_F(PostgresGateways, AGatewayOnPostgresqlLoadsTheClientLibraryOnDemand) {
    ASSERT_TRUE(add_users({"alice"}));
    std::this_thread::sleep_for(400ms); // the gateways reload the directory every 50 ms here
    for (broker_process* gateway : {first_, second_}) {
        // A user held in PostgreSQL logs in: the store has connected.
        auto alice = connected(*gateway, "alice");
        ASSERT_NE(alice, nullptr);
        const std::string maps =
            read_file_text("/proc/" + std::to_string(gateway->pid()) + "/maps");
        EXPECT_NE(maps.find("/libpq.so"), std::string::npos);
    }
}

TEST_F(PostgresGateways, AUserAddedAgainstOneGatewayLogsInAtTheOther) {
    const command_result added = perch({"user", "add", "alice", "--password", "alice-pw"});
    ASSERT_TRUE(added.ending.is_success()) << added.errors;
    // The gateways reload the directory when its version moves (every 50 ms here).
    std::this_thread::sleep_for(400ms);
    // connect() throws when the CONNACK refuses; it returns Session Present (none here).
    chat_client at_second(*second_, "alice/second", 5);
    EXPECT_NO_THROW(EXPECT_FALSE(at_second.connect("alice", "alice-pw")));
    chat_client at_first(*first_, "alice/first", 5);
    EXPECT_NO_THROW(EXPECT_FALSE(at_first.connect("alice", "alice-pw")));
    chat_client wrong(*second_, "alice/wrong", 5);
    EXPECT_THROW(wrong.connect("alice", "not-the-password"), mqtt::exception);
}

TEST_F(PostgresGateways, HistoryWrittenThroughOneGatewayIsPagedAtTheOther) {
    auto alice = alice_with_bob_in_lobby();
    ASSERT_TRUE(alice);
    auto bob = connected(*second_, "bob");
    // In a public room the invitation made bob a member: the other gateway knows it from the
    // shared directory.
    const json joined = control(*bob, "bob", {{"op", "join"}, {"room", "lobby"}});
    ASSERT_EQ(joined["error"], "already a member") << joined.dump();
    for (int index = 1; index <= 5; ++index) {
        ASSERT_EQ(alice->publish("chat/room/lobby/alice", "m" + std::to_string(index), 1),
                  mqtt::ReasonCode::SUCCESS);
    }
    // The first gateway commits its history group within chat_commit_interval_ms.
    std::this_thread::sleep_for(400ms);
    const json newest =
        control(*bob, "bob", {{"op", "history"}, {"conversation", "room/lobby"}, {"limit", 2}});
    ASSERT_EQ(newest["ok"], true) << newest.dump();
    ASSERT_EQ(newest["messages"].size(), 2U) << newest.dump();
    EXPECT_EQ(newest["messages"][0]["payload"], "m4");
    EXPECT_EQ(newest["messages"][1]["payload"], "m5");
    EXPECT_EQ(newest["messages"][1]["sender"], "alice");
    const json older = control(*bob, "bob",
                               {{"op", "history"},
                                {"conversation", "room/lobby"},
                                {"before", newest["messages"][0]["id"]},
                                {"limit", 10}});
    // The invitation's event (written by the first gateway too), then m1 to m3.
    ASSERT_EQ(older["messages"].size(), 4U) << older.dump();
    EXPECT_EQ(json::parse(older["messages"][0]["payload"].get<std::string>())["event"], "invite");
    EXPECT_EQ(older["messages"][1]["payload"], "m1");
    EXPECT_EQ(older["messages"][3]["payload"], "m3");
}

/// Publishes `count` QoS 1 messages `{prefix}{n}` on `topic`, ten in flight at a time; returns
/// the payloads acknowledged with success.
std::vector<std::string> publish_acknowledged(chat_client& client, const std::string& topic,
                                              const std::string& prefix, int count) {
    constexpr int window = 10;
    std::vector<std::string> acknowledged;
    for (int first = 0; first < count; first += window) {
        std::vector<std::pair<std::string, mqtt::delivery_token_ptr>> in_flight;
        for (int index = first; index < std::min(count, first + window); ++index) {
            std::string payload = prefix + std::to_string(index);
            in_flight.emplace_back(payload, client.publish_async(topic, payload, 1));
        }
        for (auto& [payload, token] : in_flight) {
            if (token->wait_for(postgres_command_timeout) &&
                token->get_reason_code() == mqtt::ReasonCode::SUCCESS) {
                acknowledged.push_back(payload);
            }
        }
    }
    return acknowledged;
}

TEST_F(PostgresGateways, TwoGatewaysWritingOneRoomAtOnceGiveUniqueGapFreeIds) {
    auto alice = alice_with_bob_in_lobby();
    ASSERT_TRUE(alice);
    auto bob = connected(*second_, "bob");
    ASSERT_EQ(control(*bob, "bob", {{"op", "join"}, {"room", "lobby"}})["error"],
              "already a member");

    constexpr int per_client = 200;
    std::vector<std::string> acknowledged_by_bob;
    std::thread at_second([&] {
        acknowledged_by_bob = publish_acknowledged(*bob, "chat/room/lobby/bob", "b", per_client);
    });
    std::vector<std::string> acknowledged =
        publish_acknowledged(*alice, "chat/room/lobby/alice", "a", per_client);
    at_second.join();
    EXPECT_EQ(acknowledged.size(), static_cast<std::size_t>(per_client));
    EXPECT_EQ(acknowledged_by_bob.size(), static_cast<std::size_t>(per_client));
    acknowledged.insert(acknowledged.end(), acknowledged_by_bob.begin(), acknowledged_by_bob.end());

    // Paged newest first at either gateway: every acknowledged message is there, and the ids
    // (the invitation's event first) are unique and without gaps.
    const std::vector<std::pair<chat_client*, std::string>> readers = {{bob.get(), "bob"},
                                                                       {alice.get(), "alice"}};
    for (const auto& [client, user] : readers) {
        std::vector<std::uint64_t> ids;
        std::multiset<std::string> payloads;
        json page = control(*client, user,
                            {{"op", "history"}, {"conversation", "room/lobby"}, {"limit", 200}});
        while (page["ok"] == true && !page["messages"].empty()) {
            for (const json& message : page["messages"]) {
                ids.push_back(message["id"].get<std::uint64_t>());
                payloads.insert(message.value("payload", std::string()));
            }
            page = control(*client, user,
                           {{"op", "history"},
                            {"conversation", "room/lobby"},
                            {"before", page["messages"][0]["id"]},
                            {"limit", 200}});
        }
        ASSERT_EQ(page["ok"], true) << page.dump();
        std::sort(ids.begin(), ids.end());
        ASSERT_EQ(ids.size(), 2u * per_client + 1) << "at " << user;
        for (std::size_t index = 0; index < ids.size(); ++index) {
            ASSERT_EQ(ids[index], index + 1) << "at " << user;
        }
        for (const std::string& payload : acknowledged) {
            EXPECT_EQ(payloads.count(payload), 1u) << payload << " at " << user;
        }
    }
}

TEST_F(PostgresGateways, AMessageWithoutAnIdIsRefusedAndNeitherRoutedNorStored) {
    auto alice = alice_with_bob_in_lobby();
    ASSERT_TRUE(alice);
    auto bob = connected(*first_, "bob");
    auto& cluster = testing_support::postgres_cluster::shared();

    // The heads table gone: every allocation fails, as with the database away.
    ASSERT_TRUE(cluster.run_sql(database(), "ALTER TABLE chat_conversations RENAME TO away"));
    EXPECT_EQ(alice->publish("chat/room/lobby/alice", "refused", 1),
              mqtt::ReasonCode::UNSPECIFIED_ERROR);
    EXPECT_TRUE(bob->stays_silent_on("chat/room/lobby/"));

    // Back: after the allocator's pause (retry_interval_ms) messages are stamped again.
    ASSERT_TRUE(cluster.run_sql(database(), "ALTER TABLE away RENAME TO chat_conversations"));
    EXPECT_EQ(alice->publish("chat/room/lobby/alice", "accepted", 1), mqtt::ReasonCode::SUCCESS);
    const auto received = bob->next_on("chat/room/lobby/alice");
    ASSERT_TRUE(received);
    EXPECT_EQ(received->payload, "accepted");
    const json page =
        control(*bob, "bob", {{"op", "history"}, {"conversation", "room/lobby"}, {"limit", 10}});
    ASSERT_EQ(page["messages"].size(), 2U) << page.dump();
    EXPECT_EQ(page["messages"][1]["payload"], "accepted");
    // The invitation's event is id 1; the refused message took none.
    EXPECT_EQ(page["messages"][1]["id"], 2);
}

TEST_F(PostgresGateways, AMessageWhoseHistoryRowFailsIsRefusedAndAQos2OneReachesNobody) {
    auto alice = alice_with_bob_in_lobby();
    ASSERT_TRUE(alice);
    auto bob = connected(*first_, "bob");
    auto& cluster = testing_support::postgres_cluster::shared();

    // Every new history row refused by the database, as by a full disk: the ids are still
    // allocated, the group holding the row fails (and is retried).
    ASSERT_TRUE(cluster.run_sql(
        database(), "ALTER TABLE chat_history ADD CONSTRAINT refused CHECK (false) NOT VALID"));
    EXPECT_EQ(alice->publish("chat/room/lobby/alice", "at-qos-1", 1),
              mqtt::ReasonCode::UNSPECIFIED_ERROR);
    EXPECT_EQ(alice->publish("chat/room/lobby/alice", "at-qos-2", 2),
              mqtt::ReasonCode::UNSPECIFIED_ERROR);

    // Rows accepted again: the retry writes what was refused, and a new message is accepted.
    ASSERT_TRUE(cluster.run_sql(database(), "ALTER TABLE chat_history DROP CONSTRAINT refused"));
    EXPECT_EQ(alice->publish("chat/room/lobby/alice", "accepted", 2), mqtt::ReasonCode::SUCCESS);
    std::vector<std::string> received;
    while (auto message = bob->next_on("chat/room/lobby/alice")) {
        received.push_back(message->payload);
        if (message->payload == "accepted") {
            break;
        }
    }
    ASSERT_FALSE(received.empty());
    EXPECT_EQ(received.back(), "accepted");
    // QoS 2 is routed once its row commits: the refused one never reached bob. (QoS 1 was routed
    // when its row was submitted.)
    EXPECT_EQ(std::count(received.begin(), received.end(), "at-qos-2"), 0);
}

} // namespace
} // namespace perch::integration
