// The heap trim after a burst of TLS handshakes: once, when the last handshake in progress ends
// after enough completed ones; never in the middle of a burst or for a trickle.
#include <gtest/gtest.h>

#include "gateway/stream/handshake_heap_trim.hpp"

namespace perch::gateway {
namespace {

TEST(HandshakeHeapTrim, TrimsOnceWhenTheLastHandshakeOfABurstEnds) {
    handshake_heap_trim trim(4);
    for (int i = 0; i < 6; ++i) {
        trim.on_started();
    }
    for (int i = 0; i < 5; ++i) {
        EXPECT_FALSE(trim.on_ended(true)) << "handshake " << i << " ended mid-burst";
    }
    EXPECT_EQ(trim.in_progress(), 1u);
    EXPECT_TRUE(trim.on_ended(true));
    EXPECT_EQ(trim.in_progress(), 0u);
    // The count restarted: one more handshake alone is no burst.
    trim.on_started();
    EXPECT_FALSE(trim.on_ended(true));
}

TEST(HandshakeHeapTrim, ATrickleOfHandshakesTrimsOnlyEveryNth) {
    handshake_heap_trim trim(3);
    int trims = 0;
    for (int i = 0; i < 9; ++i) {
        trim.on_started();
        trims += trim.on_ended(true) ? 1 : 0;
    }
    EXPECT_EQ(trims, 3);
}

TEST(HandshakeHeapTrim, FailedHandshakesEndTheBurstButDoNotCount) {
    handshake_heap_trim trim(2);
    trim.on_started();
    trim.on_started();
    trim.on_started();
    EXPECT_FALSE(trim.on_ended(true));
    EXPECT_FALSE(trim.on_ended(false));
    // Only one completed of the two needed: the burst ends without a trim.
    EXPECT_FALSE(trim.on_ended(false));
    EXPECT_EQ(trim.in_progress(), 0u);
    trim.on_started();
    EXPECT_TRUE(trim.on_ended(true));
}

} // namespace
} // namespace perch::gateway
