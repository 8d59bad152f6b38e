// Direct messages and DM signals delivered by the chat layer (docs/CHAT.md "Server-side
// subscriptions"): to the connected devices of the two users but the publishing one, one copy
// beside a client's own subscriptions (at the higher QoS, with their identifiers), none to anyone
// else; a DM filter is no server-side subscription any more, so UNSUBSCRIBE treats it as any
// other, and the filters earlier versions stored are gone after a restart; a takeover loses
// no direct message, and a delivery to a persistent chat session is backed by history, not by a
// store queue row.
#include <memory>
#include <set>
#include <string>
#include <thread>

#include <gtest/gtest.h>
#include <mqtt/async_client.h>

#include "chat_client.hpp"
#include "chat_fixture.hpp"
#include "raw_mqtt_client.hpp"
#include <sqlite3.h>

namespace perch::integration {
namespace {

using ChatDirectTest = chat_fixture;

TEST_F(ChatDirectTest, ReachesTheDevicesOfBothUsersButThePublishingOne) {
    auto phone = connected("alice/phone", mqtt_5);
    auto laptop = connected("alice/laptop", mqtt_5);
    auto bob = connected("bob", mqtt_5);
    auto carol = connected("carol", mqtt_5);
    ASSERT_EQ(phone->publish("chat/dm/bob/alice", "hi bob", 1), mqtt::ReasonCode::SUCCESS);
    const auto received = bob->next_on("chat/dm/bob/alice");
    ASSERT_TRUE(received);
    EXPECT_EQ(received->payload, "hi bob");
    EXPECT_EQ(received->qos, 1);
    EXPECT_EQ(user_property(received->properties, "id"), "1");
    // The sender's other device follows the conversation; the publishing one gets no echo.
    const auto mirrored = laptop->next_on("chat/dm/bob/alice");
    ASSERT_TRUE(mirrored);
    EXPECT_EQ(mirrored->qos, 1);
    EXPECT_TRUE(phone->stays_silent_on("chat/dm/"));
    EXPECT_TRUE(bob->stays_silent_on("chat/dm/"));
    EXPECT_TRUE(carol->stays_silent_on("chat/dm/"));

    // A signal: the same devices, at QoS 0, with the configured expiry.
    ASSERT_EQ(bob->publish("chat/signal/dm/alice/bob", R"({"type":"typing"})", 0),
              mqtt::ReasonCode::SUCCESS);
    for (chat_client* device : {phone.get(), laptop.get()}) {
        const auto signal = device->next_on("chat/signal/dm/alice/bob");
        ASSERT_TRUE(signal);
        EXPECT_EQ(signal->qos, 0);
        ASSERT_TRUE(signal->properties.contains(mqtt::property::MESSAGE_EXPIRY_INTERVAL));
        EXPECT_LE(mqtt::get<int>(signal->properties, mqtt::property::MESSAGE_EXPIRY_INTERVAL), 30);
    }
    EXPECT_TRUE(bob->stays_silent_on("chat/signal/"));
    EXPECT_TRUE(carol->stays_silent_on("chat/signal/"));
}

TEST_F(ChatDirectTest, AnOwnOverlappingSubscriptionGetsOneCopyAtTheHigherQos) {
    auto alice = connected("alice", mqtt_5);
    auto bob = connected("bob", mqtt_5);
    ASSERT_EQ(bob->subscribe_with_id("chat/#", 0, 5)[0], mqtt::ReasonCode::GRANTED_QOS_0);
    ASSERT_EQ(alice->publish("chat/dm/bob/alice", "once", 1), mqtt::ReasonCode::SUCCESS);
    const auto received = bob->next_on("chat/dm/bob/alice");
    ASSERT_TRUE(received);
    // QoS 1 from the chat layer, the identifier from bob's own filter: one copy.
    EXPECT_EQ(received->qos, 1);
    ASSERT_TRUE(received->properties.contains(mqtt::property::SUBSCRIPTION_IDENTIFIER));
    EXPECT_EQ(mqtt::get<int>(received->properties, mqtt::property::SUBSCRIPTION_IDENTIFIER), 5);
    EXPECT_TRUE(bob->stays_silent_on("chat/dm/"));

    // A filter of the publishing device's own without No Local echoes, once, at its QoS.
    ASSERT_EQ(alice->subscribe_with_id("chat/dm/bob/alice", 1, 9)[0],
              mqtt::ReasonCode::GRANTED_QOS_1);
    ASSERT_EQ(alice->publish("chat/dm/bob/alice", "echo", 1), mqtt::ReasonCode::SUCCESS);
    const auto echo = alice->next_on("chat/dm/bob/alice");
    ASSERT_TRUE(echo);
    EXPECT_EQ(echo->payload, "echo");
    EXPECT_EQ(mqtt::get<int>(echo->properties, mqtt::property::SUBSCRIPTION_IDENTIFIER), 9);
    EXPECT_TRUE(alice->stays_silent_on("chat/dm/"));
    ASSERT_TRUE(bob->next_on("chat/dm/bob/alice"));
    EXPECT_TRUE(bob->stays_silent_on("chat/dm/"));
}

TEST_F(ChatDirectTest, UnsubscribingADirectFilterIsAnOrdinaryUnsubscribe) {
    auto alice = connected("alice", mqtt_5);
    auto bob = connected("bob", mqtt_5);
    // Not a subscription of bob's session: nothing to remove, and his messages keep coming.
    EXPECT_EQ(bob->unsubscribe("chat/dm/bob/+")[0], mqtt::ReasonCode::NO_SUBSCRIPTION_FOUND);
    EXPECT_EQ(bob->unsubscribe("chat/signal/dm/+/bob")[0], mqtt::ReasonCode::NO_SUBSCRIPTION_FOUND);
    ASSERT_EQ(alice->publish("chat/dm/bob/alice", "still here", 1), mqtt::ReasonCode::SUCCESS);
    ASSERT_TRUE(bob->next_on("chat/dm/bob/alice"));
    // His own filter of that form comes and goes like any other.
    EXPECT_EQ(bob->subscribe("chat/dm/bob/+", 1)[0], mqtt::ReasonCode::GRANTED_QOS_1);
    EXPECT_EQ(bob->unsubscribe("chat/dm/bob/+")[0], mqtt::ReasonCode::SUCCESS);
    ASSERT_EQ(alice->publish("chat/dm/bob/alice", "and still", 1), mqtt::ReasonCode::SUCCESS);
    const auto received = bob->next_on("chat/dm/bob/alice");
    ASSERT_TRUE(received);
    EXPECT_EQ(received->payload, "and still");
    EXPECT_TRUE(bob->stays_silent_on("chat/dm/"));
    // Room filters are still the gateway's.
    EXPECT_EQ(bob->unsubscribe("chat/room/lobby/+")[0], mqtt::ReasonCode::NOT_AUTHORIZED);
}

TEST_F(ChatDirectTest, TheFormerDirectFiltersOfAStoredSessionGoAtRestart) {
    {
        // The filter earlier versions held in every session of bob: QoS 1, No Local.
        auto bob = connected("bob", mqtt_5, true);
        ASSERT_EQ(bob->subscribe_with_id("chat/dm/+/bob", 1, 0, true)[0],
                  mqtt::ReasonCode::GRANTED_QOS_1);
        bob->disconnect();
    }
    const process_exit ending = broker_->stop();
    ASSERT_TRUE(ending.is_success()) << describe(ending) << broker_->log();
    start_broker();
    auto bob = connected("bob", mqtt_5, true);
    auto alice = connected("alice", mqtt_5);
    ASSERT_EQ(alice->publish("chat/dm/bob/alice", "one copy", 1), mqtt::ReasonCode::SUCCESS);
    const auto received = bob->next_on("chat/dm/bob/alice");
    ASSERT_TRUE(received);
    EXPECT_FALSE(received->properties.contains(mqtt::property::SUBSCRIPTION_IDENTIFIER));
    EXPECT_TRUE(bob->stays_silent_on("chat/dm/"));
    EXPECT_EQ(bob->unsubscribe("chat/dm/+/bob")[0], mqtt::ReasonCode::NO_SUBSCRIPTION_FOUND);
}

TEST_F(ChatDirectTest, ATakeoverLosesNoDirectMessage) {
    auto alice = connected("alice", mqtt_5);
    std::set<std::string> ids;
    // What the connection taken over received: it may still be reading a delivery that reached
    // its socket before the takeover closed it, so wait a little for stragglers.
    const auto take = [&ids](chat_client& device) {
        while (const auto message = device.next_message(std::chrono::milliseconds(300))) {
            if (message->topic == "chat/dm/bob/alice") {
                ids.insert(user_property(message->properties, "id").value_or(""));
            }
        }
    };
    // Each round alice sends one message while bob's phone reconnects with the same client id,
    // taking the session over from the connection before; the message must reach one of the two
    // connections with nothing sent after it (a later message would reveal a gap and hide a
    // miss).
    std::unique_ptr<chat_client> phone = connected("bob/phone", mqtt_5, true);
    constexpr int rounds = 40;
    for (int round = 1; round <= rounds; ++round) {
        std::thread sender(
            [&] { alice->publish("chat/dm/bob/alice", "m" + std::to_string(round), 1); });
        auto successor = connected("bob/phone", mqtt_5, true);
        sender.join();
        take(*phone);
        phone = std::move(successor);
        const std::string wanted = std::to_string(round);
        while (!ids.contains(wanted)) {
            const auto message = phone->next_on("chat/dm/bob/alice", std::chrono::seconds(5));
            if (!message) {
                break;
            }
            ids.insert(user_property(message->properties, "id").value_or(""));
        }
        ASSERT_TRUE(ids.contains(wanted)) << "message " << wanted << " missed";
    }
}

TEST_F(ChatDirectTest, ADeliveryToAConnectedPersistentSessionWritesNoQueueRow) {
    // bob's own chat/# at QoS 0 and the chat layer's delivery make one QoS 1 copy, backed by
    // history like every chat message to a chat session: bob never acknowledges it, and still
    // the store holds no queue row for it.
    raw_mqtt_client bob;
    bob.set_credentials("bob", "bob-pw");
    ASSERT_TRUE(bob.connect(broker_->port(), "bob", false, std::chrono::seconds(5)));
    ASSERT_TRUE(bob.subscribe("chat/#", 0, 1, std::chrono::seconds(5)));
    auto carol = connected("carol", mqtt_5);
    for (int index = 0; index < 3; ++index) {
        ASSERT_EQ(carol->publish("chat/dm/bob/carol", "live" + std::to_string(index), 1),
                  mqtt::ReasonCode::SUCCESS);
    }
    int received = 0;
    while (received < 3) {
        const auto packet = bob.read_packet(std::chrono::seconds(5));
        ASSERT_TRUE(packet);
        if (packet->type != 3) {
            continue;
        }
        const raw_publish message = parse_publish(*packet);
        if (message.topic != "chat/dm/bob/carol") {
            continue;
        }
        EXPECT_EQ(message.qos, 1);
        ++received;
    }
    const process_exit ending = broker_->stop();
    ASSERT_TRUE(ending.is_success()) << describe(ending) << broker_->log();
    broker_.reset();
    chat_.reset();
    sqlite3* database = nullptr;
    ASSERT_EQ(sqlite3_open((data_.path() / "perch.db").string().c_str(), &database), SQLITE_OK);
    sqlite3_stmt* statement = nullptr;
    ASSERT_EQ(sqlite3_prepare_v2(database,
                                 "SELECT count(*) FROM queue JOIN messages USING (message_id) "
                                 "WHERE topic LIKE 'chat/%'",
                                 -1, &statement, nullptr),
              SQLITE_OK);
    ASSERT_EQ(sqlite3_step(statement), SQLITE_ROW);
    EXPECT_EQ(sqlite3_column_int64(statement, 0), 0);
    sqlite3_finalize(statement);
    sqlite3_close(database);
}

} // namespace
} // namespace perch::integration
