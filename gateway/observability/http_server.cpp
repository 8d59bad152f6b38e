// The http listener's sessions on Boost.Beast. See the header for the theory of operation.
#include "gateway/observability/http_server.hpp"

#include <optional>
#include <utility>

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

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
        parser_->body_limit(owner_.limits().max_body_bytes);
        stream_.expires_after(owner_.limits().read_timeout);
        http::async_read(stream_, buffer_, *parser_,
                         [self = shared_from_this()](beast::error_code error, std::size_t) {
                             self->on_read(error);
                         });
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
            respond(http_error_response(status));
            return;
        }
        owner_.note_request();
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
    bool is_closed_ = false;
};

http_server::http_server(observability_sources sources, http_server_limits limits)
    : sources_(std::move(sources)), limits_(limits) {}

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
