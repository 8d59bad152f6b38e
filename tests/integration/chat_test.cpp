// The chat layer end to end (docs/CHAT.md): several users as real Paho C++ clients at MQTT 3.1.1
// and 5.0 against the perch binary, with users and rooms created in its store beforehand or while
// it runs. Room chat, direct messages, offline delivery, refusals, presence, control requests and
// history, two devices of one user, and a hash made by mosquitto_passwd.
#include <chrono>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <mqtt/async_client.h>

#include "gateway/chat/password_hash.hpp"
#include "store/chat_store.hpp"

#include "broker_process.hpp"
#include "chat_client.hpp"
#include "chat_fixture.hpp"
#include <nlohmann/json.hpp>

namespace perch::integration {
namespace {

using namespace std::chrono_literals;
using json = nlohmann::json;

/// The CONNACK code of a refused connect: the 5.0 reason code or the 3.1.1 return code.
int refusal_code(chat_client& client, const std::string& user, const std::string& password) {
    try {
        client.connect(user, password);
    } catch (const mqtt::exception& refusal) {
        return refusal.get_reason_code() != 0 ? refusal.get_reason_code()
                                              : refusal.get_return_code();
    }
    return 0;
}

/// Reads `user`'s presence changes at `watcher` until one says no device is left (or none comes
/// in time); returns the last one read.
json last_presence_until_offline(chat_client& watcher, const std::string& user) {
    json last;
    while (auto change = watcher.next_on("chat/presence/" + user)) {
        last = json::parse(change->payload);
        if (last["devices"] == 0) {
            break;
        }
    }
    return last;
}

using ChatTest = chat_fixture;

TEST_F(ChatTest, RoomMessagesReachMembersWithIdAndTimestamp) {
    auto alice = connected("alice", mqtt_5);
    auto bob = connected("bob", mqtt_5);
    auto bob_phone = connected("bob/phone", mqtt_311);
    ASSERT_EQ(alice->publish("chat/room/lobby/alice", "hello", 1), mqtt::ReasonCode::SUCCESS);
    ASSERT_EQ(alice->publish("chat/room/lobby/alice", "again", 1), mqtt::ReasonCode::SUCCESS);

    const auto first = bob->next_on("chat/room/lobby/alice");
    ASSERT_TRUE(first);
    EXPECT_EQ(first->payload, "hello");
    EXPECT_EQ(user_property(first->properties, "id"), "1");
    ASSERT_TRUE(user_property(first->properties, "ts"));
    EXPECT_GT(std::stoull(*user_property(first->properties, "ts")), 1'600'000'000'000ULL);
    const auto second = bob->next_on("chat/room/lobby/alice");
    ASSERT_TRUE(second);
    EXPECT_EQ(user_property(second->properties, "id"), "2");

    const auto on_phone = bob_phone->next_on("chat/room/lobby/alice");
    ASSERT_TRUE(on_phone);
    EXPECT_EQ(on_phone->payload, "hello");
    // The sending device gets no echo (No Local on the server-side subscription).
    EXPECT_TRUE(alice->stays_silent_on("chat/room/"));
}

TEST_F(ChatTest, QosOneRoomMessagesAreRoutedAtOnceAndAcknowledgedOnceInHistory) {
    // A commit interval far longer than routing takes: the members receive the message while
    // its history row still waits for the commit, and the PUBACK comes after that commit.
    broker_->stop();
    start_broker("chat_commit_interval_ms 1500\n");
    auto alice = connected("alice", mqtt_5);
    auto bob = connected("bob", mqtt_5);
    auto sent = alice->publish_async("chat/room/lobby/alice", "quick", 1);
    const auto received = bob->next_on("chat/room/lobby/alice");
    ASSERT_TRUE(received);
    EXPECT_EQ(received->payload, "quick");
    EXPECT_FALSE(sent->is_complete()) << "acknowledged before its history row was committed";
    ASSERT_TRUE(sent->wait_for(10s));
    EXPECT_EQ(sent->get_reason_code(), mqtt::ReasonCode::SUCCESS);
    // Acknowledged, so in history.
    const json page = control(*alice, "alice",
                              {{"op", "history"}, {"conversation", "room/lobby"}, {"limit", 10}});
    ASSERT_EQ(page["messages"].size(), 1u) << page.dump();
    EXPECT_EQ(page["messages"][0]["payload"], "quick");
}

TEST_F(ChatTest, ServerSideSubscriptionsCannotBeUnsubscribed) {
    auto bob = connected("bob", mqtt_5);
    const auto codes = bob->unsubscribe("chat/room/lobby/+");
    ASSERT_EQ(codes.size(), 1U);
    EXPECT_EQ(codes[0], mqtt::ReasonCode::NOT_AUTHORIZED);
    auto alice = connected("alice", mqtt_5);
    ASSERT_EQ(alice->publish("chat/room/lobby/alice", "still here?", 1), mqtt::ReasonCode::SUCCESS);
    EXPECT_TRUE(bob->next_on("chat/room/lobby/alice"));
}

TEST_F(ChatTest, NonMembersCannotSubscribeOrReadARoom) {
    auto carol = connected("carol", mqtt_5);
    const auto refused = carol->subscribe("chat/room/lobby/+", 1);
    ASSERT_EQ(refused.size(), 1U);
    EXPECT_EQ(refused[0], mqtt::ReasonCode::NOT_AUTHORIZED);
    const auto wildcard = carol->subscribe("chat/#", 1);
    EXPECT_EQ(wildcard[0], mqtt::ReasonCode::GRANTED_QOS_1);
    auto carol_old = connected("carol/old", mqtt_311);
    EXPECT_EQ(carol_old->subscribe("chat/room/lobby/+", 1)[0], mqtt::ReasonCode::UNSPECIFIED_ERROR);
    auto alice = connected("alice", mqtt_5);
    ASSERT_EQ(alice->publish("chat/room/lobby/alice", "members only", 1),
              mqtt::ReasonCode::SUCCESS);
    // A wildcard filter never widens what a user reads.
    EXPECT_TRUE(carol->stays_silent_on("chat/room/"));
    EXPECT_EQ(carol->publish("chat/room/lobby/carol", "let me in", 1),
              mqtt::ReasonCode::NOT_AUTHORIZED);
}

TEST_F(ChatTest, SpoofedSendersAreRefused) {
    auto alice = connected("alice", mqtt_5);
    auto bob = connected("bob", mqtt_5);
    EXPECT_EQ(alice->publish("chat/room/lobby/bob", "i am bob", 1),
              mqtt::ReasonCode::NOT_AUTHORIZED);
    EXPECT_EQ(alice->publish("chat/dm/bob/carol", "i am carol", 1),
              mqtt::ReasonCode::NOT_AUTHORIZED);
    EXPECT_EQ(alice->publish("chat/dm/nobody/alice", "to no one", 1),
              mqtt::ReasonCode::NOT_AUTHORIZED);
    EXPECT_EQ(alice->publish("chat/presence/alice", "{}", 1), mqtt::ReasonCode::NOT_AUTHORIZED);
    // 3.1.1 has no negative PUBACK: the message is acknowledged and dropped.
    auto alice_old = connected("alice/old", mqtt_311);
    alice_old->publish("chat/dm/bob/carol", "i am carol too", 1);
    EXPECT_TRUE(alice_old->is_connected());
    EXPECT_TRUE(bob->stays_silent_on("chat/dm/"));
}

TEST_F(ChatTest, BadCredentialsAndForeignClientIdsAreRefused) {
    chat_client wrong_password(*broker_, "alice", mqtt_5);
    EXPECT_EQ(refusal_code(wrong_password, "alice", "nope"), 0x86);
    chat_client unknown_user(*broker_, "mallory", mqtt_311);
    EXPECT_EQ(refusal_code(unknown_user, "mallory", "x"), 4);
    chat_client other_id(*broker_, "bob/laptop", mqtt_5);
    EXPECT_EQ(refusal_code(other_id, "alice", "alice-pw"), 0x85);
    chat_client other_id_old(*broker_, "bob", mqtt_311);
    EXPECT_EQ(refusal_code(other_id_old, "alice", "alice-pw"), 2);
    // An anonymous client cannot take a user's client id (and so their session).
    chat_client anonymous(*broker_, "alice/anon", mqtt_5);
    try {
        anonymous.connect_anonymous();
        ADD_FAILURE() << "an anonymous client took a user's client id";
    } catch (const mqtt::exception& refusal) {
        const int code =
            refusal.get_reason_code() != 0 ? refusal.get_reason_code() : refusal.get_return_code();
        EXPECT_EQ(code, 0x85) << refusal.what();
    }
}

TEST_F(ChatTest, DirectMessagesKeepTheSendersOtherDevicesInSync) {
    auto laptop = connected("alice/laptop", mqtt_5);
    auto phone = connected("alice/phone", mqtt_5);
    auto bob = connected("bob", mqtt_311);
    ASSERT_EQ(laptop->publish("chat/dm/bob/alice", "psst", 1), mqtt::ReasonCode::SUCCESS);
    const auto at_bob = bob->next_on("chat/dm/bob/alice");
    ASSERT_TRUE(at_bob);
    EXPECT_EQ(at_bob->payload, "psst");
    const auto at_phone = phone->next_on("chat/dm/bob/alice");
    ASSERT_TRUE(at_phone);
    EXPECT_EQ(user_property(at_phone->properties, "id"), "1");
    EXPECT_TRUE(laptop->stays_silent_on("chat/dm/"));
    // carol reads neither side of it.
    auto carol = connected("carol", mqtt_5);
    EXPECT_EQ(carol->subscribe("chat/dm/bob/+", 1)[0], mqtt::ReasonCode::NOT_AUTHORIZED);
    EXPECT_EQ(carol->subscribe("chat/dm/+/+", 1)[0], mqtt::ReasonCode::GRANTED_QOS_1);
    ASSERT_EQ(bob->publish("chat/dm/alice/bob", "hi back", 1), mqtt::ReasonCode::SUCCESS);
    EXPECT_TRUE(carol->stays_silent_on("chat/dm/"));
}

TEST_F(ChatTest, OfflineDirectMessageIsDeliveredAfterReconnectAndRestart) {
    {
        auto bob = connected("bob", mqtt_5, true);
        bob->disconnect();
    }
    auto alice = connected("alice", mqtt_5);
    ASSERT_EQ(alice->publish("chat/dm/bob/alice", "while you were out", 1),
              mqtt::ReasonCode::SUCCESS);
    alice->disconnect();
    const process_exit ending = broker_->stop();
    ASSERT_TRUE(ending.is_success()) << describe(ending) << broker_->log();
    start_broker();
    auto bob = connected("bob", mqtt_5, true);
    const auto message = bob->next_on("chat/dm/bob/alice");
    ASSERT_TRUE(message);
    EXPECT_EQ(message->payload, "while you were out");
    EXPECT_EQ(user_property(message->properties, "id"), "1");
}

TEST_F(ChatTest, PresenceCountsDevicesAcrossConnections) {
    auto bob = connected("bob", mqtt_5);
    auto laptop = connected("alice/laptop", mqtt_5);
    auto online = bob->next_on("chat/presence/alice");
    ASSERT_TRUE(online);
    EXPECT_EQ(json::parse(online->payload)["status"], "online");
    EXPECT_EQ(json::parse(online->payload)["devices"], 1);
    auto phone = connected("alice/phone", mqtt_311);
    auto two = bob->next_on("chat/presence/alice");
    ASSERT_TRUE(two);
    EXPECT_EQ(json::parse(two->payload)["devices"], 2);
    phone->disconnect();
    laptop->disconnect();
    EXPECT_EQ(last_presence_until_offline(*bob, "alice")["status"], "offline");
    // carol shares no room with alice: her presence is not hers to read.
    auto carol = connected("carol", mqtt_5);
    EXPECT_EQ(carol->subscribe("chat/presence/alice", 1)[0], mqtt::ReasonCode::NOT_AUTHORIZED);
}

TEST_F(ChatTest, PresenceChangesWhileAwayAreNotQueued) {
    // Presence is state: an offline session queues none of its changes and gets the retained
    // presence once when it comes back.
    {
        auto bob = connected("bob", mqtt_5, true);
        bob->disconnect();
    }
    for (int round = 0; round < 3; ++round) {
        auto alice = connected("alice", mqtt_5);
        alice->disconnect();
    }
    auto bob = connected("bob", mqtt_5, true);
    const auto now = bob->next_on("chat/presence/alice");
    ASSERT_TRUE(now);
    EXPECT_EQ(json::parse(now->payload)["status"], "offline");
    EXPECT_TRUE(bob->stays_silent_on("chat/presence/alice"));
}

TEST_F(ChatTest, PresenceFollowsJoinsAndLeaves) {
    // carol's phone makes the requests (a reply is awaited past other messages); her laptop
    // watches.
    auto carol = connected("carol/laptop", mqtt_5);
    auto phone = connected("carol/phone", mqtt_5);
    auto bob = connected("bob", mqtt_5);
    // carol shares no room with bob: his presence does not reach her.
    EXPECT_TRUE(carol->stays_silent_on("chat/presence/bob"));
    EXPECT_EQ(control(*phone, "carol", {{"op", "join"}, {"room", "lobby"}})["ok"], true);
    // Joining brings the members' retained presence at once, and bob gets carol's.
    const auto bob_now = carol->next_on("chat/presence/bob");
    ASSERT_TRUE(bob_now);
    EXPECT_EQ(json::parse(bob_now->payload)["status"], "online");
    const auto carol_now = bob->next_on("chat/presence/carol");
    ASSERT_TRUE(carol_now);
    EXPECT_EQ(json::parse(carol_now->payload)["devices"], 2);
    auto alice = connected("alice", mqtt_5);
    const auto alice_online = carol->next_on("chat/presence/alice");
    ASSERT_TRUE(alice_online);
    EXPECT_EQ(json::parse(alice_online->payload)["status"], "online");
    EXPECT_EQ(control(*phone, "carol", {{"op", "leave"}, {"room", "lobby"}})["ok"], true);
    alice->disconnect();
    EXPECT_TRUE(carol->stays_silent_on("chat/presence/alice"));
    // bob still shares the lobby with alice.
    EXPECT_EQ(last_presence_until_offline(*bob, "alice")["status"], "offline");
}

TEST_F(ChatTest, PresenceIsOfflineAfterACrash) {
    {
        auto alice = connected("alice", mqtt_5);
        auto bob = connected("bob", mqtt_5);
        ASSERT_TRUE(bob->next_on("chat/presence/alice"));
        // The store writes in order and a persistent session's SUBACK waits for its commit: once
        // it arrives, alice's retained presence is on disk too, and the kill cannot take it.
        auto carol = connected("carol", mqtt_5, true);
        carol->subscribe("home/barrier", 1);
        broker_->kill();
    }
    start_broker();
    auto bob = connected("bob", mqtt_5);
    const auto retained = bob->next_on("chat/presence/alice");
    ASSERT_TRUE(retained);
    EXPECT_TRUE(retained->is_retained);
    EXPECT_EQ(json::parse(retained->payload)["status"], "offline");
}

TEST_F(ChatTest, HistoryPagesBackThroughARoom) {
    auto alice = connected("alice", mqtt_5);
    for (int index = 1; index <= 5; ++index) {
        ASSERT_EQ(alice->publish("chat/room/lobby/alice", "m" + std::to_string(index), 1),
                  mqtt::ReasonCode::SUCCESS);
    }
    auto bob = connected("bob/new-device", mqtt_311);
    const json newest =
        control(*bob, "bob", {{"op", "history"}, {"conversation", "room/lobby"}, {"limit", 2}});
    ASSERT_EQ(newest["ok"], true) << newest.dump();
    ASSERT_EQ(newest["messages"].size(), 2U);
    EXPECT_EQ(newest["messages"][0]["payload"], "m4");
    EXPECT_EQ(newest["messages"][1]["id"], 5);
    EXPECT_EQ(newest["messages"][1]["sender"], "alice");
    const json older =
        control(*bob, "bob",
                {{"op", "history"}, {"conversation", "room/lobby"}, {"before", 4}, {"limit", 10}});
    ASSERT_EQ(older["messages"].size(), 3U);
    EXPECT_EQ(older["messages"][0]["payload"], "m1");
    auto carol = connected("carol", mqtt_5);
    const json refused =
        control(*carol, "carol", {{"op", "history"}, {"conversation", "room/lobby"}});
    EXPECT_EQ(refused["ok"], false);
}

TEST_F(ChatTest, ControlRepliesEchoCorrelationDataAndReportErrors) {
    auto alice = connected("alice", mqtt_5);
    mqtt::properties properties{{mqtt::property::RESPONSE_TOPIC, "chat/ctl/alice/resp/laptop"},
                                {mqtt::property::CORRELATION_DATA, "req-7"}};
    alice->publish("chat/ctl/alice/req", R"({"op":"rooms"})", 1, properties);
    const auto reply = alice->next_on("chat/ctl/alice/resp/laptop");
    ASSERT_TRUE(reply);
    EXPECT_EQ(json::parse(reply->payload)["rooms"], json::array({"lobby"}));
    EXPECT_EQ(mqtt::get<std::string>(reply->properties, mqtt::property::CORRELATION_DATA), "req-7");
    const json bad = control(*alice, "alice", json{{"op", "fly"}});
    EXPECT_EQ(bad["ok"], false);
    EXPECT_EQ(bad["error"], "unknown op \"fly\"");
    alice->publish("chat/ctl/alice/req", "not json", 1);
    const auto garbage = alice->next_on("chat/ctl/alice/resp");
    ASSERT_TRUE(garbage);
    EXPECT_EQ(json::parse(garbage->payload)["ok"], false);
    // Another user's control topic is out of reach.
    EXPECT_EQ(alice->publish("chat/ctl/bob/req", R"({"op":"rooms"})", 1),
              mqtt::ReasonCode::NOT_AUTHORIZED);
}

TEST_F(ChatTest, RoomsCreatedAndJoinedByControlRequestsReachLiveSessions) {
    auto alice = connected("alice", mqtt_5);
    auto carol = connected("carol", mqtt_5);
    EXPECT_EQ(control(*alice, "alice", {{"op", "create"}, {"room", "den"}})["ok"], true);
    EXPECT_EQ(control(*alice, "alice", {{"op", "create"}, {"room", "den"}})["error"],
              "the room exists already");
    EXPECT_EQ(
        control(*alice, "alice", {{"op", "invite"}, {"room", "den"}, {"user", "carol"}})["ok"],
        true);
    // The invitation is announced in the room (docs/CHAT.md "Room rules") before alice speaks.
    const auto announced = carol->next_on("chat/room/den/alice");
    ASSERT_TRUE(announced);
    EXPECT_EQ(json::parse(announced->payload)["event"], "invite");
    ASSERT_EQ(alice->publish("chat/room/den/alice", "welcome", 1), mqtt::ReasonCode::SUCCESS);
    const auto at_carol = carol->next_on("chat/room/den/alice");
    ASSERT_TRUE(at_carol);
    EXPECT_EQ(at_carol->payload, "welcome");
    const json members = control(*carol, "carol", {{"op", "members"}, {"room", "den"}});
    EXPECT_EQ(members["members"], json::array({"alice", "carol"}));
    EXPECT_EQ(control(*carol, "carol", {{"op", "leave"}, {"room", "den"}})["ok"], true);
    ASSERT_EQ(alice->publish("chat/room/den/alice", "gone?", 1), mqtt::ReasonCode::SUCCESS);
    EXPECT_TRUE(carol->stays_silent_on("chat/room/den/"));
}

TEST_F(ChatTest, DirectoryChangesFromAnotherProcessApplyToLiveSessions) {
    auto carol = connected("carol", mqtt_5);
    auto alice = connected("alice", mqtt_5);
    expect_done([&](auto done) { chat_->add_member({"lobby", "carol"}, done); });
    wait_for_reload();
    ASSERT_EQ(alice->publish("chat/room/lobby/alice", "carol joined", 1),
              mqtt::ReasonCode::SUCCESS);
    const auto message = carol->next_on("chat/room/lobby/alice");
    ASSERT_TRUE(message);
    expect_done([&](auto done) { chat_->remove_user("carol", done); });
    ASSERT_TRUE(carol->wait_for_connection_lost());
    EXPECT_EQ(carol->disconnect_reason(), mqtt::ReasonCode::NOT_AUTHORIZED);
}

TEST_F(ChatTest, MarkReadStoresThePositionAndSignalsTheOtherParty) {
    auto alice = connected("alice", mqtt_5);
    auto bob = connected("bob", mqtt_5);
    ASSERT_EQ(alice->publish("chat/dm/bob/alice", "read me", 1), mqtt::ReasonCode::SUCCESS);
    ASSERT_TRUE(bob->next_on("chat/dm/bob/alice"));
    const json done =
        control(*bob, "bob", {{"op", "read"}, {"conversation", "dm/bob/alice"}, {"id", 1}});
    EXPECT_EQ(done["ok"], true) << done.dump();
    EXPECT_EQ(done["conversation"], "dm/alice/bob");
    const auto signal = alice->next_on("chat/signal/dm/alice/bob");
    ASSERT_TRUE(signal);
    EXPECT_EQ(json::parse(signal->payload)["id"], 1);
}

TEST_F(ChatTest, MosquittoPasswdHashIsAccepted) {
    const auto file = data_.path() / "passwords";
    const command_result made =
        run_command({"mosquitto_passwd", "-b", "-c", file.string(), "dave", "dave-pw"}, "", 10s);
    ASSERT_TRUE(made.ending.is_success()) << made.errors;
    const std::string line = read_file_text(file);
    const auto colon = line.find(':');
    ASSERT_NE(colon, std::string::npos);
    std::string hash = line.substr(colon + 1);
    while (!hash.empty() && (hash.back() == '\n' || hash.back() == '\r')) {
        hash.pop_back();
    }
    ASSERT_TRUE(hash.starts_with("$7$")) << hash;
    add_user("dave", hash);
    wait_for_reload();
    auto dave = std::make_unique<chat_client>(*broker_, "dave", mqtt_5);
    EXPECT_NO_THROW(dave->connect("dave", "dave-pw"));
    EXPECT_EQ(dave->publish("chat/dm/alice/dave", "hi", 1), mqtt::ReasonCode::SUCCESS);
}

TEST_F(ChatTest, DeviceTokenFromAControlRequestLogsInInsteadOfThePassword) {
    std::string token;
    {
        auto alice = connected("alice/phone", mqtt_5);
        const json reply = control(*alice, "alice", {{"op", "token"}, {"device", "phone"}});
        ASSERT_EQ(reply["ok"], true) << reply.dump();
        EXPECT_EQ(reply["device"], "phone");
        token = reply["token"];
        alice->disconnect();
    }
    auto phone = std::make_unique<chat_client>(*broker_, "alice/phone", mqtt_5);
    EXPECT_NO_THROW(phone->connect("alice", token));
    EXPECT_EQ(phone->publish("chat/room/lobby/alice", "back", 1), mqtt::ReasonCode::SUCCESS);
    // Nobody else's password.
    chat_client bob(*broker_, "bob", mqtt_5);
    EXPECT_EQ(refusal_code(bob, "bob", token), 0x86);

    const json revoked = control(*phone, "alice", {{"op", "revoke_token"}, {"device", "phone"}});
    EXPECT_EQ(revoked["ok"], true) << revoked.dump();
    chat_client again(*broker_, "alice/phone", mqtt_311);
    EXPECT_EQ(refusal_code(again, "alice", token), 4);
}

TEST_F(ChatTest, PasswordLoginRewritesAWeakerHash) {
    // This broker asks for 1000 iterations; alice's hash has 1.
    broker_->stop();
    start_broker("password_iterations 1000\n");
    auto alice = connected("alice", mqtt_5);
    alice->disconnect();
    // The rewrite is stored beside the login, not before its CONNACK: poll for it.
    std::string hash;
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (std::chrono::steady_clock::now() < deadline) {
        for (const store::user_record& user : chat_->load_directory().users) {
            if (user.name == "alice") {
                hash = user.password_hash;
            }
        }
        if (gateway::password_hash_iterations(hash) != 1U) {
            break;
        }
        std::this_thread::sleep_for(20ms);
    }
    EXPECT_EQ(gateway::password_hash_iterations(hash), 1000U);
    EXPECT_TRUE(gateway::verify_password("alice-pw", hash));
    EXPECT_NO_THROW(connected("alice/laptop", mqtt_311));
}

} // namespace
} // namespace perch::integration
