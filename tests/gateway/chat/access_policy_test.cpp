// Tests of gateway/chat/access_policy.cpp: anonymous clients stay outside chat/.
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "gateway/chat/access_policy.hpp"

namespace perch::gateway {
namespace {

TEST(AccessPolicy, ChatTreeIsTheChatLevelAndBelow) {
    EXPECT_TRUE(is_chat_topic("chat"));
    EXPECT_TRUE(is_chat_topic("chat/room/lobby/alice"));
    EXPECT_TRUE(is_chat_topic("chat/#"));
    EXPECT_FALSE(is_chat_topic("chatter/x"));
    EXPECT_FALSE(is_chat_topic("home/chat"));
    EXPECT_FALSE(is_chat_topic("#"));
}

TEST(AccessPolicy, NobodyPublishesUnderSys) {
    EXPECT_TRUE(is_broker_topic("$SYS"));
    EXPECT_TRUE(is_broker_topic("$SYS/broker/version"));
    EXPECT_FALSE(is_broker_topic("$SYSTEM/x"));
    EXPECT_FALSE(is_broker_topic("sys/x"));
    EXPECT_FALSE(access_policy(true).may_publish("$SYS/broker/version"));
    EXPECT_FALSE(access_policy(false).may_publish("$SYS/broker/custom"));
    EXPECT_FALSE(access_policy(true).may_publish("$SYS"));
    EXPECT_TRUE(access_policy(true).may_publish("$SYSTEM/x"));
    // Reading $SYS stays open.
    EXPECT_TRUE(access_policy(true).may_subscribe("$SYS/#"));
}

TEST(AccessPolicy, NothingUnderChatIsRetainedForAClient) {
    EXPECT_FALSE(may_client_retain("chat/room/lobby/alice"));
    EXPECT_FALSE(may_client_retain("chat/dm/bob/alice"));
    EXPECT_FALSE(may_client_retain("chat/signal/room/lobby/alice"));
    EXPECT_TRUE(may_client_retain("home/door"));
    // What a store may hold from an earlier version and must drop at start.
    EXPECT_TRUE(is_stale_retained_topic("chat/room/lobby/alice"));
    EXPECT_TRUE(is_stale_retained_topic("chat/dm/bob/alice"));
    EXPECT_TRUE(is_stale_retained_topic("$SYS/broker/version"));
    EXPECT_FALSE(is_stale_retained_topic("chat/presence/alice"));
    EXPECT_FALSE(is_stale_retained_topic("home/door"));
}

TEST(AccessPolicy, AnOwnersPolicyIsTheChatUsersOrAnAnonymousClients) {
    chat_directory directory;
    const std::string nobody;
    EXPECT_FALSE(policy_for_owner(nobody, directory).may_receive("chat/dm/bob/alice"));
    EXPECT_TRUE(policy_for_owner(nobody, directory).may_receive("home/door"));
    // A chat user unknown to the directory reads nothing under chat/.
    const std::string bob = "bob";
    EXPECT_FALSE(policy_for_owner(bob, directory).may_receive("chat/dm/bob/alice"));
    EXPECT_TRUE(policy_for_owner(bob, directory).may_receive("home/door"));
}

TEST(AccessPolicy, AnonymousClientsMayNotPublishUnderChat) {
    const access_policy anonymous(true);
    EXPECT_FALSE(anonymous.may_publish("chat/room/lobby/alice"));
    EXPECT_TRUE(anonymous.may_publish("sensors/kitchen"));
    const access_policy named(false);
    EXPECT_TRUE(named.may_publish("chat/room/lobby/alice"));
}

TEST(AccessPolicy, AnonymousClientsMayNotSubscribeToChatFilters) {
    const access_policy anonymous(true);
    EXPECT_FALSE(anonymous.may_subscribe("chat/#"));
    EXPECT_FALSE(anonymous.may_subscribe("chat/room/+/+"));
    EXPECT_FALSE(anonymous.may_subscribe("$share/g/chat/room/lobby/+"));
    EXPECT_TRUE(anonymous.may_subscribe("$share/chat/sensors/#"));
    EXPECT_TRUE(anonymous.may_subscribe("sensors/#"));
    EXPECT_TRUE(access_policy(false).may_subscribe("chat/#"));
}

TEST(AccessPolicy, WildcardFiltersNeverWidenWhatAnonymousClientsRead) {
    // '#' is granted, but what it matches under chat/ is not delivered.
    const access_policy anonymous(true);
    EXPECT_TRUE(anonymous.may_subscribe("#"));
    EXPECT_TRUE(anonymous.may_subscribe("+/room/lobby/+"));
    EXPECT_FALSE(anonymous.may_receive("chat/room/lobby/alice"));
    EXPECT_TRUE(anonymous.may_receive("sensors/kitchen"));
    EXPECT_TRUE(access_policy(false).may_receive("chat/room/lobby/alice"));
}

TEST(AccessPolicy, StoredRulesJoinTheFileRulesAndADenyInEitherWins) {
    const auto file_rules = std::make_shared<const topic_acl>(
        topic_acl::parse("user alice\ntopic readwrite home/#\n", "perch.acl"));
    std::vector<store::acl_rule_record> stored = {
        {store::acl_scope::user, "alice", "deny", "home/secret", 0},
        {store::acl_scope::user, "bob", "read", "home/#", 0},
        {store::acl_scope::anonymous, "", "sometimes", "home/#", 0},
        {store::acl_scope::anonymous, "", "read", "bad/#/filter", 0},
    };
    std::vector<std::string> ignored;
    const auto joined = with_stored_rules(file_rules, stored, [&](const auto& record) {
        ignored.push_back(record.access + " " + record.filter);
    });
    const std::string alice = "alice";
    const std::string bob = "bob";
    EXPECT_TRUE(joined->allows_topic(&alice, "", topic_acl::want::write, "home/door"));
    EXPECT_FALSE(joined->allows_topic(&alice, "", topic_acl::want::read, "home/secret"));
    EXPECT_TRUE(joined->allows_topic(&bob, "", topic_acl::want::read, "home/door"));
    EXPECT_FALSE(joined->allows_topic(&bob, "", topic_acl::want::write, "home/door"));
    EXPECT_FALSE(joined->allows_topic(nullptr, "", topic_acl::want::read, "home/door"));
    EXPECT_EQ(ignored, (std::vector<std::string>{"sometimes home/#", "read bad/#/filter"}));
    // Without an acl_file the stored rules stand alone.
    EXPECT_TRUE(with_stored_rules(nullptr, stored, [](const auto&) {
                })->allows_topic(&bob, "", topic_acl::want::read, "home/x"));
}

} // namespace
} // namespace perch::gateway
