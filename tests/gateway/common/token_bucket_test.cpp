// Tests of the token bucket: burst, rate, costs above the burst, and no limit. Time is a
// parameter: nothing here waits.
#include <chrono>

#include <gtest/gtest.h>

#include "gateway/common/token_bucket.hpp"

namespace perch::gateway {
namespace {

using namespace std::chrono_literals;

const token_bucket::time_point start = token_bucket::time_point{} + 1000s;

TEST(TokenBucket, AFullBucketGivesItsBurstThenRefuses) {
    token_bucket bucket;
    const rate_limit limit{10, 5};
    EXPECT_EQ(bucket.available(limit, start), 5U);
    for (int taken = 0; taken < 5; ++taken) {
        EXPECT_TRUE(bucket.try_take(limit, 1, start)) << taken;
    }
    EXPECT_FALSE(bucket.try_take(limit, 1, start));
    EXPECT_EQ(bucket.available(limit, start), 0U);
}

TEST(TokenBucket, TokensComeBackAtTheRate) {
    token_bucket bucket;
    const rate_limit limit{10, 5};
    for (int taken = 0; taken < 5; ++taken) {
        ASSERT_TRUE(bucket.try_take(limit, 1, start));
    }
    // One token per 100 ms.
    EXPECT_FALSE(bucket.try_take(limit, 1, start + 99ms));
    EXPECT_TRUE(bucket.try_take(limit, 1, start + 100ms));
    EXPECT_FALSE(bucket.try_take(limit, 1, start + 100ms));
    EXPECT_EQ(bucket.available(limit, start + 400ms), 3U);
    // Never more than the burst, however long it rested.
    EXPECT_EQ(bucket.available(limit, start + 1h), 5U);
    EXPECT_TRUE(bucket.is_full(start + 1h));
}

TEST(TokenBucket, ARefusalTakesNothing) {
    token_bucket bucket;
    const rate_limit limit{1, 2};
    ASSERT_TRUE(bucket.try_take(limit, 2, start));
    for (int attempt = 0; attempt < 100; ++attempt) {
        EXPECT_FALSE(bucket.try_take(limit, 1, start + 500ms));
    }
    EXPECT_TRUE(bucket.try_take(limit, 1, start + 1s));
}

TEST(TokenBucket, ACostLargerThanTheBurstFitsAFullBucketAndIsOwed) {
    token_bucket bucket;
    const rate_limit limit{100, 50};
    EXPECT_TRUE(bucket.can_take(limit, 300, start));
    EXPECT_TRUE(bucket.try_take(limit, 300, start));
    // 300 tokens at 100 per second: full again after 3 s, not before.
    EXPECT_FALSE(bucket.try_take(limit, 1, start + 2s + 500ms));
    EXPECT_TRUE(bucket.try_take(limit, 1, start + 2s + 510ms));
    EXPECT_FALSE(bucket.try_take(limit, 300, start + 2s + 600ms));
    EXPECT_TRUE(bucket.try_take(limit, 300, start + 4s));
}

TEST(TokenBucket, CanTakeChangesNothing) {
    token_bucket bucket;
    const rate_limit limit{1, 1};
    EXPECT_TRUE(bucket.can_take(limit, 1, start));
    EXPECT_TRUE(bucket.can_take(limit, 1, start));
    EXPECT_TRUE(bucket.try_take(limit, 1, start));
    EXPECT_FALSE(bucket.can_take(limit, 1, start));
}

TEST(TokenBucket, NoRateMeansNoLimit) {
    token_bucket bucket;
    const rate_limit none{0, 1};
    for (int taken = 0; taken < 10'000; ++taken) {
        ASSERT_TRUE(bucket.try_take(none, 1'000'000, start));
    }
    EXPECT_TRUE(bucket.is_full(start));
}

TEST(TokenBucket, TheLargestValuesDoNotOverflow) {
    token_bucket bucket;
    const rate_limit limit{max_rate_value, max_rate_value};
    EXPECT_TRUE(bucket.try_take(limit, max_rate_value, start));
    EXPECT_FALSE(bucket.try_take(limit, 1, start));
    EXPECT_TRUE(bucket.try_take(limit, max_rate_value, start + 1s));
    token_bucket slow;
    const rate_limit trickle{1, max_rate_value};
    EXPECT_TRUE(slow.try_take(trickle, max_rate_value, start));
    EXPECT_EQ(slow.available(trickle, start), 0U);
    EXPECT_EQ(slow.available(trickle, start + 10s), 10U);
}

} // namespace
} // namespace perch::gateway
