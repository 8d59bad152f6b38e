// One TLS session over a non-blocking socket, driven by readiness events.
#include "gateway/tls_stream.hpp"

#include <algorithm>
#include <array>
#include <new>

#include <boost/asio/error.hpp>

// clang-format off
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/error-ssl.h>
// clang-format on

#include "gateway/log.hpp"

namespace perch::gateway {

namespace {

class wolfssl_category final : public boost::system::error_category {
public:
    const char* name() const noexcept override { return "tls"; }
    std::string message(int code) const override {
        std::array<char, WOLFSSL_MAX_ERROR_SZ> text{};
        wolfSSL_ERR_error_string_n(static_cast<unsigned long>(code), text.data(), text.size());
        return std::string(text.data());
    }
};

} // namespace

const boost::system::error_category& tls_category() {
    static const wolfssl_category category;
    return category;
}

tls_stream::tls_stream(boost::asio::ip::tcp::socket socket, const tls_context& context)
    : socket_(std::move(socket)), context_(context), remote_address_(describe_peer(socket_)) {
    boost::system::error_code ignored;
    socket_.non_blocking(true, ignored);
    socket_.set_option(boost::asio::ip::tcp::no_delay(true), ignored);
    session_ = wolfSSL_new(context.native_handle());
    if (session_ == nullptr) {
        throw std::bad_alloc();
    }
    wolfSSL_set_fd(session_, socket_.native_handle());
    wolfSSL_set_using_nonblock(session_, 1);
}

tls_stream::~tls_stream() {
    wolfSSL_free(session_);
}

boost::system::error_code tls_stream::classify(int result) {
    const int code = wolfSSL_get_error(session_, result);
    switch (code) {
    case WOLFSSL_ERROR_WANT_READ: wants_write_ = false; return boost::asio::error::would_block;
    case WOLFSSL_ERROR_WANT_WRITE: wants_write_ = true; return boost::asio::error::would_block;
    case WOLFSSL_ERROR_ZERO_RETURN:
    case SOCKET_PEER_CLOSED_E: return boost::asio::error::eof;
    default: return boost::system::error_code(code, tls_category());
    }
}

bool tls_stream::continue_handshake(boost::system::error_code& error) {
    const int result = wolfSSL_accept(session_);
    if (result == WOLFSSL_SUCCESS) {
        is_handshake_done_ = true;
        wants_write_ = false;
        log_debug("TLS handshake with {} done: {} {}", remote_address_,
                  wolfSSL_get_version(session_), wolfSSL_get_cipher(session_));
        return true;
    }
    error = classify(result);
    if (error != boost::asio::error::would_block) {
        log_info("TLS handshake with {} failed: {}", remote_address_, error.message());
    }
    return false;
}

std::size_t tls_stream::read_some(std::span<std::uint8_t> buffer,
                                  boost::system::error_code& error) {
    error.clear();
    if (!socket_.is_open()) {
        error = boost::asio::error::bad_descriptor;
        return 0;
    }
    if (!is_handshake_done_ && !continue_handshake(error)) {
        return 0;
    }
    const int capacity = static_cast<int>(std::min<std::size_t>(buffer.size(), 1 << 30));
    const int result = wolfSSL_read(session_, buffer.data(), capacity);
    if (result > 0) {
        return static_cast<std::size_t>(result);
    }
    error = classify(result);
    return 0;
}

void tls_stream::async_wait_readable(wait_handler handler) {
    socket_.async_wait(wanted_event(), std::move(handler));
}

std::size_t tls_stream::write_some(const std::uint8_t* data, std::size_t size,
                                   boost::system::error_code& error) {
    error.clear();
    if (!socket_.is_open()) {
        error = boost::asio::error::bad_descriptor;
        return 0;
    }
    if (size == 0) {
        return 0;
    }
    const int result = wolfSSL_write(session_, data, static_cast<int>(size));
    if (result > 0) {
        return static_cast<std::size_t>(result);
    }
    error = classify(result);
    if (error == boost::asio::error::would_block) {
        // wolfSSL holds the encrypted record; the next call with the same bytes sends it.
        wants_write_ = false;
    }
    return 0;
}

void tls_stream::async_write(std::span<const boost::asio::const_buffer> buffers,
                             write_handler handler) {
    staging_.clear();
    for (const boost::asio::const_buffer& buffer : buffers) {
        const auto* bytes = static_cast<const std::uint8_t*>(buffer.data());
        staging_.insert(staging_.end(), bytes, bytes + buffer.size());
    }
    write_loop(staging_.data(), staging_.size(),
               [this, handler = std::move(handler)](const boost::system::error_code& error,
                                                    std::size_t bytes) {
                   if (staging_.capacity() > 4096) {
                       // An idle connection keeps no large buffer.
                       std::vector<std::uint8_t>().swap(staging_);
                   }
                   handler(error, bytes);
               });
}

void tls_stream::close() {
    if (!socket_.is_open()) {
        return;
    }
    if (is_handshake_done_) {
        // Best effort close_notify; the socket closes either way.
        wolfSSL_shutdown(session_);
    }
    boost::system::error_code ignored;
    socket_.shutdown(boost::asio::ip::tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
}

std::string tls_stream::identity_user_name() const {
    if (!is_handshake_done_ || !context_.uses_identity_as_username()) {
        return {};
    }
    WOLFSSL_X509* certificate = wolfSSL_get_peer_certificate(session_);
    if (certificate == nullptr) {
        return {};
    }
    const char* common_name = wolfSSL_X509_get_subjectCN(certificate);
    std::string identity = common_name != nullptr ? std::string(common_name) : std::string();
    wolfSSL_X509_free(certificate);
    return identity;
}

void beast_close_socket(tls_stream& stream) {
    stream.close();
}

void teardown(boost::beast::role_type, tls_stream& stream, boost::system::error_code& error) {
    stream.close();
    error.clear();
}

} // namespace perch::gateway
