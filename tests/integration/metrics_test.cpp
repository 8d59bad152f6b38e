// The http listener of the real broker: /metrics checked against traffic the test generates,
// /healthz, 404, and malformed or oversized requests refused without disturbing MQTT clients.
#include <chrono>
#include <cstdint>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "broker_process.hpp"
#include "http_client.hpp"
#include "raw_mqtt_client.hpp"

namespace perch::integration {
namespace {

using namespace std::chrono_literals;

constexpr auto answer_timeout = 5s;
// The anonymous block: metrics/ is open, nothing else.
constexpr std::string_view anonymous_rules = "topic readwrite metrics/#\n";

class MetricsTest : public ::testing::Test {
protected:
    void SetUp() override {
        if (broker_under_test() != broker_kind::perch) {
            GTEST_SKIP() << "the http listener is perch's";
        }
        write_file_text(scratch_.path() / "perch.acl", anonymous_rules);
        http_port_ = free_loopback_port();
        broker_ = std::make_unique<broker_process>(
            broker_kind::perch, "acl_file " + (scratch_.path() / "perch.acl").string() +
                                    "\nlistener " + std::to_string(http_port_) +
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

    std::string metrics() {
        const http_answer answer = http_get(http_port_, "/metrics");
        EXPECT_EQ(answer.status, 200U) << answer.raw;
        return answer.body;
    }

    double delta(const std::string& before, const std::string& after, const std::string& series) {
        return sample(after, series).value_or(-1) - sample(before, series).value_or(0);
    }

    temporary_directory scratch_;
    std::uint16_t http_port_ = 0;
    std::unique_ptr<broker_process> broker_;
};

TEST_F(MetricsTest, CountersMatchTheTrafficSent) {
    const std::string listener = "perch_listener_connections_accepted_total{kind=\"mqtt\","
                                 "address=\"127.0.0.1\",port=\"" +
                                 std::to_string(broker_->port()) + "\"}";
    // The start-up check's connection to the MQTT port is accepted by whichever worker's loop
    // gets to it first, possibly after the first scrape: wait until it is counted.
    std::string before = metrics();
    for (int attempt = 0; attempt < 100 && sample(before, listener).value_or(0) < 1; ++attempt) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        before = metrics();
    }
    ASSERT_EQ(sample(before, listener).value_or(0), 1) << before;
    ASSERT_NE(before.find("# TYPE perch_messages_received_total counter"), std::string::npos)
        << before;

    constexpr int qos0_messages = 5;
    constexpr int qos1_messages = 4;
    const std::string payload = "twelve bytes";
    raw_mqtt_client reader;
    raw_mqtt_client writer;
    raw_mqtt_client idle;
    ASSERT_TRUE(reader.connect(broker_->port(), "reader", true, answer_timeout));
    ASSERT_TRUE(writer.connect(broker_->port(), "writer", true, answer_timeout));
    ASSERT_TRUE(idle.connect(broker_->port(), "idle", true, answer_timeout));
    ASSERT_TRUE(reader.subscribe("metrics/#", 1, 1, answer_timeout));
    // Outside the anonymous block: 0x80, one refusal.
    EXPECT_FALSE(reader.subscribe("secret/#", 1, 2, answer_timeout));

    for (int index = 0; index < qos0_messages; ++index) {
        ASSERT_TRUE(writer.publish("metrics/zero", payload, 0, 0));
    }
    for (int index = 0; index < qos1_messages; ++index) {
        const auto packet_id = static_cast<std::uint16_t>(10 + index);
        ASSERT_TRUE(writer.publish("metrics/one", payload, 1, packet_id));
        const std::optional<raw_packet> ack = writer.read_packet(answer_timeout);
        ASSERT_TRUE(ack);
        EXPECT_EQ(ack->type, 4);
    }
    int received = 0;
    while (received < qos0_messages + qos1_messages) {
        const std::optional<raw_packet> packet = reader.read_packet(answer_timeout);
        ASSERT_TRUE(packet) << "received " << received;
        ASSERT_EQ(packet->type, 3);
        const raw_publish delivery = parse_publish(*packet);
        if (delivery.qos == 1) {
            ASSERT_TRUE(reader.acknowledge(4, delivery.packet_id));
        }
        ++received;
    }
    // The reader's PUBACKs are read by the broker before it answers this PINGREQ.
    ASSERT_TRUE(reader.ping(answer_timeout));

    const std::string after = metrics();
    EXPECT_EQ(delta(before, after, "perch_messages_received_total{qos=\"0\"}"), qos0_messages);
    EXPECT_EQ(delta(before, after, "perch_messages_received_total{qos=\"1\"}"), qos1_messages);
    EXPECT_EQ(delta(before, after, "perch_messages_sent_total{qos=\"0\"}"), qos0_messages);
    EXPECT_EQ(delta(before, after, "perch_messages_sent_total{qos=\"1\"}"), qos1_messages);
    EXPECT_EQ(delta(before, after, "perch_payload_bytes_received_total{qos=\"0\"}"),
              qos0_messages * payload.size());
    EXPECT_EQ(delta(before, after, "perch_payload_bytes_sent_total{qos=\"1\"}"),
              qos1_messages * payload.size());
    EXPECT_EQ(delta(before, after, "perch_refusals_total{reason=\"not_authorized\"}"), 1);
    EXPECT_EQ(sample(after, "perch_clients_connected"), 3);
    EXPECT_EQ(delta(before, after, listener), 3);
    // The two scrapes are two connections to the http listener.
    EXPECT_EQ(delta(before, after,
                    "perch_listener_connections_accepted_total{kind=\"http\",address=\"127.0.0."
                    "1\",port=\"" +
                        std::to_string(http_port_) + "\"}"),
              1);
    EXPECT_TRUE(sample(after, "perch_worker_loop_lag_seconds{worker=\"0\"}")) << after;
    EXPECT_NE(after.find("# TYPE perch_store_commit_seconds histogram"), std::string::npos);
    EXPECT_NE(after.find("perch_store_commit_seconds_bucket{le=\"+Inf\"}"), std::string::npos);
    EXPECT_TRUE(sample(after, "perch_tls_handshakes_total{kind=\"full\"}"));

    reader.disconnect();
    writer.disconnect();
    idle.disconnect();
}

TEST_F(MetricsTest, HealthzAnswersOkAndUnknownPathsAre404) {
    const http_answer health = http_get(http_port_, "/healthz");
    EXPECT_EQ(health.status, 200U) << health.raw;
    EXPECT_EQ(health.body, "{\"status\":\"ok\"}\n");
    EXPECT_EQ(http_get(http_port_, "/nothing-here").status, 404U);
    EXPECT_EQ(http_exchange(http_port_,
                            "DELETE /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                  .status,
              405U);
}

TEST_F(MetricsTest, BadRequestsAreRefusedAndClosedWithoutDisturbingMqttClients) {
    raw_mqtt_client client;
    ASSERT_TRUE(client.connect(broker_->port(), "bystander", true, answer_timeout));
    ASSERT_TRUE(client.subscribe("metrics/x", 0, 1, answer_timeout));

    // http_exchange() reads until the server closes: a return at all means the connection was
    // closed.
    const http_answer malformed = http_exchange(http_port_, "THIS IS NOT HTTP\r\n\r\n");
    EXPECT_EQ(malformed.status, 400U) << malformed.raw;
    const http_answer oversized = http_exchange(
        http_port_,
        "GET /metrics HTTP/1.1\r\nX-Padding: " + std::string(64 * 1024, 'a') + "\r\n\r\n");
    EXPECT_EQ(oversized.status, 431U) << oversized.raw;

    EXPECT_TRUE(client.ping(answer_timeout));
    ASSERT_TRUE(client.publish("metrics/x", "still here", 0, 0));
    const std::optional<raw_packet> echo = client.read_packet(answer_timeout);
    ASSERT_TRUE(echo);
    EXPECT_EQ(parse_publish(*echo).payload, "still here");
    const std::string text = metrics();
    EXPECT_EQ(sample(text, "perch_http_bad_requests_total"), 2) << text;
    client.disconnect();
}

} // namespace
} // namespace perch::integration
