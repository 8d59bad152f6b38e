// Presence delivered by the chat layer (docs/CHAT.md "Presence"): to the connected devices of
// the users who share a room with the one whose presence changed, beside a client's own presence
// filters, with one copy per device and nothing for anyone outside the user's rooms.
#include <memory>
#include <string>

#include <gtest/gtest.h>
#include <mqtt/async_client.h>

#include "chat_client.hpp"
#include "chat_fixture.hpp"
#include <nlohmann/json.hpp>

namespace perch::integration {
namespace {

using json = nlohmann::json;
using ChatPresenceTest = chat_fixture;

TEST_F(ChatPresenceTest, OwnWildcardFilterGetsOneCopyOfWhatThePeersMayRead) {
    auto alice = connected("alice", mqtt_5);
    ASSERT_EQ(alice->subscribe("chat/presence/+", 1)[0], mqtt::ReasonCode::GRANTED_QOS_1);
    // carol shares no room with alice: her presence does not reach alice's wildcard.
    auto carol = connected("carol", mqtt_5);
    EXPECT_TRUE(alice->stays_silent_on("chat/presence/carol"));
    // bob does: one copy, though both the chat layer and alice's own filter deliver it.
    auto bob = connected("bob", mqtt_5);
    const auto online = alice->next_on("chat/presence/bob");
    ASSERT_TRUE(online);
    EXPECT_EQ(json::parse(online->payload)["status"], "online");
    EXPECT_TRUE(alice->stays_silent_on("chat/presence/bob"));
    bob->disconnect();
    const auto offline = alice->next_on("chat/presence/bob");
    ASSERT_TRUE(offline);
    EXPECT_EQ(json::parse(offline->payload)["status"], "offline");
    EXPECT_TRUE(alice->stays_silent_on("chat/presence/"));
}

TEST_F(ChatPresenceTest, PresenceIsNoFilterOfTheSessionSoItsOwnMayBeDropped) {
    auto alice = connected("alice", mqtt_5);
    ASSERT_EQ(alice->subscribe("chat/presence/bob", 1)[0], mqtt::ReasonCode::GRANTED_QOS_1);
    // The gateway holds no `chat/presence/bob` for alice: her own filter goes like any other,
    // and bob's presence keeps reaching her as long as they share a room.
    EXPECT_EQ(alice->unsubscribe("chat/presence/bob")[0], mqtt::ReasonCode::SUCCESS);
    auto bob = connected("bob", mqtt_5);
    const auto online = alice->next_on("chat/presence/bob");
    ASSERT_TRUE(online);
    EXPECT_EQ(json::parse(online->payload)["devices"], 1);
    // Once bob leaves the room his presence stops reaching alice, and carol's starts reaching
    // him when she joins it (her retained presence at once, then her changes).
    EXPECT_EQ(control(*bob, "bob", {{"op", "leave"}, {"room", "lobby"}})["ok"], true);
    auto laptop = connected("bob/laptop", mqtt_5);
    EXPECT_TRUE(alice->stays_silent_on("chat/presence/bob"));
    auto carol = connected("carol", mqtt_5);
    EXPECT_EQ(control(*carol, "carol", {{"op", "join"}, {"room", "lobby"}})["ok"], true);
    const auto carol_now = alice->next_on("chat/presence/carol");
    ASSERT_TRUE(carol_now);
    EXPECT_EQ(json::parse(carol_now->payload)["status"], "online");
    carol->disconnect();
    const auto carol_gone = alice->next_on("chat/presence/carol");
    ASSERT_TRUE(carol_gone);
    EXPECT_EQ(json::parse(carol_gone->payload)["status"], "offline");
}

TEST_F(ChatPresenceTest, PersistentSessionGetsPresenceAfterARestart) {
    auto bob = connected("bob", mqtt_5, true);
    bob->disconnect();
    const process_exit ending = broker_->stop();
    ASSERT_TRUE(ending.is_success()) << describe(ending) << broker_->log();
    start_broker();
    bob = connected("bob", mqtt_5, true);
    auto alice = connected("alice", mqtt_5);
    const auto online = bob->next_on("chat/presence/alice");
    ASSERT_TRUE(online);
    EXPECT_EQ(json::parse(online->payload)["status"], "online");
    EXPECT_TRUE(bob->stays_silent_on("chat/presence/alice"));
}

} // namespace
} // namespace perch::integration
