// Tests of one connection's publish quota: message and byte rates, and the flood rule. Time is a
// parameter: nothing here waits.
#include <chrono>

#include <gtest/gtest.h>

#include "gateway/broker/publish_quota.hpp"

namespace perch::gateway {
namespace {

using namespace std::chrono_literals;

const publish_quota::time_point start = publish_quota::time_point{} + 1000s;

client_quota messages_only(std::uint64_t rate, std::uint64_t burst) {
    client_quota quota;
    quota.max_publish_rate = rate;
    quota.max_publish_burst = burst;
    quota.max_publish_bytes_rate = 0;
    return quota;
}

TEST(PublishQuota, TheBurstPassesThenTheRateRefuses) {
    publish_quota meter;
    const client_quota quota = messages_only(10, 20);
    for (int sent = 0; sent < 20; ++sent) {
        ASSERT_EQ(meter.admit(quota, 100, start), publish_admission::accepted) << sent;
    }
    EXPECT_EQ(meter.admit(quota, 100, start), publish_admission::message_rate);
    EXPECT_EQ(meter.admit(quota, 100, start + 100ms), publish_admission::accepted);
}

TEST(PublishQuota, AClientAtItsRateIsNeverRefused) {
    publish_quota meter;
    const client_quota quota = messages_only(10, 10);
    for (int sent = 0; sent < 10'000; ++sent) {
        ASSERT_EQ(meter.admit(quota, 100, start + sent * 100ms), publish_admission::accepted)
            << sent;
    }
}

TEST(PublishQuota, TheByteRateRefusesLargeMessagesAndTakesNoMessageToken) {
    publish_quota meter;
    client_quota quota;
    quota.max_publish_rate = 1000;
    quota.max_publish_burst = 1000;
    quota.max_publish_bytes_rate = 1000;
    quota.max_publish_bytes_burst = 4000;
    for (int sent = 0; sent < 4; ++sent) {
        ASSERT_EQ(meter.admit(quota, 1000, start), publish_admission::accepted);
    }
    EXPECT_EQ(meter.admit(quota, 1000, start), publish_admission::byte_rate);
    // Small messages still fit the message bucket, not the byte bucket.
    EXPECT_EQ(meter.admit(quota, 1, start), publish_admission::byte_rate);
    EXPECT_EQ(meter.admit(quota, 1000, start + 1s), publish_admission::accepted);
}

TEST(PublishQuota, AFloodPastTenSecondsOfTheRateIsReported) {
    publish_quota meter;
    const client_quota quota = messages_only(5, 5);
    for (int sent = 0; sent < 5; ++sent) {
        ASSERT_EQ(meter.admit(quota, 10, start), publish_admission::accepted);
    }
    // Refusals may add up to flood_seconds of the rate (50 messages) before the flood rule.
    for (std::uint64_t refused = 0; refused < 5 * publish_quota::flood_seconds; ++refused) {
        ASSERT_EQ(meter.admit(quota, 10, start), publish_admission::message_rate) << refused;
    }
    EXPECT_EQ(meter.admit(quota, 10, start), publish_admission::message_flood);
}

TEST(PublishQuota, RefusalsDrainAwaySoARetryingClientIsNotDisconnected) {
    publish_quota meter;
    const client_quota quota = messages_only(5, 5);
    // Twice its rate for a minute: half refused, never a flood.
    for (int sent = 0; sent < 600; ++sent) {
        const publish_admission verdict = meter.admit(quota, 10, start + sent * 100ms);
        ASSERT_NE(verdict, publish_admission::message_flood) << sent;
    }
}

TEST(PublishQuota, AByteFloodIsReported) {
    publish_quota meter;
    client_quota quota;
    quota.max_publish_rate = 0;
    quota.max_publish_bytes_rate = 100;
    quota.max_publish_bytes_burst = 100;
    ASSERT_EQ(meter.admit(quota, 100, start), publish_admission::accepted);
    for (int refused = 0; refused < 10; ++refused) {
        ASSERT_EQ(meter.admit(quota, 100, start), publish_admission::byte_rate) << refused;
    }
    EXPECT_EQ(meter.admit(quota, 100, start), publish_admission::byte_flood);
}

TEST(PublishQuota, NoRatesNoRefusals) {
    publish_quota meter;
    client_quota quota;
    quota.max_publish_rate = 0;
    quota.max_publish_bytes_rate = 0;
    for (int sent = 0; sent < 100'000; ++sent) {
        ASSERT_EQ(meter.admit(quota, 1'000'000, start), publish_admission::accepted);
    }
}

} // namespace
} // namespace perch::gateway
