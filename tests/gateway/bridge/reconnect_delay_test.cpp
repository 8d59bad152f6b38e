// Tests of the bridge's reconnect backoff: 1 s doubling to 60 s, scaled by the jitter drawn.
#include <chrono>

#include <gtest/gtest.h>

#include "gateway/bridge/remote_client.hpp"

namespace perch::gateway::bridge {
namespace {

using std::chrono::milliseconds;

TEST(ReconnectDelay, DoublesFromOneSecondToSixty) {
    EXPECT_EQ(reconnect_delay(0, 1.0), milliseconds(1000));
    EXPECT_EQ(reconnect_delay(1, 1.0), milliseconds(2000));
    EXPECT_EQ(reconnect_delay(2, 1.0), milliseconds(4000));
    EXPECT_EQ(reconnect_delay(5, 1.0), milliseconds(32'000));
    EXPECT_EQ(reconnect_delay(6, 1.0), milliseconds(60'000));
    EXPECT_EQ(reconnect_delay(1000, 1.0), milliseconds(60'000));
}

TEST(ReconnectDelay, JitterScalesTheDelay) {
    EXPECT_EQ(reconnect_delay(0, 0.8), milliseconds(800));
    EXPECT_EQ(reconnect_delay(0, 1.2), milliseconds(1200));
    EXPECT_EQ(reconnect_delay(1000, 1.2), milliseconds(72'000));
}

} // namespace
} // namespace perch::gateway::bridge
