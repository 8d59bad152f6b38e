// One request a WebSocket listener hands to its http_delegate (the file API, on the app's own
// origin): the body read within its limit and timeout, the delegate's later answer written, then
// the connection closed. Knows no service, only the http_delegate contract.
//
// Theory of operation. The WebSocket transport reads a request's header; when the delegate claims
// its target, the transport gives up its stream (the socket, or the TLS session over it) and the
// bytes it read past the header to a delegated_http_exchange, and its MQTT connection ends there.
// The exchange then lives on its own, on the stream's executor: reading the body (413 past the
// body limit, 408 when the upload timeout passes first), waiting for the delegate's answer (which
// may come from any thread: it is posted back), writing it, and closing. One slot of its
// listener's delegated_request_slots is held from the hand-over to the close, so a listener
// serves at most so many delegated requests at once; past it the transport answers 503 itself.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>

#include "gateway/common/http_delegate.hpp"

namespace perch::gateway {

class tls_stream;

/// The limits of delegated requests on one listener.
struct delegated_http_limits {
    /// Delegated requests served at once by the listener; past it: 503.
    std::size_t max_concurrent = 32;
    /// For the body of a request whose limit is small (a GET, a DELETE).
    std::chrono::milliseconds read_timeout{10'000};
    /// For the body of a request whose limit is larger (an upload).
    std::chrono::milliseconds upload_timeout{300'000};
    /// For writing the answer.
    std::chrono::milliseconds write_timeout{60'000};
};

/// The delegated requests in flight on one listener, shared by its connections on every worker.
class delegated_request_slots {
public:
    explicit delegated_request_slots(std::size_t max_concurrent)
        : max_concurrent_(max_concurrent) {}

    /// Takes a slot; false when max_concurrent are taken. Any thread.
    bool try_acquire();
    /// Gives back a slot taken by try_acquire. Any thread.
    void release();
    /// Slots taken now.
    std::size_t in_use() const { return in_use_.load(std::memory_order_relaxed); }

private:
    const std::size_t max_concurrent_;
    std::atomic<std::size_t> in_use_{0};
};

/// What a WebSocket listener needs to hand requests to its delegate.
struct delegated_http_settings {
    /// Null: no request is delegated.
    std::shared_ptr<const http_delegate> delegate;
    /// The listener's slots; null with a null delegate.
    std::shared_ptr<delegated_request_slots> slots;
    delegated_http_limits limits;
};

/// Serves the request whose header `parser` holds (read from `stream`, with `buffer` holding the
/// bytes read past the header) through `settings.delegate`, then closes `stream`. The caller took
/// a slot of `settings.slots`; the exchange gives it back when it ends. `remote_address` is the
/// peer's `host:port`. Returns at once; the exchange runs on the stream's executor.
void serve_delegated_request(
    std::unique_ptr<boost::asio::ip::tcp::socket> stream, boost::beast::flat_buffer buffer,
    boost::beast::http::request_parser<boost::beast::http::empty_body>&& parser,
    const delegated_http_settings& settings, std::string remote_address);
/// As above, over TLS.
void serve_delegated_request(
    std::unique_ptr<tls_stream> stream, boost::beast::flat_buffer buffer,
    boost::beast::http::request_parser<boost::beast::http::empty_body>&& parser,
    const delegated_http_settings& settings, std::string remote_address);

} // namespace perch::gateway
