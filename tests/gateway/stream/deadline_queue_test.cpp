// deadline_queue: one timer fires every connection's deadline in time order, follows an earlier
// deadline, drops stale entries and lets a stopping io_context run out of work.
#include <chrono>
#include <cstdint>
#include <utility>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>

#include "gateway/stream/deadline_queue.hpp"

namespace perch::gateway {
namespace {

using namespace std::chrono_literals;

struct fired_log {
    std::vector<std::pair<mqtt::subscriber_id, std::uint64_t>> fired;
    std::uint64_t current_generation = 0;
};

deadline_queue make_queue(boost::asio::io_context& context, fired_log& log) {
    return deadline_queue(
        context,
        [&log](mqtt::subscriber_id target, std::uint64_t generation) {
            log.fired.emplace_back(target, generation);
        },
        [&log](mqtt::subscriber_id, std::uint64_t generation) {
            return generation == log.current_generation;
        });
}

TEST(DeadlineQueue, FiresEntriesInTimeOrder) {
    boost::asio::io_context context;
    fired_log log;
    deadline_queue queue = make_queue(context, log);
    const mqtt::time_point now = std::chrono::steady_clock::now();
    queue.schedule(now + 30ms, 3, 1, 3);
    queue.schedule(now + 10ms, 1, 1, 3);
    queue.schedule(now + 20ms, 2, 1, 3);
    context.run_for(2s);
    const std::vector<std::pair<mqtt::subscriber_id, std::uint64_t>> expected{
        {1, 1}, {2, 1}, {3, 1}};
    EXPECT_EQ(log.fired, expected);
    EXPECT_EQ(queue.size(), 0U);
}

TEST(DeadlineQueue, AnEarlierDeadlineMovesTheTimerForward) {
    boost::asio::io_context context;
    fired_log log;
    deadline_queue queue = make_queue(context, log);
    const mqtt::time_point now = std::chrono::steady_clock::now();
    queue.schedule(now + 1h, 1, 1, 2);
    queue.schedule(now + 5ms, 2, 7, 2);
    // The far entry still waits: run only until the near one fired.
    while (log.fired.empty()) {
        ASSERT_EQ(context.run_one_for(2s), 1U);
    }
    EXPECT_EQ(log.fired.front(), (std::pair<mqtt::subscriber_id, std::uint64_t>{2, 7}));
    EXPECT_EQ(queue.size(), 1U);
}

TEST(DeadlineQueue, StaleEntriesAreDroppedWhenTheyOutnumberLiveOnes) {
    boost::asio::io_context context;
    fired_log log;
    deadline_queue queue = make_queue(context, log);
    const mqtt::time_point later = std::chrono::steady_clock::now() + 1h;
    // One connection re-arming earlier and earlier: every older entry goes stale.
    for (std::uint64_t generation = 1; generation <= 1000; ++generation) {
        log.current_generation = generation;
        queue.schedule(later - std::chrono::seconds(generation), 1, generation, 1);
    }
    EXPECT_LE(queue.size(), 65U);
}

TEST(DeadlineQueue, EntriesOfConnectionsThatStoppedWaitingAreDropped) {
    boost::asio::io_context context;
    fired_log log;
    deadline_queue queue = make_queue(context, log);
    const mqtt::time_point later = std::chrono::steady_clock::now() + 1h;
    // A storm of 1000 connections, each armed with its CONNECT timeout (generation 1) and then
    // waiting for nothing once connected (generation 1 stale): only the live one stays.
    log.current_generation = 2;
    for (mqtt::subscriber_id target = 1; target <= 1000; ++target) {
        queue.schedule(later, target, 1, 1);
    }
    queue.schedule(later, 1001, 2, 1);
    EXPECT_LE(queue.size(), 65U);
}

TEST(DeadlineQueue, ClearLetsTheContextRunOutOfWork) {
    boost::asio::io_context context;
    fired_log log;
    deadline_queue queue = make_queue(context, log);
    queue.schedule(std::chrono::steady_clock::now() + 1h, 1, 1, 1);
    queue.clear();
    context.run();
    EXPECT_TRUE(context.stopped());
    EXPECT_TRUE(log.fired.empty());
}

TEST(DeadlineQueue, AHandlerMayScheduleAgain) {
    boost::asio::io_context context;
    fired_log log;
    deadline_queue* self = nullptr;
    deadline_queue queue(
        context,
        [&](mqtt::subscriber_id target, std::uint64_t generation) {
            log.fired.emplace_back(target, generation);
            if (generation < 3) {
                self->schedule(std::chrono::steady_clock::now() + 1ms, target, generation + 1, 1);
            }
        },
        [](mqtt::subscriber_id, std::uint64_t) { return true; });
    self = &queue;
    queue.schedule(std::chrono::steady_clock::now(), 5, 1, 1);
    context.run_for(2s);
    const std::vector<std::pair<mqtt::subscriber_id, std::uint64_t>> expected{
        {5, 1}, {5, 2}, {5, 3}};
    EXPECT_EQ(log.fired, expected);
}

} // namespace
} // namespace perch::gateway
