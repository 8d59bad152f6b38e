// One TLS session over a non-blocking TCP socket. wolfSSL runs the handshake, reading the socket
// through a callback that never hands it bytes past the end of the current record, and writing
// the socket's descriptor itself; Asio only reports when the socket is readable or writable.
// Once a TLS 1.3 handshake is done, the session's record keys are taken over (tls_record_cipher)
// and wolfSSL's session object is freed, so an idle connection keeps a few hundred bytes instead
// of wolfSSL's ~57 KB; other sessions (TLS 1.2) stay with wolfSSL. After the take-over the
// stream follows and answers the client's KeyUpdates and sends an alert before closing on a bad
// record. A read turn is "read until would_block", or until a turn's worth of records
// (read_yield); a flush is one run of records. Also an Asio AsyncStream, so that Beast's
// WebSocket can run over it. Knows nothing about MQTT.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core/role.hpp>
#include <boost/system/error_code.hpp>

#include "gateway/common/counter.hpp"
#include "gateway/stream/tls_context.hpp"
#include "gateway/stream/tls_record_cipher.hpp"
#include "gateway/stream/transport.hpp"

struct WOLFSSL;

namespace perch::gateway {

/// The error category of wolfSSL failures (handshake refused, bad record, untrusted peer).
const boost::system::error_category& tls_category();

/// Where a tls_stream counts how its handshake ended: counters of the worker running it (its
/// thread is their only writer). Null pointers count nothing.
struct tls_handshake_counters {
    /// A new session was negotiated.
    counter* full = nullptr;
    /// A session was resumed (ticket or session id, wolfSSL_session_reused).
    counter* resumed = nullptr;
    /// The handshake failed (refused, bad certificate, garbage instead of TLS).
    counter* failed = nullptr;
};

/// A server-side TLS session on an accepted socket. Every member function runs on the owning
/// worker's thread.
class tls_stream : public transport {
public:
    using executor_type = boost::asio::any_io_executor;

    /// Takes the accepted `socket` (made non-blocking) and starts a session from `context`, which
    /// must outlive this object; the handshake's outcome is counted in `counts`. Throws
    /// std::bad_alloc when wolfSSL cannot allocate the session.
    tls_stream(boost::asio::ip::tcp::socket socket, const tls_context& context,
               tls_handshake_counters counts = {});
    /// As above, holding `context` for the stream's life: a reload that installs new
    /// certificates leaves the contexts of live connections in place.
    tls_stream(boost::asio::ip::tcp::socket socket, std::shared_ptr<const tls_context> context,
               tls_handshake_counters counts = {});
    ~tls_stream() override;
    tls_stream(const tls_stream&) = delete;
    tls_stream& operator=(const tls_stream&) = delete;

    // ---- transport ----------------------------------------------------------------------

    /// Continues the handshake first; then reads decrypted bytes until wolfSSL wants more.
    std::size_t read_some(std::span<std::uint8_t> buffer,
                          boost::system::error_code& error) override;
    void async_wait_readable(wait_handler handler) override;
    /// Copies the buffers into one staging buffer and writes it with one wolfSSL_write.
    void async_write(std::span<const boost::asio::const_buffer> buffers,
                     write_handler handler) override;
    void close() override;
    bool is_open() const override { return socket_.is_open(); }
    std::string remote_address() const override { return remote_address_; }
    /// The common name of the verified client certificate when the listener uses identity as
    /// user name, else empty.
    std::string identity_user_name() const override { return identity_; }

    /// True once the handshake is done and the records are protected without wolfSSL's session
    /// (TLS 1.3 with an AEAD suite).
    bool is_taken_over() const { return cipher_.has_value(); }

    /// Record bytes (ciphertext) read_some may take from the socket before it reports
    /// transport::read_yield, whatever they decrypted to; counted from its last would_block or
    /// read_yield. Only after the take-over.
    void set_read_budget_bytes(std::size_t bytes) { read_budget_bytes_ = bytes; }

    /// Default of set_read_budget_bytes(): as much as a connection reads in one turn.
    static constexpr std::size_t default_read_budget_bytes = 1024 * 1024;

    // ---- AsyncStream (for Beast) ---------------------------------------------------------

    executor_type get_executor() { return socket_.get_executor(); }

    /// Reads decrypted bytes into the first non-empty buffer of `buffers`; `handler(error,
    /// bytes)` is called once, never inline.
    template <typename MutableBuffers, typename ReadHandler>
    void async_read_some(const MutableBuffers& buffers, ReadHandler&& handler) {
        read_loop(first_buffer<boost::asio::mutable_buffer>(buffers),
                  std::forward<ReadHandler>(handler));
    }

    /// Writes the first non-empty buffer of `buffers`; `handler(error, bytes)` is called once,
    /// never inline.
    template <typename ConstBuffers, typename WriteHandler>
    void async_write_some(const ConstBuffers& buffers, WriteHandler&& handler) {
        const boost::asio::const_buffer target = first_buffer<boost::asio::const_buffer>(buffers);
        write_loop(static_cast<const std::uint8_t*>(target.data()), target.size(),
                   std::forward<WriteHandler>(handler));
    }

private:
    template <typename Buffer, typename Buffers>
    static Buffer first_buffer(const Buffers& buffers) {
        for (auto it = boost::asio::buffer_sequence_begin(buffers);
             it != boost::asio::buffer_sequence_end(buffers); ++it) {
            const Buffer buffer(*it);
            if (buffer.size() != 0) {
                return buffer;
            }
        }
        return Buffer();
    }

    /// The socket event wolfSSL waits for after its last would_block.
    boost::asio::ip::tcp::socket::wait_type wanted_event() const {
        return wants_write_ ? boost::asio::ip::tcp::socket::wait_write
                            : boost::asio::ip::tcp::socket::wait_read;
    }

    template <typename Handler>
    void read_loop(boost::asio::mutable_buffer target, Handler handler) {
        boost::system::error_code error;
        std::size_t count = 0;
        if (target.size() != 0) {
            count = read_some(std::span(static_cast<std::uint8_t*>(target.data()), target.size()),
                              error);
        }
        if (error == transport::read_yield) {
            // A turn's worth of records gave nothing yet: others run first, then read on.
            boost::asio::post(socket_.get_executor(),
                              [this, target, handler = std::move(handler)]() mutable {
                                  read_loop(target, std::move(handler));
                              });
            return;
        }
        if (error == boost::asio::error::would_block) {
            socket_.async_wait(wanted_event(),
                               [this, target, handler = std::move(handler)](
                                   const boost::system::error_code& wait_error) mutable {
                                   if (wait_error) {
                                       handler(wait_error, std::size_t{0});
                                       return;
                                   }
                                   read_loop(target, std::move(handler));
                               });
            return;
        }
        boost::asio::post(socket_.get_executor(), [handler = std::move(handler), error,
                                                   count]() mutable { handler(error, count); });
    }

    /// Writes `size` bytes at `data`; a would_block is retried with the same bytes, as wolfSSL
    /// requires.
    template <typename Handler>
    void write_loop(const std::uint8_t* data, std::size_t size, Handler handler) {
        boost::system::error_code error;
        const std::size_t count = write_some(data, size, error);
        if (error == boost::asio::error::would_block) {
            socket_.async_wait(boost::asio::ip::tcp::socket::wait_write,
                               [this, data, size, handler = std::move(handler)](
                                   const boost::system::error_code& wait_error) mutable {
                                   if (wait_error) {
                                       handler(wait_error, std::size_t{0});
                                       return;
                                   }
                                   write_loop(data, size, std::move(handler));
                               });
            return;
        }
        boost::asio::post(socket_.get_executor(), [handler = std::move(handler), error,
                                                   count]() mutable { handler(error, count); });
    }

    /// Writes all `size` bytes as records, or reports would_block (the next call must pass the
    /// same bytes), or the failure.
    std::size_t write_some(const std::uint8_t* data, std::size_t size,
                           boost::system::error_code& error);
    /// Runs the handshake as far as the socket allows; true once it is complete.
    bool continue_handshake(boost::system::error_code& error);
    /// After the handshake: takes the record keys over from wolfSSL when the session allows.
    void take_over_records();
    /// Maps wolfSSL's answer `result` to would_block (noting the event it waits for), eof or a
    /// tls_category error.
    boost::system::error_code classify(int result);

    /// wolfSSL's receive callback: reads the socket, never past the end of the current record.
    static int receive_for_wolfssl(WOLFSSL* session, char* buffer, int size, void* context);
    int receive_record_bytes(char* buffer, int size);

    /// Sends `alert` (best effort), marks the session failed and sets the read error.
    std::size_t fail_reading(tls_alert alert, boost::system::error_code& error);
    /// Reads and opens records until `buffer` has application bytes, would_block, read_yield or
    /// a failure; follows the peer's KeyUpdates.
    std::size_t read_records(std::span<std::uint8_t> buffer, boost::system::error_code& error);
    /// Hands out decrypted bytes still held from the last record.
    std::size_t take_plaintext(std::span<std::uint8_t> buffer);
    /// Seals `size` bytes (unless a run is still pending) and sends what the socket takes.
    std::size_t write_records(const std::uint8_t* data, std::size_t size,
                              boost::system::error_code& error);
    /// Sends the pending sealed bytes; false with would_block or the failure in `error`.
    bool send_pending(boost::system::error_code& error);

    boost::asio::ip::tcp::socket socket_;
    /// The context when this stream shares in owning it; null when the caller keeps it alive.
    std::shared_ptr<const tls_context> owned_context_;
    const tls_context& context_;
    tls_handshake_counters counts_;
    WOLFSSL* session_ = nullptr;
    std::string remote_address_;
    std::string identity_;
    std::vector<std::uint8_t> staging_;
    bool is_handshake_done_ = false;
    bool wants_write_ = false;
    /// The traffic secrets, noted during the handshake and released after it.
    std::unique_ptr<tls_traffic_secrets> secrets_;

    // Record framing of the bytes handed to wolfSSL during the handshake.
    std::array<std::uint8_t, tls_record_cipher::header_bytes> handshake_header_{};
    std::size_t handshake_header_seen_ = 0;
    std::size_t handshake_body_remaining_ = 0;

    // After the take-over: the record being read (then its plaintext), and sealed output.
    std::optional<tls_record_cipher> cipher_;
    std::vector<std::uint8_t> incoming_;
    std::size_t incoming_size_ = 0;
    std::size_t plaintext_begin_ = 0;
    std::size_t plaintext_end_ = 0;
    /// Sealed records not yet sent: the caller's current run and records of our own (alerts,
    /// KeyUpdates), in the order sealed.
    std::vector<std::uint8_t> outgoing_;
    std::size_t outgoing_sent_ = 0;
    std::size_t record_bytes_read_ = 0;
    std::size_t read_budget_bytes_ = default_read_budget_bytes;
    /// The caller's run is sealed in outgoing_: its retry must not seal it again.
    bool is_run_pending_ = false;
    /// A fatal alert was sent or received: no close_notify follows.
    bool has_failed_ = false;
};

/// Beast's WebSocket closes the lowest layer with this on a failure.
void beast_close_socket(tls_stream& stream);

/// Beast's WebSocket teardown over TLS: the socket is closed (the TCP close ends the session).
void teardown(boost::beast::role_type role, tls_stream& stream, boost::system::error_code& error);

/// The asynchronous form of teardown; `handler(error)` is called once, never inline.
template <typename TeardownHandler>
void async_teardown(boost::beast::role_type, tls_stream& stream, TeardownHandler&& handler) {
    stream.close();
    boost::asio::post(stream.get_executor(),
                      [handler = std::forward<TeardownHandler>(handler)]() mutable {
                          handler(boost::system::error_code());
                      });
}

} // namespace perch::gateway
