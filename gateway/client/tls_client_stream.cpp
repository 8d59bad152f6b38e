// wolfSSL client sessions driven through memory buffers over an Asio socket.
#include "gateway/client/tls_client_stream.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <mutex>
#include <new>
#include <stdexcept>

#include <boost/asio/write.hpp>

// wolfSSL's build options must come before any other wolfSSL header.
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>

namespace perch::gateway::client {
namespace {

/// Debian's bundle of the system's trusted certificate authorities.
constexpr const char* system_ca_bundle = "/etc/ssl/certs/ca-certificates.crt";

/// The most ciphertext read from the socket at once.
constexpr std::size_t read_chunk_bytes = 16 * 1024;

class wolfssl_client_category : public boost::system::error_category {
public:
    const char* name() const noexcept override { return "tls-client"; }
    std::string message(int code) const override {
        std::array<char, WOLFSSL_MAX_ERROR_SZ> text{};
        wolfSSL_ERR_error_string_n(static_cast<unsigned long>(code), text.data(), text.size());
        return text.data();
    }
};

void initialize_once() {
    static std::once_flag once;
    std::call_once(once, [] { wolfSSL_Init(); });
}

} // namespace

const boost::system::error_category& tls_client_category() {
    static const wolfssl_client_category category;
    return category;
}

tls_client_context::tls_client_context(const tls_client_options& options) {
    initialize_once();
    context_ = wolfSSL_CTX_new(wolfSSLv23_client_method());
    if (context_ == nullptr) {
        throw std::bad_alloc();
    }
    wolfSSL_CTX_SetMinVersion(context_, WOLFSSL_TLSV1_2);
    if (options.verify_peer) {
        const std::string ca_file = options.ca_file.empty() ? system_ca_bundle : options.ca_file;
        if (wolfSSL_CTX_load_verify_locations(context_, ca_file.c_str(), nullptr) !=
            WOLFSSL_SUCCESS) {
            wolfSSL_CTX_free(context_);
            throw std::runtime_error(ca_file + ": cannot load the certificate authorities");
        }
        wolfSSL_CTX_set_verify(context_, WOLFSSL_VERIFY_PEER, nullptr);
    } else {
        wolfSSL_CTX_set_verify(context_, WOLFSSL_VERIFY_NONE, nullptr);
    }
    wolfSSL_SetIORecv(context_, nullptr);
    wolfSSL_SetIOSend(context_, nullptr);
}

tls_client_context::~tls_client_context() {
    wolfSSL_CTX_free(context_);
}

tls_client_stream::tls_client_stream(boost::asio::ip::tcp::socket socket,
                                     const tls_client_context& context,
                                     const std::string& host_name)
    : socket_(std::move(socket)) {
    session_ = wolfSSL_new(context.handle());
    if (session_ == nullptr) {
        throw std::bad_alloc();
    }
    wolfSSL_SSLSetIORecv(session_, &tls_client_stream::receive_callback);
    wolfSSL_SSLSetIOSend(session_, &tls_client_stream::send_callback);
    wolfSSL_SetIOReadCtx(session_, this);
    wolfSSL_SetIOWriteCtx(session_, this);
    // SNI and the name the certificate must carry (an address is checked as written).
    wolfSSL_UseSNI(session_, WOLFSSL_SNI_HOST_NAME, host_name.data(),
                   static_cast<unsigned short>(host_name.size()));
    wolfSSL_check_domain_name(session_, host_name.c_str());
}

tls_client_stream::~tls_client_stream() {
    *alive_ = false;
    wolfSSL_free(session_);
}

void tls_client_stream::close() {
    boost::system::error_code ignored;
    socket_.close(ignored);
}

int tls_client_stream::receive_callback(WOLFSSL*, char* buffer, int size, void* self) {
    auto* stream = static_cast<tls_client_stream*>(self);
    const std::size_t available = stream->incoming_.size() - stream->incoming_offset_;
    if (available == 0) {
        return stream->is_peer_closed_ ? WOLFSSL_CBIO_ERR_CONN_CLOSE : WOLFSSL_CBIO_ERR_WANT_READ;
    }
    const std::size_t count = std::min(available, static_cast<std::size_t>(size));
    std::memcpy(buffer, stream->incoming_.data() + stream->incoming_offset_, count);
    stream->incoming_offset_ += count;
    if (stream->incoming_offset_ == stream->incoming_.size()) {
        stream->incoming_.clear();
        stream->incoming_offset_ = 0;
    }
    return static_cast<int>(count);
}

int tls_client_stream::send_callback(WOLFSSL*, char* buffer, int size, void* self) {
    auto* stream = static_cast<tls_client_stream*>(self);
    stream->outgoing_.insert(stream->outgoing_.end(), buffer, buffer + size);
    return size;
}

tls_client_stream::step tls_client_stream::classify(int result, boost::system::error_code& error) {
    if (result > 0) {
        return step::done;
    }
    const int code = wolfSSL_get_error(session_, result);
    if (code == WOLFSSL_ERROR_WANT_READ) {
        return step::wants_input;
    }
    if (code == WOLFSSL_ERROR_ZERO_RETURN || (is_peer_closed_ && code == SOCKET_PEER_CLOSED_E)) {
        error = boost::asio::error::eof;
    } else {
        error = boost::system::error_code(code < 0 ? -code : code, tls_client_category());
    }
    return step::failed;
}

void tls_client_stream::flush_then(std::function<void(boost::system::error_code)> next) {
    std::weak_ptr<bool> alive = alive_;
    if (outgoing_.empty()) {
        // Completions never run inside the call that started them.
        boost::asio::post(socket_.get_executor(), [alive, next = std::move(next)] {
            if (!alive.expired()) {
                next({});
            }
        });
        return;
    }
    sending_.swap(outgoing_);
    outgoing_.clear();
    boost::asio::async_write(
        socket_, boost::asio::buffer(sending_),
        [this, alive, next = std::move(next)](const boost::system::error_code& error, std::size_t) {
            if (alive.expired()) {
                return;
            }
            sending_.clear();
            next(error);
        });
}

void tls_client_stream::fill_then(std::function<void(boost::system::error_code)> next) {
    const std::size_t used = incoming_.size();
    incoming_.resize(used + read_chunk_bytes);
    std::weak_ptr<bool> alive = alive_;
    socket_.async_read_some(boost::asio::buffer(incoming_.data() + used, read_chunk_bytes),
                            [this, alive, used, next = std::move(next)](
                                const boost::system::error_code& error, std::size_t count) {
                                if (alive.expired()) {
                                    return;
                                }
                                incoming_.resize(used + count);
                                if (error == boost::asio::error::eof) {
                                    // wolfSSL sees the end of the stream and reports it
                                    // (close_notify or not).
                                    is_peer_closed_ = true;
                                    next({});
                                    return;
                                }
                                next(error);
                            });
}

void tls_client_stream::async_handshake(handshake_handler handler) {
    handshake_handler_ = std::move(handler);
    continue_handshake();
}

void tls_client_stream::continue_handshake() {
    boost::system::error_code error;
    const step outcome = classify(wolfSSL_connect(session_), error);
    flush_then([this, outcome, error](boost::system::error_code write_error) {
        if (write_error || outcome == step::failed) {
            auto handler = std::move(handshake_handler_);
            handler(write_error ? write_error : error);
            return;
        }
        if (outcome == step::done) {
            auto handler = std::move(handshake_handler_);
            handler({});
            return;
        }
        fill_then([this](boost::system::error_code read_error) {
            if (read_error) {
                auto handler = std::move(handshake_handler_);
                handler(read_error);
                return;
            }
            continue_handshake();
        });
    });
}

void tls_client_stream::start_read(boost::asio::mutable_buffer buffer, io_handler handler) {
    read_buffer_ = buffer;
    read_handler_ = std::move(handler);
    continue_read();
}

void tls_client_stream::continue_read() {
    if (read_buffer_.size() == 0) {
        boost::asio::post(socket_.get_executor(),
                          [handler = std::move(read_handler_)]() mutable { handler({}, 0); });
        return;
    }
    boost::system::error_code error;
    const int result =
        wolfSSL_read(session_, read_buffer_.data(),
                     static_cast<int>(std::min<std::size_t>(read_buffer_.size(), 1 << 30)));
    const step outcome = classify(result, error);
    // Reading may have produced output (a key update answer, an alert): send it first.
    flush_then([this, outcome, error, result](boost::system::error_code write_error) {
        if (outcome == step::done || outcome == step::failed || write_error) {
            auto handler = std::move(read_handler_);
            const std::size_t count = outcome == step::done ? static_cast<std::size_t>(result) : 0;
            handler(outcome == step::done ? write_error : (write_error ? write_error : error),
                    count);
            return;
        }
        fill_then([this](boost::system::error_code read_error) {
            if (read_error) {
                auto handler = std::move(read_handler_);
                handler(read_error, 0);
                return;
            }
            continue_read();
        });
    });
}

void tls_client_stream::start_write(boost::asio::const_buffer buffer, io_handler handler) {
    if (buffer.size() == 0) {
        boost::asio::post(socket_.get_executor(),
                          [handler = std::move(handler)]() mutable { handler({}, 0); });
        return;
    }
    boost::system::error_code error;
    const int size = static_cast<int>(std::min(buffer.size(), max_record_bytes));
    const int result = wolfSSL_write(session_, buffer.data(), size);
    if (classify(result, error) != step::done) {
        // A client write never waits for input here: the handshake is complete.
        if (!error) {
            error = boost::asio::error::would_block;
        }
        boost::asio::post(socket_.get_executor(),
                          [handler = std::move(handler), error]() mutable { handler(error, 0); });
        return;
    }
    flush_then([handler = std::move(handler), result](boost::system::error_code write_error) {
        handler(write_error, write_error ? 0 : static_cast<std::size_t>(result));
    });
}

} // namespace perch::gateway::client
