// worker: the flush of a turn is requested many times and happens once, after the handlers
// already queued.
#include <boost/asio/post.hpp>
#include <gtest/gtest.h>

#include "gateway/broker/worker.hpp"

namespace perch::gateway {
namespace {

TEST(Worker, FlushRequestsOfOneTurnShareOnePostedFlush) {
    worker home(0);
    home.flush();
    home.flush();
    home.flush();
    // One handler was posted for the three requests.
    EXPECT_EQ(home.context().poll(), 1U);
    EXPECT_EQ(home.context().poll(), 0U);
    // Once it ran, the next request posts again (the context stopped when it ran out of work).
    home.context().restart();
    home.flush();
    EXPECT_EQ(home.context().poll(), 1U);
}

TEST(Worker, HandlersOfOneWakeUpShareTheFlushTheFirstOneRequested) {
    worker home(0);
    // Two read handlers queued by one wake-up, each asking for a flush.
    boost::asio::post(home.context(), [&] { home.flush(); });
    boost::asio::post(home.context(), [&] { home.flush(); });
    // The two handlers and one flush, posted behind the second handler.
    EXPECT_EQ(home.context().poll(), 3U);
    EXPECT_EQ(home.context().poll(), 0U);
}

} // namespace
} // namespace perch::gateway
