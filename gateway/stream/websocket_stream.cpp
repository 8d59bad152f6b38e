// MQTT over WebSocket: the HTTP upgrade read with Boost.Beast's HTTP parser and answered as
// websocket_upgrade.hpp decides, the frames read by websocket_message_reader.hpp, over plain TCP
// or TLS (websocket_layer.hpp).
//
// Theory of operation
// - Upgrading: the first wait reads the HTTP request (headers only, at most 8 KiB), hands a
//   request the listener's http_delegate claims (the file API) with the stream itself to a
//   delegated_http_exchange and ends the wait with eof (no MQTT on this connection; 503 past the
//   listener's delegated requests), refuses a body on any other request (413), hands a
//   request for another path to the listener's plain HTTP handler (the web app's files; 404
//   without one) and reads the next request while that answer keeps the connection alive,
//   answers 400 (426 for another WebSocket version) for a request that is no WebSocket upgrade,
//   then answers 101, echoing the subprotocol "mqtt" when offered and
//   accepting permessage-deflate when the client offers it (websocket_deflate.hpp).
// - Why not Beast's WebSocket stream: it allocates its 13 KB of zlib state (and a 4 KB write
//   buffer) for the connection's lifetime once deflate is negotiated, and keeps a 1.5 KB read
//   buffer besides; an idle connection here holds none of it (docs/TLS.md "permessage-deflate").
// - Reading: a wait waits for the socket to be readable (no buffer while idle), then reads what
//   it has through a per-thread buffer and hands it to the message reader until one message is
//   complete; bytes past it wait in `unparsed_` for the next wait. Pings are answered on the
//   way; a failure (limits, protocol errors, the client's close) sends the reader's close code.
//   The limit is max_connect_message_bytes until the connection accepted the CONNECT
//   (on_connect_accepted), then max_message_bytes.
// - Writing: each MQTT packet of a flush is a binary message of its own, each compressed on its
//   own when deflate was negotiated, all in one write. MQTT lets a receiver take any split
//   [MQTT-6.0.0-2 (5.0)], but Paho C's WebSocket client reads one packet per message: given a
//   PUBACK and a PUBLISH in one message, it loses the PUBLISH. Pongs and close frames wait for
//   the data frames in flight, and the other way round.
// - Closing: after perch's close frame has gone, plain TCP half-closes and reads until the
//   client closes (1 MiB at most), so that the client reads the close frame before a reset; TLS
//   closes at once. A control frame's write holds no handler of the connection, so it reaches
//   the transport through a weak anchor: the connection may drop the transport meanwhile.
#include "gateway/stream/websocket_stream.hpp"

#include <algorithm>
#include <array>
#include <limits>
#include <optional>
#include <string_view>
#include <vector>

#include <boost/asio/error.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket/error.hpp>
#include <boost/beast/websocket/rfc6455.hpp>

#include "gateway/common/log.hpp"
#include "gateway/stream/delegated_http_exchange.hpp"
#include "gateway/stream/tls_stream.hpp"
#include "gateway/stream/websocket_deflate.hpp"
#include "gateway/stream/websocket_frame.hpp"
#include "gateway/stream/websocket_layer.hpp"
#include "gateway/stream/websocket_message_reader.hpp"
#include "gateway/stream/websocket_upgrade.hpp"

namespace perch::gateway {

namespace {

namespace http = boost::beast::http;
namespace websocket = boost::beast::websocket;
using namespace websocket_layer;

/// Largest HTTP upgrade request header accepted.
constexpr std::uint32_t max_upgrade_header_bytes = 8 * 1024;
/// Socket bytes taken per read, through a per-thread buffer.
constexpr std::size_t read_chunk_bytes = 16 * 1024;
/// Bytes read and dropped after perch's close frame, waiting for the client to close.
constexpr std::size_t max_drain_bytes = 1024 * 1024;
/// The bytes read from a socket, shared by the connections of one thread (each parses what it
/// read before it returns).
std::span<std::uint8_t> read_chunk() {
    thread_local std::array<std::uint8_t, read_chunk_bytes> chunk;
    return chunk;
}

/// A WebSocket connection over `NextLayer` (a TCP socket, or a tls_stream).
template <typename NextLayer> class websocket_transport final : public transport {
public:
    template <typename... LayerArguments>
    websocket_transport(const websocket_settings& settings, LayerArguments&&... arguments)
        : layer_(std::make_unique<NextLayer>(std::forward<LayerArguments>(arguments)...)),
          executor_(layer_->get_executor()), settings_(settings),
          remote_address_(describe_layer(*layer_)) {
        if constexpr (std::is_same_v<NextLayer, boost::asio::ip::tcp::socket>) {
            boost::system::error_code ignored;
            layer_->set_option(boost::asio::ip::tcp::no_delay(true), ignored);
        }
    }

    std::size_t read_some(std::span<std::uint8_t> buffer,
                          boost::system::error_code& error) override {
        error.clear();
        if (!is_open()) {
            error = boost::asio::error::bad_descriptor;
            return 0;
        }
        if (!is_message_ready_ || inbox_taken_ == inbox_.size()) {
            error = boost::asio::error::would_block;
            return 0;
        }
        const std::size_t count = std::min(buffer.size(), inbox_.size() - inbox_taken_);
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
        wait_handler_ = std::move(handler);
        if (is_message_ready_ && inbox_taken_ < inbox_.size()) {
            boost::asio::post(executor_, [this] { finish_wait({}); });
            return;
        }
        // The message was taken: an idle connection keeps no inbox.
        is_message_ready_ = false;
        std::vector<std::uint8_t>().swap(inbox_);
        inbox_taken_ = 0;
        if (!unparsed_.empty()) {
            boost::asio::post(executor_, [this] { read_frames(); });
            return;
        }
        wait_for_frames();
    }

    void async_write(std::span<const boost::asio::const_buffer> buffers,
                     write_handler handler) override {
        data_write_ = std::make_unique<pending_data>();
        data_write_->handler = std::move(handler);
        for (const auto& buffer : buffers) {
            data_write_->payload_bytes += buffer.size();
        }
        if (is_close_queued_ || !is_open()) {
            auto pending = std::move(data_write_);
            boost::asio::post(executor_, [pending = std::move(pending)]() mutable {
                pending->handler(boost::asio::error::operation_aborted, 0);
            });
            return;
        }
        pending_data& pending = *data_write_;
        const std::vector<std::size_t> lengths = mqtt_packet_lengths(buffers);
        // Headers and compressed payloads first: the buffers below point into them.
        pending.headers.resize(lengths.size());
        std::vector<std::pair<std::size_t, std::size_t>> compressed_spans;
        std::vector<boost::asio::const_buffer> packet;
        std::vector<std::uint8_t> one_message;
        std::size_t offset = 0;
        for (std::size_t index = 0; index < lengths.size(); ++index) {
            std::uint64_t message_bytes = lengths[index];
            if (deflater_) {
                packet.clear();
                slice_buffers(buffers, offset, lengths[index], packet);
                deflater_->compress(packet, one_message);
                compressed_spans.emplace_back(pending.compressed.size(), one_message.size());
                pending.compressed.insert(pending.compressed.end(), one_message.begin(),
                                          one_message.end());
                message_bytes = one_message.size();
            }
            pending.header_sizes.push_back(
                write_frame_header(pending.headers[index], websocket_opcode::binary,
                                   deflater_.has_value(), message_bytes));
            offset += lengths[index];
        }
        offset = 0;
        for (std::size_t index = 0; index < lengths.size(); ++index) {
            pending.buffers.emplace_back(pending.headers[index].data(),
                                         pending.header_sizes[index]);
            if (deflater_) {
                pending.buffers.emplace_back(pending.compressed.data() +
                                                 compressed_spans[index].first,
                                             compressed_spans[index].second);
            } else {
                slice_buffers(buffers, offset, lengths[index], pending.buffers);
            }
            offset += lengths[index];
        }
        pump_writes();
    }

    void close() override {
        if (is_open()) {
            close_layer(*layer_);
        }
    }

    void on_connect_accepted() override { reader_.set_message_limit(settings_.max_message_bytes); }

    bool is_open() const override { return layer_ && is_layer_open(*layer_); }
    std::string remote_address() const override { return remote_address_; }
    std::string identity_user_name() const override {
        return layer_ ? layer_identity(*layer_) : std::string();
    }

private:
    /// Control frames being written.
    struct control_write {
        std::vector<std::uint8_t> bytes;
        boost::asio::const_buffer buffer;
    };
    /// A data message being written.
    struct pending_data {
        write_handler handler;
        /// One frame header per message (one message per MQTT packet).
        std::vector<std::array<std::uint8_t, 10>> headers;
        std::vector<std::size_t> header_sizes;
        std::vector<std::uint8_t> compressed;
        std::vector<boost::asio::const_buffer> buffers;
        std::size_t payload_bytes = 0;
        bool is_started = false;
    };

    // ---- upgrade ------------------------------------------------------------------------

    void read_upgrade(wait_handler handler) {
        if (!layer_) {
            boost::asio::post(executor_, [handler = std::move(handler)]() mutable {
                handler(boost::asio::error::bad_descriptor);
            });
            return;
        }
        parser_.emplace();
        parser_->header_limit(max_upgrade_header_bytes);
        // No limit on the header's Content-Length here: a request the delegate claims gets the
        // limit it names, with its own answer (delegated_http_exchange), and any other request
        // may carry no body at all (accept_upgrade). (Beast 1.74 compares a Content-Length with
        // an unset limit as larger than it: the largest value instead.)
        parser_->body_limit(std::numeric_limits<std::uint64_t>::max());
        http::async_read_header(*layer_, upgrade_buffer_, *parser_,
                                [this, handler = std::move(handler)](
                                    const boost::system::error_code& error, std::size_t) mutable {
                                    if (error) {
                                        log_info("WebSocket upgrade from {} failed: {}",
                                                 remote_address_, error.message());
                                        handler(error);
                                        return;
                                    }
                                    accept_upgrade(std::move(handler));
                                });
    }

    void accept_upgrade(wait_handler handler) {
        const http::request<http::empty_body>& request = parser_->get();
        const http_delegate* delegate = settings_.delegated.delegate.get();
        if (delegate != nullptr && delegate->is_delegated(std::string_view(
                                       request.target().data(), request.target().size()))) {
            delegate_request(std::move(handler));
            return;
        }
        if (!parser_->is_done()) {
            // Only a delegated request may carry a body.
            refuse_upgrade(request, http::status::payload_too_large, "no body expected",
                           std::move(handler));
            return;
        }
        if (request.target() != settings_.path) {
            if (settings_.plain_requests) {
                answer_plain_request(request, std::move(handler));
                return;
            }
            refuse_upgrade(request, http::status::not_found, "not found", std::move(handler));
            return;
        }
        if (const auto refusal = check_upgrade(request)) {
            refuse_upgrade(request, refusal->status, refusal->reason, std::move(handler));
            return;
        }
        std::optional<deflate_agreement> deflate;
        response_.emplace(accept_upgrade_response(request, settings_.is_deflate_enabled,
                                                  settings_.deflate_client_window_bits, deflate));
        if (deflate) {
            deflater_.emplace(*deflate);
        }
        http::async_write(
            *layer_, *response_,
            [this, handler = std::move(handler)](const boost::system::error_code& error,
                                                 std::size_t) mutable {
                response_.reset();
                parser_.reset();
                // Frames the client sent right behind its request.
                const auto rest = upgrade_buffer_.data();
                unparsed_.assign(static_cast<const std::uint8_t*>(rest.data()),
                                 static_cast<const std::uint8_t*>(rest.data()) + rest.size());
                upgrade_buffer_ = boost::beast::flat_buffer();
                if (error) {
                    log_info("WebSocket handshake with {} failed: {}", remote_address_,
                             error.message());
                    handler(error);
                    return;
                }
                is_upgraded_ = true;
                log_debug("WebSocket client {} upgraded{}", remote_address_,
                          deflater_ ? " with permessage-deflate" : "");
                async_wait_readable(std::move(handler));
            });
    }

    /// Hands the request whose header was read, and the stream, to a delegated_http_exchange
    /// (503 when the listener serves as many as it may); the wait ends with eof: this
    /// connection carries no MQTT.
    void delegate_request(wait_handler handler) {
        const delegated_http_settings& delegated = settings_.delegated;
        if (!delegated.slots->try_acquire()) {
            log_notice("WebSocket listener: refusing a request from {}: {} delegated requests "
                       "open",
                       remote_address_, delegated.slots->in_use());
            refuse_upgrade(parser_->get(), http::status::service_unavailable,
                           "too many requests at once; try again", std::move(handler));
            return;
        }
        serve_delegated_request(std::move(layer_), std::move(upgrade_buffer_), std::move(*parser_),
                                delegated, remote_address_);
        parser_.reset();
        upgrade_buffer_ = boost::beast::flat_buffer();
        boost::asio::post(executor_, [handler = std::move(handler)]() mutable {
            handler(boost::asio::error::eof);
        });
    }

    /// Answers a request for another path than the upgrade's, then reads the next request on
    /// the same connection, or ends the stream when the answer closes it.
    void answer_plain_request(const http::request<http::empty_body>& request,
                              wait_handler handler) {
        response_.emplace(settings_.plain_requests(request));
        http::async_write(*layer_, *response_,
                          [this, handler = std::move(handler)](
                              const boost::system::error_code& error, std::size_t) mutable {
                              const bool is_kept = response_->keep_alive();
                              response_.reset();
                              if (error) {
                                  handler(error);
                              } else if (is_kept) {
                                  read_upgrade(std::move(handler));
                              } else {
                                  handler(boost::asio::error::eof);
                              }
                          });
    }

    void refuse_upgrade(const http::request<http::empty_body>& request, http::status status,
                        std::string_view reason, wait_handler handler) {
        log_info("refusing WebSocket upgrade from {}: {}", remote_address_,
                 status == http::status::not_found ? "unknown path" : reason);
        response_.emplace(refuse_upgrade_response(request, status, reason));
        http::async_write(*layer_, *response_,
                          [this, handler = std::move(handler)](const boost::system::error_code&,
                                                               std::size_t) mutable {
                              response_.reset();
                              handler(boost::asio::error::connection_refused);
                          });
    }

    // ---- reading ------------------------------------------------------------------------

    void wait_for_frames() {
        wait_layer(*layer_, [this](const boost::system::error_code& error) {
            if (error) {
                finish_wait(error);
                return;
            }
            read_frames();
        });
    }

    /// Parses what waits in unparsed_, then what the socket has, until a message is complete.
    void read_frames() {
        if (!unparsed_.empty()) {
            std::vector<std::uint8_t> bytes;
            bytes.swap(unparsed_);
            if (parse_and_settle(bytes)) {
                return;
            }
        }
        for (;;) {
            boost::system::error_code error;
            const std::span<std::uint8_t> chunk = read_chunk();
            const std::size_t count = read_layer(*layer_, chunk, error);
            if (error == boost::asio::error::would_block) {
                wait_for_frames();
                return;
            }
            if (error == transport::read_yield) {
                boost::asio::post(executor_, [this] { read_frames(); });
                return;
            }
            if (error) {
                if (error != boost::asio::error::operation_aborted) {
                    log_info("WebSocket client {}: {}", remote_address_, error.message());
                }
                finish_wait(error);
                return;
            }
            if (parse_and_settle(chunk.first(count))) {
                return;
            }
        }
    }

    /// Parses `bytes`; true when that ended the wait (a message, or a failure). Pings are
    /// answered on the way.
    bool parse_and_settle(std::span<const std::uint8_t> bytes) {
        for (;;) {
            std::size_t consumed = 0;
            const auto step = reader_.parse(bytes, deflater_ ? &*deflater_ : nullptr, consumed);
            bytes = bytes.subspan(consumed);
            switch (step) {
            case websocket_message_reader::step::need_more: return false;
            case websocket_message_reader::step::ping:
                queue_control(websocket_opcode::pong, reader_.control_payload());
                reader_.release_control_payload();
                pump_writes();
                continue;
            case websocket_message_reader::step::failed:
                if (reader_.failure() == boost::asio::error::operation_not_supported) {
                    log_info("closing WebSocket client {}: text message (1003)", remote_address_);
                }
                fail(reader_.failure(), reader_.close_code());
                return true;
            case websocket_message_reader::step::message_done:
                inbox_ = reader_.take_message();
                unparsed_.assign(bytes.begin(), bytes.end());
                is_message_ready_ = true;
                finish_wait({});
                return true;
            }
        }
    }

    /// Sends a close frame with `code`, ends the wait with `error` once it went; always false.
    bool fail(const boost::system::error_code& error, std::uint16_t code) {
        if (error != websocket::error::closed &&
            error != boost::asio::error::operation_not_supported) {
            log_info("closing WebSocket client {}: {} ({})", remote_address_, error.message(),
                     code);
        }
        const std::array<std::uint8_t, 2> payload{static_cast<std::uint8_t>(code >> 8),
                                                  static_cast<std::uint8_t>(code)};
        queue_control(websocket_opcode::close, payload);
        if (!is_close_queued_) {
            close_error_ = error;
            is_close_queued_ = true;
        }
        pump_writes();
        return false;
    }

    /// Reads and drops what the client sends after perch's close frame, until it closes.
    void drain() {
        for (;;) {
            boost::system::error_code error;
            const std::size_t count = read_layer(*layer_, read_chunk(), error);
            if (error == boost::asio::error::would_block && drained_bytes_ < max_drain_bytes) {
                wait_layer(*layer_, [this](const boost::system::error_code& wait_error) {
                    if (wait_error) {
                        finish_wait(close_error_);
                        return;
                    }
                    drain();
                });
                return;
            }
            if (error == transport::read_yield) {
                boost::asio::post(executor_, [this] { drain(); });
                return;
            }
            drained_bytes_ += count;
            if (error || drained_bytes_ >= max_drain_bytes) {
                finish_wait(close_error_);
                return;
            }
        }
    }

    /// Calls the connection's wait handler, which may destroy this transport: nothing may touch
    /// a member after it.
    void finish_wait(const boost::system::error_code& error) {
        if (wait_handler_) {
            wait_handler handler = std::move(wait_handler_);
            wait_handler_ = nullptr;
            handler(error);
        }
    }

    // ---- writing ------------------------------------------------------------------------

    /// Queues a control frame; nothing follows a close frame.
    void queue_control(websocket_opcode code, std::span<const std::uint8_t> payload) {
        if (is_close_queued_) {
            return;
        }
        std::array<std::uint8_t, 10> header{};
        const std::size_t header_bytes = write_frame_header(header, code, false, payload.size());
        control_queue_.insert(control_queue_.end(), header.begin(),
                              header.begin() + static_cast<std::ptrdiff_t>(header_bytes));
        control_queue_.insert(control_queue_.end(), payload.begin(), payload.end());
    }

    /// Starts the next write when none is in flight: control frames first.
    void pump_writes() {
        if (is_layer_writing_ || !is_open()) {
            return;
        }
        if (!control_queue_.empty()) {
            // A control frame's write holds no handler of the connection, which may drop this
            // transport while a pong is in flight: the write owns its bytes and checks the anchor.
            if (!anchor_) {
                anchor_ = std::make_shared<websocket_transport*>(this);
            }
            auto sending = std::make_shared<control_write>();
            sending->bytes.swap(control_queue_);
            sending->buffer = boost::asio::buffer(sending->bytes);
            is_layer_writing_ = true;
            write_layer(*layer_, std::span(&sending->buffer, 1),
                        [sending, anchor = std::weak_ptr(anchor_), is_close = is_close_queued_](
                            const boost::system::error_code& error, std::size_t) {
                            if (const auto self = anchor.lock()) {
                                (*self)->on_control_written(error, is_close);
                            }
                        });
            return;
        }
        if (data_write_ && !data_write_->is_started) {
            data_write_->is_started = true;
            is_layer_writing_ = true;
            write_layer(*layer_, data_write_->buffers,
                        [this](const boost::system::error_code& error, std::size_t) {
                            is_layer_writing_ = false;
                            auto done = std::move(data_write_);
                            pump_writes();
                            done->handler(error, error ? 0 : done->payload_bytes);
                        });
        }
    }

    /// Ending the wait comes last in each path: its handler may destroy this transport.
    void on_control_written(const boost::system::error_code& error, bool is_close) {
        is_layer_writing_ = false;
        if (is_close) {
            abort_data_write();
            if (!error && begin_teardown(*layer_)) {
                drain();
            } else {
                finish_wait(close_error_);
            }
            return;
        }
        if (error) {
            // Both handlers leave the transport first: either may drop the last reference to the
            // connection (no wait may be pending while the connection holds back its reads).
            wait_handler wait = std::move(wait_handler_);
            wait_handler_ = nullptr;
            std::unique_ptr<pending_data> data;
            if (data_write_ && !data_write_->is_started) {
                data = std::move(data_write_);
            }
            if (data) {
                data->handler(boost::asio::error::operation_aborted, 0);
            }
            if (wait) {
                wait(error);
            }
            return;
        }
        pump_writes();
    }

    /// Ends a data write that will not start (the connection is closing). Only while the wait is
    /// pending: its handler keeps the connection, and so this transport, alive.
    void abort_data_write() {
        if (data_write_ && !data_write_->is_started) {
            auto done = std::move(data_write_);
            done->handler(boost::asio::error::operation_aborted, 0);
        }
    }

    /// Null once a delegated request took it (delegated_http_exchange.hpp).
    std::unique_ptr<NextLayer> layer_;
    /// The layer's, kept for the handlers posted after the layer left.
    boost::asio::any_io_executor executor_;
    websocket_settings settings_;
    /// Frames to messages; its limit is max_connect_message_bytes until the connection accepted
    /// the CONNECT, then max_message_bytes.
    websocket_message_reader reader_{settings_.max_connect_message_bytes};
    std::string remote_address_;
    std::optional<http::request_parser<http::empty_body>> parser_;
    std::optional<http::response<http::string_body>> response_;
    boost::beast::flat_buffer upgrade_buffer_;
    /// The negotiated permessage-deflate, if any.
    std::optional<message_deflater> deflater_;
    wait_handler wait_handler_;

    // Reading: the message handed over, and bytes read past it.
    std::vector<std::uint8_t> inbox_;
    std::size_t inbox_taken_ = 0;
    std::vector<std::uint8_t> unparsed_;
    std::size_t drained_bytes_ = 0;
    bool is_message_ready_ = false;
    bool is_upgraded_ = false;

    // Writing.
    std::unique_ptr<pending_data> data_write_;
    std::vector<std::uint8_t> control_queue_;
    /// Made with the first control frame; see pump_writes().
    std::shared_ptr<websocket_transport*> anchor_;
    boost::system::error_code close_error_;
    bool is_layer_writing_ = false;
    bool is_close_queued_ = false;
};

} // namespace

std::unique_ptr<transport> make_websocket_transport(boost::asio::ip::tcp::socket socket,
                                                    const websocket_settings& settings) {
    return std::make_unique<websocket_transport<boost::asio::ip::tcp::socket>>(settings,
                                                                               std::move(socket));
}

std::unique_ptr<transport> make_websocket_tls_transport(boost::asio::ip::tcp::socket socket,
                                                        std::shared_ptr<const tls_context> context,
                                                        const websocket_settings& settings,
                                                        tls_handshake_counters counts) {
    return std::make_unique<websocket_transport<tls_stream>>(settings, std::move(socket),
                                                             std::move(context), counts);
}

} // namespace perch::gateway
