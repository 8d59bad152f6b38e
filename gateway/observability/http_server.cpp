// The http listener's sessions on Boost.Beast. See the header for the theory of operation.
#include "gateway/observability/http_server.hpp"

#include <algorithm>
#include <optional>
#include <utility>

#include <boost/asio/post.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

#include "gateway/common/http_body_stream.hpp"
#include "gateway/common/log.hpp"

namespace perch::gateway {

namespace beast = boost::beast;
namespace http = boost::beast::http;

/// One HTTP connection: read a request, answer it, repeat while kept alive.
class http_session : public std::enable_shared_from_this<http_session> {
public:
    http_session(http_server& owner, boost::asio::ip::tcp::socket socket)
        : owner_(owner), stream_(std::move(socket)) {}

    void start() { read_next(); }

    /// Closes the socket; the pending operation completes with operation_aborted.
    void close() {
        if (is_closed_) {
            return;
        }
        is_closed_ = true;
        boost::system::error_code ignored;
        stream_.socket().shutdown(boost::asio::ip::tcp::socket::shutdown_both, ignored);
        stream_.close();
        owner_.forget(this);
    }

private:
    void read_next() {
        parser_.emplace();
        parser_->header_limit(static_cast<std::uint32_t>(owner_.limits().max_header_bytes));
        // A Content-Length is checked against this when the header ends; on_header narrows it.
        std::size_t widest = owner_.limits().max_body_bytes;
        if (const http_delegate* delegate = owner_.delegate()) {
            widest = std::max(widest, delegate->max_body_limit());
        }
        parser_->body_limit(widest);
        stream_.expires_after(owner_.limits().read_timeout);
        http::async_read_header(stream_, buffer_, *parser_,
                                [self = shared_from_this()](beast::error_code error, std::size_t) {
                                    self->on_header(error);
                                });
    }

    void on_header(beast::error_code error) {
        if (is_closed_ || error) {
            on_read(error);
            return;
        }
        const http_delegate* delegate = owner_.delegate();
        const auto& header = parser_->get();
        const std::string_view target(header.target().data(), header.target().size());
        std::size_t limit = owner_.limits().max_body_bytes;
        is_delegated_ = delegate != nullptr && delegate->is_delegated(target);
        if (is_delegated_) {
            limit = delegate->body_limit(header.method(), target);
        }
        const boost::optional<std::uint64_t> length = parser_->content_length();
        if (length && *length > limit) {
            on_read(http::error::body_limit);
            return;
        }
        parser_->body_limit(limit);
        if (limit > owner_.limits().max_body_bytes) {
            stream_.expires_after(owner_.limits().upload_timeout);
        }
        if (is_delegated_ && delegate->is_streamed &&
            delegate->is_streamed(header.method(), target)) {
            begin_stream();
            return;
        }
        if (parser_->is_done()) {
            on_read({});
            return;
        }
        http::async_read(stream_, buffer_, *parser_,
                         [self = shared_from_this()](beast::error_code read_error, std::size_t) {
                             self->on_read(read_error);
                         });
    }

    /// A streamed body (an upload): the delegate checks the header, then the body goes to its
    /// sink as it arrives (http_body_stream.hpp). No read while the delegate checks the header.
    void begin_stream() {
        owner_.note_request();
        header_ = http_request();
        header_.base() = parser_->get().base();
        http_request header;
        header.base() = parser_->get().base();
        const std::chrono::steady_clock::duration timeout = owner_.limits().upload_timeout;
        stream_.expires_never();
        owner_.delegate()->begin_stream(
            std::move(header), remote_address(),
            [self = shared_from_this(), executor = stream_.get_executor(),
             timeout](std::shared_ptr<http_body_sink> sink, std::optional<http_response> refusal) {
                boost::asio::post(executor, [self, sink = std::move(sink), timeout,
                                             refusal = std::move(refusal)]() mutable {
                    if (self->is_closed_) {
                        if (sink) {
                            sink->abort();
                        }
                        return;
                    }
                    if (!sink) {
                        http_response answer =
                            refusal ? std::move(*refusal)
                                    : http_error_response(http::status::internal_server_error);
                        // The body was not read: the connection cannot carry another request.
                        answer.keep_alive(false);
                        self->respond(std::move(answer));
                        return;
                    }
                    self->stream_body(std::move(sink), timeout);
                });
            });
    }

    void stream_body(std::shared_ptr<http_body_sink> sink,
                     std::chrono::steady_clock::duration timeout) {
        stream_.expires_after(timeout);
        std::make_shared<http_body_stream<beast::tcp_stream>>(
            stream_, buffer_, std::move(*parser_), std::move(sink), stream_.get_executor(),
            [self = shared_from_this()](std::optional<http_response> answer,
                                        beast::error_code error) {
                if (self->is_closed_) {
                    return;
                }
                if (answer) {
                    if (error || answer->result() != http::status::created) {
                        answer->keep_alive(false);
                    }
                    self->respond(std::move(*answer));
                } else if (error == http::error::body_limit) {
                    self->owner_.note_bad_request();
                    http_response refusal = self->owner_.delegate()->too_large(self->header_);
                    refusal.keep_alive(false);
                    self->respond(std::move(refusal));
                } else {
                    self->close();
                }
            })
            ->start();
    }

    std::string remote_address() {
        boost::system::error_code ignored;
        const auto remote = stream_.socket().remote_endpoint(ignored);
        return remote.address().to_string() + ":" + std::to_string(remote.port());
    }

    void on_read(beast::error_code error) {
        if (is_closed_) {
            return;
        }
        if (error == http::error::end_of_stream || error == beast::error::timeout ||
            error == boost::asio::error::connection_reset || error == boost::asio::error::eof) {
            close();
            return;
        }
        if (error) {
            // Malformed or too large: one answer, then the connection ends.
            owner_.note_bad_request();
            http::status status = http::status::bad_request;
            if (error == http::error::header_limit) {
                status = http::status::request_header_fields_too_large;
            } else if (error == http::error::body_limit) {
                status = http::status::payload_too_large;
            }
            log_debug("http: refusing a request ({}): {}", static_cast<unsigned>(status),
                      error.message());
            if (is_delegated_ && error == http::error::body_limit) {
                http_response answer = owner_.delegate()->too_large(parser_->get());
                answer.keep_alive(false);
                respond(std::move(answer));
                return;
            }
            respond(http_error_response(status));
            return;
        }
        owner_.note_request();
        if (is_delegated_) {
            boost::system::error_code ignored;
            const auto remote = stream_.socket().remote_endpoint(ignored);
            std::string address =
                remote.address().to_string() + ":" + std::to_string(remote.port());
            // No read while the answer is made: the connection waits for it.
            stream_.expires_never();
            owner_.delegate()->handle(
                parser_->release(), std::move(address),
                [self = shared_from_this(),
                 executor = stream_.get_executor()](http_response response) {
                    boost::asio::post(executor, [self, response = std::move(response)]() mutable {
                        if (!self->is_closed_) {
                            self->respond(std::move(response));
                        }
                    });
                });
            return;
        }
        respond(answer_http_request(parser_->get(), owner_.sources()));
    }

    void respond(http_response response) {
        response_ = std::move(response);
        stream_.expires_after(owner_.limits().read_timeout);
        http::async_write(stream_, response_,
                          [self = shared_from_this()](beast::error_code error, std::size_t) {
                              self->on_written(error);
                          });
    }

    void on_written(beast::error_code error) {
        if (is_closed_) {
            return;
        }
        if (error || !response_.keep_alive()) {
            close();
            return;
        }
        read_next();
    }

    http_server& owner_;
    beast::tcp_stream stream_;
    beast::flat_buffer buffer_;
    std::optional<http::request_parser<http::string_body>> parser_;
    http_response response_;
    /// The header of a streamed request, for the answers made here (413).
    http_request header_;
    /// The request read now is the delegate's.
    bool is_delegated_ = false;
    bool is_closed_ = false;
};

http_server::http_server(observability_sources sources, http_server_limits limits,
                         std::shared_ptr<const http_delegate> delegate)
    : sources_(std::move(sources)), limits_(limits), delegate_(std::move(delegate)) {}

http_server::~http_server() {
    close_all();
}

void http_server::handle_accepted(boost::asio::ip::tcp::socket socket) {
    if (sessions_.size() >= limits_.max_connections) {
        counts_.connections_refused.add();
        log_notice("http: refusing a connection: {} open", sessions_.size());
        boost::system::error_code ignored;
        socket.close(ignored);
        return;
    }
    auto session = std::make_shared<http_session>(*this, std::move(socket));
    sessions_.push_back(session);
    session->start();
}

void http_server::close_all() {
    while (!sessions_.empty()) {
        // close() forgets the session, which shortens the list.
        const std::shared_ptr<http_session> session = sessions_.front();
        session->close();
    }
}

void http_server::forget(const http_session* session) {
    sessions_.remove_if([session](const auto& held) { return held.get() == session; });
}

} // namespace perch::gateway
