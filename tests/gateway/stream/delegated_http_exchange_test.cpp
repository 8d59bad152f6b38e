// Requests a WebSocket listener hands to its http_delegate (delegated_http_exchange): the body
// read whole within its limit, the delegate's answer (made on another thread) written and the
// connection closed; 413 past the limit, 408 for a body that stops, 503 past the listener's
// concurrent requests; other requests keep their paths. The server transport runs here; a raw
// HTTP client runs on its own thread over loopback.
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <gtest/gtest.h>

#include "gateway/common/http_body_stream.hpp"
#include "gateway/stream/delegated_http_exchange.hpp"
#include "gateway/stream/transport.hpp"
#include "gateway/stream/websocket_stream.hpp"

namespace perch::gateway {
namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using asio::ip::tcp;
using namespace std::chrono_literals;

/// A delegate for /files that answers on a thread of its own, naming what it was given, and
/// refuses bodies past 100 bytes (413 "too large").
struct recording_delegate {
    std::shared_ptr<http_delegate> delegate = std::make_shared<http_delegate>();
    std::mutex mutex;
    std::vector<std::string> bodies;
    std::vector<std::thread> answerers;
    /// When set, requests wait for it before they are answered.
    std::atomic<bool> is_holding{false};

    recording_delegate() {
        delegate->is_delegated = [](std::string_view target) {
            return target.starts_with("/files");
        };
        delegate->body_limit = [](http::verb method, std::string_view) -> std::size_t {
            return method == http::verb::post ? 100 : 0;
        };
        delegate->max_body_limit = [] { return std::size_t{100}; };
        delegate->too_large = [](const http_request& request) {
            http_response response{http::status::payload_too_large, request.version()};
            response.body() = "too large";
            response.prepare_payload();
            return response;
        };
        delegate->handle = [this](http_request request, std::string remote_address,
                                  std::function<void(http_response)> done) {
            std::lock_guard lock(mutex);
            bodies.push_back(request.body());
            answerers.emplace_back([this, request = std::move(request),
                                    remote_address = std::move(remote_address),
                                    done = std::move(done)] {
                for (int turn = 0; turn < 500 && is_holding; ++turn) {
                    std::this_thread::sleep_for(10ms);
                }
                http_response response{http::status::created, request.version()};
                response.keep_alive(true);
                response.body() = "stored " + std::to_string(request.body().size()) + " from " +
                                  remote_address.substr(0, remote_address.find(':'));
                response.prepare_payload();
                done(std::move(response));
            });
        };
    }
    ~recording_delegate() {
        is_holding = false;
        for (std::thread& answerer : answerers) {
            answerer.join();
        }
    }
};

/// A sink that keeps the pieces it is given (their sizes) and answers 201 naming the total.
class recording_sink final : public http_body_sink {
public:
    void write(std::string bytes,
               std::function<void(std::optional<http_response>)> written) override {
        piece_sizes.push_back(bytes.size());
        body += bytes;
        written(std::nullopt);
    }
    void finish(std::function<void(http_response)> done) override {
        http_response response{http::status::created, 11};
        response.body() = "streamed " + std::to_string(body.size());
        response.prepare_payload();
        done(std::move(response));
    }
    void abort() override { is_aborted = true; }

    std::string body;
    std::vector<std::size_t> piece_sizes;
    bool is_aborted = false;
};

/// A WebSocket listener's transport on loopback, waited on as a connection waits on it, and a
/// slot counter for its delegated requests.
class origin_server {
public:
    origin_server(std::shared_ptr<const http_delegate> delegate, std::size_t max_concurrent = 4,
                  std::chrono::milliseconds read_timeout = 10'000ms)
        : acceptor_(io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
        settings_.delegated.delegate = std::move(delegate);
        settings_.delegated.slots = std::make_shared<delegated_request_slots>(max_concurrent);
        settings_.delegated.limits.read_timeout = read_timeout;
        settings_.delegated.limits.upload_timeout = read_timeout;
        settings_.plain_requests = [](const http::request<http::empty_body>& request) {
            http::response<http::string_body> response(http::status::ok, request.version());
            response.keep_alive(false);
            response.body() = "page " + std::string(request.target());
            response.prepare_payload();
            return response;
        };
    }

    /// Sends `request` on a new connection and returns everything read until the server closed
    /// it, running the server meanwhile; `ended` says how the transport's wait ended.
    std::string exchange(const std::string& request) {
        std::string answer;
        std::atomic<bool> is_done{false};
        const std::uint16_t port = acceptor_.local_endpoint().port();
        std::thread client([&] {
            asio::io_context client_io;
            tcp::socket socket(client_io);
            socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
            asio::write(socket, asio::buffer(request));
            boost::system::error_code error;
            asio::read(socket, asio::dynamic_buffer(answer), error);
            is_done = true;
        });
        std::unique_ptr<transport> server_side =
            make_websocket_transport(acceptor_.accept(), settings_);
        ended.reset();
        server_side->async_wait_readable(
            [this](const boost::system::error_code& error) { ended = error; });
        // The exchange may wait for the delegate's thread with nothing queued here: the loop
        // counts time, not turns. Once the wait has ended the transport is closed, as a
        // connection closes it; a delegated exchange goes on with the stream it took.
        const auto deadline = std::chrono::steady_clock::now() + 30s;
        bool is_closed = false;
        while (!(is_done && ended) && std::chrono::steady_clock::now() < deadline) {
            if (ended && !is_closed) {
                server_side->close();
                is_closed = true;
            }
            io_.restart();
            if (io_.run_one_for(10ms) == 0) {
                std::this_thread::sleep_for(1ms);
            }
        }
        server_side->close();
        client.join();
        return answer;
    }

    /// Accepts a connection and starts its wait, for tests that hold several at once.
    std::unique_ptr<transport> accept_one() {
        auto server_side = make_websocket_transport(acceptor_.accept(), settings_);
        server_side->async_wait_readable([](const boost::system::error_code&) {});
        return server_side;
    }

    void run_for(std::chrono::milliseconds span) {
        const auto until = std::chrono::steady_clock::now() + span;
        while (std::chrono::steady_clock::now() < until) {
            io_.restart();
            if (io_.run_one_for(5ms) == 0) {
                std::this_thread::sleep_for(1ms);
            }
        }
    }

    /// Runs the server until every exchange has ended and given its slot back (bounded): the
    /// last one goes once the handlers still queued for it (its cancelled timer) have run.
    std::size_t slots_in_use_once_settled() {
        for (int turn = 0; turn < 400 && slots().in_use() != 0; ++turn) {
            run_for(5ms);
        }
        return slots().in_use();
    }

    std::uint16_t port() const { return acceptor_.local_endpoint().port(); }
    const delegated_request_slots& slots() const { return *settings_.delegated.slots; }

    std::optional<boost::system::error_code> ended;

private:
    asio::io_context io_;
    tcp::acceptor acceptor_;
    websocket_settings settings_;
};

std::string status_line(const std::string& raw) {
    return raw.substr(0, raw.find("\r\n"));
}

std::string body_of(const std::string& raw) {
    const auto at = raw.find("\r\n\r\n");
    return at == std::string::npos ? std::string() : raw.substr(at + 4);
}

TEST(DelegatedHttpExchange, AnUploadGoesWholeToTheDelegateAndItsAnswerEndsTheConnection) {
    recording_delegate files;
    origin_server server(files.delegate);
    const std::string answer =
        server.exchange("POST /files?name=a HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\n"
                        "hello files");
    EXPECT_EQ(status_line(answer), "HTTP/1.1 201 Created") << answer;
    EXPECT_EQ(body_of(answer), "stored 11 from 127.0.0.1");
    // Kept alive by the delegate, closed by the exchange: the client opens another connection.
    EXPECT_NE(answer.find("Connection: close\r\n"), std::string::npos) << answer;
    EXPECT_EQ(files.bodies, std::vector<std::string>{"hello files"});
    ASSERT_TRUE(server.ended);
    EXPECT_EQ(*server.ended, asio::error::eof) << server.ended->message();
    EXPECT_EQ(server.slots_in_use_once_settled(), 0U);
}

TEST(DelegatedHttpExchange, AStreamedBodyGoesToTheSinkInPiecesOfAtMost64KiB) {
    recording_delegate files;
    auto sink = std::make_shared<recording_sink>();
    files.delegate->body_limit = [](http::verb, std::string_view) -> std::size_t {
        return 1 << 20;
    };
    files.delegate->max_body_limit = [] { return std::size_t{1} << 20; };
    files.delegate->is_streamed = [](http::verb method, std::string_view) {
        return method == http::verb::post;
    };
    std::string seen_header;
    files.delegate->begin_stream =
        [&](http_request header, std::string,
            std::function<void(std::shared_ptr<http_body_sink>, std::optional<http_response>)>
                ready) {
            seen_header = std::string(header.target());
            EXPECT_TRUE(header.body().empty());
            ready(sink, std::nullopt);
        };
    origin_server server(files.delegate);
    std::string body(300'000, '\0');
    for (std::size_t index = 0; index < body.size(); ++index) {
        body[index] = static_cast<char>(index % 251);
    }
    const std::string answer =
        server.exchange("POST /files?name=big HTTP/1.1\r\nHost: x\r\nContent-Length: " +
                        std::to_string(body.size()) + "\r\n\r\n" + body);
    EXPECT_EQ(status_line(answer), "HTTP/1.1 201 Created") << answer.substr(0, 200);
    EXPECT_EQ(body_of(answer), "streamed 300000");
    EXPECT_EQ(seen_header, "/files?name=big");
    EXPECT_TRUE(sink->body == body);
    EXPECT_GE(sink->piece_sizes.size(), 5U);
    for (const std::size_t size : sink->piece_sizes) {
        EXPECT_LE(size, http_body_chunk_bytes);
    }
    EXPECT_FALSE(sink->is_aborted);
    // The handle of whole bodies was not used.
    EXPECT_TRUE(files.bodies.empty());
}

TEST(DelegatedHttpExchange, AChunkedBodyIsReadWholeToo) {
    recording_delegate files;
    origin_server server(files.delegate);
    const std::string answer =
        server.exchange("POST /files HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                        "5\r\nhello\r\n6\r\n files\r\n0\r\n\r\n");
    EXPECT_EQ(status_line(answer), "HTTP/1.1 201 Created") << answer;
    EXPECT_EQ(files.bodies, std::vector<std::string>{"hello files"});
}

TEST(DelegatedHttpExchange, ABodyPastTheLimitGetsTheDelegates413AndNeverReachesIt) {
    recording_delegate files;
    origin_server server(files.delegate);
    const std::string declared = server.exchange(
        "POST /files HTTP/1.1\r\nHost: x\r\nContent-Length: 101\r\n\r\n" + std::string(101, 'x'));
    EXPECT_EQ(status_line(declared), "HTTP/1.1 413 Payload Too Large") << declared;
    EXPECT_EQ(body_of(declared), "too large");
    const std::string chunked =
        server.exchange("POST /files HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                        "65\r\n" +
                        std::string(101, 'x') + "\r\n0\r\n\r\n");
    EXPECT_EQ(status_line(chunked), "HTTP/1.1 413 Payload Too Large") << chunked;
    EXPECT_TRUE(files.bodies.empty());
    EXPECT_EQ(server.slots_in_use_once_settled(), 0U);
}

TEST(DelegatedHttpExchange, ABodyThatStopsGets408) {
    recording_delegate files;
    origin_server server(files.delegate, 4, 200ms);
    // 10 bytes of the 50 announced, then nothing: the client waits for the answer.
    const std::string answer =
        server.exchange("POST /files HTTP/1.1\r\nHost: x\r\nContent-Length: 50\r\n\r\n0123456789");
    EXPECT_EQ(status_line(answer), "HTTP/1.1 408 Request Timeout") << answer;
    EXPECT_TRUE(files.bodies.empty());
    EXPECT_EQ(server.slots_in_use_once_settled(), 0U);
}

TEST(DelegatedHttpExchange, PastTheListenersConcurrentRequestsTheNextGets503) {
    recording_delegate files;
    files.is_holding = true;
    origin_server server(files.delegate, 1);
    // The first request holds the only slot while its answer is held back.
    asio::io_context client_io;
    tcp::socket first(client_io);
    first.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), server.port()));
    asio::write(first, asio::buffer(std::string("GET /files/1 HTTP/1.1\r\nHost: x\r\n\r\n")));
    const auto held = server.accept_one();
    for (int turn = 0; turn < 200 && server.slots().in_use() == 0; ++turn) {
        server.run_for(5ms);
    }
    ASSERT_EQ(server.slots().in_use(), 1U);
    const std::string refused = server.exchange("GET /files/2 HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_EQ(status_line(refused), "HTTP/1.1 503 Service Unavailable") << refused;
    files.is_holding = false;
    std::string answer;
    boost::system::error_code error;
    std::thread reader([&] { asio::read(first, asio::dynamic_buffer(answer), error); });
    for (int turn = 0; turn < 1000 && server.slots().in_use() != 0; ++turn) {
        server.run_for(5ms);
    }
    reader.join();
    EXPECT_EQ(status_line(answer), "HTTP/1.1 201 Created") << answer;
    EXPECT_EQ(server.slots_in_use_once_settled(), 0U);
}

TEST(DelegatedHttpExchange, OtherRequestsKeepTheirPathsAndMayNotCarryABody) {
    recording_delegate files;
    origin_server server(files.delegate);
    const std::string page = server.exchange("GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n");
    EXPECT_EQ(body_of(page), "page /index.html") << page;
    const std::string posted =
        server.exchange("POST /index.html HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc");
    EXPECT_EQ(status_line(posted), "HTTP/1.1 413 Payload Too Large") << posted;
    EXPECT_TRUE(files.bodies.empty());
}

} // namespace
} // namespace perch::gateway
