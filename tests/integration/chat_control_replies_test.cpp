// Control replies delivered by the chat layer (docs/CHAT.md "Server-side subscriptions"): a reply
// reaches every connected device of its user and nobody else, one copy beside a client's own
// subscription to the reply topic (with its identifier); a persistent session that is away gets
// what went out meanwhile when it returns, also after a restart, and one copy after a takeover;
// the reply filter is no server-side subscription of a connected session, so UNSUBSCRIBE treats
// it as any other, and the filter earlier versions stored in every session is gone after a
// restart.
#include <memory>
#include <set>
#include <string>

#include <gtest/gtest.h>
#include <mqtt/async_client.h>

#include "chat_client.hpp"
#include "chat_fixture.hpp"

namespace perch::integration {
namespace {

class ChatControlRepliesTest : public chat_fixture {
protected:
    /// True when `client` receives one message on each of `topics` (in any order) and no second
    /// one on any of them before the last arrives.
    static bool receives_each_once(chat_client& client, std::set<std::string> topics) {
        while (!topics.empty()) {
            const auto message = client.next_message(delivery_timeout);
            if (!message) {
                return false;
            }
            if (message->topic.starts_with("chat/ctl/") && topics.erase(message->topic) == 0) {
                return false;
            }
        }
        return true;
    }

    /// alice's persistent session alice/phone is away: `laptop` (alice's) makes a request, and
    /// the phone, back, finds the reply queued beside its login read state, then gets each later
    /// reply once (from the chat layer, not from the index as well).
    void returns_to_find_the_reply_sent_meanwhile(chat_client& laptop) {
        EXPECT_EQ(control(laptop, "alice", {{"op", "rooms"}})["ok"], true);
        auto phone = connected("alice/phone", mqtt_5, true);
        ASSERT_TRUE(
            receives_each_once(*phone, {"chat/ctl/alice/resp", "chat/ctl/alice/resp/read_state"}));
        EXPECT_EQ(control(laptop, "alice", {{"op", "rooms"}})["ok"], true);
        EXPECT_TRUE(phone->next_on("chat/ctl/alice/resp"));
        EXPECT_TRUE(phone->stays_silent_on("chat/ctl/"));
    }

    std::unique_ptr<chat_client> ready(const std::string& client_id, bool is_persistent = false) {
        auto client = connected(client_id, mqtt_5, is_persistent);
        const std::string user = client_id.substr(0, client_id.find('/'));
        EXPECT_TRUE(client->next_on("chat/ctl/" + user + "/resp/read_state")) << client_id;
        return client;
    }
};

TEST_F(ChatControlRepliesTest, AReplyReachesEveryConnectedDeviceOfItsUserAndNobodyElse) {
    auto phone = ready("alice/phone");
    auto laptop = ready("alice/laptop");
    auto bob = ready("bob");
    const nlohmann::json reply = control(*phone, "alice", {{"op", "rooms"}});
    EXPECT_EQ(reply["ok"], true) << reply.dump();
    const auto copy = laptop->next_on("chat/ctl/alice/resp");
    ASSERT_TRUE(copy);
    EXPECT_EQ(copy->qos, 1);
    EXPECT_EQ(nlohmann::json::parse(copy->payload), reply);
    EXPECT_TRUE(bob->stays_silent_on("chat/ctl/"));
    EXPECT_TRUE(phone->stays_silent_on("chat/ctl/"));
    EXPECT_TRUE(laptop->stays_silent_on("chat/ctl/"));
}

TEST_F(ChatControlRepliesTest, AClientsOwnReplyFilterGivesOneCopyWithItsIdentifier) {
    auto phone = ready("alice/phone");
    ASSERT_EQ(phone->subscribe_with_id("chat/ctl/alice/resp/#", 0, 4)[0],
              mqtt::ReasonCode::GRANTED_QOS_0);
    phone->publish("chat/ctl/alice/req", R"({"op":"rooms"})", 1);
    const auto reply = phone->next_on("chat/ctl/alice/resp");
    ASSERT_TRUE(reply);
    EXPECT_EQ(reply->qos, 1); // the chat layer's QoS, the higher one
    ASSERT_TRUE(reply->properties.contains(mqtt::property::SUBSCRIPTION_IDENTIFIER));
    EXPECT_EQ(mqtt::get<int>(reply->properties, mqtt::property::SUBSCRIPTION_IDENTIFIER), 4);
    EXPECT_TRUE(phone->stays_silent_on("chat/ctl/"));
    // A Response Topic below the reply topic is honoured, to every device as well.
    mqtt::properties properties;
    properties.add({mqtt::property::RESPONSE_TOPIC, std::string("chat/ctl/alice/resp/mine")});
    phone->publish("chat/ctl/alice/req", R"({"op":"rooms"})", 1, properties);
    ASSERT_TRUE(phone->next_on("chat/ctl/alice/resp/mine"));
    EXPECT_TRUE(phone->stays_silent_on("chat/ctl/"));
}

TEST_F(ChatControlRepliesTest, AnAwaySessionGetsTheRepliesSentMeanwhileWhenItReturns) {
    auto laptop = ready("alice/laptop");
    {
        auto phone = ready("alice/phone", true);
        phone->disconnect();
    }
    returns_to_find_the_reply_sent_meanwhile(*laptop);
}

TEST_F(ChatControlRepliesTest, AnAwaySessionRestoredAtStartGetsTheRepliesSentMeanwhile) {
    {
        auto phone = ready("alice/phone", true);
        phone->disconnect();
    }
    const process_exit ending = broker_->stop();
    ASSERT_TRUE(ending.is_success()) << describe(ending) << broker_->log();
    start_broker();
    auto laptop = ready("alice/laptop");
    returns_to_find_the_reply_sent_meanwhile(*laptop);
}

TEST_F(ChatControlRepliesTest, ATakenOverSessionGetsEachReplyOnce) {
    auto laptop = ready("alice/laptop");
    auto first = ready("alice/phone", true);
    // The same client id again: the new connection takes the session over.
    auto second = ready("alice/phone", true);
    EXPECT_EQ(control(*laptop, "alice", {{"op", "rooms"}})["ok"], true);
    EXPECT_TRUE(second->next_on("chat/ctl/alice/resp"));
    EXPECT_TRUE(second->stays_silent_on("chat/ctl/"));
}

TEST_F(ChatControlRepliesTest, UnsubscribingTheReplyFilterIsAnOrdinaryUnsubscribe) {
    auto phone = ready("alice/phone");
    // Not a subscription of the session: nothing to remove, and replies keep coming.
    EXPECT_EQ(phone->unsubscribe("chat/ctl/alice/resp/#")[0],
              mqtt::ReasonCode::NO_SUBSCRIPTION_FOUND);
    EXPECT_EQ(control(*phone, "alice", {{"op", "rooms"}})["ok"], true);
    // The client's own filter of that form comes and goes like any other.
    EXPECT_EQ(phone->subscribe("chat/ctl/alice/resp/#", 1)[0], mqtt::ReasonCode::GRANTED_QOS_1);
    EXPECT_EQ(phone->unsubscribe("chat/ctl/alice/resp/#")[0], mqtt::ReasonCode::SUCCESS);
    EXPECT_EQ(control(*phone, "alice", {{"op", "rooms"}})["ok"], true);
    EXPECT_TRUE(phone->stays_silent_on("chat/ctl/"));
}

TEST_F(ChatControlRepliesTest, TheFormerReplyFilterOfAStoredSessionGoesAtRestart) {
    {
        // The filter earlier versions held in every session of alice: QoS 1, no No Local.
        auto phone = ready("alice/phone", true);
        ASSERT_EQ(phone->subscribe_with_id("chat/ctl/alice/resp/#", 1, 0)[0],
                  mqtt::ReasonCode::GRANTED_QOS_1);
        phone->disconnect();
    }
    const process_exit ending = broker_->stop();
    ASSERT_TRUE(ending.is_success()) << describe(ending) << broker_->log();
    start_broker();
    auto phone = ready("alice/phone", true);
    EXPECT_EQ(control(*phone, "alice", {{"op", "rooms"}})["ok"], true);
    EXPECT_TRUE(phone->stays_silent_on("chat/ctl/"));
    EXPECT_EQ(phone->unsubscribe("chat/ctl/alice/resp/#")[0],
              mqtt::ReasonCode::NO_SUBSCRIPTION_FOUND);
}

} // namespace
} // namespace perch::integration
