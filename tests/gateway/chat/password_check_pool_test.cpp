// Tests of gateway/chat/password_check_pool: checks run off the caller's thread, in order, and a
// full queue refuses more.
#include <atomic>
#include <chrono>
#include <future>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "gateway/chat/password_check_pool.hpp"

namespace perch::gateway {
namespace {

using namespace std::chrono_literals;

TEST(PasswordCheckPool, RunsChecksOnItsOwnThreads) {
    password_check_pool pool(1, 8);
    std::promise<std::thread::id> ran_on;
    ASSERT_TRUE(pool.submit([&] { ran_on.set_value(std::this_thread::get_id()); }));
    auto future = ran_on.get_future();
    ASSERT_EQ(future.wait_for(5s), std::future_status::ready);
    EXPECT_NE(future.get(), std::this_thread::get_id());
}

TEST(PasswordCheckPool, AFullQueueRefusesMoreAndStopRunsWhatWaits) {
    password_check_pool pool(1, 2);
    std::promise<void> release;
    std::shared_future<void> released = release.get_future().share();
    std::promise<void> started;
    // The one thread is busy with the first check; two more may wait, a fourth may not.
    ASSERT_TRUE(pool.submit([&, released] {
        started.set_value();
        released.wait();
    }));
    started.get_future().wait();
    std::atomic<int> ran = 0;
    EXPECT_TRUE(pool.submit([&] { ++ran; }));
    EXPECT_TRUE(pool.submit([&] { ++ran; }));
    EXPECT_FALSE(pool.submit([&] { ++ran; }));
    release.set_value();
    pool.stop();
    EXPECT_EQ(ran.load(), 2);
    EXPECT_FALSE(pool.submit([&] { ++ran; })) << "accepted after stop";
}

TEST(PasswordCheckPool, HalfTheCoresAndAtLeastOne) {
    EXPECT_EQ(password_check_pool::threads_for(0), 1U);
    EXPECT_EQ(password_check_pool::threads_for(1), 1U);
    EXPECT_EQ(password_check_pool::threads_for(4), 2U);
}

} // namespace
} // namespace perch::gateway
