// Serves the http listener's connections with Boost.Beast: HTTP/1.1 with keep-alive, a read
// timeout, small request limits and a connection limit. Runs on the io_context of the socket it is
// given (one worker's); knows nothing about MQTT, only the answers of http_endpoint.
//
// Theory of operation. Each accepted socket becomes a session that reads one request (header and
// body within the limits, before the read timeout), writes the answer, and reads the next while
// the client keeps the connection alive. A request that cannot be parsed gets 400, a header past
// the limit 431, a body past the limit 413; each is answered once and the connection closed. The
// header is read first: a request an http_delegate claims (an upload of the file API) gets the
// body limit and the longer timeout of its own, and its answer arrives later from the delegate;
// one whose body the delegate streams (is_streamed) goes to the delegate's sink 64 KiB at a time
// (gateway/common/http_body_stream.hpp) once begin_stream accepted its header. A
// client silent past the timeout is closed. Past max_connections a new socket is closed at once.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>

#include <boost/asio/ip/tcp.hpp>

#include "gateway/common/counter.hpp"
#include "gateway/observability/http_endpoint.hpp"

namespace perch::gateway {

/// The limits of the http listener.
struct http_server_limits {
    /// The request line and headers together.
    std::size_t max_header_bytes = 8 * 1024;
    /// A GET needs no body; a little is tolerated.
    std::size_t max_body_bytes = 1024;
    /// For a whole request, and for the next one on a kept-alive connection.
    std::chrono::milliseconds read_timeout{10'000};
    std::size_t max_connections = 32;
    /// For a whole request whose body may be larger than max_body_bytes (a delegated upload).
    std::chrono::milliseconds upload_timeout{300'000};
};

/// What the server counts: single-writer (the owning thread), readable from any thread.
struct http_server_counts {
    /// Requests answered.
    counter requests;
    /// Requests refused as malformed (400) or too large (413, 431).
    counter bad_requests;
    /// Connections closed at once because max_connections were open.
    counter connections_refused;
};

class http_session;

/// The sessions of one http listener. Every member function runs on the thread of the io_context
/// its sockets belong to.
class http_server {
public:
    /// Answers from `sources` within `limits`; the requests `delegate` claims (when set) go to it,
    /// with the body limit it names.
    http_server(observability_sources sources, http_server_limits limits,
                std::shared_ptr<const http_delegate> delegate = nullptr);
    ~http_server();
    http_server(const http_server&) = delete;
    http_server& operator=(const http_server&) = delete;

    /// Serves a freshly accepted socket, or closes it when max_connections are open.
    void handle_accepted(boost::asio::ip::tcp::socket socket);

    /// Closes every open connection (at shutdown).
    void close_all();

    /// Connections open now.
    std::size_t open_connections() const { return sessions_.size(); }
    /// What the server has counted; any thread may read it.
    const http_server_counts& counts() const { return counts_; }

    // ---- for the sessions ---------------------------------------------------------------

    const observability_sources& sources() const { return sources_; }
    const http_server_limits& limits() const { return limits_; }
    const http_delegate* delegate() const { return delegate_.get(); }
    void note_request() { counts_.requests.add(); }
    void note_bad_request() { counts_.bad_requests.add(); }
    /// Forgets a session that has closed.
    void forget(const http_session* session);

private:
    observability_sources sources_;
    http_server_limits limits_;
    std::shared_ptr<const http_delegate> delegate_;
    /// Open sessions; owner: the io_context's thread.
    std::list<std::shared_ptr<http_session>> sessions_;
    http_server_counts counts_;
};

} // namespace perch::gateway
