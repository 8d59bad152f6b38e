// Connection placement (docs/DESIGN.md "Connection placement"): the real broker with two workers
// puts the plain-TCP connections of one room's members on one worker, read from the
// perch_worker_connected_clients gauge of its http listener; and a placed client chats as any.
#include <chrono>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "chat_fixture.hpp"
#include "http_client.hpp"

namespace perch::integration {
namespace {

using namespace std::chrono_literals;

class ConnectionPlacementTest : public chat_fixture {
protected:
    void SetUp() override {
        chat_fixture::SetUp();
        if (IsSkipped()) {
            return;
        }
        // kitchen: dave, erin, frank; lobby (the fixture's): alice, bob; carol in no room.
        expect_done([&](auto done) { chat_->add_room({"kitchen", "", 1}, done); });
        for (const std::string user : {"dave", "erin", "frank"}) {
            add_user(user, gateway::hash_password(user + "-pw", 1));
            expect_done([&](auto done) { chat_->add_member({"kitchen", user}, done); });
        }
        broker_->stop();
        http_port_ = free_loopback_port();
        start_broker("workers 2\nlistener " + std::to_string(http_port_) +
                     " 127.0.0.1\nprotocol http\n");
    }

    /// Connected clients of worker `index`, once the gauges add up to `total` (bounded wait).
    std::vector<double> connected_per_worker(double total) {
        std::vector<double> counts;
        const auto deadline = std::chrono::steady_clock::now() + 5s;
        while (std::chrono::steady_clock::now() < deadline) {
            const http_answer answer = http_get(http_port_, "/metrics");
            counts = {
                sample(answer.body, "perch_worker_connected_clients{worker=\"0\"}").value_or(-1),
                sample(answer.body, "perch_worker_connected_clients{worker=\"1\"}").value_or(-1)};
            if (counts[0] + counts[1] == total) {
                break;
            }
            std::this_thread::sleep_for(50ms);
        }
        return counts;
    }

    std::uint16_t http_port_ = 0;
};

TEST_F(ConnectionPlacementTest, TheMembersOfARoomShareAWorker) {
    auto dave = connected("dave/phone", 5);
    auto erin = connected("erin/phone", 4);
    auto frank = connected("frank/phone", 5);
    const std::vector<double> kitchen = connected_per_worker(3);
    EXPECT_TRUE((kitchen == std::vector<double>{3, 0}) || (kitchen == std::vector<double>{0, 3}))
        << kitchen[0] << " " << kitchen[1];
    auto alice = connected("alice/phone", 5);
    auto bob = connected("bob/laptop", 5);
    auto carol = connected("carol/phone", 5);
    const std::vector<double> everyone = connected_per_worker(6);
    EXPECT_EQ(everyone[0] + everyone[1], 6);

    // Placed clients chat as any other.
    ASSERT_EQ(frank->publish("chat/room/kitchen/frank", "soup's on", 1), mqtt::ReasonCode::SUCCESS);
    for (chat_client* member : {dave.get(), erin.get()}) {
        const auto message = member->next_on("chat/room/kitchen/frank");
        ASSERT_TRUE(message.has_value());
        EXPECT_EQ(message->payload, "soup's on");
    }
}

} // namespace
} // namespace perch::integration
