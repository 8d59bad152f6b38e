// Who may read chat messages on every path they take besides live delivery (docs/CHAT.md): retained
// messages at SUBSCRIBE, offline queues before and after a restart, and the stored sessions of a
// user who was deleted or of a name that became a user. Also the broker's own $SYS/ topics, which
// no client may publish to.
#include <chrono>
#include <memory>
#include <string>

#include <gtest/gtest.h>
#include <mqtt/async_client.h>

#include "chat_client.hpp"
#include "chat_fixture.hpp"

namespace perch::integration {
namespace {

using namespace std::chrono_literals;

using ChatAccessTest = chat_fixture;

TEST_F(ChatAccessTest, RetainedChatMessagesAreNotKeptAndPresenceStaysWithPeers) {
    auto bob = connected("bob", mqtt_5);
    auto alice = connected("alice", mqtt_5);
    ASSERT_EQ(alice->publish_retained("chat/room/lobby/alice", "kept?", 1),
              mqtt::ReasonCode::SUCCESS);
    ASSERT_EQ(alice->publish_retained("chat/dm/bob/alice", "secret", 1), mqtt::ReasonCode::SUCCESS);
    // Delivered live, as an ordinary chat message.
    const auto live = bob->next_on("chat/room/lobby/alice");
    ASSERT_TRUE(live);
    EXPECT_FALSE(live->is_retained);

    // Nothing under chat/ reaches an anonymous client through a wildcard, retained presence
    // included (alice is online: her presence is retained).
    chat_client anonymous(*broker_, "watcher", mqtt_5);
    anonymous.connect_anonymous();
    for (const std::string filter : {"#", "+/+/+/+", "+/+/+"}) {
        anonymous.subscribe(filter, 1);
    }
    EXPECT_TRUE(anonymous.stays_silent_on("chat/"));

    // carol shares no room with alice: chat/# shows her neither the room, nor the DM, nor
    // alice's presence.
    auto carol = connected("carol", mqtt_5);
    carol->subscribe("chat/#", 1);
    EXPECT_TRUE(carol->stays_silent_on("chat/room/"));
    EXPECT_TRUE(carol->stays_silent_on("chat/presence/alice"));

    // The room message was not kept as retained: a member subscribing anew gets nothing.
    auto bob_again = connected("bob/tablet", mqtt_5);
    bob_again->subscribe("chat/room/lobby/+", 1);
    bob_again->subscribe("chat/dm/bob/+", 1);
    EXPECT_TRUE(bob_again->stays_silent_on("chat/room/"));
    EXPECT_TRUE(bob_again->stays_silent_on("chat/dm/"));
}

TEST_F(ChatAccessTest, OfflineQueuesHoldOnlyWhatTheirReaderMayRead) {
    {
        chat_client anonymous(*broker_, "watcher", mqtt_5);
        anonymous.connect_anonymous(true);
        anonymous.subscribe("#", 1);
        anonymous.disconnect();
        auto carol = connected("carol/laptop", mqtt_5, true);
        carol->subscribe("chat/#", 1);
        carol->disconnect();
        auto bob = connected("bob", mqtt_5, true);
        bob->disconnect();
    }
    auto alice = connected("alice", mqtt_5);
    ASSERT_EQ(alice->publish("chat/room/lobby/alice", "to the room", 1), mqtt::ReasonCode::SUCCESS);
    ASSERT_EQ(alice->publish("chat/dm/bob/alice", "to bob", 1), mqtt::ReasonCode::SUCCESS);
    ASSERT_EQ(alice->publish("home/news", "for everyone", 1), mqtt::ReasonCode::SUCCESS);
    alice.reset();
    broker_->stop();
    start_broker();

    chat_client anonymous(*broker_, "watcher", mqtt_5);
    EXPECT_TRUE(anonymous.connect_anonymous(true));
    const auto news = anonymous.next_on("home/news");
    ASSERT_TRUE(news) << "the non-chat message was queued for the anonymous session";
    EXPECT_TRUE(anonymous.stays_silent_on("chat/"));
    auto carol = connected("carol/laptop", mqtt_5, true);
    EXPECT_TRUE(carol->stays_silent_on("chat/room/"));
    EXPECT_TRUE(carol->stays_silent_on("chat/dm/"));
    // The reader who may read it still gets it.
    auto bob = connected("bob", mqtt_5, true);
    const auto direct = bob->next_on("chat/dm/bob/alice");
    ASSERT_TRUE(direct);
    EXPECT_EQ(direct->payload, "to bob");
}

TEST_F(ChatAccessTest, ADeletedUsersSessionsAreDiscarded) {
    {
        auto bob = connected("bob/phone", mqtt_5, true);
        bob->disconnect();
    }
    auto alice = connected("alice", mqtt_5);
    ASSERT_EQ(alice->publish("chat/dm/bob/alice", "for bob only", 1), mqtt::ReasonCode::SUCCESS);
    expect_done([&](auto done) { chat_->remove_user("bob", done); });
    wait_for_reload();

    chat_client impostor(*broker_, "bob/phone", mqtt_5);
    EXPECT_FALSE(impostor.connect_anonymous(true)) << "given the deleted user's session";
    EXPECT_TRUE(impostor.stays_silent_on("chat/"));
}

TEST_F(ChatAccessTest, AUserDeletedWhileTheBrokerIsDownLosesTheStoredSessions) {
    {
        auto bob = connected("bob/phone", mqtt_5, true);
        bob->subscribe("home/#", 1);
        bob->disconnect();
    }
    auto alice = connected("alice", mqtt_5);
    ASSERT_EQ(alice->publish("home/door", "open", 1), mqtt::ReasonCode::SUCCESS);
    alice.reset();
    broker_->stop();
    expect_done([&](auto done) { chat_->remove_user("bob", done); });
    start_broker();

    chat_client impostor(*broker_, "bob/phone", mqtt_5);
    EXPECT_FALSE(impostor.connect_anonymous(true)) << "given the deleted user's session";
    EXPECT_TRUE(impostor.stays_silent_on("home/"));
}

TEST_F(ChatAccessTest, ANameThatBecomesAUserEndsTheSessionsHeldUnderIt) {
    {
        chat_client anonymous(*broker_, "dave/phone", mqtt_5);
        anonymous.connect_anonymous(true);
        anonymous.subscribe("home/#", 1);
        anonymous.disconnect();
    }
    add_user("dave", gateway::hash_password("dave-pw", 1));
    wait_for_reload();
    auto dave = std::make_unique<chat_client>(*broker_, "dave/phone", mqtt_5);
    EXPECT_FALSE(dave->connect("dave", "dave-pw", true)) << "given an anonymous client's session";
}

TEST_F(ChatAccessTest, APasswordCheckDoesNotHoldUpOtherClients) {
    // One worker, and a password hash that takes seconds to check: while it is checked, the same
    // worker serves everyone else.
    broker_->stop();
    add_user("slow", gateway::hash_password("slow-pw", 3'000'000));
    start_broker("workers 1\n");
    mqtt::async_client slow(broker_->uri(), "slow", mqtt::create_options(mqtt_5));
    auto slow_login = slow.connect(mqtt::connect_options_builder()
                                       .mqtt_version(mqtt_5)
                                       .user_name("slow")
                                       .password("slow-pw")
                                       .connect_timeout(60s)
                                       .finalize());
    chat_client other(*broker_, "quick", mqtt_5);
    other.connect_anonymous();
    EXPECT_FALSE(slow_login->is_complete()) << "the password check ran before the next CONNECT";
    ASSERT_TRUE(slow_login->wait_for(60s));
    EXPECT_EQ(slow_login->get_return_code(), 0);
    slow.disconnect()->wait();
}

TEST_F(ChatAccessTest, NoClientPublishesUnderSys) {
    chat_client anonymous(*broker_, "sys-writer", mqtt_5);
    anonymous.connect_anonymous();
    EXPECT_EQ(anonymous.publish_retained("$SYS/broker/version", "fake", 1),
              mqtt::ReasonCode::NOT_AUTHORIZED);
    EXPECT_EQ(anonymous.publish_retained("$SYS/broker/custom", "stays", 1),
              mqtt::ReasonCode::NOT_AUTHORIZED);
    auto alice = connected("alice", mqtt_5);
    EXPECT_EQ(alice->publish("$SYS/broker/custom", "stays", 1), mqtt::ReasonCode::NOT_AUTHORIZED);

    chat_client reader(*broker_, "sys-reader", mqtt_5);
    reader.connect_anonymous();
    reader.subscribe("$SYS/broker/custom", 1);
    EXPECT_TRUE(reader.stays_silent_on("$SYS/broker/custom"));
}

} // namespace
} // namespace perch::integration
