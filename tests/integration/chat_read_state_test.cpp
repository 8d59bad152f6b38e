// Read state, read receipts and signal expiry end to end (docs/CHAT.md "Read state", "Signals
// expire"): real Paho C++ clients at MQTT 5.0 and 3.1.1 against the perch binary.
#include <string>

#include <gtest/gtest.h>
#include <mqtt/async_client.h>

#include "chat_client.hpp"
#include "chat_fixture.hpp"
#include <nlohmann/json.hpp>

namespace perch::integration {
namespace {

using json = nlohmann::json;

/// The entry of `conversation` in a read_state reply, or null.
json entry_of(const json& reply, const std::string& conversation) {
    for (const json& entry : reply.value("conversations", json::array())) {
        if (entry["conversation"] == conversation) {
            return entry;
        }
    }
    return nullptr;
}

/// The read state pushed to `client` at its login.
json login_read_state(chat_client& client, const std::string& user) {
    const auto pushed = client.next_on("chat/ctl/" + user + "/resp/read_state");
    if (!pushed) {
        ADD_FAILURE() << "no read state at the login of " << user;
        return json::object();
    }
    return json::parse(pushed->payload);
}

class ChatReadStateTest : public chat_fixture {
protected:
    void SetUp() override {
        chat_fixture::SetUp();
        if (IsSkipped()) {
            return;
        }
        // A shorter expiry than the default, to see that the key is applied.
        broker_->stop();
        start_broker("signal_expiry_s 20\n");
    }
};

TEST_F(ChatReadStateTest, ReadStateArrivesAtLoginAndOnRequestWithUnreadCounts) {
    {
        auto alice = connected("alice", mqtt_5);
        for (const char* text : {"one", "two", "three"}) {
            ASSERT_EQ(alice->publish("chat/room/lobby/alice", text, 1), mqtt::ReasonCode::SUCCESS);
        }
        ASSERT_EQ(alice->publish("chat/dm/bob/alice", "psst", 1), mqtt::ReasonCode::SUCCESS);
    }
    auto bob = connected("bob", mqtt_311);
    const json pushed = login_read_state(*bob, "bob");
    EXPECT_EQ(pushed["ok"], true);
    EXPECT_EQ(pushed["op"], "read_state");
    EXPECT_EQ(entry_of(pushed, "room/lobby"),
              json::parse(R"({"conversation":"room/lobby","last_id":3,"read_id":0,"unread":3})"));
    EXPECT_EQ(entry_of(pushed, "dm/alice/bob")["unread"], 1);

    ASSERT_EQ(
        control(*bob, "bob", {{"op", "read"}, {"conversation", "room/lobby"}, {"id", 2}})["ok"],
        true);
    // Bob's own message is never unread for him.
    ASSERT_EQ(bob->publish("chat/room/lobby/bob", "mine", 1), mqtt::ReasonCode::SUCCESS);
    const json asked = control(*bob, "bob", {{"op", "read_state"}, {"conversation", "room/lobby"}});
    ASSERT_EQ(asked["conversations"].size(), 1U) << asked.dump();
    EXPECT_EQ(entry_of(asked, "room/lobby"),
              json::parse(R"({"conversation":"room/lobby","last_id":4,"read_id":2,"unread":1})"));

    // A second device gets the state at its own login, the first one does not.
    auto bob_phone = connected("bob/phone", mqtt_5);
    EXPECT_EQ(entry_of(login_read_state(*bob_phone, "bob"), "room/lobby")["read_id"], 2);
    EXPECT_TRUE(bob->stays_silent_on("chat/ctl/bob/resp/read_state"));

    EXPECT_EQ(
        control(*bob, "bob", {{"op", "read_state"}, {"conversation", "dm/alice/carol"}})["error"],
        "not allowed to read this conversation");
}

TEST_F(ChatReadStateTest, AReadInARoomIsAReceiptTheOtherMembersSee) {
    auto alice = connected("alice", mqtt_311);
    auto bob = connected("bob", mqtt_5);
    ASSERT_EQ(bob->publish("chat/room/lobby/bob", "hello", 1), mqtt::ReasonCode::SUCCESS);
    ASSERT_EQ(
        control(*alice, "alice", {{"op", "read"}, {"conversation", "room/lobby"}, {"id", 1}})["ok"],
        true);
    const auto receipt = bob->next_on("chat/signal/room/lobby/alice");
    ASSERT_TRUE(receipt);
    EXPECT_EQ(json::parse(receipt->payload),
              json::parse(R"({"type":"read","user":"alice","conversation":"room/lobby","id":1})"));
    // The receipt expires like every signal.
    ASSERT_TRUE(receipt->properties.contains(mqtt::property::MESSAGE_EXPIRY_INTERVAL));
    const int expiry = mqtt::get<int>(receipt->properties, mqtt::property::MESSAGE_EXPIRY_INTERVAL);
    EXPECT_GT(expiry, 0);
    EXPECT_LE(expiry, 20);
}

TEST_F(ChatReadStateTest, SignalsCarryTheConfiguredMessageExpiry) {
    auto alice = connected("alice", mqtt_5);
    auto bob = connected("bob", mqtt_311);
    ASSERT_EQ(bob->publish("chat/signal/room/lobby/bob", R"({"type":"typing"})", 0),
              mqtt::ReasonCode::SUCCESS);
    const auto typing = alice->next_on("chat/signal/room/lobby/bob");
    ASSERT_TRUE(typing);
    ASSERT_TRUE(typing->properties.contains(mqtt::property::MESSAGE_EXPIRY_INTERVAL));
    const int expiry = mqtt::get<int>(typing->properties, mqtt::property::MESSAGE_EXPIRY_INTERVAL);
    EXPECT_GT(expiry, 0);
    EXPECT_LE(expiry, 20);

    // A shorter expiry of the publisher's own stays.
    mqtt::properties own{{mqtt::property::MESSAGE_EXPIRY_INTERVAL, 5}};
    auto alice_sender = connected("alice/laptop", mqtt_5);
    auto bob_watcher = connected("bob/phone", mqtt_5);
    ASSERT_EQ(alice_sender->publish("chat/signal/dm/bob/alice", R"({"type":"typing"})", 0, own),
              mqtt::ReasonCode::SUCCESS);
    const auto direct = bob_watcher->next_on("chat/signal/dm/bob/alice");
    ASSERT_TRUE(direct);
    ASSERT_TRUE(direct->properties.contains(mqtt::property::MESSAGE_EXPIRY_INTERVAL));
    EXPECT_LE(mqtt::get<int>(direct->properties, mqtt::property::MESSAGE_EXPIRY_INTERVAL), 5);
}

} // namespace
} // namespace perch::integration
