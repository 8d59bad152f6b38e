// Tests of the client id -> session registry that decides takeovers.
#include <string>

#include <gtest/gtest.h>

#include "gateway/broker/session_registry.hpp"

namespace perch::gateway {
namespace {

TEST(SessionRegistry, FirstClaimHasNoPreviousHolder) {
    session_registry registry;
    EXPECT_EQ(registry.claim("alice", 11), std::nullopt);
    EXPECT_EQ(registry.holder("alice"), 11U);
    EXPECT_EQ(registry.size(), 1U);
}

// [MQTT-3.1.4-3] a second connection with the same client id takes over the first one's session.
TEST(SessionRegistry, SecondClaimReturnsTheSessionToTakeOver) {
    session_registry registry;
    registry.claim("alice", 11);
    EXPECT_EQ(registry.claim("alice", 22), 11U);
    EXPECT_EQ(registry.claim("alice", 33), 22U);
    EXPECT_EQ(registry.holder("alice"), 33U);
    EXPECT_EQ(registry.size(), 1U);
}

TEST(SessionRegistry, ReleaseByTakenOverSessionKeepsTheSuccessor) {
    session_registry registry;
    registry.claim("alice", 11);
    registry.claim("alice", 22);
    EXPECT_FALSE(registry.release("alice", 11));
    EXPECT_EQ(registry.holder("alice"), 22U);
    EXPECT_TRUE(registry.release("alice", 22));
    EXPECT_EQ(registry.holder("alice"), std::nullopt);
    EXPECT_EQ(registry.size(), 0U);
}

TEST(SessionRegistry, ClientIdsAreComparedExactly) {
    session_registry registry;
    registry.claim("Alice", 1);
    EXPECT_EQ(registry.claim("alice", 2), std::nullopt);
    EXPECT_EQ(registry.size(), 2U);
    EXPECT_FALSE(registry.release("bob", 1));
}

TEST(SessionRegistry, ShortAndLongIdentifiersAreKeptWhole) {
    session_registry registry;
    // Around the 15 characters kept in place, and far past them.
    const std::string fifteen(15, 'a');
    const std::string sixteen(16, 'a');
    const std::string long_id = "lg-idle-12345-0-" + std::string(200, 'x');
    registry.claim(fifteen, 1);
    registry.claim(sixteen, 2);
    registry.claim(long_id, 3);
    registry.claim("", 4);
    EXPECT_EQ(registry.size(), 4U);
    EXPECT_EQ(registry.holder(fifteen), 1U);
    EXPECT_EQ(registry.holder(sixteen), 2U);
    EXPECT_EQ(registry.holder(long_id), 3U);
    EXPECT_EQ(registry.holder(""), 4U);
    EXPECT_EQ(registry.holder(std::string(14, 'a')), std::nullopt);
    EXPECT_EQ(registry.holder(long_id.substr(0, long_id.size() - 1)), std::nullopt);
    EXPECT_EQ(registry.claim(long_id, 5), 3U);
    EXPECT_TRUE(registry.release(long_id, 5));
    EXPECT_TRUE(registry.release(sixteen, 2));
    EXPECT_EQ(registry.holder(long_id), std::nullopt);
    EXPECT_EQ(registry.holder(fifteen), 1U);
}

TEST(SessionRegistry, ManyIdentifiersSurviveRehashing) {
    session_registry registry;
    for (mqtt::subscriber_id id = 1; id <= 5000; ++id) {
        registry.claim("client-with-a-long-identifier-" + std::to_string(id), id);
    }
    for (mqtt::subscriber_id id = 1; id <= 5000; ++id) {
        ASSERT_EQ(registry.holder("client-with-a-long-identifier-" + std::to_string(id)), id);
    }
    EXPECT_EQ(registry.size(), 5000U);
}

} // namespace
} // namespace perch::gateway
