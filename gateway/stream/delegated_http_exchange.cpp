// A request handed to the http_delegate by a WebSocket listener. See the header for the theory of
// operation.
#include "gateway/stream/delegated_http_exchange.hpp"

#include <optional>
#include <utility>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include "gateway/common/http_body_stream.hpp"
#include "gateway/common/log.hpp"
#include "gateway/stream/tls_stream.hpp"

namespace perch::gateway {

namespace http = boost::beast::http;

bool delegated_request_slots::try_acquire() {
    std::size_t taken = in_use_.load(std::memory_order_relaxed);
    while (taken < max_concurrent_) {
        if (in_use_.compare_exchange_weak(taken, taken + 1, std::memory_order_relaxed)) {
            return true;
        }
    }
    return false;
}

void delegated_request_slots::release() {
    in_use_.fetch_sub(1, std::memory_order_relaxed);
}

namespace {

void close_stream(boost::asio::ip::tcp::socket& socket) {
    boost::system::error_code ignored;
    socket.shutdown(boost::asio::ip::tcp::socket::shutdown_both, ignored);
    socket.close(ignored);
}
void close_stream(tls_stream& stream) {
    stream.close();
}

/// A short text answer that closes the connection.
http_response short_answer(http::status status, unsigned version, std::string_view text) {
    http_response response{status, version};
    response.set(http::field::server, "perch");
    response.set(http::field::content_type, "text/plain; charset=utf-8");
    response.keep_alive(false);
    response.body() = std::string(text) + "\n";
    response.prepare_payload();
    return response;
}

/// States: reading the body -> waiting for the delegate -> writing -> closed. The timer bounds
/// reading and writing; when it fires while reading, 408 is written (the read is abandoned), and
/// when it fires while writing, the stream closes.
template <typename Stream>
class delegated_http_exchange
    : public std::enable_shared_from_this<delegated_http_exchange<Stream>> {
public:
    delegated_http_exchange(std::unique_ptr<Stream> stream, boost::beast::flat_buffer buffer,
                            http::request_parser<http::empty_body>&& header,
                            const delegated_http_settings& settings, std::string remote_address)
        : stream_(std::move(stream)), buffer_(std::move(buffer)), parser_(std::move(header)),
          settings_(settings), remote_address_(std::move(remote_address)),
          timer_(stream_->get_executor()) {
        header_.base() = parser_.get().base();
    }

    ~delegated_http_exchange() {
        close_stream(*stream_);
        settings_.slots->release();
    }

    delegated_http_exchange(const delegated_http_exchange&) = delete;
    delegated_http_exchange& operator=(const delegated_http_exchange&) = delete;

    void start() {
        const http_delegate& delegate = *settings_.delegate;
        const auto& header = parser_.get();
        const std::string_view target(header.target().data(), header.target().size());
        const std::size_t limit = delegate.body_limit(header.method(), target);
        const boost::optional<std::uint64_t> length = parser_.content_length();
        if (length && *length > limit) {
            write_answer(delegate.too_large(header));
            return;
        }
        parser_.body_limit(limit);
        const bool is_upload = limit > small_body_bytes;
        if (delegate.is_streamed && delegate.is_streamed(header.method(), target)) {
            begin_stream(is_upload);
            return;
        }
        if (parser_.is_done()) {
            hand_over();
            return;
        }
        arm_timer(is_upload ? settings_.limits.upload_timeout : settings_.limits.read_timeout);
        http::async_read(*stream_, buffer_, parser_,
                         [self = this->shared_from_this()](boost::system::error_code error,
                                                           std::size_t) { self->on_body(error); });
    }

private:
    /// Bodies up to this size are read within read_timeout, larger ones within upload_timeout.
    static constexpr std::size_t small_body_bytes = 64 * 1024;

    enum class phase { reading, waiting, writing, closed };

    void arm_timer(std::chrono::milliseconds timeout) {
        timer_.expires_after(timeout);
        timer_.async_wait([self = this->shared_from_this()](boost::system::error_code error) {
            if (!error) {
                self->on_timeout();
            }
        });
    }

    void on_timeout() {
        if (phase_ == phase::reading) {
            log_info("http on the app's origin: {} sent its body too slowly (408)",
                     remote_address_);
            write_answer(short_answer(http::status::request_timeout, header_.version(),
                                      "the request body did not arrive in time"));
            return;
        }
        if (phase_ == phase::writing) {
            phase_ = phase::closed;
            close_stream(*stream_);
        }
    }

    void on_body(boost::system::error_code error) {
        if (phase_ != phase::reading) {
            return;
        }
        timer_.cancel();
        if (error == http::error::body_limit) {
            write_answer(settings_.delegate->too_large(parser_.get()));
            return;
        }
        if (error) {
            log_debug("http on the app's origin: the body from {} ended: {}", remote_address_,
                      error.message());
            if (error == http::error::end_of_stream || error == boost::asio::error::eof ||
                error == boost::asio::error::connection_reset ||
                error == boost::asio::error::operation_aborted) {
                phase_ = phase::closed;
                return;
            }
            write_answer(short_answer(http::status::bad_request, parser_.get().version(),
                                      "malformed request"));
            return;
        }
        hand_over();
    }

    /// A streamed body (an upload): the delegate checks the header first, then the body goes to
    /// its sink as it arrives, within the timeout.
    void begin_stream(bool is_upload) {
        phase_ = phase::waiting;
        http_request header;
        header.base() = parser_.get().base();
        auto executor = stream_->get_executor();
        settings_.delegate->begin_stream(
            std::move(header), remote_address_,
            [self = this->shared_from_this(), executor, is_upload](
                std::shared_ptr<http_body_sink> sink, std::optional<http_response> refusal) {
                boost::asio::post(executor, [self, sink = std::move(sink), is_upload,
                                             refusal = std::move(refusal)]() mutable {
                    self->on_stream_ready(std::move(sink), std::move(refusal), is_upload);
                });
            });
    }

    void on_stream_ready(std::shared_ptr<http_body_sink> sink, std::optional<http_response> refusal,
                         bool is_upload) {
        if (!sink) {
            write_answer(refusal ? std::move(*refusal)
                                 : short_answer(http::status::internal_server_error,
                                                header_.version(), "no answer"));
            return;
        }
        phase_ = phase::reading;
        arm_timer(is_upload ? settings_.limits.upload_timeout : settings_.limits.read_timeout);
        std::make_shared<http_body_stream<Stream>>(
            *stream_, buffer_, std::move(parser_), std::move(sink), stream_->get_executor(),
            [self = this->shared_from_this()](std::optional<http_response> answer,
                                              boost::system::error_code error) {
                self->on_stream_end(std::move(answer), error);
            })
            ->start();
    }

    void on_stream_end(std::optional<http_response> answer, boost::system::error_code error) {
        if (phase_ != phase::reading) {
            return;
        }
        timer_.cancel();
        if (answer) {
            write_answer(std::move(*answer));
        } else if (error == http::error::body_limit) {
            write_answer(settings_.delegate->too_large(header_));
        } else if (error == http::error::end_of_stream || error == boost::asio::error::eof ||
                   error == boost::asio::error::connection_reset ||
                   error == boost::asio::error::operation_aborted) {
            phase_ = phase::closed;
        } else {
            write_answer(
                short_answer(http::status::bad_request, header_.version(), "malformed request"));
        }
    }

    void hand_over() {
        phase_ = phase::waiting;
        auto executor = stream_->get_executor();
        settings_.delegate->handle(
            parser_.release(), remote_address_,
            [self = this->shared_from_this(), executor](http_response response) {
                boost::asio::post(executor, [self, response = std::move(response)]() mutable {
                    self->write_answer(std::move(response));
                });
            });
    }

    void write_answer(http_response response) {
        if (phase_ == phase::writing || phase_ == phase::closed) {
            return;
        }
        phase_ = phase::writing;
        // The connection ends with this answer: the client opens another for what follows.
        response.keep_alive(false);
        response_ = std::move(response);
        arm_timer(settings_.limits.write_timeout);
        http::async_write(
            *stream_, *response_,
            [self = this->shared_from_this()](boost::system::error_code, std::size_t) {
                self->timer_.cancel();
                self->phase_ = phase::closed;
                close_stream(*self->stream_);
            });
    }

    std::unique_ptr<Stream> stream_;
    boost::beast::flat_buffer buffer_;
    http::request_parser<http::string_body> parser_;
    /// The request's header, for the answers made here (408, 413).
    http_request header_;
    delegated_http_settings settings_;
    std::string remote_address_;
    boost::asio::steady_timer timer_;
    std::optional<http_response> response_;
    phase phase_ = phase::reading;
};

template <typename Stream>
void start_exchange(std::unique_ptr<Stream> stream, boost::beast::flat_buffer buffer,
                    http::request_parser<http::empty_body>&& parser,
                    const delegated_http_settings& settings, std::string remote_address) {
    std::make_shared<delegated_http_exchange<Stream>>(std::move(stream), std::move(buffer),
                                                      std::move(parser), settings,
                                                      std::move(remote_address))
        ->start();
}

} // namespace

void serve_delegated_request(std::unique_ptr<boost::asio::ip::tcp::socket> stream,
                             boost::beast::flat_buffer buffer,
                             http::request_parser<http::empty_body>&& parser,
                             const delegated_http_settings& settings, std::string remote_address) {
    start_exchange(std::move(stream), std::move(buffer), std::move(parser), settings,
                   std::move(remote_address));
}

void serve_delegated_request(std::unique_ptr<tls_stream> stream, boost::beast::flat_buffer buffer,
                             http::request_parser<http::empty_body>&& parser,
                             const delegated_http_settings& settings, std::string remote_address) {
    start_exchange(std::move(stream), std::move(buffer), std::move(parser), settings,
                   std::move(remote_address));
}

} // namespace perch::gateway
