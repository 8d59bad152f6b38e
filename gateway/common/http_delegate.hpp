// The requests a listener hands whole to another service, which answers them later (the file
// API, docs/CHAT.md "Files"): the http listener and the WebSocket listeners share one. Knows no
// socket and no service.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/verb.hpp>

namespace perch::gateway {

using http_request = boost::beast::http::request<boost::beast::http::string_body>;
using http_response = boost::beast::http::response<boost::beast::http::string_body>;

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
};

} // namespace perch::gateway
