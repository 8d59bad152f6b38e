// The requests a listener hands whole to another service, which answers them later (the file
// API, docs/CHAT.md "Files"): the http listener and the WebSocket listeners share one. Knows no
// socket and no service.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/verb.hpp>

namespace perch::gateway {

using http_request = boost::beast::http::request<boost::beast::http::string_body>;
using http_response = boost::beast::http::response<boost::beast::http::string_body>;

/// Where the body of a streamed request goes as it arrives (an upload of the file API), so that a
/// listener holds one small buffer of it at a time. Every member may be called from the
/// listener's thread, one call at a time: write, then (once it answered) write again or finish;
/// abort at any point instead. Each callback runs once, on any thread.
class http_body_sink {
public:
    virtual ~http_body_sink() = default;
    /// Takes the next `bytes` of the body. `written` runs once they are taken: with nothing when
    /// the body may go on, or with the answer that ends the request (a refusal, e.g. a quota
    /// passed; the sink has then undone its work).
    virtual void write(std::string bytes,
                       std::function<void(std::optional<http_response>)> written) = 0;
    /// The body is complete: `done` gets the answer.
    virtual void finish(std::function<void(http_response)> done) = 0;
    /// The body will not be complete (the client left, a timeout, a limit): undoes the work.
    virtual void abort() = 0;
};

/// Requests a listener hands whole to another service. Every member is called on the thread
/// serving the request.
struct http_delegate {
    /// True for the targets (query included) the service answers.
    std::function<bool(std::string_view target)> is_delegated;
    /// The body limit of a delegated request with `method` and `target`.
    std::function<std::size_t(boost::beast::http::verb method, std::string_view target)> body_limit;
    /// The largest body_limit may answer.
    std::function<std::size_t()> max_body_limit;
    /// The answer to a delegated request whose body passed its limit (the connection closes).
    std::function<http_response(const http_request&)> too_large;
    /// Answers `request` from `remote_address` (`host:port`); `done` runs once, on any thread.
    std::function<void(http_request request, std::string remote_address,
                       std::function<void(http_response)> done)>
        handle;
    /// True for the delegated requests whose body is streamed into begin_stream's sink instead of
    /// read whole for handle. Empty: none.
    std::function<bool(boost::beast::http::verb method, std::string_view target)> is_streamed;
    /// Starts a streamed request from its header (`request` has no body yet) from
    /// `remote_address`; `ready` runs once, on any thread: with the sink for the body, or with the
    /// answer (a refusal) and a null sink.
    std::function<void(
        http_request request, std::string remote_address,
        std::function<void(std::shared_ptr<http_body_sink>, std::optional<http_response>)> ready)>
        begin_stream;
};

} // namespace perch::gateway
