// Edits, deletes, reactions and replies end to end (docs/CHAT.md "Edits, deletes and
// reactions"): real Paho C++ clients at MQTT 5.0 and 3.1.1 against the perch binary, live and
// through history.
#include <future>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <mqtt/async_client.h>

#include "chat_client.hpp"
#include "chat_fixture.hpp"
#include <nlohmann/json.hpp>

namespace perch::integration {
namespace {

using json = nlohmann::json;

using ChatMessageEventsTest = chat_fixture;

/// The message with id `id` in a history reply, or null.
json message_of(const json& reply, std::uint64_t id) {
    for (const json& message : reply.value("messages", json::array())) {
        if (message["id"] == id) {
            return message;
        }
    }
    return nullptr;
}

TEST_F(ChatMessageEventsTest, AnEditBySenderIsSeenLiveAndInHistory) {
    auto alice = connected("alice", mqtt_5);
    auto bob = connected("bob", mqtt_5);
    auto bob_old = connected("bob/old", mqtt_311);
    ASSERT_EQ(alice->publish("chat/room/lobby/alice", "helo", 1), mqtt::ReasonCode::SUCCESS);
    ASSERT_TRUE(bob->next_on("chat/room/lobby/alice"));
    ASSERT_TRUE(bob_old->next_on("chat/room/lobby/alice"));

    const json reply =
        control(*alice, "alice",
                {{"op", "edit"}, {"conversation", "room/lobby"}, {"id", 1}, {"text", "hello"}});
    ASSERT_EQ(reply["ok"], true) << reply.dump();
    EXPECT_EQ(reply["of"], 1);
    EXPECT_EQ(reply["id"], 2);

    const auto edit = bob->next_on("chat/room/lobby/alice");
    ASSERT_TRUE(edit);
    EXPECT_EQ(json::parse(edit->payload), json::parse(R"({"type":"edit","of":1,"text":"hello"})"));
    EXPECT_EQ(user_property(edit->properties, "event"), "edit");
    EXPECT_EQ(user_property(edit->properties, "of"), "1");
    EXPECT_EQ(user_property(edit->properties, "id"), "2");
    // A 3.1.1 client sees the event as a message naming the old one.
    const auto plain = bob_old->next_on("chat/room/lobby/alice");
    ASSERT_TRUE(plain);
    EXPECT_EQ(json::parse(plain->payload)["of"], 1);

    const json page = control(*bob, "bob", {{"op", "history"}, {"conversation", "room/lobby"}});
    ASSERT_EQ(page["messages"].size(), 1U) << page.dump();
    EXPECT_EQ(page["messages"][0]["payload"], "hello");
    EXPECT_TRUE(page["messages"][0].contains("edited_ts"));
}

TEST_F(ChatMessageEventsTest, EditingSomeoneElsesMessageIsRefused) {
    auto alice = connected("alice", mqtt_5);
    auto bob = connected("bob", mqtt_311);
    ASSERT_EQ(alice->publish("chat/room/lobby/alice", "mine", 1), mqtt::ReasonCode::SUCCESS);
    const json refused =
        control(*bob, "bob",
                {{"op", "edit"}, {"conversation", "room/lobby"}, {"id", 1}, {"text", "yours"}});
    EXPECT_EQ(refused["ok"], false);
    EXPECT_EQ(refused["error"], "only the sender may edit a message");
    EXPECT_EQ(
        control(
            *bob, "bob",
            {{"op", "edit"}, {"conversation", "room/lobby"}, {"id", 9}, {"text", "x"}})["error"],
        "no message 9 in this conversation");
    EXPECT_EQ(control(*bob, "bob",
                      {{"op", "delete"}, {"conversation", "room/lobby"}, {"id", 1}})["error"],
              "not allowed to delete this message");
    // Carol is not in the room: she may not even react.
    auto carol = connected("carol", mqtt_5);
    EXPECT_EQ(
        control(
            *carol, "carol",
            {{"op", "react"}, {"conversation", "room/lobby"}, {"id", 1}, {"emoji", "x"}})["error"],
        "not allowed to read this conversation");
    EXPECT_TRUE(alice->stays_silent_on("chat/room/lobby/bob"));
    const json page = control(*alice, "alice", {{"op", "history"}, {"conversation", "room/lobby"}});
    EXPECT_EQ(page["messages"][0]["payload"], "mine");
}

TEST_F(ChatMessageEventsTest, ADeleteForEveryoneRemovesThePayload) {
    auto alice = connected("alice", mqtt_5);
    auto bob = connected("bob", mqtt_5);
    ASSERT_EQ(alice->publish("chat/room/lobby/alice", "oops secret", 1), mqtt::ReasonCode::SUCCESS);
    ASSERT_EQ(control(*alice, "alice",
                      {{"op", "edit"},
                       {"conversation", "room/lobby"},
                       {"id", 1},
                       {"text", "still secret"}})["ok"],
              true);
    const json deleted =
        control(*alice, "alice", {{"op", "delete"}, {"conversation", "room/lobby"}, {"id", 1}});
    ASSERT_EQ(deleted["ok"], true) << deleted.dump();
    const auto live = bob->next_on("chat/room/lobby/alice");
    ASSERT_TRUE(live);
    ASSERT_TRUE(bob->next_on("chat/room/lobby/alice"));
    const auto event = bob->next_on("chat/room/lobby/alice");
    ASSERT_TRUE(event);
    EXPECT_EQ(json::parse(event->payload), json::parse(R"({"type":"delete","of":1})"));
    EXPECT_EQ(user_property(event->properties, "event"), "delete");

    const json page = control(*bob, "bob", {{"op", "history"}, {"conversation", "room/lobby"}});
    ASSERT_EQ(page["messages"].size(), 1U) << page.dump();
    EXPECT_EQ(page["messages"][0]["deleted"], true);
    EXPECT_FALSE(page["messages"][0].contains("payload"));
    EXPECT_EQ(
        control(
            *alice, "alice",
            {{"op", "edit"}, {"conversation", "room/lobby"}, {"id", 1}, {"text", "x"}})["error"],
        "the message is deleted");
    EXPECT_EQ(control(*alice, "alice",
                      {{"op", "delete"}, {"conversation", "room/lobby"}, {"id", 2}})["error"],
              "message 2 is itself an event");

    // Nothing of the text is left in the store: the message and its edit lost their payloads.
    bob.reset();
    alice.reset();
    broker_->stop();
    broker_.reset();
    chat_ = open_store();
    std::promise<std::vector<store::history_record>> rows;
    chat_->read_history_after("room/lobby", 0, 0, 10,
                              [&](std::vector<store::history_record> read,
                                  const store::store_status&) { rows.set_value(std::move(read)); });
    for (const store::history_record& row : rows.get_future().get()) {
        const std::string payload(row.payload.begin(), row.payload.end());
        EXPECT_EQ(payload.find("secret"), std::string::npos) << row.id << ": " << payload;
    }
}

TEST_F(ChatMessageEventsTest, ReactionsAreAggregatedInHistoryAndRemovable) {
    auto alice = connected("alice", mqtt_5);
    auto bob = connected("bob", mqtt_311);
    ASSERT_EQ(alice->publish("chat/room/lobby/alice", "lunch?", 1), mqtt::ReasonCode::SUCCESS);
    const std::string thumbs = "\xF0\x9F\x91\x8D";
    for (auto* client : {alice.get(), bob.get()}) {
        const std::string user = client == alice.get() ? "alice" : "bob";
        ASSERT_EQ(control(*client, user,
                          {{"op", "react"},
                           {"conversation", "room/lobby"},
                           {"id", 1},
                           {"emoji", thumbs}})["ok"],
                  true);
    }
    ASSERT_EQ(
        control(*bob, "bob",
                {{"op", "react"}, {"conversation", "room/lobby"}, {"id", 1}, {"emoji", "x"}})["ok"],
        true);
    const auto live = alice->next_on("chat/room/lobby/bob");
    ASSERT_TRUE(live);
    EXPECT_EQ(json::parse(live->payload),
              json::parse(R"({"type":"reaction","of":1,"emoji":")" + thumbs + R"(","on":true})"));
    EXPECT_EQ(user_property(live->properties, "event"), "reaction");

    json page = control(*bob, "bob", {{"op", "history"}, {"conversation", "room/lobby"}});
    ASSERT_EQ(page["messages"].size(), 1U) << page.dump();
    EXPECT_EQ(page["messages"][0]["reactions"],
              json::parse(R"({")" + thumbs + R"(":["alice","bob"],"x":["bob"]})"));

    ASSERT_EQ(control(*bob, "bob",
                      {{"op", "unreact"},
                       {"conversation", "room/lobby"},
                       {"id", 1},
                       {"emoji", thumbs}})["ok"],
              true);
    ASSERT_EQ(
        control(
            *bob, "bob",
            {{"op", "unreact"}, {"conversation", "room/lobby"}, {"id", 1}, {"emoji", "x"}})["ok"],
        true);
    page = control(*bob, "bob", {{"op", "history"}, {"conversation", "room/lobby"}});
    EXPECT_EQ(page["messages"][0]["reactions"], json::parse(R"({")" + thumbs + R"(":["alice"]})"));
    EXPECT_NE(control(*bob, "bob",
                      {{"op", "react"},
                       {"conversation", "room/lobby"},
                       {"id", 1},
                       {"emoji", std::string(40, 'x')}})["error"]
                  .get<std::string>()
                  .find("invalid \"emoji\""),
              std::string::npos);
}

TEST_F(ChatMessageEventsTest, HistoryReturnsReplyTo) {
    auto alice = connected("alice", mqtt_5);
    auto bob = connected("bob", mqtt_311);
    ASSERT_EQ(bob->publish("chat/room/lobby/bob", "question", 1), mqtt::ReasonCode::SUCCESS);
    mqtt::properties answer{{mqtt::property::USER_PROPERTY, "reply_to", "1"}};
    ASSERT_EQ(alice->publish("chat/room/lobby/alice", "answer", 1, answer),
              mqtt::ReasonCode::SUCCESS);
    const json page = control(*bob, "bob", {{"op", "history"}, {"conversation", "room/lobby"}});
    EXPECT_FALSE(message_of(page, 1).contains("reply_to"));
    EXPECT_EQ(message_of(page, 2)["reply_to"], 1) << page.dump();
}

} // namespace
} // namespace perch::integration
