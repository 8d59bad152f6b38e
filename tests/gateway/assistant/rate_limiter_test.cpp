// Tests of the assistant's request limits.
#include <chrono>
#include <string>

#include <gtest/gtest.h>

#include "gateway/assistant/rate_limiter.hpp"

namespace perch::gateway::assistant {
namespace {

using namespace std::chrono_literals;
using time_point = rate_limiter::time_point;

const time_point start = time_point{} + 1h;

TEST(RateLimiter, AllowsTheBurstThenRefillsAtTheRate) {
    rate_limiter limiter({6, 2}, {0, 1});
    EXPECT_EQ(limiter.try_acquire("alice", start), rate_decision::allowed);
    EXPECT_EQ(limiter.try_acquire("alice", start), rate_decision::allowed);
    EXPECT_EQ(limiter.try_acquire("alice", start), rate_decision::user_limited);
    // 6 per minute: one token every 10 s.
    EXPECT_EQ(limiter.try_acquire("alice", start + 9s), rate_decision::user_limited);
    EXPECT_EQ(limiter.try_acquire("alice", start + 10s), rate_decision::allowed);
    EXPECT_EQ(limiter.try_acquire("alice", start + 10s), rate_decision::user_limited);
}

TEST(RateLimiter, UsersHaveTheirOwnBuckets) {
    rate_limiter limiter({1, 1}, {0, 1});
    EXPECT_EQ(limiter.try_acquire("alice", start), rate_decision::allowed);
    EXPECT_EQ(limiter.try_acquire("alice", start), rate_decision::user_limited);
    EXPECT_EQ(limiter.try_acquire("bob", start), rate_decision::allowed);
}

TEST(RateLimiter, TheGlobalLimitBindsEveryone) {
    rate_limiter limiter({60, 5}, {1, 2});
    EXPECT_EQ(limiter.try_acquire("alice", start), rate_decision::allowed);
    EXPECT_EQ(limiter.try_acquire("bob", start), rate_decision::allowed);
    EXPECT_EQ(limiter.try_acquire("carol", start), rate_decision::globally_limited);
    EXPECT_EQ(limiter.try_acquire("carol", start + 60s), rate_decision::allowed);
}

TEST(RateLimiter, ARefusedRequestTakesNoToken) {
    // One per minute for a user, two per minute for everyone, bursts of one.
    rate_limiter limiter({1, 1}, {2, 1});
    EXPECT_EQ(limiter.try_acquire("alice", start), rate_decision::allowed);
    EXPECT_EQ(limiter.try_acquire("carol", start), rate_decision::globally_limited);
    // 30 s later the global bucket has a token again; carol's own bucket only would not, had the
    // refusal taken her token.
    EXPECT_EQ(limiter.try_acquire("carol", start + 30s), rate_decision::allowed);
}

TEST(RateLimiter, ZeroMeansUnlimited) {
    rate_limiter limiter({0, 1}, {0, 1});
    for (int i = 0; i < 1000; ++i) {
        ASSERT_EQ(limiter.try_acquire("alice", start), rate_decision::allowed);
    }
}

TEST(RateLimiter, ForgetsUsersWhoseBucketsRefilled) {
    rate_limiter limiter({60, 3}, {0, 1});
    for (int i = 0; i < 100; ++i) {
        limiter.try_acquire("user" + std::to_string(i), start);
    }
    EXPECT_EQ(limiter.tracked_users(), 100U);
    limiter.try_acquire("late", start + 2min);
    EXPECT_EQ(limiter.tracked_users(), 1U);
}

} // namespace
} // namespace perch::gateway::assistant
