// What the http listener answers: GET/HEAD of /metrics (Prometheus text) and /healthz (JSON), 404
// for any other path, 405 for any other method. A pure function of the request and the two
// sources it reads; knows no socket.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/verb.hpp>

#include "gateway/common/http_delegate.hpp"

namespace perch::gateway {

/// Whether the broker can do its work now.
struct health_answer {
    /// True when the broker serves and its store accepts writes.
    bool is_healthy = false;
    /// Why not, for the operator (e.g. the store's last write failure); empty when healthy.
    std::string reason;
};

/// Where the answers come from. Both are called on the thread serving the request and must be
/// safe there.
struct observability_sources {
    /// The whole Prometheus text (render_prometheus of a fresh snapshot).
    std::function<std::string()> metrics_text;
    std::function<health_answer()> health;
};

/// The response to `request`:
/// - GET or HEAD /metrics: 200 with the metrics text (HEAD: its headers only);
/// - GET or HEAD /healthz: 200 `{"status":"ok"}` when healthy, else 503
///   `{"status":"unavailable","reason":"..."}`;
/// - another path: 404; another method: 405 with `Allow: GET, HEAD`.
/// A query string is ignored. The response keeps the request's HTTP version and keep-alive.
http_response answer_http_request(const http_request& request,
                                  const observability_sources& sources);

/// A short text response with `status` that closes the connection, for requests that could not
/// be parsed (400), whose header was too large (431) or whose body was too large (413).
http_response http_error_response(boost::beast::http::status status, unsigned version = 11);

} // namespace perch::gateway
