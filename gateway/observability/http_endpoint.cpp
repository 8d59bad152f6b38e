// The http listener's answers.
#include "gateway/observability/http_endpoint.hpp"

#include <string_view>

#include <boost/beast/http/field.hpp>
#include <boost/beast/http/verb.hpp>
#include <fmt/format.h>

#include "gateway/observability/metrics_exposition.hpp"

namespace perch::gateway {

namespace http = boost::beast::http;

namespace {

/// `text` as a JSON string body (quotes, backslashes and control characters escaped).
std::string json_string(std::string_view text) {
    std::string out = "\"";
    for (const char letter : text) {
        const auto code = static_cast<unsigned char>(letter);
        if (letter == '"' || letter == '\\') {
            out += '\\';
            out += letter;
        } else if (code < 0x20) {
            out += fmt::format("\\u{:04x}", code);
        } else {
            out += letter;
        }
    }
    out += '"';
    return out;
}

http_response make_response(const http_request& request, http::status status,
                            std::string_view content_type, std::string body) {
    http_response response{status, request.version()};
    response.set(http::field::server, "perch");
    response.set(http::field::content_type,
                 boost::beast::string_view(content_type.data(), content_type.size()));
    response.set(http::field::cache_control, "no-store");
    response.keep_alive(request.keep_alive());
    const std::size_t length = body.size();
    if (request.method() != http::verb::head) {
        response.body() = std::move(body);
    }
    // HEAD announces the length GET would send [RFC 9110 9.3.2].
    response.content_length(length);
    return response;
}

} // namespace

http_response answer_http_request(const http_request& request,
                                  const observability_sources& sources) {
    if (request.method() != http::verb::get && request.method() != http::verb::head) {
        http_response response = make_response(request, http::status::method_not_allowed,
                                               "text/plain", "only GET and HEAD are served\n");
        response.set(http::field::allow, "GET, HEAD");
        return response;
    }
    std::string_view target(request.target().data(), request.target().size());
    target = target.substr(0, target.find('?'));
    if (target == "/metrics") {
        return make_response(request, http::status::ok, prometheus_content_type,
                             sources.metrics_text());
    }
    if (target == "/healthz") {
        const health_answer health = sources.health();
        if (health.is_healthy) {
            return make_response(request, http::status::ok, "application/json",
                                 "{\"status\":\"ok\"}\n");
        }
        return make_response(request, http::status::service_unavailable, "application/json",
                             fmt::format("{{\"status\":\"unavailable\",\"reason\":{}}}\n",
                                         json_string(health.reason)));
    }
    return make_response(request, http::status::not_found, "text/plain",
                         "not found: try /metrics or /healthz\n");
}

http_response http_error_response(http::status status, unsigned version) {
    http_response response{status, version};
    response.set(http::field::server, "perch");
    response.set(http::field::content_type, "text/plain");
    response.keep_alive(false);
    const boost::beast::string_view reason = http::obsolete_reason(status);
    response.body() = std::string(reason.data(), reason.size()) + "\n";
    response.prepare_payload();
    return response;
}

} // namespace perch::gateway
