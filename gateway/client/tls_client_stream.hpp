// A client-side TLS session (wolfSSL) over an Asio TCP socket, shaped as an Asio AsyncStream so
// that Beast's HTTP reads and writes run over it on the caller's event loop. Used for https model
// endpoints. wolfSSL never touches the socket: it reads from and writes to two memory buffers
// through its I/O callbacks, and this class moves bytes between those buffers and the socket.
//
// Theory of operation. Every wolfSSL call (connect, read, write) runs until it either succeeds or
// needs more input (WANT_READ). Whatever it wrote is then flushed to the socket in one write;
// when it needs input, one socket read refills the input buffer and the call is retried. One
// operation of each direction at a time, as Beast uses a stream. Knows nothing about HTTP.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/system/error_code.hpp>

struct WOLFSSL;
struct WOLFSSL_CTX;

namespace perch::gateway::client {

/// The error category of wolfSSL client failures (untrusted certificate, wrong host name,
/// handshake refused, bad record).
const boost::system::error_category& tls_client_category();

/// What a client context trusts.
struct tls_client_options {
    /// PEM file of the certificate authorities to trust; empty: the system's bundle
    /// (/etc/ssl/certs/ca-certificates.crt from Debian's ca-certificates).
    std::string ca_file;
    /// Check the server certificate at all. Only for tests and private networks that know why.
    bool verify_peer = true;
};

/// A wolfSSL client context: TLS 1.2 or 1.3, peer verification against the options' CAs.
/// Shared by every call to one endpoint; thread-safe after construction.
class tls_client_context {
public:
    /// Throws std::runtime_error naming the CA file when it cannot be loaded.
    explicit tls_client_context(const tls_client_options& options);
    ~tls_client_context();
    tls_client_context(const tls_client_context&) = delete;
    tls_client_context& operator=(const tls_client_context&) = delete;

    WOLFSSL_CTX* handle() const { return context_; }

private:
    WOLFSSL_CTX* context_ = nullptr;
};

/// One TLS client session over a connected socket. Every member runs on the socket's executor.
class tls_client_stream {
public:
    using executor_type = boost::asio::any_io_executor;
    using io_handler = std::function<void(boost::system::error_code, std::size_t)>;
    using handshake_handler = std::function<void(boost::system::error_code)>;

    /// The plaintext one TLS record carries at most.
    static constexpr std::size_t max_record_bytes = 16 * 1024;

    /// Takes the connected `socket`; `host_name` goes into SNI and must match the certificate.
    /// Throws std::bad_alloc when wolfSSL cannot allocate the session.
    tls_client_stream(boost::asio::ip::tcp::socket socket, const tls_client_context& context,
                      const std::string& host_name);
    ~tls_client_stream();
    tls_client_stream(const tls_client_stream&) = delete;
    tls_client_stream& operator=(const tls_client_stream&) = delete;

    executor_type get_executor() { return socket_.get_executor(); }
    boost::asio::ip::tcp::socket& socket() { return socket_; }

    /// Runs the handshake, verifying the server's certificate and name.
    void async_handshake(handshake_handler handler);

    /// AsyncReadStream: decrypted bytes into the first non-empty buffer of `buffers`.
    template <typename MutableBuffers, typename Handler>
    void async_read_some(const MutableBuffers& buffers, Handler&& handler) {
        const boost::asio::mutable_buffer first = first_buffer(buffers);
        start_read(first, wrap(std::forward<Handler>(handler)));
    }

    /// AsyncWriteStream: encrypts and sends up to one record's worth of `buffers` (gathered, so
    /// that an HTTP header and its body leave in one record).
    template <typename ConstBuffers, typename Handler>
    void async_write_some(const ConstBuffers& buffers, Handler&& handler) {
        std::array<std::uint8_t, max_record_bytes> gathered;
        const std::size_t count = boost::asio::buffer_copy(boost::asio::buffer(gathered), buffers);
        start_write(boost::asio::const_buffer(gathered.data(), count),
                    wrap(std::forward<Handler>(handler)));
    }

    /// Closes the socket; pending operations complete with operation_aborted.
    void close();

private:
    /// Asio handlers may be move-only; std::function needs a copyable target.
    template <typename Handler> static io_handler wrap(Handler&& handler) {
        auto holder = std::make_shared<std::decay_t<Handler>>(std::forward<Handler>(handler));
        return [holder](boost::system::error_code error, std::size_t count) {
            (*holder)(error, count);
        };
    }

    template <typename Buffers> static auto first_buffer(const Buffers& buffers) {
        for (auto it = boost::asio::buffer_sequence_begin(buffers);
             it != boost::asio::buffer_sequence_end(buffers); ++it) {
            if (it->size() != 0) {
                return *it;
            }
        }
        return *boost::asio::buffer_sequence_begin(buffers);
    }

    /// What one wolfSSL call asked for.
    enum class step : std::uint8_t { done, wants_input, failed };

    void start_read(boost::asio::mutable_buffer buffer, io_handler handler);
    void start_write(boost::asio::const_buffer buffer, io_handler handler);
    void continue_handshake();
    void continue_read();
    /// Writes everything wolfSSL has produced, then calls `next` (with the write's error).
    void flush_then(std::function<void(boost::system::error_code)> next);
    /// Reads once from the socket into the input buffer, then calls `next`.
    void fill_then(std::function<void(boost::system::error_code)> next);
    step classify(int result, boost::system::error_code& error);

    static int receive_callback(WOLFSSL* session, char* buffer, int size, void* self);
    static int send_callback(WOLFSSL* session, char* buffer, int size, void* self);

    boost::asio::ip::tcp::socket socket_;
    WOLFSSL* session_ = nullptr;
    // Ciphertext from the socket not yet taken by wolfSSL, and ciphertext wolfSSL wrote not yet
    // sent. Owner: the socket's executor.
    std::vector<std::uint8_t> incoming_;
    std::size_t incoming_offset_ = 0;
    std::vector<std::uint8_t> outgoing_;
    std::vector<std::uint8_t> sending_;
    bool is_peer_closed_ = false;
    handshake_handler handshake_handler_;
    boost::asio::mutable_buffer read_buffer_;
    io_handler read_handler_;
    // Set while this object lives; handlers of socket operations check it.
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

} // namespace perch::gateway::client
