#include <chrono>

#include <gtest/gtest.h>

#include "mqtt/deadline.hpp"

namespace perch::mqtt {
namespace {

using namespace std::chrono_literals;

TEST(Deadline, StartsUnset) {
    const deadline none;
    EXPECT_FALSE(none.has_value());
    EXPECT_FALSE(static_cast<bool>(none));
    EXPECT_EQ(none.get(), std::nullopt);
}

TEST(Deadline, HoldsAMomentUntilReset) {
    const time_point at = time_point{} + 5s;
    deadline moment;
    moment = at;
    ASSERT_TRUE(moment.has_value());
    EXPECT_EQ(*moment, at);
    EXPECT_EQ(moment.get(), at);
    moment.reset();
    EXPECT_FALSE(moment.has_value());
}

TEST(Deadline, TheEndOfTimeMeansUnset) {
    const deadline endless(deadline::never());
    EXPECT_FALSE(endless.has_value());
}

TEST(Deadline, IsOneTimePoint) {
    EXPECT_EQ(sizeof(deadline), sizeof(time_point));
}

} // namespace
} // namespace perch::mqtt
