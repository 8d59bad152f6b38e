// Tests of gateway/access_policy.cpp: anonymous clients stay outside chat/.
#include <gtest/gtest.h>

#include "gateway/access_policy.hpp"

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

} // namespace
} // namespace perch::gateway
