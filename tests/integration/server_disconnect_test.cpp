// A connection the server ends (DISCONNECT with a reason code) while the client is still sending:
// the client must be able to read the reason code, not a connection reset. Raw sockets, so that
// the test controls exactly what is written after the offending packet.
#include <chrono>
#include <cstdint>
#include <optional>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "broker_process.hpp"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace perch::integration {
namespace {

using namespace std::chrono_literals;

/// A blocking TCP connection to 127.0.0.1:`port`, or -1.
int connect_to(std::uint16_t port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = htons(port);
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0) {
        ::close(fd);
        return -1;
    }
    return fd;
}

/// Sends all of `bytes`; false when a send fails (a reset connection: EPIPE or ECONNRESET).
bool send_all(int fd, const std::vector<std::uint8_t>& bytes) {
    std::size_t sent = 0;
    while (sent < bytes.size()) {
        const ssize_t count = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
        if (count <= 0) {
            return false;
        }
        sent += static_cast<std::size_t>(count);
    }
    return true;
}

/// Everything the peer sends until it closes (or `timeout`); nothing when the read failed (a
/// reset) before the end of the stream.
std::optional<std::vector<std::uint8_t>> read_until_closed(int fd,
                                                           std::chrono::milliseconds timeout) {
    std::vector<std::uint8_t> received;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        pollfd ready{fd, POLLIN, 0};
        if (::poll(&ready, 1, 100) <= 0) {
            continue;
        }
        std::uint8_t chunk[4096];
        const ssize_t count = ::recv(fd, chunk, sizeof(chunk), 0);
        if (count == 0) {
            return received;
        }
        if (count < 0) {
            return std::nullopt;
        }
        received.insert(received.end(), chunk, chunk + count);
    }
    return received;
}

class ServerDisconnectTest : public broker_test {};

TEST_F(ServerDisconnectTest, AClientStillWritingReadsTheReasonCode) {
    if (broker_under_test() != broker_kind::perch) {
        GTEST_SKIP() << "perch's closing behaviour";
    }
    const int fd = connect_to(broker().port());
    ASSERT_GE(fd, 0);
    // CONNECT at 5.0: clean start, keep alive 60, no properties, client id "d".
    const std::vector<std::uint8_t> connect = {0x10, 0x0E, 0x00, 0x04, 'M',  'Q',  'T',  'T',
                                               0x05, 0x02, 0x00, 0x3C, 0x00, 0x00, 0x01, 'd'};
    ASSERT_TRUE(send_all(fd, connect));
    std::uint8_t header[2] = {};
    ASSERT_EQ(::recv(fd, header, sizeof(header), MSG_WAITALL), 2);
    ASSERT_EQ(header[0], 0x20);
    ASSERT_LT(header[1], 0x80) << "a CONNACK this short has a one-byte Remaining Length";
    std::vector<std::uint8_t> connack(header[1]);
    ASSERT_EQ(::recv(fd, connack.data(), connack.size(), MSG_WAITALL),
              static_cast<ssize_t>(connack.size()));
    ASSERT_EQ(connack[1], 0x00) << "CONNECT refused";

    // A PUBLISH with both QoS bits set is malformed [MQTT-3.3.1-4]: the server answers
    // DISCONNECT 0x81 and ends the connection. The client does not know yet and goes on sending.
    ASSERT_TRUE(send_all(fd, {0x36, 0x05, 0x00, 0x01, 't', 0x00, 0x01}));
    std::this_thread::sleep_for(100ms);
    const std::vector<std::uint8_t> more(64 * 1024, 0xC0);
    for (int round = 0; round < 16; ++round) {
        ASSERT_TRUE(send_all(fd, more)) << "the connection was reset after " << round << " rounds";
    }
    const auto received = read_until_closed(fd, 10s);
    ::close(fd);
    ASSERT_TRUE(received) << "the connection was reset before the client read it";
    ASSERT_GE(received->size(), 3U);
    EXPECT_EQ((*received)[0], 0xE0) << "not a DISCONNECT";
    EXPECT_EQ((*received)[2], 0x81) << "not Malformed Packet";
}

} // namespace
} // namespace perch::integration
