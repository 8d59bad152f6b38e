// The chat topic rules as a table: who may publish, subscribe and receive on each chat topic.
#include <string>

#include <gtest/gtest.h>

#include "gateway/chat/access_policy.hpp"
#include "gateway/chat/chat_policy.hpp"
#include "gateway/chat/chat_topic.hpp"

namespace perch::gateway {
namespace {

/// alice and bob in lobby, carol in no room, dave in den with bob.
store::chat_directory_snapshot make_snapshot() {
    store::chat_directory_snapshot snapshot;
    for (const char* user : {"alice", "bob", "carol", "dave"}) {
        snapshot.users.push_back({user, std::string("hash-") + user, 1});
    }
    snapshot.rooms = {{"lobby", "", 1}, {"den", "bob", 1}};
    snapshot.memberships = {{"lobby", "alice"}, {"lobby", "bob"}, {"den", "bob"}, {"den", "dave"}};
    return snapshot;
}

struct rule_case {
    const char* user;
    const char* topic;
    bool expected;
};

class ChatPolicyTest : public ::testing::Test {
protected:
    void SetUp() override { directory_.replace(make_snapshot()); }
    chat_directory directory_;
};

TEST_F(ChatPolicyTest, PublishRules) {
    const rule_case cases[] = {
        {"alice", "chat/room/lobby/alice", true},
        {"alice", "chat/room/lobby/bob", false},     // spoofed sender
        {"carol", "chat/room/lobby/carol", false},   // not a member
        {"alice", "chat/room/nowhere/alice", false}, // no such room
        {"alice", "chat/dm/carol/alice", true},
        {"alice", "chat/dm/carol/bob", false},
        {"alice", "chat/dm/nobody/alice", false},
        {"alice", "chat/signal/room/lobby/alice", true},
        {"carol", "chat/signal/room/lobby/carol", false},
        {"alice", "chat/signal/dm/bob/alice", true},
        {"alice", "chat/signal/dm/bob/carol", false},
        {"alice", "chat/presence/alice", false},
        {"alice", "chat/ctl/alice/req", true},
        {"alice", "chat/ctl/bob/req", false},
        {"alice", "chat/ctl/alice/resp", false},
        {"alice", "chat/room/lobby/alice/extra", false},
        {"alice", "chat/other/thing", false},
        {"alice", "chat", false},
        {"alice", "sensors/kitchen", true},
        {"mallory", "chat/dm/alice/mallory", false}, // not a user
    };
    for (const rule_case& entry : cases) {
        EXPECT_EQ(chat_may_publish(directory_, entry.user, entry.topic), entry.expected)
            << entry.user << " -> " << entry.topic;
    }
}

TEST(ChatPolicyRoomRulesTest, AMutedMemberReceivesButMayNotPublish) {
    store::chat_directory_snapshot snapshot = make_snapshot();
    snapshot.memberships[1].is_muted = true; // bob in lobby
    chat_directory directory;
    directory.replace(snapshot);
    EXPECT_FALSE(chat_may_publish(directory, "bob", "chat/room/lobby/bob"));
    EXPECT_FALSE(chat_may_publish(directory, "bob", "chat/signal/room/lobby/bob"));
    EXPECT_TRUE(chat_may_receive(directory, "bob", "chat/room/lobby/alice"));
    EXPECT_TRUE(chat_may_publish(directory, "alice", "chat/room/lobby/alice"));
    EXPECT_TRUE(chat_may_publish(directory, "bob", "chat/room/den/bob")); // muted in lobby only
}

TEST_F(ChatPolicyTest, ReceiveRules) {
    const rule_case cases[] = {
        {"bob", "chat/room/lobby/alice", true},
        {"carol", "chat/room/lobby/alice", false},
        {"alice", "chat/dm/alice/bob", true},
        {"alice", "chat/dm/bob/alice", true},
        {"carol", "chat/dm/bob/alice", false},
        {"bob", "chat/presence/alice", true},   // share lobby
        {"dave", "chat/presence/alice", false}, // share nothing
        {"alice", "chat/presence/alice", true},
        {"alice", "chat/ctl/alice/resp", true},
        {"alice", "chat/ctl/alice/resp/laptop", true},
        {"bob", "chat/ctl/alice/resp", false},
        {"alice", "chat/ctl/alice/req", false},
        {"dave", "chat/signal/room/den/bob", true},
        {"alice", "chat/signal/room/den/bob", false},
    };
    for (const rule_case& entry : cases) {
        EXPECT_EQ(chat_may_receive(directory_, entry.user, entry.topic), entry.expected)
            << entry.user << " <- " << entry.topic;
    }
}

TEST_F(ChatPolicyTest, SubscribeRules) {
    const rule_case cases[] = {
        {"alice", "chat/room/lobby/+", true},
        {"carol", "chat/room/lobby/+", false},
        {"carol", "chat/room/+/+", true}, // filtered at delivery
        {"carol", "chat/#", true},
        {"alice", "chat/dm/alice/+", true},
        {"alice", "chat/dm/+/alice", true},
        {"alice", "chat/dm/bob/+", false},
        {"alice", "chat/dm/+/bob", false},
        {"alice", "chat/dm/bob/alice", true},
        {"alice", "chat/dm/bob/#", false},
        {"alice", "chat/dm/#", true},
        {"alice", "chat/signal/room/lobby/+", true},
        {"carol", "chat/signal/room/lobby/#", false},
        {"alice", "chat/presence/bob", true},
        {"dave", "chat/presence/alice", false},
        {"dave", "chat/presence/+", true},
        {"alice", "chat/ctl/alice/resp", true},
        {"alice", "chat/ctl/bob/#", false},
        {"alice", "chat/unknown/#", false},
        {"mallory", "chat/#", false},
    };
    for (const rule_case& entry : cases) {
        EXPECT_EQ(chat_may_subscribe(directory_, entry.user, entry.topic), entry.expected)
            << entry.user << " subscribes " << entry.topic;
    }
}

TEST_F(ChatPolicyTest, AccessPolicyDelegatesChatTopicsAndSharedFilters) {
    const std::string user = "carol";
    const access_policy carol(user, directory_);
    EXPECT_FALSE(carol.may_subscribe("$share/group/chat/room/lobby/+"));
    EXPECT_TRUE(carol.may_subscribe("$share/group/sensors/#"));
    EXPECT_TRUE(carol.may_subscribe("#"));
    EXPECT_FALSE(carol.may_receive("chat/room/lobby/alice"));
    EXPECT_TRUE(carol.may_receive("sensors/kitchen"));
    EXPECT_TRUE(carol.may_publish("chat/dm/alice/carol"));
    const access_policy anonymous(true);
    EXPECT_FALSE(anonymous.may_publish("chat/dm/alice/carol"));
}

TEST(ChatTopicTest, ParsesEveryKindAndNamesConversations) {
    const chat_topic room = parse_chat_topic("chat/room/lobby/alice");
    EXPECT_EQ(room.kind, chat_topic_kind::room_message);
    EXPECT_EQ(room.room, "lobby");
    EXPECT_EQ(room.sender, "alice");
    EXPECT_EQ(conversation_of(room), "room/lobby");
    const chat_topic direct = parse_chat_topic("chat/dm/zoe/adam");
    EXPECT_EQ(direct.kind, chat_topic_kind::direct_message);
    EXPECT_EQ(conversation_of(direct), "dm/adam/zoe");
    EXPECT_EQ(parse_chat_topic("chat/signal/dm/a/b").kind, chat_topic_kind::direct_signal);
    EXPECT_EQ(conversation_of(parse_chat_topic("chat/signal/dm/a/b")), "");
    EXPECT_EQ(parse_chat_topic("chat/presence/a").kind, chat_topic_kind::presence);
    EXPECT_EQ(parse_chat_topic("chat/ctl/a/req").kind, chat_topic_kind::control_request);
    EXPECT_EQ(parse_chat_topic("chat/ctl/a/resp/x").kind, chat_topic_kind::control_response);
    EXPECT_EQ(parse_chat_topic("chat/ctl/a/req/x").kind, chat_topic_kind::malformed);
    EXPECT_EQ(parse_chat_topic("chat/room//alice").kind, chat_topic_kind::malformed);
    EXPECT_EQ(parse_chat_topic("chatter/room/a/b").kind, chat_topic_kind::not_chat);
    EXPECT_EQ(direct_conversation("b", "a"), "dm/a/b");
}

} // namespace
} // namespace perch::gateway
