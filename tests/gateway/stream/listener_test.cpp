// listener: binds 127.0.0.1 on a free port, hands each accepted socket to its callback, keeps
// accepting after a failed accept (out of descriptors), and after close() accepts nothing more.
#include <array>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <gtest/gtest.h>

#include "gateway/common/config.hpp"
#include "gateway/stream/listener.hpp"

#include <poll.h>
#include <sys/resource.h>
#include <unistd.h>

namespace perch::gateway {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;

/// A listener on 127.0.0.1, port 0, that keeps the sockets it is handed.
struct loopback_listener {
    asio::io_context io;
    asio::io_context client_io;
    listener_config config = [] {
        listener_config loopback;
        loopback.bind_address = "127.0.0.1";
        loopback.port = 0;
        return loopback;
    }();
    std::vector<tcp::socket> accepted;
    listener under_test{io, config, listener_endpoint(config, 0),
                        [this](tcp::socket socket) { accepted.push_back(std::move(socket)); }};

    tcp::endpoint endpoint() const {
        return tcp::endpoint(asio::ip::make_address("127.0.0.1"), under_test.port());
    }

    /// Runs the listener's io_context until `count` sockets were accepted (bounded).
    void run_until_accepted(std::size_t count) {
        for (int turn = 0; turn < 500 && accepted.size() < count; ++turn) {
            io.restart();
            io.run_one_for(std::chrono::milliseconds(10));
        }
    }

    /// Runs the listener's io_context for `duration`, for what it would do unprompted.
    void run_for(std::chrono::milliseconds duration) {
        io.restart();
        io.run_for(duration);
    }
};

/// The peer's port as the accepted socket sees it.
std::uint16_t remote_port(const tcp::socket& socket) {
    boost::system::error_code error;
    return socket.remote_endpoint(error).port();
}

TEST(Listener, BindsAFreePortOnTheGivenAddress) {
    loopback_listener fixture;
    EXPECT_NE(fixture.under_test.port(), 0);
    EXPECT_EQ(fixture.under_test.config().bind_address, "127.0.0.1");
}

TEST(Listener, HandsEachAcceptedSocketToItsCallback) {
    loopback_listener fixture;
    fixture.under_test.start();
    tcp::socket first(fixture.client_io);
    first.connect(fixture.endpoint());
    tcp::socket second(fixture.client_io);
    second.connect(fixture.endpoint());
    fixture.run_until_accepted(2);

    ASSERT_EQ(fixture.accepted.size(), 2u);
    EXPECT_EQ(remote_port(fixture.accepted[0]), first.local_endpoint().port());
    // Before the blocking reads below, which would wait forever on the wrong socket.
    ASSERT_EQ(remote_port(fixture.accepted[1]), second.local_endpoint().port());
    // The socket handed over is that connection: bytes go through both ways.
    asio::write(second, asio::buffer(std::string("ping")));
    std::array<char, 4> received{};
    asio::read(fixture.accepted[1], asio::buffer(received));
    EXPECT_EQ(std::string(received.data(), received.size()), "ping");
    asio::write(fixture.accepted[1], asio::buffer(std::string("pong")));
    asio::read(second, asio::buffer(received));
    EXPECT_EQ(std::string(received.data(), received.size()), "pong");
}

TEST(Listener, AcceptsNothingBeforeStart) {
    loopback_listener fixture;
    tcp::socket client(fixture.client_io);
    // The kernel completes the connection into the backlog; the listener has not taken it.
    client.connect(fixture.endpoint());
    fixture.run_for(std::chrono::milliseconds(50));
    EXPECT_TRUE(fixture.accepted.empty());
    fixture.under_test.start();
    fixture.run_until_accepted(1);
    ASSERT_EQ(fixture.accepted.size(), 1u);
    EXPECT_EQ(remote_port(fixture.accepted[0]), client.local_endpoint().port());
}

/// Lowers the soft descriptor limit to the lowest free descriptor, so that the next accept fails
/// with EMFILE; restores it when destroyed.
class descriptor_limit {
public:
    descriptor_limit() {
        ::getrlimit(RLIMIT_NOFILE, &original_);
        const int lowest_free = ::dup(0);
        ::close(lowest_free);
        rlimit tight = original_;
        tight.rlim_cur = static_cast<rlim_t>(lowest_free);
        is_set_ = lowest_free >= 0 && ::setrlimit(RLIMIT_NOFILE, &tight) == 0;
    }
    ~descriptor_limit() { restore(); }
    descriptor_limit(const descriptor_limit&) = delete;
    descriptor_limit& operator=(const descriptor_limit&) = delete;

    void restore() {
        if (is_set_) {
            ::setrlimit(RLIMIT_NOFILE, &original_);
            is_set_ = false;
        }
    }
    bool is_set() const { return is_set_; }

private:
    rlimit original_{};
    bool is_set_ = false;
};

TEST(Listener, KeepsAcceptingAfterAnAcceptFails) {
#if defined(__SANITIZE_ADDRESS__)
    // PERCH_SANITIZE builds with UBSan too, whose vptr check opens a pipe on a cache miss (and
    // whose report opens /proc files): without descriptors it reports an error of its own.
    GTEST_SKIP() << "needs a build without the sanitizers";
#endif
    loopback_listener fixture;
    fixture.under_test.start();
    // Opened before the limit: connecting needs no new descriptor, accepting does.
    tcp::socket client(fixture.client_io);
    client.open(tcp::v4());
    ::testing::internal::CaptureStderr();
    {
        descriptor_limit limit;
        ASSERT_TRUE(limit.is_set());
        client.connect(fixture.endpoint());
        // The accept fails and is retried on a timer, failing again while the limit holds.
        fixture.run_for(std::chrono::milliseconds(250));
    }
    const std::string log = ::testing::internal::GetCapturedStderr();
    EXPECT_TRUE(fixture.accepted.empty());
    EXPECT_NE(log.find("accept on port " + std::to_string(fixture.under_test.port()) + " failed"),
              std::string::npos)
        << log;
    // With descriptors again, the waiting connection is accepted on the next try.
    fixture.run_until_accepted(1);
    ASSERT_EQ(fixture.accepted.size(), 1u);
    EXPECT_EQ(remote_port(fixture.accepted[0]), client.local_endpoint().port());
}

TEST(Listener, AfterCloseHandsNothingOverAndThePortIsClosed) {
    loopback_listener fixture;
    fixture.under_test.start();
    tcp::socket before(fixture.client_io);
    before.connect(fixture.endpoint());
    fixture.run_until_accepted(1);
    ASSERT_EQ(fixture.accepted.size(), 1u);

    // A connection waits in the backlog while the accept is pending; close() cancels that accept.
    tcp::socket waiting(fixture.client_io);
    waiting.connect(fixture.endpoint());
    fixture.under_test.close();
    fixture.run_for(std::chrono::milliseconds(50));
    EXPECT_EQ(fixture.accepted.size(), 1u);
    // Both loops are idle: nothing is left queued on the worker.
    fixture.io.restart();
    EXPECT_EQ(fixture.io.poll(), 0u);

    tcp::socket after(fixture.client_io);
    boost::system::error_code error;
    after.connect(fixture.endpoint(), error);
    EXPECT_EQ(error, asio::error::connection_refused) << error.message();
    // The connection that waited in the backlog is reset.
    pollfd ready{waiting.native_handle(), POLLIN, 0};
    ASSERT_EQ(::poll(&ready, 1, 2000), 1) << "the waiting connection was not ended";
    std::array<char, 1> byte{};
    waiting.read_some(asio::buffer(byte), error);
    EXPECT_TRUE(error == asio::error::connection_reset || error == asio::error::eof)
        << error.message();
}

} // namespace
} // namespace perch::gateway
