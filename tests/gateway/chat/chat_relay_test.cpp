// The checks a relay copy passes before it is routed at another gateway, and the device counts
// of the other origins (docs/BRIDGES.md "Chat across gateways").
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "gateway/chat/chat_directory.hpp"
#include "gateway/chat/chat_relay.hpp"

namespace perch::gateway {
namespace {

/// alice and bob in lobby, muted mute in lobby, carol in no room, mallory banned.
store::chat_directory_snapshot make_snapshot() {
    store::chat_directory_snapshot snapshot;
    for (const char* user : {"alice", "bob", "carol", "mute", "mallory"}) {
        snapshot.users.push_back({user, std::string("hash-") + user, 1});
    }
    snapshot.rooms = {{"lobby", "", 1}};
    snapshot.memberships = {{"lobby", "alice"}, {"lobby", "bob"}, {"lobby", "mallory"}};
    store::membership_record muted{"lobby", "mute"};
    muted.is_muted = true;
    snapshot.memberships.push_back(muted);
    snapshot.bans.push_back({store::ban_kind::user, "mallory", "spam", 1, 0});
    return snapshot;
}

std::vector<std::uint8_t> shared_key() {
    return std::vector<std::uint8_t>(relay_key_bytes, 0x5a);
}

/// A gateway's relay state with origin `origin` and the shared key, relaying on.
void set_up(chat_relay& relay, const std::string& origin) {
    relay.set_origin(origin);
    relay.set_key(shared_key());
    relay.enable();
}

mqtt::message_ptr stamped(const std::string& topic, const std::string& id) {
    auto content = std::make_shared<mqtt::message>();
    content->topic_name = topic;
    content->payload = mqtt::shared_bytes::copy_of(std::string_view("{\"text\":\"hi\"}"));
    content->qos_level = mqtt::qos::at_least_once;
    content->props.content_type = "application/json";
    content->props.user_properties = {{"id", id}, {"ts", "1765000000123"}};
    return content;
}

class ChatRelayTest : public ::testing::Test {
protected:
    void SetUp() override {
        directory_.replace(make_snapshot());
        set_up(origin_a_, "board-a");
        set_up(origin_b_, "board-b");
    }
    relay_outcome carry(const mqtt::message_ptr& copy) {
        return origin_b_.accept(copy->topic_name, copy->payload.view(), directory_, 5);
    }
    chat_directory directory_;
    chat_relay origin_a_;
    chat_relay origin_b_;
};

TEST_F(ChatRelayTest, AMessageArrivesAsItsOriginStampedIt) {
    const auto copy =
        origin_a_.offer(*stamped("chat/room/lobby/alice", "7"), "room/lobby", 7, "alice");
    ASSERT_TRUE(copy);
    EXPECT_EQ(copy->topic_name, "chat/relay/board-a/message");
    EXPECT_EQ(copy->qos_level, mqtt::qos::at_least_once);
    relay_outcome outcome = carry(copy);
    ASSERT_TRUE(std::holds_alternative<relayed_message>(outcome))
        << std::get<relay_drop>(outcome).reason;
    const relayed_message& message = std::get<relayed_message>(outcome);
    EXPECT_EQ(message.conversation, "room/lobby");
    EXPECT_EQ(message.id, 7U);
    EXPECT_EQ(message.origin, "board-a");
    EXPECT_EQ(message.content->topic_name, "chat/room/lobby/alice");
    EXPECT_EQ(message.content->payload.as_string(), "{\"text\":\"hi\"}");
    EXPECT_EQ(message.content->props.content_type, "application/json");
    ASSERT_EQ(message.content->props.user_properties.size(), 2U);
    EXPECT_EQ(message.content->props.user_properties[0].value, "7");
    EXPECT_EQ(message.content->props.user_properties[1].value, "1765000000123");
    EXPECT_EQ(origin_b_.dropped(), 0U);
}

TEST_F(ChatRelayTest, OwnOriginIsDropped) {
    const auto copy =
        origin_b_.offer(*stamped("chat/dm/bob/alice", "3"), "dm/alice/bob", 3, "alice");
    relay_outcome outcome = carry(copy);
    ASSERT_TRUE(std::holds_alternative<relay_drop>(outcome));
    EXPECT_EQ(std::get<relay_drop>(outcome).reason, "this gateway's own origin");
    EXPECT_EQ(origin_b_.dropped(), 1U);
}

TEST_F(ChatRelayTest, AnotherKeyIsDropped) {
    chat_relay stranger;
    stranger.set_origin("board-x");
    stranger.set_key(std::vector<std::uint8_t>(relay_key_bytes, 0x11));
    stranger.enable();
    const auto copy =
        stranger.offer(*stamped("chat/room/lobby/alice", "9"), "room/lobby", 9, "alice");
    relay_outcome outcome = carry(copy);
    ASSERT_TRUE(std::holds_alternative<relay_drop>(outcome));
    EXPECT_EQ(std::get<relay_drop>(outcome).reason, "the HMAC does not match");
}

TEST_F(ChatRelayTest, ACopyPublishedUnderAnotherOriginIsDropped) {
    const auto copy =
        origin_a_.offer(*stamped("chat/room/lobby/alice", "7"), "room/lobby", 7, "alice");
    auto moved = std::make_shared<mqtt::message>(*copy);
    moved->topic_name = "chat/relay/board-c/message";
    EXPECT_TRUE(std::holds_alternative<relay_drop>(carry(moved)));
}

TEST_F(ChatRelayTest, ASenderWhoMayNotPostIsDropped) {
    struct refused {
        const char* topic;
        const char* conversation;
        const char* sender;
    };
    const refused cases[] = {
        {"chat/room/lobby/carol", "room/lobby", "carol"},     // not a member
        {"chat/room/lobby/mute", "room/lobby", "mute"},       // muted
        {"chat/room/lobby/mallory", "room/lobby", "mallory"}, // banned
        {"chat/room/lobby/nobody", "room/lobby", "nobody"},   // unknown
        {"chat/dm/nobody/alice", "dm/alice/nobody", "alice"}, // unknown recipient
        {"chat/room/lobby/bob", "room/lobby", "alice"},       // topic names another sender
        {"chat/room/lobby/alice", "room/other", "alice"},     // another conversation
    };
    for (const refused& entry : cases) {
        const auto copy =
            origin_a_.offer(*stamped(entry.topic, "4"), entry.conversation, 4, entry.sender);
        EXPECT_TRUE(std::holds_alternative<relay_drop>(carry(copy))) << entry.topic;
    }
    EXPECT_EQ(origin_b_.dropped(), std::size(cases));
}

TEST_F(ChatRelayTest, NothingIsOfferedWhileRelayingIsOff) {
    chat_relay off;
    off.set_origin("board-z");
    off.enable(); // no key: stays off
    EXPECT_FALSE(off.is_enabled());
    EXPECT_FALSE(off.offer(*stamped("chat/room/lobby/alice", "1"), "room/lobby", 1, "alice"));
    EXPECT_FALSE(off.presence_update("alice", 1));
}

TEST_F(ChatRelayTest, PresenceCountsAddUpAndASnapshotReplacesThem) {
    auto applied = carry(origin_a_.presence_update("bob", 2));
    ASSERT_TRUE(std::holds_alternative<relayed_presence>(applied));
    EXPECT_EQ(std::get<relayed_presence>(applied).changed_users, std::vector<std::string>{"bob"});
    chat_relay origin_c;
    set_up(origin_c, "board-c");
    carry(origin_c.presence_update("bob", 1));
    EXPECT_EQ(origin_b_.remote_device_count("bob"), 3U);
    // A's snapshot says bob left A and carol came.
    applied = carry(origin_a_.presence_snapshot({{"carol", 1}}, true));
    const auto& snapshot = std::get<relayed_presence>(applied);
    EXPECT_TRUE(snapshot.asks_snapshot);
    EXPECT_EQ(snapshot.changed_users, (std::vector<std::string>{"bob", "carol"}));
    EXPECT_EQ(origin_b_.remote_device_count("bob"), 1U);
    EXPECT_EQ(origin_b_.remote_device_count("carol"), 1U);
    carry(origin_c.presence_update("bob", 0));
    EXPECT_EQ(origin_b_.remote_device_count("bob"), 0U);
    EXPECT_EQ(origin_b_.forget_remote_counts(), std::vector<std::string>{"carol"});
    EXPECT_EQ(origin_b_.remote_device_count("carol"), 0U);
}

TEST_F(ChatRelayTest, OwnPresenceIsDropped) {
    EXPECT_TRUE(std::holds_alternative<relay_drop>(carry(origin_b_.presence_update("bob", 1))));
    EXPECT_EQ(origin_b_.remote_device_count("bob"), 0U);
}

} // namespace
} // namespace perch::gateway
