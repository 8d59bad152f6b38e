// Session queue depths on /metrics: a persistent session offline receives messages, the gauges
// and the depth histogram show its queue, and they fall back to 0 once it reconnects and drains.
#include <chrono>
#include <cstdint>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "broker_process.hpp"
#include "http_client.hpp"
#include "raw_mqtt_client.hpp"

namespace perch::integration {
namespace {

using namespace std::chrono_literals;

constexpr auto answer_timeout = 5s;
constexpr std::uint8_t publish_type = 3;
constexpr std::uint8_t puback_type = 4;

class QueueMetricsTest : public ::testing::Test {
protected:
    void SetUp() override {
        if (broker_under_test() != broker_kind::perch) {
            GTEST_SKIP() << "the http listener is perch's";
        }
        http_port_ = free_loopback_port();
        broker_ = std::make_unique<broker_process>(broker_kind::perch,
                                                   "listener " + std::to_string(http_port_) +
                                                       " 127.0.0.1\nprotocol http\n");
    }

    void TearDown() override {
        if (!broker_) {
            return;
        }
        const process_exit ending = broker_->stop();
        EXPECT_TRUE(ending.is_success()) << describe(ending);
        if (HasFailure()) {
            std::cerr << broker_->log();
        }
    }

    /// Waits (bounded: the workers refresh the depths once a second) until every `series` shows
    /// its value; the last scrape when they do not.
    std::string metrics_when(const std::vector<std::pair<std::string, double>>& wanted) {
        std::string text;
        const auto deadline = std::chrono::steady_clock::now() + 10s;
        while (std::chrono::steady_clock::now() < deadline) {
            text = http_get(http_port_, "/metrics").body;
            bool is_there = true;
            for (const auto& [series, value] : wanted) {
                is_there = is_there && sample(text, series) == value;
            }
            if (is_there) {
                return text;
            }
            std::this_thread::sleep_for(200ms);
        }
        ADD_FAILURE() << "metrics never showed what was expected:\n" << text;
        return text;
    }

    std::uint16_t http_port_ = 0;
    std::unique_ptr<broker_process> broker_;
};

TEST_F(QueueMetricsTest, AnOfflineSessionsQueueIsCountedThenDrained) {
    constexpr int queued = 5;
    raw_mqtt_client away;
    ASSERT_TRUE(away.connect(broker_->port(), "away", false, answer_timeout));
    ASSERT_TRUE(away.subscribe("queue/t", 1, 1, answer_timeout));
    away.disconnect();

    raw_mqtt_client publisher;
    ASSERT_TRUE(publisher.connect(broker_->port(), "publisher", true, answer_timeout));
    for (int sent = 0; sent < queued; ++sent) {
        ASSERT_TRUE(publisher.publish("queue/t", "m" + std::to_string(sent), 1,
                                      static_cast<std::uint16_t>(sent + 1)));
    }
    // One worker or two: the PUBACKs come back once every message was routed.
    for (int acknowledged = 0; acknowledged < queued;) {
        const auto packet = publisher.read_packet(answer_timeout);
        ASSERT_TRUE(packet.has_value());
        acknowledged += packet->type == puback_type ? 1 : 0;
    }

    const std::string full = metrics_when({{"perch_session_queued_messages", queued},
                                           {"perch_session_queue_deepest_messages", queued}});
    // Depth 5 is in the bucket up to 10 and not in the one up to 1; the publisher's empty queue
    // is in the one up to 0.
    const auto up_to = [&full](const std::string& bound) {
        return sample(full, "perch_session_queue_depth_messages_bucket{le=\"" + bound + "\"}")
            .value_or(-1);
    };
    EXPECT_EQ(up_to("10") - up_to("1"), 1) << full;
    EXPECT_GE(up_to("0"), 1) << full;
    EXPECT_EQ(up_to("+Inf"), up_to("10")) << full;
    EXPECT_GT(sample(full, "perch_session_queued_bytes").value_or(0), 0) << full;

    bool is_present = false;
    ASSERT_TRUE(away.connect(broker_->port(), "away", false, answer_timeout, &is_present));
    EXPECT_TRUE(is_present);
    for (int received = 0; received < queued;) {
        const auto packet = away.read_packet(answer_timeout);
        ASSERT_TRUE(packet.has_value());
        if (packet->type == publish_type) {
            const raw_publish message = parse_publish(*packet);
            ASSERT_TRUE(away.acknowledge(puback_type, message.packet_id));
            ++received;
        }
    }
    const std::string drained = metrics_when({{"perch_session_queued_messages", 0},
                                              {"perch_session_queued_bytes", 0},
                                              {"perch_session_queue_deepest_messages", 0}});
    EXPECT_EQ(sample(drained, "perch_session_queue_depth_messages_bucket{le=\"0\"}"),
              sample(drained, "perch_session_queue_depth_messages_bucket{le=\"+Inf\"}"))
        << drained;
}

} // namespace
} // namespace perch::integration
