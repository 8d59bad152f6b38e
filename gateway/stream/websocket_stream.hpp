// MQTT over WebSocket, over plain TCP or over TLS. The HTTP upgrade is checked (path,
// subprotocol "mqtt" echoed, permessage-deflate when offered); after it, the payloads of binary
// messages are the MQTT byte stream, split or joined at any boundary. Knows nothing about MQTT
// itself.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include "gateway/stream/delegated_http_exchange.hpp"
#include "gateway/stream/tls_context.hpp"
#include "gateway/stream/tls_stream.hpp"
#include "gateway/stream/transport.hpp"

namespace perch::gateway {

/// The answer to a plain HTTP request on a WebSocket listener (one that is not the upgrade).
using plain_http_handler =
    std::function<boost::beast::http::response<boost::beast::http::string_body>(
        const boost::beast::http::request<boost::beast::http::empty_body>&)>;

/// How a WebSocket listener accepts clients.
struct websocket_settings {
    /// The HTTP path of the upgrade request; others get 404.
    std::string path = "/mqtt";
    /// Answers every request for another path (the web app's files, gateway/web); the
    /// connection stays open for the next request when the answer keeps it alive. Empty: such
    /// requests get 404 and a close.
    plain_http_handler plain_requests;
    /// The requests another service answers (the file API): checked before the upgrade and the
    /// plain handler; each is served on its own, within its body limit and timeouts, and ends its
    /// connection (delegated_http_exchange.hpp). No delegate: none.
    delegated_http_settings delegated;
    /// Largest WebSocket message accepted (after decompression) once the connection accepted the
    /// client's CONNECT; a larger one closes the connection with 1009 (message too big).
    std::uint64_t max_message_bytes = 1024 * 1024;
    /// Largest WebSocket message accepted (after decompression) before that; a larger one closes
    /// with 1009 too.
    std::uint64_t max_connect_message_bytes = 80 * 1024;
    /// Accept permessage-deflate when the client offers it.
    bool is_deflate_enabled = true;
    /// The compression history kept per client between its messages (context takeover): 2^bits
    /// bytes, 9 to 15, for clients that let the server cap their window (client_max_window_bits
    /// offered); 0 asks every client for client_no_context_takeover and keeps none. A larger
    /// window compresses chat better and costs that many bytes per connection (docs/TLS.md).
    int deflate_client_window_bits = 9;
};

/// MQTT over WebSocket on an accepted TCP socket. Text messages are refused with close code 1003.
std::unique_ptr<transport> make_websocket_transport(boost::asio::ip::tcp::socket socket,
                                                    const websocket_settings& settings);

/// MQTT over WebSocket over TLS on an accepted TCP socket; the transport holds `context`. The TLS
/// handshake's outcome is counted in `counts`.
std::unique_ptr<transport> make_websocket_tls_transport(boost::asio::ip::tcp::socket socket,
                                                        std::shared_ptr<const tls_context> context,
                                                        const websocket_settings& settings,
                                                        tls_handshake_counters counts = {});

} // namespace perch::gateway
