// A chat completions call as a chain of Asio handlers: resolve, connect, TLS handshake (https),
// write the request, read the response body piece by piece.
#include "gateway/assistant/completion_client.hpp"

#include <array>
#include <limits>
#include <optional>
#include <utility>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

namespace perch::gateway::assistant {
namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;
using error_code = boost::system::error_code;

/// The response header may not exceed this.
constexpr std::uint32_t max_header_bytes = 16 * 1024;

class completion_call final : public completion_cancel,
                              public std::enable_shared_from_this<completion_call> {
public:
    completion_call(asio::any_io_executor executor, const client::tls_client_context* tls,
                    completion_call_options options, completion_progress progress,
                    completion_done done)
        : executor_(std::move(executor)), tls_(tls), options_(std::move(options)),
          progress_(std::move(progress)), done_(std::move(done)), resolver_(executor_),
          socket_(executor_), deadline_(executor_), events_(options_.max_response_bytes),
          stream_(options_.max_response_bytes) {}

    void start() {
        if (options_.url.is_tls && tls_ == nullptr) {
            finish(completion_failure{"https endpoint without a TLS context",
                                      failure_kind::unreachable});
            return;
        }
        deadline_.expires_after(options_.timeout);
        deadline_.async_wait([self = shared_from_this()](const error_code& error) {
            if (!error) {
                self->on_deadline();
            }
        });
        resolver_.async_resolve(options_.url.host, std::to_string(options_.url.port),
                                [self = shared_from_this()](const error_code& error,
                                                            tcp::resolver::results_type found) {
                                    self->on_resolved(error, std::move(found));
                                });
    }

    void cancel() override {
        if (is_finished_) {
            return;
        }
        abort_io();
        finish(completion_failure{"the call was cancelled", failure_kind::cancelled});
    }

private:
    void on_deadline() {
        abort_io();
        finish(completion_failure{"the model server did not answer within " +
                                      std::to_string(options_.timeout.count() / 1000) + " s",
                                  failure_kind::timeout});
    }

    /// Stops every operation in flight; their handlers then see is_timed_out_ and do nothing.
    void abort_io() {
        is_timed_out_ = true;
        resolver_.cancel();
        error_code ignored;
        if (tls_stream_) {
            tls_stream_->close();
        } else {
            socket_.close(ignored);
        }
    }

    void on_resolved(const error_code& error, const tcp::resolver::results_type& found) {
        if (error) {
            fail_network("cannot resolve " + options_.url.host, error, failure_kind::unreachable);
            return;
        }
        asio::async_connect(
            socket_, found,
            [self = shared_from_this()](const error_code& connect_error, const tcp::endpoint&) {
                self->on_connected(connect_error);
            });
    }

    void on_connected(const error_code& error) {
        if (error) {
            fail_network("cannot connect to the model server", error, failure_kind::unreachable);
            return;
        }
        socket_.set_option(tcp::no_delay(true));
        if (!options_.url.is_tls) {
            send_request(socket_);
            return;
        }
        tls_stream_ = std::make_unique<client::tls_client_stream>(std::move(socket_), *tls_,
                                                                  options_.url.host);
        tls_stream_->async_handshake([self = shared_from_this()](const error_code& tls_error) {
            if (tls_error) {
                self->fail_network("TLS with the model server failed", tls_error,
                                   failure_kind::unreachable);
                return;
            }
            self->send_request(*self->tls_stream_);
        });
    }

    template <typename Stream> void send_request(Stream& stream) {
        request_.method(http::verb::post);
        request_.target(options_.url.completions_target());
        request_.version(11);
        request_.set(http::field::host, options_.url.host_header());
        request_.set(http::field::user_agent, "perch-assistant");
        request_.set(http::field::content_type, "application/json");
        request_.set(http::field::accept,
                     options_.is_streamed ? "text/event-stream" : "application/json");
        if (!options_.api_key.empty()) {
            request_.set(http::field::authorization, "Bearer " + options_.api_key);
        }
        request_.body() = options_.body;
        request_.prepare_payload();
        http::async_write(
            stream, request_,
            [self = shared_from_this(), &stream](const error_code& error, std::size_t) {
                if (error) {
                    self->fail_network("cannot send the request", error, failure_kind::unreachable);
                    return;
                }
                self->read_header(stream);
            });
    }

    template <typename Stream> void read_header(Stream& stream) {
        parser_.emplace();
        parser_->header_limit(max_header_bytes);
        if (options_.is_streamed) {
            // The raw stream is discarded as it is read: the assembled answer and each line are
            // bounded instead (and the whole call by its deadline). Not boost::none: Boost 1.74's
            // parser compares a Content-Length against an empty limit as exceeding it.
            parser_->body_limit(std::numeric_limits<std::uint64_t>::max());
        } else {
            parser_->body_limit(options_.max_response_bytes);
        }
        http::async_read_header(
            stream, buffer_, *parser_,
            [self = shared_from_this(), &stream](const error_code& error, std::size_t) {
                if (error == http::error::body_limit) {
                    self->finish(completion_failure{"the model server's answer is too large",
                                                    failure_kind::too_large});
                    return;
                }
                if (error) {
                    self->fail_network("no valid HTTP answer", error, failure_kind::bad_answer);
                    return;
                }
                self->status_ = self->parser_->get().result_int();
                self->read_body(stream);
            });
    }

    template <typename Stream> void read_body(Stream& stream) {
        if (parser_->is_done()) {
            on_body_complete();
            return;
        }
        parser_->get().body().data = chunk_.data();
        parser_->get().body().size = chunk_.size();
        http::async_read_some(
            stream, buffer_, *parser_,
            [self = shared_from_this(), &stream](const error_code& error, std::size_t) {
                self->on_body_piece(stream, error);
            });
    }

    template <typename Stream> void on_body_piece(Stream& stream, error_code error) {
        if (error == http::error::need_buffer) {
            error = {};
        }
        const std::size_t count = chunk_.size() - parser_->get().body().size;
        if (error) {
            const bool is_size_error = error == http::error::body_limit;
            if (is_size_error) {
                finish(completion_failure{"the model server's answer is too large",
                                          failure_kind::too_large});
            } else {
                fail_network("the answer was cut off", error, failure_kind::incomplete);
            }
            return;
        }
        if (!take_body_bytes(std::string_view(chunk_.data(), count))) {
            return;
        }
        read_body(stream);
    }

    /// False when the call has finished because of these bytes.
    bool take_body_bytes(std::string_view bytes) {
        const bool is_success_status = status_ >= 200 && status_ < 300;
        if (!options_.is_streamed || !is_success_status) {
            if (body_.size() + bytes.size() > options_.max_response_bytes) {
                finish(completion_failure{"the model server's answer is too large",
                                          failure_kind::too_large});
                return false;
            }
            body_.append(bytes);
            return true;
        }
        std::vector<sse_event> events;
        if (!events_.handle_bytes(bytes, events)) {
            finish(completion_failure{"the model server's stream has an overlong line",
                                      failure_kind::too_large});
            return false;
        }
        for (const sse_event& event : events) {
            const auto state = stream_.handle_event(event);
            if (state == completion_stream::state::failed) {
                finish(stream_.failure());
                return false;
            }
            if (state == completion_stream::state::done) {
                finish(stream_.content());
                return false;
            }
        }
        if (!events.empty() && progress_ && !stream_.content().empty()) {
            progress_(stream_.content());
        }
        return true;
    }

    void on_body_complete() {
        if (status_ < 200 || status_ >= 300) {
            finish(describe_error_response(status_, body_));
            return;
        }
        if (!options_.is_streamed) {
            finish(parse_completion_response(body_));
            return;
        }
        // The stream ended without [DONE]: the answer may be cut anywhere, so it is not given.
        finish(completion_failure{"the model server's stream ended before the answer was complete",
                                  failure_kind::incomplete});
    }

    void fail_network(const std::string& what, const error_code& error, failure_kind kind) {
        if (is_timed_out_) {
            return;
        }
        if (error == http::error::end_of_stream || error == asio::error::eof) {
            if (parser_ && parser_->is_header_done() && !parser_->is_done() &&
                !parser_->get().has_content_length() && !parser_->chunked()) {
                // A body delimited by the end of the connection has ended.
                on_body_complete();
                return;
            }
        }
        finish(completion_failure{what + " (" + error.message() + ")", kind});
    }

    void finish(completion_result result) {
        if (is_finished_) {
            return;
        }
        is_finished_ = true;
        deadline_.cancel();
        error_code ignored;
        if (tls_stream_) {
            tls_stream_->close();
        } else {
            socket_.close(ignored);
        }
        auto done = std::move(done_);
        done(std::move(result));
    }

    asio::any_io_executor executor_;
    const client::tls_client_context* tls_;
    completion_call_options options_;
    completion_progress progress_;
    completion_done done_;
    tcp::resolver resolver_;
    tcp::socket socket_;
    std::unique_ptr<client::tls_client_stream> tls_stream_;
    asio::steady_timer deadline_;
    http::request<http::string_body> request_;
    boost::beast::flat_buffer buffer_;
    std::optional<http::response_parser<http::buffer_body>> parser_;
    std::array<char, 8192> chunk_{};
    unsigned status_ = 0;
    std::string body_;
    sse_parser events_;
    completion_stream stream_;
    bool is_timed_out_ = false;
    bool is_finished_ = false;
};

} // namespace

std::weak_ptr<completion_cancel> start_completion_call(boost::asio::any_io_executor executor,
                                                       const client::tls_client_context* tls,
                                                       completion_call_options options,
                                                       completion_progress progress,
                                                       completion_done done) {
    auto call = std::make_shared<completion_call>(std::move(executor), tls, std::move(options),
                                                  std::move(progress), std::move(done));
    call->start();
    return call;
}

} // namespace perch::gateway::assistant
