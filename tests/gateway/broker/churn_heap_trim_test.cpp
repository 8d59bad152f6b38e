// The heap trim after a storm of connections: once per storm, after it has gone quiet.
#include <gtest/gtest.h>

#include "gateway/broker/churn_heap_trim.hpp"

namespace perch::gateway {
namespace {

using namespace std::chrono_literals;

TEST(ChurnHeapTrim, TrimsOnceAfterAStormHasGoneQuiet) {
    churn_heap_trim trim(3, 1s);
    const churn_heap_trim::clock::time_point start{100s};
    trim.on_change(start);
    trim.on_change(start);
    EXPECT_FALSE(trim.is_due(start + 5s)); // too few changes: a trickle never trims
    trim.on_change(start + 1s);
    EXPECT_FALSE(trim.is_due(start + 1500ms)); // still in the storm
    EXPECT_TRUE(trim.is_due(start + 2s));
    EXPECT_FALSE(trim.is_due(start + 3s)); // once per storm
    for (int change = 0; change < 3; ++change) {
        trim.on_change(start + 10s);
    }
    EXPECT_TRUE(trim.is_due(start + 11s));
}

} // namespace
} // namespace perch::gateway
