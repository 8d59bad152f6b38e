// One TLS session over a non-blocking socket, driven by readiness events.
#include "gateway/stream/tls_stream.hpp"

#include <algorithm>
#include <array>
#include <memory>
#include <new>

#include <boost/asio/error.hpp>
#include <boost/system/error_code.hpp>

// clang-format off
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/error-ssl.h>
// clang-format on

#include <cerrno>

#include "gateway/common/log.hpp"
#include "gateway/stream/handshake_heap_trim.hpp"

#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <sys/socket.h>

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

/// Plaintext held from the last record, in bytes, beyond which the buffer is released once read.
constexpr std::size_t kept_buffer_bytes = 512;

/// Completed handshakes (~57 KB of wolfSSL heap each while they run) before the heap is worth
/// trimming at the end of a burst: a trim walks the heap, about as long as a few handshakes.
constexpr std::size_t handshakes_per_heap_trim = 256;

handshake_heap_trim& heap_trim() {
    static handshake_heap_trim trim(handshakes_per_heap_trim);
    return trim;
}

/// Ends a handshake for the heap trim, trimming when it says so.
void end_handshake(bool is_completed) {
    if (heap_trim().on_ended(is_completed)) {
#if defined(__GLIBC__)
        // After a login storm the freed handshake state would otherwise stay in the process
        // (docs/TLS.md, "Memory after a burst of handshakes").
        ::malloc_trim(0);
#endif
    }
}

} // namespace

const boost::system::error_category& tls_category() {
    static const wolfssl_category category;
    return category;
}

tls_stream::tls_stream(boost::asio::ip::tcp::socket socket,
                       std::shared_ptr<const tls_context> context, tls_handshake_counters counts)
    : tls_stream(std::move(socket), *context, counts) {
    owned_context_ = std::move(context);
}

tls_stream::tls_stream(boost::asio::ip::tcp::socket socket, const tls_context& context,
                       tls_handshake_counters counts)
    : socket_(std::move(socket)), context_(context), counts_(counts),
      remote_address_(describe_peer(socket_)) {
    boost::system::error_code ignored;
    socket_.non_blocking(true, ignored);
    socket_.set_option(boost::asio::ip::tcp::no_delay(true), ignored);
    session_ = wolfSSL_new(context.native_handle());
    if (session_ == nullptr) {
        throw std::bad_alloc();
    }
    wolfSSL_set_fd(session_, socket_.native_handle());
    wolfSSL_set_using_nonblock(session_, 1);
    wolfSSL_SSLSetIORecv(session_, &tls_stream::receive_for_wolfssl);
    wolfSSL_SetIOReadCtx(session_, this);
    secrets_ = std::make_unique<tls_traffic_secrets>();
    heap_trim().on_started();
}

tls_stream::~tls_stream() {
    if (session_ != nullptr) {
        wolfSSL_free(session_);
    }
    if (!is_handshake_done_) {
        end_handshake(false);
    }
}

int tls_stream::receive_for_wolfssl(WOLFSSL*, char* buffer, int size, void* context) {
    return static_cast<tls_stream*>(context)->receive_record_bytes(buffer, size);
}

int tls_stream::receive_record_bytes(char* buffer, int size) {
    // Stopping at the record's end leaves wolfSSL nothing buffered once the handshake is done,
    // so every later byte is still in the socket when the records are taken over.
    const bool is_in_header = handshake_header_seen_ < handshake_header_.size();
    const std::size_t limit = is_in_header ? handshake_header_.size() - handshake_header_seen_
                                           : handshake_body_remaining_;
    const std::size_t wanted = std::min(limit, static_cast<std::size_t>(std::max(size, 0)));
    if (wanted == 0) {
        return 0;
    }
    const ssize_t count = ::recv(socket_.native_handle(), buffer, wanted, 0);
    if (count == 0) {
        return WOLFSSL_CBIO_ERR_CONN_CLOSE;
    }
    if (count < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            return WOLFSSL_CBIO_ERR_WANT_READ;
        }
        if (errno == EINTR) {
            return WOLFSSL_CBIO_ERR_ISR;
        }
        return errno == ECONNRESET ? WOLFSSL_CBIO_ERR_CONN_RST : WOLFSSL_CBIO_ERR_GENERAL;
    }
    const auto received = static_cast<std::size_t>(count);
    if (is_in_header) {
        std::copy_n(reinterpret_cast<const std::uint8_t*>(buffer), received,
                    handshake_header_.begin() +
                        static_cast<std::ptrdiff_t>(handshake_header_seen_));
        handshake_header_seen_ += received;
        if (handshake_header_seen_ == handshake_header_.size()) {
            handshake_body_remaining_ = tls_record_cipher::body_length(handshake_header_);
            if (handshake_body_remaining_ == 0) {
                handshake_header_seen_ = 0;
            }
        }
    } else {
        handshake_body_remaining_ -= received;
        if (handshake_body_remaining_ == 0) {
            handshake_header_seen_ = 0;
        }
    }
    return static_cast<int>(received);
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
    int result = 0;
    {
        const tls_secret_capture capture(*secrets_);
        result = wolfSSL_accept(session_);
    }
    if (result == WOLFSSL_SUCCESS) {
        is_handshake_done_ = true;
        wants_write_ = false;
        log_debug("TLS handshake with {} done: {} {} {}{}", remote_address_,
                  wolfSSL_get_version(session_), wolfSSL_get_cipher(session_),
                  wolfSSL_get_curve_name(session_) != nullptr ? wolfSSL_get_curve_name(session_)
                                                              : "",
                  wolfSSL_session_reused(session_) == 1 ? " (resumed)" : "");
        counter* outcome = wolfSSL_session_reused(session_) == 1 ? counts_.resumed : counts_.full;
        if (outcome != nullptr) {
            outcome->add();
        }
        if (context_.uses_identity_as_username()) {
            WOLFSSL_X509* certificate = wolfSSL_get_peer_certificate(session_);
            if (certificate != nullptr) {
                const char* common_name = wolfSSL_X509_get_subjectCN(certificate);
                identity_ = common_name != nullptr ? std::string(common_name) : std::string();
                wolfSSL_X509_free(certificate);
            }
        }
        take_over_records();
        secrets_.reset();
        end_handshake(true);
        return true;
    }
    error = classify(result);
    if (error != boost::asio::error::would_block) {
        log_info("TLS handshake with {} failed: {}", remote_address_, error.message());
        if (counts_.failed != nullptr && error != boost::asio::error::eof) {
            counts_.failed->add();
        }
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
    if (cipher_) {
        return read_records(buffer, error);
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
    if (cipher_) {
        return write_records(data, size, error);
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
    // Best effort close_notify, unless a fatal alert went or came; the socket closes either way.
    if (cipher_) {
        if (!has_failed_ && outgoing_.empty()) {
            boost::system::error_code ignored;
            if (cipher_->seal_alert(tls_alert::close_notify, outgoing_)) {
                send_pending(ignored);
            }
        }
    } else if (is_handshake_done_) {
        wolfSSL_shutdown(session_);
    }
    boost::system::error_code ignored;
    socket_.shutdown(boost::asio::ip::tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
}

void tls_stream::take_over_records() {
    if (handshake_header_seen_ != 0) {
        // wolfSSL holds part of a record: only it can finish reading that.
        return;
    }
    cipher_ = tls_record_cipher::take_over(session_, *secrets_);
    if (!cipher_) {
        return;
    }
    wolfSSL_free(session_);
    session_ = nullptr;
    log_debug("TLS client {}: records taken over, session state released", remote_address_);
}

std::size_t tls_stream::take_plaintext(std::span<std::uint8_t> buffer) {
    const std::size_t count = std::min(buffer.size(), plaintext_end_ - plaintext_begin_);
    std::copy_n(incoming_.begin() + static_cast<std::ptrdiff_t>(plaintext_begin_), count,
                buffer.begin());
    plaintext_begin_ += count;
    if (plaintext_begin_ == plaintext_end_) {
        plaintext_begin_ = 0;
        plaintext_end_ = 0;
        if (incoming_.capacity() > kept_buffer_bytes) {
            // An idle connection keeps no record-sized buffer.
            std::vector<std::uint8_t>().swap(incoming_);
        }
    }
    return count;
}

std::size_t tls_stream::fail_reading(tls_alert alert, boost::system::error_code& error) {
    log_info("TLS client {}: bad record, closing with alert {}", remote_address_,
             static_cast<int>(alert));
    if (!has_failed_) {
        has_failed_ = true;
        // Best effort: the connection closes whether or not the alert leaves.
        boost::system::error_code ignored;
        if (cipher_->seal_alert(alert, outgoing_)) {
            send_pending(ignored);
        }
    }
    error = boost::system::errc::make_error_code(boost::system::errc::bad_message);
    return 0;
}

std::size_t tls_stream::read_records(std::span<std::uint8_t> buffer,
                                     boost::system::error_code& error) {
    while (true) {
        if (plaintext_begin_ < plaintext_end_) {
            return take_plaintext(buffer);
        }
        if (incoming_size_ == 0 && record_bytes_read_ >= read_budget_bytes_) {
            // Records that gave the caller nothing (empty or padding-only application data,
            // KeyUpdates) cost work too: after a turn's worth the caller reads again later.
            record_bytes_read_ = 0;
            error = transport::read_yield;
            return 0;
        }
        std::size_t needed = tls_record_cipher::header_bytes;
        if (incoming_size_ >= tls_record_cipher::header_bytes) {
            const std::size_t body = tls_record_cipher::body_length(
                std::span<const std::uint8_t, tls_record_cipher::header_bytes>(incoming_.data(),
                                                                               5));
            if (body > tls_record_cipher::max_body_bytes) {
                // RFC 8446, 5.2.
                return fail_reading(tls_alert::record_overflow, error);
            }
            needed += body;
        }
        if (incoming_size_ < needed) {
            if (incoming_.size() < needed) {
                incoming_.resize(needed);
            }
            const ssize_t count = ::recv(socket_.native_handle(), incoming_.data() + incoming_size_,
                                         needed - incoming_size_, 0);
            if (count > 0) {
                incoming_size_ += static_cast<std::size_t>(count);
                continue;
            }
            if (count == 0) {
                error = boost::asio::error::eof;
            } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
                wants_write_ = false;
                record_bytes_read_ = 0;
                error = boost::asio::error::would_block;
            } else if (errno == EINTR) {
                continue;
            } else {
                error = boost::system::error_code(errno, boost::system::system_category());
            }
            return 0;
        }
        incoming_size_ = 0;
        record_bytes_read_ += needed;
        tls_alert alert = tls_alert::internal_error;
        const std::optional<tls_opened_record> opened =
            cipher_->open(std::span(incoming_.data(), needed), alert);
        if (!opened) {
            return fail_reading(alert, error);
        }
        switch (opened->content_type) {
        case tls_content_type::application_data:
            plaintext_begin_ =
                static_cast<std::size_t>(opened->plaintext.data() - incoming_.data());
            plaintext_end_ = plaintext_begin_ + opened->plaintext.size();
            continue;
        case tls_content_type::handshake: {
            const std::size_t pending = outgoing_.size();
            if (!cipher_->handle_handshake(opened->plaintext, outgoing_, alert)) {
                return fail_reading(alert, error);
            }
            log_debug("TLS client {}: key update{}", remote_address_,
                      outgoing_.size() != pending ? ", answered" : "");
            if (outgoing_.size() != pending) {
                // Our KeyUpdate goes now, after any run still pending; what the socket does not
                // take leaves with the next write.
                boost::system::error_code ignored;
                send_pending(ignored);
            }
            continue;
        }
        case tls_content_type::alert:
            if (opened->plaintext.size() != 2) {
                return fail_reading(tls_alert::decode_error, error);
            }
            if (opened->plaintext[1] == static_cast<std::uint8_t>(tls_alert::close_notify)) {
                error = boost::asio::error::eof;
                return 0;
            }
            // Any other alert ends the session; nothing is sent back.
            log_info("TLS client {}: alert {} received, closing", remote_address_,
                     static_cast<int>(opened->plaintext[1]));
            has_failed_ = true;
            error = boost::system::errc::make_error_code(boost::system::errc::protocol_error);
            return 0;
        default: return fail_reading(tls_alert::unexpected_message, error);
        }
    }
}

bool tls_stream::send_pending(boost::system::error_code& error) {
    while (outgoing_sent_ < outgoing_.size()) {
        const ssize_t count = ::send(socket_.native_handle(), outgoing_.data() + outgoing_sent_,
                                     outgoing_.size() - outgoing_sent_, MSG_NOSIGNAL);
        if (count >= 0) {
            outgoing_sent_ += static_cast<std::size_t>(count);
            continue;
        }
        if (errno == EINTR) {
            continue;
        }
        error = errno == EAGAIN || errno == EWOULDBLOCK
                    ? boost::system::error_code(boost::asio::error::would_block)
                    : boost::system::error_code(errno, boost::system::system_category());
        return false;
    }
    outgoing_sent_ = 0;
    outgoing_.clear();
    if (outgoing_.capacity() > kept_buffer_bytes) {
        std::vector<std::uint8_t>().swap(outgoing_);
    }
    return true;
}

std::size_t tls_stream::write_records(const std::uint8_t* data, std::size_t size,
                                      boost::system::error_code& error) {
    if (!is_run_pending_) {
        // These bytes are new; they follow whatever sealed records are still unsent (a
        // KeyUpdate answered while reading).
        if (!cipher_->seal(tls_content_type::application_data, std::span(data, size), outgoing_)) {
            error = boost::system::errc::make_error_code(boost::system::errc::io_error);
            return 0;
        }
        is_run_pending_ = true;
    }
    if (!send_pending(error)) {
        return 0;
    }
    is_run_pending_ = false;
    return size;
}

void beast_close_socket(tls_stream& stream) {
    stream.close();
}

void teardown(boost::beast::role_type, tls_stream& stream, boost::system::error_code& error) {
    stream.close();
    error.clear();
}

} // namespace perch::gateway
