// The subscribe rate quota of the real broker: entries over max_subscribe_rate are refused (0x97
// at 5.0, 0x80 at 3.1.1), a client that keeps subscribing past it is disconnected (DISCONNECT
// 0x97 at 5.0, a close at 3.1.1), and /metrics counts both.
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
constexpr std::uint8_t disconnect_type = 14;
constexpr std::uint8_t quota_exceeded = 0x97;

class SubscribeRateTest : public ::testing::Test {
protected:
    void SetUp() override {
        if (broker_under_test() != broker_kind::perch) {
            GTEST_SKIP() << "the subscribe rate quota is perch's";
        }
        http_port_ = free_loopback_port();
        // One new subscription a second, three at once; two refusals make a storm.
        broker_ = std::make_unique<broker_process>(
            broker_kind::perch, "max_subscribe_rate 1\nmax_subscribe_burst 3\nlistener " +
                                    std::to_string(http_port_) + " 127.0.0.1\nprotocol http\n");
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

    double metric(const std::string& series) {
        return sample(http_get(http_port_, "/metrics").body, series).value_or(-1);
    }

    std::unique_ptr<raw_mqtt_client> raw(const std::string& client_id, std::uint8_t level) {
        auto client = std::make_unique<raw_mqtt_client>();
        client->set_protocol_level(level);
        EXPECT_TRUE(client->connect(broker_->port(), client_id, true, answer_timeout)) << client_id;
        return client;
    }

    /// Sends new filters until the broker ends the connection (at most `attempts`); true when it
    /// did after at least the two refusals a storm takes, with DISCONNECT `disconnect_reason` at
    /// level 5 (nothing at 3.1.1).
    bool storm_until_closed(raw_mqtt_client& client, int attempts,
                            std::optional<std::uint8_t> disconnect_reason) {
        const std::uint8_t refusal = client.protocol_level() == 5 ? quota_exceeded : 0x80;
        int refused = 0;
        for (int sent = 0; sent < attempts; ++sent) {
            const auto reason =
                client.subscribe_reason("storm/" + std::to_string(sent), 0,
                                        static_cast<std::uint16_t>(100 + sent), answer_timeout);
            if (!reason) {
                return !disconnect_reason && refused >= 2;
            }
            refused += *reason == refusal ? 1 : 0;
            if (client.protocol_level() == 5) {
                // The DISCONNECT is written right behind the storm's SUBACK.
                const auto next = client.read_packet(20ms);
                if (next && next->type == disconnect_type) {
                    EXPECT_EQ(reason_code_of(*next), disconnect_reason.value_or(0));
                    return refused >= 2;
                }
            }
        }
        return false;
    }

    std::uint16_t http_port_ = 0;
    std::unique_ptr<broker_process> broker_;
};

TEST_F(SubscribeRateTest, OverTheRateAt5Is0x97ThenAStormIsDisconnectedWith0x97) {
    auto client = raw("rate5", 5);
    for (int granted = 0; granted < 3; ++granted) {
        EXPECT_EQ(client->subscribe_reason("rate/" + std::to_string(granted), 1,
                                           static_cast<std::uint16_t>(granted + 1), answer_timeout),
                  1);
    }
    EXPECT_EQ(client->subscribe_reason("rate/3", 1, 4, answer_timeout), quota_exceeded);
    // A filter it holds is replaced for free.
    EXPECT_EQ(client->subscribe_reason("rate/0", 1, 5, answer_timeout), 1);
    EXPECT_GE(metric("perch_refusals_total{reason=\"subscribe_rate\"}"), 1);

    EXPECT_TRUE(storm_until_closed(*client, 40, quota_exceeded));
    EXPECT_EQ(metric("perch_subscribe_storm_disconnects_total"), 1);

    // A well-behaved client beside it subscribes and receives as usual.
    auto calm = raw("calm", 5);
    EXPECT_EQ(calm->subscribe_reason("calm/t", 1, 1, answer_timeout), 1);
}

TEST_F(SubscribeRateTest, OverTheRateAt311Is0x80ThenAStormIsClosed) {
    auto client = raw("rate311", 4);
    for (int granted = 0; granted < 3; ++granted) {
        EXPECT_TRUE(client->subscribe("rate/" + std::to_string(granted), 1,
                                      static_cast<std::uint16_t>(granted + 1), answer_timeout));
    }
    EXPECT_EQ(client->subscribe_reason("rate/3", 1, 4, answer_timeout), 0x80);
    EXPECT_TRUE(storm_until_closed(*client, 40, std::nullopt));
    EXPECT_FALSE(client->ping(1s));
    EXPECT_EQ(metric("perch_subscribe_storm_disconnects_total"), 1);
}

} // namespace
} // namespace perch::integration
