// MQTT over WebSocket with Boost.Beast.
//
// Theory of operation
// - Upgrading: the first wait reads the HTTP request (headers only, at most 8 KiB), answers 404
//   for another path, then lets Beast accept it, echoing the subprotocol "mqtt" when offered and
//   negotiating permessage-deflate when the client offers it.
// - Reading: each wait starts one async_read_some of the current message into the inbox; the
//   connection then takes the inbox with read_some until it reports would_block. A message is
//   handed over only once complete, so that one over the limit is refused before any of it
//   reaches the session. The inbox grows with the messages (kept up to 16 KiB) and falls back
//   to 256 bytes after a small one, so an idle connection holds no large buffer. Beast answers
//   pings and close frames while a read is outstanding. A text message closes with 1003; a
//   message over the limit closes with 1009. The limit is max_connect_message_bytes until the
//   connection accepted the CONNECT (on_connect_accepted), then max_message_bytes; Beast applies
//   it to the inflated size while it inflates, and the inbox never grows past it, so a small
//   compressed message cannot make the server hold a large one.
// - Writing: each flush is one binary message (MQTT does not align packets with messages).
#include "gateway/stream/websocket_stream.hpp"

#include <algorithm>
#include <optional>
#include <string_view>
#include <vector>

#include <boost/asio/error.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

#include "gateway/common/log.hpp"
#include "gateway/stream/tls_stream.hpp"

namespace perch::gateway {

namespace {

namespace http = boost::beast::http;
namespace websocket = boost::beast::websocket;

/// Largest HTTP upgrade request header accepted.
constexpr std::uint32_t max_upgrade_header_bytes = 8 * 1024;
/// The inbox after a small message, and the most it keeps for the next one.
constexpr std::size_t min_inbox_bytes = 256;
constexpr std::size_t max_inbox_bytes = 16 * 1024;

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

std::string describe_layer(const boost::asio::ip::tcp::socket& socket) {
    return describe_peer(socket);
}
std::string describe_layer(const tls_stream& stream) {
    return stream.remote_address();
}
void close_layer(boost::asio::ip::tcp::socket& socket) {
    boost::system::error_code ignored;
    socket.shutdown(boost::asio::ip::tcp::socket::shutdown_both, ignored);
    socket.close(ignored);
}
void close_layer(tls_stream& stream) {
    stream.close();
}
bool is_layer_open(const boost::asio::ip::tcp::socket& socket) {
    return socket.is_open();
}
bool is_layer_open(const tls_stream& stream) {
    return stream.is_open();
}
std::string layer_identity(const boost::asio::ip::tcp::socket&) {
    return {};
}
std::string layer_identity(const tls_stream& stream) {
    return stream.identity_user_name();
}

/// A WebSocket connection over `NextLayer` (a TCP socket, or a tls_stream).
template <typename NextLayer> class websocket_transport final : public transport {
public:
    template <typename... LayerArguments>
    websocket_transport(const websocket_settings& settings, LayerArguments&&... arguments)
        : stream_(std::forward<LayerArguments>(arguments)...), settings_(settings),
          remote_address_(describe_layer(stream_.next_layer())) {
        if constexpr (std::is_same_v<NextLayer, boost::asio::ip::tcp::socket>) {
            boost::system::error_code ignored;
            stream_.next_layer().set_option(boost::asio::ip::tcp::no_delay(true), ignored);
        }
        stream_.read_message_max(message_limit_bytes_);
        stream_.auto_fragment(false);
        websocket::permessage_deflate deflate;
        deflate.server_enable = settings_.is_deflate_enabled;
        // Beast ends every message with a full flush, which drops the compression history, so
        // each message is compressed on its own and a window larger than a chat message gains
        // nothing. A 512-byte window and memLevel 1 keep the compressor's buffers at 3 KB per
        // connection (Beast's defaults, 2^15 and 4, take ~136 KB; docs/TLS.md).
        deflate.server_max_window_bits = 9;
        deflate.client_max_window_bits = 9;
        deflate.memLevel = 1;
        stream_.set_option(deflate);
        websocket::stream_base::timeout timeouts =
            websocket::stream_base::timeout::suggested(boost::beast::role_type::server);
        timeouts.handshake_timeout = settings_.handshake_timeout;
        timeouts.idle_timeout = websocket::stream_base::none();
        timeouts.keep_alive_pings = false;
        stream_.set_option(timeouts);
    }

    std::size_t read_some(std::span<std::uint8_t> buffer,
                          boost::system::error_code& error) override {
        error.clear();
        if (!is_open()) {
            error = boost::asio::error::bad_descriptor;
            return 0;
        }
        if (inbox_size_ == inbox_taken_) {
            error = boost::asio::error::would_block;
            return 0;
        }
        const std::size_t count = std::min(buffer.size(), inbox_size_ - inbox_taken_);
        std::copy_n(inbox_.begin() + static_cast<std::ptrdiff_t>(inbox_taken_), count,
                    buffer.begin());
        inbox_taken_ += count;
        return count;
    }

    void async_wait_readable(wait_handler handler) override {
        if (!is_upgraded_) {
            read_upgrade(std::move(handler));
            return;
        }
        read_message(std::move(handler));
    }

    void async_write(std::span<const boost::asio::const_buffer> buffers,
                     write_handler handler) override {
        stream_.binary(true);
        stream_.async_write(buffers, std::move(handler));
    }

    void close() override {
        if (is_open()) {
            close_layer(stream_.next_layer());
        }
    }

    void on_connect_accepted() override {
        message_limit_bytes_ = settings_.max_message_bytes;
        stream_.read_message_max(message_limit_bytes_);
    }

    bool is_open() const override { return is_layer_open(stream_.next_layer()); }
    std::string remote_address() const override { return remote_address_; }
    std::string identity_user_name() const override { return layer_identity(stream_.next_layer()); }

private:
    void read_upgrade(wait_handler handler) {
        parser_.emplace();
        parser_->header_limit(max_upgrade_header_bytes);
        parser_->body_limit(0);
        http::async_read(stream_.next_layer(), upgrade_buffer_, *parser_,
                         [this, handler = std::move(handler)](
                             const boost::system::error_code& error, std::size_t) mutable {
                             if (error) {
                                 log_info("WebSocket upgrade from {} failed: {}", remote_address_,
                                          error.message());
                                 handler(error);
                                 return;
                             }
                             accept_upgrade(std::move(handler));
                         });
    }

    void accept_upgrade(wait_handler handler) {
        const http::request<http::empty_body>& request = parser_->get();
        if (!websocket::is_upgrade(request) || request.target() != settings_.path) {
            refuse_upgrade(request, std::move(handler));
            return;
        }
        const auto offered = request[http::field::sec_websocket_protocol];
        const std::string_view offers(offered.data(), offered.size());
        std::string chosen;
        if (offers_token(offers, "mqtt")) {
            chosen = "mqtt";
        } else if (offers_token(offers, "mqttv3.1")) {
            chosen = "mqttv3.1";
        }
        stream_.set_option(
            websocket::stream_base::decorator([chosen](websocket::response_type& response) {
                if (!chosen.empty()) {
                    response.set(http::field::sec_websocket_protocol, chosen);
                }
                response.set(http::field::server, "perch");
            }));
        stream_.async_accept(request, [this, handler = std::move(handler)](
                                          const boost::system::error_code& error) mutable {
            parser_.reset();
            upgrade_buffer_ = boost::beast::flat_buffer();
            if (error) {
                log_info("WebSocket handshake with {} failed: {}", remote_address_,
                         error.message());
                handler(error);
                return;
            }
            is_upgraded_ = true;
            log_debug("WebSocket client {} upgraded", remote_address_);
            read_message(std::move(handler));
        });
    }

    void refuse_upgrade(const http::request<http::empty_body>& request, wait_handler handler) {
        const bool is_wrong_path = request.target() != settings_.path;
        log_info("refusing WebSocket upgrade from {}: {}", remote_address_,
                 is_wrong_path ? "unknown path" : "not an upgrade request");
        response_.emplace(is_wrong_path ? http::status::not_found : http::status::bad_request,
                          request.version());
        response_->set(http::field::server, "perch");
        response_->set(http::field::connection, "close");
        response_->body() = is_wrong_path ? "not found\n" : "WebSocket upgrade expected\n";
        response_->prepare_payload();
        http::async_write(stream_.next_layer(), *response_,
                          [this, handler = std::move(handler)](const boost::system::error_code&,
                                                               std::size_t) mutable {
                              response_.reset();
                              handler(boost::asio::error::connection_refused);
                          });
    }

    void read_message(wait_handler handler) {
        inbox_size_ = 0;
        inbox_taken_ = 0;
        if (inbox_.size() != inbox_target_bytes_) {
            std::vector<std::uint8_t>(inbox_target_bytes_).swap(inbox_);
        }
        read_message_part(std::move(handler));
    }

    void read_message_part(wait_handler handler) {
        if (inbox_size_ == inbox_.size()) {
            // One byte past the limit at most: Beast inflates into this buffer and fails the
            // message as soon as it holds more than the limit, so a small compressed frame
            // cannot make the inbox grow past it.
            inbox_.resize(static_cast<std::size_t>(
                std::min<std::uint64_t>(inbox_.size() * 2, message_limit_bytes_ + 1)));
        }
        stream_.async_read_some(
            boost::asio::buffer(inbox_.data() + inbox_size_, inbox_.size() - inbox_size_),
            [this, handler = std::move(handler)](const boost::system::error_code& error,
                                                 std::size_t count) mutable {
                if (error) {
                    if (error != boost::asio::error::operation_aborted &&
                        error != websocket::error::closed) {
                        log_info("WebSocket client {}: {}", remote_address_, error.message());
                    }
                    handler(error);
                    return;
                }
                if (stream_.got_text()) {
                    refuse_text(std::move(handler));
                    return;
                }
                inbox_size_ += count;
                if (!stream_.is_message_done()) {
                    // The whole message first: one over max_message_bytes (Beast checks it, after
                    // decompression too) must end with 1009 before any of it reaches the session.
                    read_message_part(std::move(handler));
                    return;
                }
                inbox_target_bytes_ = inbox_size_ <= min_inbox_bytes / 2
                                          ? min_inbox_bytes
                                          : std::min(inbox_.size(), max_inbox_bytes);
                handler(boost::system::error_code());
            });
    }

    void refuse_text(wait_handler handler) {
        // MQTT travels in binary messages only [MQTT-6.0.0-1].
        log_info("closing WebSocket client {}: text message (1003)", remote_address_);
        stream_.async_close(websocket::close_reason(websocket::close_code::unknown_data),
                            [handler = std::move(handler)](const boost::system::error_code&) {
                                handler(boost::asio::error::operation_not_supported);
                            });
    }

    websocket::stream<NextLayer> stream_;
    websocket_settings settings_;
    /// The largest message taken now: max_connect_message_bytes until the connection accepted
    /// the CONNECT, then max_message_bytes.
    std::uint64_t message_limit_bytes_ = settings_.max_connect_message_bytes;
    std::string remote_address_;
    std::optional<http::request_parser<http::empty_body>> parser_;
    std::optional<http::response<http::string_body>> response_;
    boost::beast::flat_buffer upgrade_buffer_;
    std::vector<std::uint8_t> inbox_;
    std::size_t inbox_target_bytes_ = min_inbox_bytes;
    std::size_t inbox_size_ = 0;
    std::size_t inbox_taken_ = 0;
    bool is_upgraded_ = false;
};

} // namespace

std::unique_ptr<transport> make_websocket_transport(boost::asio::ip::tcp::socket socket,
                                                    const websocket_settings& settings) {
    return std::make_unique<websocket_transport<boost::asio::ip::tcp::socket>>(settings,
                                                                               std::move(socket));
}

std::unique_ptr<transport> make_websocket_tls_transport(boost::asio::ip::tcp::socket socket,
                                                        const tls_context& context,
                                                        const websocket_settings& settings) {
    return std::make_unique<websocket_transport<tls_stream>>(settings, std::move(socket), context);
}

} // namespace perch::gateway
