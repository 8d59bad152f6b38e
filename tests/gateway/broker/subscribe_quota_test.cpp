// Tests of one connection's subscribe quota: the rate of new subscriptions and the storm rule.
// Time is a parameter: nothing here waits.
#include <chrono>

#include <gtest/gtest.h>

#include "gateway/broker/subscribe_quota.hpp"
#include "gateway/common/config.hpp"

namespace perch::gateway {
namespace {

using namespace std::chrono_literals;

const subscribe_quota::time_point start = subscribe_quota::time_point{} + 1000s;

client_quota subscribes(std::uint64_t rate, std::uint64_t burst) {
    client_quota quota;
    quota.max_subscribe_rate = rate;
    quota.max_subscribe_burst = burst;
    return quota;
}

TEST(SubscribeQuota, TheBurstPassesThenTheRateRefuses) {
    subscribe_quota meter;
    const client_quota quota = subscribes(10, 20);
    for (int sent = 0; sent < 20; ++sent) {
        ASSERT_EQ(meter.admit(quota, start), subscribe_admission::accepted) << sent;
    }
    EXPECT_EQ(meter.admit(quota, start), subscribe_admission::refused);
    EXPECT_EQ(meter.admit(quota, start + 100ms), subscribe_admission::accepted);
}

TEST(SubscribeQuota, AClientAtItsRateIsNeverRefused) {
    subscribe_quota meter;
    const client_quota quota = subscribes(10, 1);
    for (int sent = 0; sent < 1000; ++sent) {
        ASSERT_EQ(meter.admit(quota, start + sent * 100ms), subscribe_admission::accepted) << sent;
    }
}

TEST(SubscribeQuota, RefusalsPastTwoSecondsOfTheRateAreAStorm) {
    subscribe_quota meter;
    const client_quota quota = subscribes(10, 1);
    ASSERT_EQ(meter.admit(quota, start), subscribe_admission::accepted);
    // 2 s of the rate (20 refusals) are tolerated, the next is a storm.
    for (int refused = 0; refused < 20; ++refused) {
        ASSERT_EQ(meter.admit(quota, start), subscribe_admission::refused) << refused;
    }
    EXPECT_EQ(meter.admit(quota, start), subscribe_admission::storm);
}

TEST(SubscribeQuota, RefusalsForTheCapCountTowardsTheStorm) {
    subscribe_quota meter;
    const client_quota quota = subscribes(10, 1000);
    for (int refused = 0; refused < 20; ++refused) {
        ASSERT_EQ(meter.refuse(quota, start), subscribe_admission::refused) << refused;
    }
    EXPECT_EQ(meter.refuse(quota, start), subscribe_admission::storm);
    // A client that backs off is refused again, not disconnected.
    EXPECT_EQ(meter.refuse(quota, start + 1s), subscribe_admission::refused);
}

TEST(SubscribeQuota, NoRateMeansNoLimitAndNoStorm) {
    subscribe_quota meter;
    const client_quota quota = subscribes(0, 1);
    for (int sent = 0; sent < 10'000; ++sent) {
        ASSERT_EQ(meter.admit(quota, start), subscribe_admission::accepted) << sent;
        ASSERT_EQ(meter.refuse(quota, start), subscribe_admission::refused) << sent;
    }
}

} // namespace
} // namespace perch::gateway
