#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <gtest/gtest.h>

#include "gateway/broker/connection_placement.hpp"
#include "mqtt/encoder.hpp"
#include "mqtt/packet.hpp"

namespace perch::gateway {
namespace {

using boost::asio::ip::tcp;
using namespace std::chrono_literals;

mqtt::byte_vector connect_bytes(std::optional<std::string> user,
                                mqtt::protocol_version version = mqtt::protocol_version::v5) {
    mqtt::connect request;
    request.version = version;
    request.client_id = "phone-1";
    request.user_name = std::move(user);
    if (request.user_name) {
        request.password = mqtt::byte_vector{'p', 'w'};
    }
    mqtt::byte_vector bytes;
    mqtt::encode_append(request, version, bytes);
    return bytes;
}

std::optional<std::string> user_of(const mqtt::byte_vector& bytes) {
    return connect_user_name(mqtt::byte_view(bytes.data(), bytes.size()));
}

TEST(ConnectionPlacement, ReadsTheUserNameOfAWholeConnect) {
    EXPECT_EQ(user_of(connect_bytes("alice")), "alice");
    EXPECT_EQ(user_of(connect_bytes("bob", mqtt::protocol_version::v3_1_1)), "bob");
    // A PUBLISH sent right behind the CONNECT changes nothing.
    mqtt::byte_vector both = connect_bytes("alice");
    mqtt::publish message;
    message.topic_name = "chat/room/lobby/alice";
    mqtt::encode_append(message, mqtt::protocol_version::v5, both);
    EXPECT_EQ(user_of(both), "alice");
}

TEST(ConnectionPlacement, FindsNoUserInAnythingElse) {
    EXPECT_EQ(user_of(connect_bytes(std::nullopt)), std::nullopt);
    mqtt::byte_vector partial = connect_bytes("alice");
    partial.pop_back();
    EXPECT_EQ(user_of(partial), std::nullopt);
    EXPECT_EQ(user_of({}), std::nullopt);
    EXPECT_EQ(user_of(mqtt::byte_vector{0x10, 0x02, 0xFF, 0xFF}), std::nullopt);
    mqtt::publish message;
    message.topic_name = "alice";
    mqtt::byte_vector publish_first;
    mqtt::encode_append(message, mqtt::protocol_version::v5, publish_first);
    EXPECT_EQ(user_of(publish_first), std::nullopt);
}

TEST(ConnectionPlacement, ARoomAlwaysGoesToTheSameWorker) {
    const std::vector<std::uint64_t> loads = {10, 10, 10, 10};
    const std::size_t first = choose_worker("kitchen", loads, 0);
    EXPECT_LT(first, loads.size());
    for (std::size_t home = 0; home < loads.size(); ++home) {
        EXPECT_EQ(choose_worker("kitchen", loads, home), first);
    }
    EXPECT_EQ(first, std::hash<std::string_view>{}("kitchen") % loads.size());
}

TEST(ConnectionPlacement, AnOverloadedWorkerTakesNoMorePlacedConnections) {
    const std::size_t target = choose_worker("kitchen", std::vector<std::uint64_t>{0, 0}, 0);
    const std::size_t other = 1 - target;
    std::vector<std::uint64_t> loads(2);
    // 1,000 clients: a share of 500, so up to 750 + 64 on the room's worker.
    loads[target] = 814;
    loads[other] = 186;
    EXPECT_EQ(choose_worker("kitchen", loads, other), target);
    loads[target] = 815;
    loads[other] = 185;
    EXPECT_EQ(choose_worker("kitchen", loads, other), other);
    EXPECT_EQ(choose_worker("kitchen", std::vector<std::uint64_t>{5}, 0), 0U);
}

/// A loopback connection: the accepted end and the client's.
struct socket_pair {
    explicit socket_pair(boost::asio::io_context& context) : accepted(context), client(context) {
        tcp::acceptor acceptor(context, tcp::endpoint(boost::asio::ip::address_v4::loopback(), 0));
        client.connect(acceptor.local_endpoint());
        acceptor.accept(accepted);
    }
    tcp::socket accepted;
    tcp::socket client;
};

/// What a probe handed back: the socket, and the user it read (unset while it has not answered).
struct probe_outcome {
    std::optional<tcp::socket> socket;
    std::optional<std::optional<std::string>> user;
};

/// Probes `accepted` with `wait` and runs `context` until the probe is done (5 s at most).
probe_outcome probe_until_done(boost::asio::io_context& context, tcp::socket accepted,
                               std::chrono::milliseconds wait) {
    probe_outcome outcome;
    connect_probes probes;
    probes.start(std::move(accepted), wait,
                 [&](tcp::socket socket, std::optional<std::string> found) {
                     outcome.socket.emplace(std::move(socket));
                     outcome.user = std::move(found);
                 });
    context.run_for(5s);
    return outcome;
}

TEST(ConnectionPlacement, AProbeReadsTheUserAndLeavesTheConnectInTheSocket) {
    boost::asio::io_context context;
    socket_pair pair(context);
    const mqtt::byte_vector request = connect_bytes("alice");
    boost::asio::write(pair.client, boost::asio::buffer(request));
    probe_outcome probed = probe_until_done(context, std::move(pair.accepted), 5s);
    ASSERT_TRUE(probed.socket.has_value());
    ASSERT_TRUE(probed.user.has_value());
    EXPECT_EQ(*probed.user, "alice");
    mqtt::byte_vector read(request.size());
    boost::asio::read(*probed.socket, boost::asio::buffer(read));
    EXPECT_EQ(read, request);
}

TEST(ConnectionPlacement, AProbeGivesTheSocketBackWhenNothingArrivesInTime) {
    boost::asio::io_context context;
    socket_pair pair(context);
    const auto start = std::chrono::steady_clock::now();
    probe_outcome probed = probe_until_done(context, std::move(pair.accepted), 50ms);
    ASSERT_TRUE(probed.socket.has_value());
    EXPECT_GE(std::chrono::steady_clock::now() - start, 50ms);
    ASSERT_TRUE(probed.user.has_value());
    EXPECT_EQ(*probed.user, std::nullopt);
    EXPECT_TRUE(probed.socket->is_open());
    // Still the client's connection: what it sends later is read there.
    const std::array<std::uint8_t, 2> ping = {0xC0, 0x00};
    boost::asio::write(pair.client, boost::asio::buffer(ping));
    std::array<std::uint8_t, 2> read{};
    boost::asio::read(*probed.socket, boost::asio::buffer(read));
    EXPECT_EQ(read, ping);
}

TEST(ConnectionPlacement, AProbeOfAClosedConnectionGivesTheSocketBack) {
    boost::asio::io_context context;
    socket_pair pair(context);
    pair.client.close();
    const probe_outcome probed = probe_until_done(context, std::move(pair.accepted), 5s);
    EXPECT_TRUE(probed.socket.has_value());
    ASSERT_TRUE(probed.user.has_value());
    EXPECT_EQ(*probed.user, std::nullopt);
}

TEST(ConnectionPlacement, EndingTheProbesGivesEverySocketBackAtOnce) {
    boost::asio::io_context context;
    socket_pair first(context);
    socket_pair second(context);
    connect_probes probes;
    int given_back = 0;
    const auto start = std::chrono::steady_clock::now();
    for (socket_pair* pair : {&first, &second}) {
        probes.start(std::move(pair->accepted), 60s,
                     [&](tcp::socket socket, std::optional<std::string> found) {
                         EXPECT_TRUE(socket.is_open());
                         EXPECT_EQ(found, std::nullopt);
                         ++given_back;
                     });
    }
    EXPECT_EQ(probes.size(), 2U);
    probes.end_all();
    context.run_for(5s);
    EXPECT_EQ(given_back, 2);
    EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
    EXPECT_EQ(probes.size(), 0U);
}

} // namespace
} // namespace perch::gateway
