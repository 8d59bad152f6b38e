// The HTTP side of a WebSocket upgrade (RFC 6455 section 4.2), without I/O: whether a request is
// an upgrade perch accepts, the 101 response with the subprotocol and permessage-deflate agreed,
// and the answer refusing one.
#pragma once

#include <optional>
#include <string_view>

#include <boost/beast/http.hpp>

#include "gateway/stream/websocket_deflate.hpp"

namespace perch::gateway {

using upgrade_request = boost::beast::http::request<boost::beast::http::empty_body>;
using upgrade_response = boost::beast::http::response<boost::beast::http::string_body>;

/// Why a request is no upgrade perch accepts, and the status that says so.
struct upgrade_refusal {
    boost::beast::http::status status;
    std::string_view reason;
};

/// Checks `request` as a WebSocket upgrade: 400 for anything but an HTTP/1.1 GET with Host,
/// Connection: upgrade, Upgrade: websocket and a Sec-WebSocket-Key, 426 for a version other than
/// 13; nullopt for an upgrade to accept.
std::optional<upgrade_refusal> check_upgrade(const upgrade_request& request);

/// The 101 response accepting `request` (checked by check_upgrade): Sec-WebSocket-Accept, the
/// subprotocol "mqtt" (or "mqttv3.1") when offered, and permessage-deflate when enabled
/// (`deflate_client_window_bits` as websocket_settings says) and offered; `deflate` gets the
/// agreement, if any.
upgrade_response accept_upgrade_response(const upgrade_request& request, bool is_deflate_enabled,
                                         int deflate_client_window_bits,
                                         std::optional<deflate_agreement>& deflate);

/// An answer refusing `request` with `status` and `reason` as its body, closing the connection;
/// 426 also names the version perch speaks.
upgrade_response refuse_upgrade_response(const upgrade_request& request,
                                         boost::beast::http::status status,
                                         std::string_view reason);

} // namespace perch::gateway
