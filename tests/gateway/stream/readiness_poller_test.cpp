// readiness_poller: edge-triggered events reach their client, a client removed during a wake-up
// hears nothing more, and an empty poller leaves the io_context free to stop.
#include <chrono>
#include <cstdint>
#include <functional>

#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>

#include "gateway/stream/readiness_poller.hpp"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace perch::gateway {
namespace {

/// A connected pair of stream sockets, closed at the end of the test.
struct socket_pair {
    int local = -1;
    int peer = -1;
    socket_pair() {
        int both[2];
        EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, both), 0);
        local = both[0];
        peer = both[1];
    }
    ~socket_pair() {
        ::close(local);
        ::close(peer);
    }
};

struct recording_client : readiness_client {
    std::uint32_t events = 0;
    int calls = 0;
    std::function<void()> on_call;
    void on_readiness(std::uint32_t reported) override {
        events |= reported;
        ++calls;
        if (on_call) {
            on_call();
        }
    }
};

TEST(ReadinessPoller, ReportsInputToTheClientOfTheSocket) {
    boost::asio::io_context context;
    readiness_poller poller(context);
    socket_pair sockets;
    recording_client client;
    const readiness_poller::token registration = poller.add(sockets.local, client);
    ASSERT_NE(registration, 0U);
    EXPECT_EQ(poller.size(), 1U);
    context.poll();
    // A fresh socket is writable: one output event, no input yet.
    EXPECT_EQ(client.events & EPOLLIN, 0U);
    ASSERT_EQ(::write(sockets.peer, "x", 1), 1);
    client.events = 0;
    context.run_one();
    EXPECT_NE(client.events & EPOLLIN, 0U);
    poller.remove(sockets.local, registration);
    EXPECT_EQ(poller.size(), 0U);
}

TEST(ReadinessPoller, AClientRemovedDuringAWakeUpHearsNothingMore) {
    boost::asio::io_context context;
    readiness_poller poller(context);
    socket_pair first_sockets;
    socket_pair second_sockets;
    recording_client first;
    recording_client second;
    const readiness_poller::token first_token = poller.add(first_sockets.local, first);
    const readiness_poller::token second_token = poller.add(second_sockets.local, second);
    context.poll();
    first.calls = 0;
    second.calls = 0;
    // Both become readable in one wake-up; whichever is told first removes the other.
    first.on_call = [&] { poller.remove(second_sockets.local, second_token); };
    second.on_call = [&] { poller.remove(first_sockets.local, first_token); };
    ASSERT_EQ(::write(first_sockets.peer, "x", 1), 1);
    ASSERT_EQ(::write(second_sockets.peer, "x", 1), 1);
    context.run_one();
    EXPECT_EQ(first.calls + second.calls, 1);
}

TEST(ReadinessPoller, ASlotReusedAfterRemovalDoesNotReachItsOldClient) {
    boost::asio::io_context context;
    readiness_poller poller(context);
    socket_pair sockets;
    recording_client old_client;
    recording_client new_client;
    const readiness_poller::token old_token = poller.add(sockets.local, old_client);
    poller.remove(sockets.local, old_token);
    const readiness_poller::token new_token = poller.add(sockets.local, new_client);
    EXPECT_NE(new_token, old_token);
    // Removing with the stale token does nothing.
    poller.remove(sockets.local, old_token);
    EXPECT_EQ(poller.size(), 1U);
    ASSERT_EQ(::write(sockets.peer, "x", 1), 1);
    // The first turn may be the wait the removal cancelled; the next one brings the event.
    for (int turn = 0; turn < 10 && new_client.calls == 0; ++turn) {
        context.restart();
        context.run_one_for(std::chrono::milliseconds(100));
    }
    EXPECT_EQ(old_client.calls, 0);
    EXPECT_GT(new_client.calls, 0);
    poller.remove(sockets.local, new_token);
}

TEST(ReadinessPoller, AnEmptyPollerLeavesTheContextFreeToStop) {
    boost::asio::io_context context;
    readiness_poller poller(context);
    socket_pair sockets;
    recording_client client;
    const readiness_poller::token registration = poller.add(sockets.local, client);
    context.poll();
    poller.remove(sockets.local, registration);
    // run() returns once the cancelled wait is done: nothing else keeps the context busy.
    context.restart();
    context.run();
    EXPECT_TRUE(context.stopped());
}

TEST(ReadinessPoller, RefusesADescriptorTheKernelCannotWatch) {
    boost::asio::io_context context;
    readiness_poller poller(context);
    recording_client client;
    EXPECT_EQ(poller.add(-1, client), 0U);
    EXPECT_EQ(poller.size(), 0U);
}

} // namespace
} // namespace perch::gateway
