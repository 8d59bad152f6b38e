// Tests of gateway/observability/http_server over a loopback socket: keep-alive, refusals of
// malformed and oversized requests, the connection limit and the read timeout.
#include <string>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/write.hpp>
#include <gtest/gtest.h>

#include "gateway/observability/http_server.hpp"

namespace perch::gateway {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;

/// An http_server on a loopback port, its io_context run by a thread of its own.
class HttpServer : public ::testing::Test {
protected:
    void start(http_server_limits limits) {
        server_ = std::make_unique<http_server>(
            observability_sources{[] { return std::string("perch_up 1\n"); },
                                  [] {
                                      return health_answer{true, ""};
                                  }},
            limits);
        acceptor_.open(tcp::v4());
        acceptor_.bind(tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
        acceptor_.listen();
        accept_next();
        runner_ = std::thread([this] { context_.run(); });
    }

    void TearDown() override {
        asio::post(context_, [this] {
            acceptor_.close();
            server_->close_all();
        });
        if (runner_.joinable()) {
            runner_.join();
        }
        server_.reset();
    }

    tcp::socket connect() {
        tcp::socket socket(client_context_);
        socket.connect(acceptor_.local_endpoint());
        return socket;
    }

    /// Everything the server sends until it closes the connection.
    static std::string read_to_end(tcp::socket& socket) {
        std::string received;
        boost::system::error_code error;
        asio::read(socket, asio::dynamic_buffer(received), error);
        return received;
    }

    /// Reads one response whose body is `body_bytes` long.
    static std::string read_response(tcp::socket& socket) {
        std::string received;
        asio::read_until(socket, asio::dynamic_buffer(received), "\r\n\r\n");
        const auto length_at = received.find("Content-Length: ");
        const std::size_t length = std::stoul(received.substr(length_at + 16));
        const std::size_t body_at = received.find("\r\n\r\n") + 4;
        if (received.size() < body_at + length) {
            std::string rest(body_at + length - received.size(), '\0');
            asio::read(socket, asio::buffer(rest));
            received += rest;
        }
        return received;
    }

private:
    void accept_next() {
        acceptor_.async_accept([this](boost::system::error_code error, tcp::socket socket) {
            if (error) {
                return;
            }
            server_->handle_accepted(std::move(socket));
            accept_next();
        });
    }

    asio::io_context context_;
    asio::io_context client_context_;
    tcp::acceptor acceptor_{context_};
    std::unique_ptr<http_server> server_;
    std::thread runner_;
};

TEST_F(HttpServer, AnswersSeveralRequestsOnOneKeptAliveConnection) {
    start({});
    tcp::socket client = connect();
    const std::string request = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";

    asio::write(client, asio::buffer(request));
    const std::string first = read_response(client);
    asio::write(client, asio::buffer(request));
    const std::string second = read_response(client);

    EXPECT_EQ(first.rfind("HTTP/1.1 200", 0), 0U) << first;
    EXPECT_NE(first.find("perch_up 1\n"), std::string::npos);
    EXPECT_EQ(second.rfind("HTTP/1.1 200", 0), 0U) << second;
}

TEST_F(HttpServer, MalformedRequestGets400AndTheConnectionCloses) {
    start({});
    tcp::socket client = connect();

    asio::write(client, asio::buffer(std::string("NOT HTTP AT ALL\r\n\r\n")));

    EXPECT_EQ(read_to_end(client).rfind("HTTP/1.1 400", 0), 0U);
}

TEST_F(HttpServer, OversizedHeaderGets431AndTheConnectionCloses) {
    http_server_limits limits;
    limits.max_header_bytes = 256;
    start(limits);
    tcp::socket client = connect();

    asio::write(client, asio::buffer("GET /metrics HTTP/1.1\r\nX-Padding: " +
                                     std::string(1024, 'a') + "\r\n\r\n"));

    EXPECT_EQ(read_to_end(client).rfind("HTTP/1.1 431", 0), 0U);
}

TEST_F(HttpServer, OversizedBodyGets413) {
    http_server_limits limits;
    limits.max_body_bytes = 16;
    start(limits);
    tcp::socket client = connect();

    asio::write(client, asio::buffer("GET /metrics HTTP/1.1\r\nContent-Length: 100\r\n\r\n" +
                                     std::string(100, 'a')));

    EXPECT_EQ(read_to_end(client).rfind("HTTP/1.1 413", 0), 0U);
}

TEST_F(HttpServer, ConnectionPastTheLimitIsClosedAtOnce) {
    http_server_limits limits;
    limits.max_connections = 1;
    start(limits);
    tcp::socket first = connect();
    asio::write(first, asio::buffer(std::string("GET /healthz HTTP/1.1\r\n\r\n")));
    EXPECT_EQ(read_response(first).rfind("HTTP/1.1 200", 0), 0U);

    tcp::socket second = connect();

    EXPECT_EQ(read_to_end(second), "");
}

TEST_F(HttpServer, SilentClientIsClosedAfterTheReadTimeout) {
    http_server_limits limits;
    limits.read_timeout = std::chrono::milliseconds(50);
    start(limits);
    tcp::socket client = connect();

    EXPECT_EQ(read_to_end(client), "");
}

} // namespace
} // namespace perch::gateway
