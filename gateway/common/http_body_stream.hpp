// Reads the body of a streamed request (http_delegate::is_streamed, an upload) piece by piece
// into its http_body_sink: one buffer of at most chunk_bytes is held, and the next read starts
// only once the sink has taken the last piece, so a slow disk slows the client instead of filling
// memory. Works on any Beast stream (TCP, beast::tcp_stream, the TLS stream); knows no service.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>

#include "gateway/common/http_delegate.hpp"

namespace perch::gateway {

/// The bytes of a streamed body read at once (and held per request).
constexpr std::size_t http_body_chunk_bytes = 64 * 1024;

/// How a streamed body ended: the answer to send (the sink's, or its refusal), or the read's
/// failure (http::error::body_limit past the limit, a timeout, the client gone) with no answer.
using http_body_stream_end =
    std::function<void(std::optional<http_response> answer, boost::system::error_code error)>;

/// Streams one request body from `Stream` into a sink. Owned by its pending operations; the
/// stream, the buffer and the owner must outlive it (the end callback should hold the owner).
template <typename Stream>
class http_body_stream : public std::enable_shared_from_this<http_body_stream<Stream>> {
public:
    /// Continues `header` (a parser that read the header and no body yet) from `stream` and
    /// `buffer` into `sink`; `on_end` runs once, on `executor`.
    template <typename HeaderBody>
    http_body_stream(Stream& stream, boost::beast::flat_buffer& buffer,
                     boost::beast::http::request_parser<HeaderBody>&& header,
                     std::shared_ptr<http_body_sink> sink, boost::asio::any_io_executor executor,
                     http_body_stream_end on_end)
        : stream_(stream), buffer_(buffer), parser_(std::move(header)), sink_(std::move(sink)),
          executor_(std::move(executor)), on_end_(std::move(on_end)) {}

    void start() {
        if (parser_.is_done()) {
            finish();
            return;
        }
        read_more();
    }

private:
    void read_more() {
        chunk_.resize(http_body_chunk_bytes);
        auto& body = parser_.get().body();
        body.data = chunk_.data();
        body.size = chunk_.size();
        boost::beast::http::async_read(
            stream_, buffer_, parser_,
            [self = this->shared_from_this()](boost::system::error_code error, std::size_t) {
                self->on_read(error);
            });
    }

    void on_read(boost::system::error_code error) {
        if (error == boost::beast::http::error::need_buffer) {
            error = {};
        }
        if (error) {
            sink_->abort();
            end(std::nullopt, error);
            return;
        }
        chunk_.resize(chunk_.size() - parser_.get().body().size);
        if (chunk_.empty()) {
            parser_.is_done() ? finish() : read_more();
            return;
        }
        std::string piece = std::move(chunk_);
        chunk_ = std::string();
        sink_->write(std::move(piece), [self = this->shared_from_this()](
                                           std::optional<http_response> refusal) {
            boost::asio::post(self->executor_, [self, refusal = std::move(refusal)]() mutable {
                self->on_written(std::move(refusal));
            });
        });
    }

    void on_written(std::optional<http_response> refusal) {
        if (refusal) {
            end(std::move(refusal), {});
            return;
        }
        parser_.is_done() ? finish() : read_more();
    }

    void finish() {
        sink_->finish([self = this->shared_from_this()](http_response answer) {
            boost::asio::post(self->executor_, [self, answer = std::move(answer)]() mutable {
                self->end(std::move(answer), {});
            });
        });
    }

    void end(std::optional<http_response> answer, boost::system::error_code error) {
        http_body_stream_end on_end = std::move(on_end_);
        on_end_ = nullptr;
        if (on_end) {
            on_end(std::move(answer), error);
        }
    }

    Stream& stream_;
    boost::beast::flat_buffer& buffer_;
    boost::beast::http::request_parser<boost::beast::http::buffer_body> parser_;
    std::shared_ptr<http_body_sink> sink_;
    boost::asio::any_io_executor executor_;
    http_body_stream_end on_end_;
    std::string chunk_;
};

} // namespace perch::gateway
