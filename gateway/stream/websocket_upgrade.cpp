#include "gateway/stream/websocket_upgrade.hpp"

#include <string>

#include <boost/beast/websocket/detail/hybi13.hpp>

namespace perch::gateway {

namespace {

namespace http = boost::beast::http;
namespace websocket = boost::beast::websocket;

/// True when the comma-separated header `value` lists `token`, ignoring case (HTTP tokens).
bool lists_token(boost::beast::string_view value, boost::beast::string_view token) {
    for (const auto& item : http::token_list(value)) {
        if (boost::beast::iequals(item, token)) {
            return true;
        }
    }
    return false;
}

/// Every Sec-WebSocket-Extensions header of `request`, joined with commas.
std::string offered_extensions(const upgrade_request& request) {
    std::string extensions;
    const auto [first, last] = request.equal_range(http::field::sec_websocket_extensions);
    for (auto field = first; field != last; ++field) {
        extensions += extensions.empty() ? "" : ",";
        extensions.append(field->value().data(), field->value().size());
    }
    return extensions;
}

/// True when the comma-separated header `offers` lists `wanted` (case-sensitive, as RFC 6455
/// subprotocol names are).
bool offers_token(std::string_view offers, std::string_view wanted) {
    while (!offers.empty()) {
        const std::size_t comma = offers.find(',');
        std::string_view token = offers.substr(0, comma);
        while (!token.empty() && (token.front() == ' ' || token.front() == '\t')) {
            token.remove_prefix(1);
        }
        while (!token.empty() && (token.back() == ' ' || token.back() == '\t')) {
            token.remove_suffix(1);
        }
        if (token == wanted) {
            return true;
        }
        if (comma == std::string_view::npos) {
            break;
        }
        offers.remove_prefix(comma + 1);
    }
    return false;
}

} // namespace

std::optional<upgrade_refusal> check_upgrade(const upgrade_request& request) {
    if (request.version() != 11 || request.method() != http::verb::get ||
        request.find(http::field::host) == request.end() ||
        !lists_token(request[http::field::connection], "upgrade") ||
        !lists_token(request[http::field::upgrade], "websocket")) {
        return upgrade_refusal{http::status::bad_request, "WebSocket upgrade expected"};
    }
    const auto key = request[http::field::sec_websocket_key];
    if (key.empty() || key.size() > websocket::detail::sec_ws_key_type::max_size_n) {
        return upgrade_refusal{http::status::bad_request, "bad Sec-WebSocket-Key"};
    }
    if (request[http::field::sec_websocket_version] != "13") {
        return upgrade_refusal{http::status::upgrade_required, "WebSocket version 13 only"};
    }
    return std::nullopt;
}

upgrade_response accept_upgrade_response(const upgrade_request& request, bool is_deflate_enabled,
                                         int deflate_client_window_bits,
                                         std::optional<deflate_agreement>& deflate) {
    upgrade_response response(http::status::switching_protocols, request.version());
    response.set(http::field::server, "perch");
    response.set(http::field::upgrade, "websocket");
    response.set(http::field::connection, "upgrade");
    websocket::detail::sec_ws_accept_type accept;
    websocket::detail::make_sec_ws_accept(accept, request[http::field::sec_websocket_key]);
    response.set(http::field::sec_websocket_accept, accept);
    const auto offered = request[http::field::sec_websocket_protocol];
    const std::string_view offers(offered.data(), offered.size());
    if (offers_token(offers, "mqtt")) {
        response.set(http::field::sec_websocket_protocol, "mqtt");
    } else if (offers_token(offers, "mqttv3.1")) {
        response.set(http::field::sec_websocket_protocol, "mqttv3.1");
    }
    deflate.reset();
    if (is_deflate_enabled) {
        deflate = negotiate_deflate(offered_extensions(request), deflate_client_window_bits);
        if (deflate) {
            response.set(http::field::sec_websocket_extensions, deflate->response);
        }
    }
    response.prepare_payload();
    return response;
}

upgrade_response refuse_upgrade_response(const upgrade_request& request, http::status status,
                                         std::string_view reason) {
    upgrade_response response(status, request.version());
    response.set(http::field::server, "perch");
    response.set(http::field::connection, "close");
    if (status == http::status::upgrade_required) {
        response.set(http::field::sec_websocket_version, "13");
    }
    response.body() = std::string(reason) + "\n";
    response.prepare_payload();
    return response;
}

} // namespace perch::gateway
