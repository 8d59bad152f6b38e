// A connection refused for max_connection_rate does not hold one of max_connections while it
// waits to be answered: a later client over the rate still gets its refusal for the rate. And the
// refused connections waiting to be answered are bounded: past max_connections of them, the next
// is closed unread.
#include <chrono>
#include <cstdint>
#include <iostream>
#include <memory>
#include <string>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <gtest/gtest.h>

#include "broker_process.hpp"
#include "http_client.hpp"
#include "raw_mqtt_client.hpp"

namespace perch::integration {
namespace {

using namespace std::chrono_literals;
namespace asio = boost::asio;

constexpr auto answer_timeout = 5s;
constexpr std::uint8_t server_unavailable_311 = 3;

TEST(ConnectionSlot, AConnectionRefusedForItsRateGivesBackItsSlot) {
    if (broker_under_test() != broker_kind::perch) {
        GTEST_SKIP() << "max_connection_rate is perch's";
    }
    // Two slots; one new connection a second from 127.0.0.1.
    broker_process broker(broker_kind::perch,
                          "max_connections 2\nmax_connection_rate 1\nmax_connection_burst 1\n");
    // The first connection the rate lets in holds one slot (the start-up check may have taken
    // the first second's token: bounded retries).
    raw_mqtt_client holder;
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (!holder.connect(broker.port(), "holder", true, answer_timeout) &&
           std::chrono::steady_clock::now() < deadline) {
        // Slower than the rate's flood threshold (ten seconds' worth of refusals).
        std::this_thread::sleep_for(400ms);
    }
    ASSERT_TRUE(holder.is_open());

    // Right after it, a silent connection over the rate: it waits for a CONNECT that never
    // comes, and must not take the second slot meanwhile.
    asio::io_context context;
    asio::ip::tcp::socket silent(context);
    silent.connect({asio::ip::make_address("127.0.0.1"), broker.port()});

    // A third, also over the rate, gets its refusal for the rate (Server unavailable at 3.1.1),
    // not a close at accept for max_connections.
    raw_mqtt_client late;
    EXPECT_FALSE(late.connect(broker.port(), "late", true, answer_timeout));
    EXPECT_EQ(late.connack_code(), server_unavailable_311);

    EXPECT_TRUE(holder.ping(answer_timeout));
    const process_exit ending = broker.stop();
    EXPECT_TRUE(ending.is_success()) << describe(ending);
    if (::testing::Test::HasFailure()) {
        std::cerr << broker.log();
    }
}

TEST(ConnectionSlot, RefusedConnectionsWaitingForTheirConnectAreBounded) {
    if (broker_under_test() != broker_kind::perch) {
        GTEST_SKIP() << "max_connection_rate is perch's";
    }
    // At most max_connections (2) refused connections wait for their CONNECT at once; the rate's
    // flood threshold (ten refusals) is far from reached, so without the bound a third would wait
    // and be answered too.
    const std::uint16_t http_port = free_loopback_port();
    broker_process broker(broker_kind::perch,
                          "max_connections 2\nmax_connection_rate 1\nmax_connection_burst 1\n"
                          "listener " +
                              std::to_string(http_port) + " 127.0.0.1\nprotocol http\n");
    raw_mqtt_client holder;
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (!holder.connect(broker.port(), "holder", true, answer_timeout) &&
           std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(400ms);
    }
    ASSERT_TRUE(holder.is_open());
    const std::string refusals = "perch_refusals_total{reason=\"connection_rate\"}";
    const double before = sample(http_get(http_port, "/metrics").body, refusals).value_or(-1);
    ASSERT_GE(before, 0);

    // Two silent connections over the rate, each waiting for a CONNECT; once the broker has
    // counted both, the bound is reached.
    asio::io_context context;
    asio::ip::tcp::socket first(context);
    asio::ip::tcp::socket second(context);
    first.connect({asio::ip::make_address("127.0.0.1"), broker.port()});
    second.connect({asio::ip::make_address("127.0.0.1"), broker.port()});
    double counted = before;
    for (int attempt = 0; attempt < 100 && counted < before + 2; ++attempt) {
        std::this_thread::sleep_for(50ms);
        counted = sample(http_get(http_port, "/metrics").body, refusals).value_or(before);
    }
    ASSERT_EQ(counted, before + 2);

    // The third is closed without an answer, and counted as refused for the rate.
    raw_mqtt_client late;
    EXPECT_FALSE(late.connect(broker.port(), "late", true, answer_timeout));
    EXPECT_FALSE(late.connack_code().has_value());
    EXPECT_EQ(sample(http_get(http_port, "/metrics").body, refusals).value_or(-1), before + 3);

    EXPECT_TRUE(holder.ping(answer_timeout));
    const process_exit ending = broker.stop();
    EXPECT_TRUE(ending.is_success()) << describe(ending);
    if (::testing::Test::HasFailure()) {
        std::cerr << broker.log();
    }
}

} // namespace
} // namespace perch::integration
