// tcp_transport: reads and gather writes straight on the socket, readiness from the worker's
// poller. Over a loopback TCP connection.
#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <gtest/gtest.h>

#include "gateway/stream/readiness_poller.hpp"
#include "gateway/stream/transport.hpp"

namespace perch::gateway {
namespace {

using boost::asio::ip::tcp;

/// The broker's side (a tcp_transport) and a blocking client socket, connected over 127.0.0.1.
struct loopback_connection {
    boost::asio::io_context context;
    readiness_poller poller{context};
    boost::asio::io_context client_context;
    tcp::socket client{client_context};
    std::unique_ptr<tcp_transport> server_side;

    loopback_connection() {
        tcp::acceptor acceptor(context,
                               tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0));
        client.connect(acceptor.local_endpoint());
        tcp::socket accepted(context);
        acceptor.accept(accepted);
        server_side = std::make_unique<tcp_transport>(poller, std::move(accepted));
    }

    /// What the pending readable wait was answered with, once it was.
    std::optional<boost::system::error_code> woke;

    /// Reads until nothing is left (the edge-triggered rule), then waits for more into `woke`.
    void drain_then_wait() {
        std::array<std::uint8_t, 16> buffer{};
        boost::system::error_code error;
        while (!error) {
            server_side->read_some(buffer, error);
        }
        EXPECT_EQ(error, boost::asio::error::would_block);
        server_side->async_wait_readable([this](const boost::system::error_code& e) { woke = e; });
    }

    /// Runs handlers until `done` is true (bounded).
    template <typename Predicate> void run_until(Predicate done) {
        for (int turn = 0; turn < 2000 && !done(); ++turn) {
            context.restart();
            context.run_one_for(std::chrono::milliseconds(5));
        }
    }
};

std::string read_available(tcp_transport& stream) {
    std::array<std::uint8_t, 4096> buffer{};
    boost::system::error_code error;
    const std::size_t count = stream.read_some(buffer, error);
    return error ? std::string() : std::string(buffer.begin(), buffer.begin() + count);
}

TEST(TcpTransport, WaitsForInputThenReadsIt) {
    loopback_connection link;
    link.drain_then_wait();
    link.context.poll();
    EXPECT_FALSE(link.woke);
    boost::asio::write(link.client, boost::asio::buffer(std::string("hello")));
    link.run_until([&] { return link.woke.has_value(); });
    ASSERT_TRUE(link.woke);
    EXPECT_FALSE(*link.woke);
    EXPECT_EQ(read_available(*link.server_side), "hello");
}

TEST(TcpTransport, AWaitAfterAnUnfinishedReadIsAnsweredAtOnce) {
    loopback_connection link;
    boost::asio::write(link.client, boost::asio::buffer(std::string("abcdef")));
    // The poller sees the input while nobody waits for it.
    link.context.run_for(std::chrono::milliseconds(50));
    // Input arrived before anyone read: the wait is answered on the next turn, not inline.
    bool is_called = false;
    link.server_side->async_wait_readable(
        [&](const boost::system::error_code&) { is_called = true; });
    EXPECT_FALSE(is_called);
    link.run_until([&] { return is_called; });
    EXPECT_TRUE(is_called);
    EXPECT_EQ(read_available(*link.server_side), "abcdef");
}

TEST(TcpTransport, AGatherWriteLargerThanTheSocketBufferCompletesInOrder) {
    loopback_connection link;
    // 64 buffers of 64 KiB: far more than the socket takes at once.
    std::vector<std::string> chunks;
    for (int index = 0; index < 64; ++index) {
        chunks.emplace_back(64 * 1024, static_cast<char>('A' + index % 26));
    }
    std::vector<boost::asio::const_buffer> buffers;
    for (const std::string& chunk : chunks) {
        buffers.emplace_back(chunk.data(), chunk.size());
    }
    std::optional<std::size_t> written;
    link.server_side->async_write(buffers,
                                  [&](const boost::system::error_code& error, std::size_t bytes) {
                                      EXPECT_FALSE(error);
                                      written = bytes;
                                  });
    std::string received;
    std::array<char, 65536> buffer{};
    link.client.non_blocking(true);
    while (received.size() < 64U * 64 * 1024) {
        boost::system::error_code error;
        const std::size_t count = link.client.read_some(boost::asio::buffer(buffer), error);
        if (error == boost::asio::error::would_block) {
            link.context.restart();
            link.context.run_one_for(std::chrono::milliseconds(5));
            continue;
        }
        ASSERT_FALSE(error) << error.message();
        received.append(buffer.data(), count);
    }
    link.run_until([&] { return written.has_value(); });
    ASSERT_TRUE(written);
    EXPECT_EQ(*written, 64U * 64 * 1024);
    std::string expected;
    for (const std::string& chunk : chunks) {
        expected += chunk;
    }
    EXPECT_TRUE(received == expected);
}

TEST(TcpTransport, ThePeerClosingEndsTheWaitAndTheReadSaysEof) {
    loopback_connection link;
    link.drain_then_wait();
    link.client.close();
    link.run_until([&] { return link.woke.has_value(); });
    ASSERT_TRUE(link.woke);
    std::array<std::uint8_t, 16> buffer{};
    boost::system::error_code error;
    link.server_side->read_some(buffer, error);
    EXPECT_EQ(error, boost::asio::error::eof);
}

TEST(TcpTransport, CloseEndsPendingOperationsWithOperationAborted) {
    loopback_connection link;
    link.drain_then_wait();
    link.server_side->close();
    EXPECT_FALSE(link.server_side->is_open());
    // Never inline.
    EXPECT_FALSE(link.woke);
    link.run_until([&] { return link.woke.has_value(); });
    ASSERT_TRUE(link.woke);
    EXPECT_EQ(*link.woke, boost::asio::error::operation_aborted);
    EXPECT_EQ(link.poller.size(), 0U);
    // A wait or a write on a closed transport is refused the same way.
    std::optional<boost::system::error_code> refused;
    const std::array<boost::asio::const_buffer, 1> one{boost::asio::buffer("x", 1)};
    link.server_side->async_write(
        one, [&](const boost::system::error_code& e, std::size_t) { refused = e; });
    link.run_until([&] { return refused.has_value(); });
    ASSERT_TRUE(refused);
    EXPECT_EQ(*refused, boost::asio::error::operation_aborted);
}

TEST(TcpTransport, NamesItsPeer) {
    loopback_connection link;
    const std::string expected = "127.0.0.1:" + std::to_string(link.client.local_endpoint().port());
    EXPECT_EQ(link.server_side->remote_address(), expected);
}

TEST(TcpTransport, AnUnopenedSocketMakesAClosedTransport) {
    boost::asio::io_context context;
    readiness_poller poller(context);
    tcp_transport closed(poller, tcp::socket(context));
    EXPECT_FALSE(closed.is_open());
    EXPECT_EQ(closed.remote_address(), "unknown");
    EXPECT_EQ(poller.size(), 0U);
}

} // namespace
} // namespace perch::gateway
