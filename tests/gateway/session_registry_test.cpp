// Tests of the client id -> session registry that decides takeovers.
#include <gtest/gtest.h>

#include "gateway/session_registry.hpp"

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

} // namespace
} // namespace perch::gateway
