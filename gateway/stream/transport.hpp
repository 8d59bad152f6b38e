// The byte stream under one client connection: plain TCP, TLS or WebSocket. The connection drives
// it one turn at a time (wait until readable, read everything without blocking, one gather write),
// so each kind costs one virtual call per read or write, never one per byte. Knows nothing about
// MQTT.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/system/error_code.hpp>

#include "gateway/stream/inline_handler.hpp"
#include "gateway/stream/readiness_poller.hpp"

namespace perch::gateway {

/// A client byte stream owned by one connection on one worker. Every member function runs on
/// that worker's thread.
class transport {
public:
    /// Called when read_some may make progress, or with the error that ended the stream.
    using wait_handler = inline_handler<void(const boost::system::error_code&)>;
    /// Called once a write finished: the error, if any, and the application bytes written.
    using write_handler = inline_handler<void(const boost::system::error_code&, std::size_t)>;

    /// read_some's error when it did a turn's worth of work without application bytes (TLS
    /// records that decrypted to nothing): the caller ends its turn and calls read_some again
    /// soon, without waiting for readiness, since more may be ready.
    static constexpr boost::asio::error::basic_errors read_yield = boost::asio::error::interrupted;

    virtual ~transport() = default;

    /// Reads what is available without blocking into `buffer`. Returns the application bytes read
    /// (never 0 without an error); `error` is would_block when nothing is ready now, read_yield
    /// when the turn should end with more to read, eof when the peer closed, or the failure (a
    /// refused TLS or WebSocket handshake included).
    virtual std::size_t read_some(std::span<std::uint8_t> buffer,
                                  boost::system::error_code& error) = 0;

    /// Calls `handler` once, later (never inline), when read_some may make progress. At most one
    /// wait is outstanding.
    virtual void async_wait_readable(wait_handler handler) = 0;

    /// Writes every byte of `buffers` as one unit (one gather write, one TLS record run, or one
    /// WebSocket message) and then calls `handler` once, never inline. The buffers must stay
    /// valid until then; at most one write is outstanding.
    virtual void async_write(std::span<const boost::asio::const_buffer> buffers,
                             write_handler handler) = 0;

    /// Ends the sending side once everything written has gone (TCP: FIN; the peer reads end of
    /// stream) while reads go on. No write may follow. Streams that cannot half-close do
    /// nothing: their peer sees the end at close().
    virtual void shutdown_send() {}
    /// Closes the stream at once (no further reads or writes; pending ones end with
    /// operation_aborted). Idempotent.
    virtual void close() = 0;

    /// False once closed.
    virtual bool is_open() const = 0;

    /// "ADDRESS:PORT" of the peer, or "unknown".
    virtual std::string remote_address() const = 0;

    /// The MQTT user name the peer proved with its transport (on a listener with
    /// use_identity_as_username: the common name of its verified TLS client certificate), or
    /// empty.
    virtual std::string identity_user_name() const { return {}; }

    /// The connection accepted the client's CONNECT: a transport that holds whole messages before
    /// handing them over (WebSocket) may now take messages as large as a logged-in client's.
    virtual void on_connect_accepted() {}
};

/// MQTT over plain TCP: the socket itself, read and written with direct system calls and watched
/// by the worker's readiness_poller (no Asio state per socket: an idle connection stays small).
class tcp_transport final : public transport, private readiness_client {
public:
    /// Takes an accepted socket (its descriptor leaves Asio); makes it non-blocking, turns Nagle
    /// off and registers it with `poller`. An unopened socket makes a closed transport.
    tcp_transport(readiness_poller& poller, boost::asio::ip::tcp::socket socket);
    ~tcp_transport() override;
    tcp_transport(const tcp_transport&) = delete;
    tcp_transport& operator=(const tcp_transport&) = delete;

    std::size_t read_some(std::span<std::uint8_t> buffer,
                          boost::system::error_code& error) override;
    void async_wait_readable(wait_handler handler) override;
    void async_write(std::span<const boost::asio::const_buffer> buffers,
                     write_handler handler) override;
    void shutdown_send() override;
    void close() override;
    bool is_open() const override { return socket_ >= 0; }
    std::string remote_address() const override;

private:
    /// What one round of sendmsg calls achieved.
    struct send_result {
        /// Buffers written whole.
        std::size_t buffers = 0;
        /// How much of the next buffer went.
        std::size_t partial_bytes = 0;
        /// Bytes written in all.
        std::size_t bytes = 0;
        /// Set when a send failed (a full socket is not a failure).
        boost::system::error_code error;
    };
    /// A write the socket could not take at once: made only then, so an idle connection holds
    /// no write state.
    struct pending_write {
        write_handler handler;
        /// The buffers not yet written, the first one advanced past what went.
        std::vector<boost::asio::const_buffer> left;
        std::size_t bytes_done = 0;
        boost::system::error_code error;
    };

    void on_readiness(std::uint32_t events) override;
    /// Sends `buffers` until the socket is full, all is written or a send fails.
    send_result send_buffers(std::span<const boost::asio::const_buffer> buffers);
    /// Writes what it can of the pending write; true once all of it is written or it failed.
    bool continue_write();
    /// Runs `handler` later on the worker's io_context.
    void post_wait(wait_handler handler, const boost::system::error_code& error);
    void post_write(write_handler handler, const boost::system::error_code& error,
                    std::size_t bytes);
    /// Releases every descriptor and registration; no handler is called.
    void release();

    readiness_poller& poller_;
    int socket_ = -1;
    /// False once a read found nothing left (edge-triggered: only an input event sets it again).
    bool is_readable_ = true;
    readiness_poller::token registration_ = 0;
    wait_handler wait_handler_;
    std::unique_ptr<pending_write> pending_write_;
    /// The peer, read once at accept: a reset connection has no peer name to ask for.
    boost::asio::ip::tcp::endpoint peer_;
};

/// "ADDRESS:PORT" of `endpoint`.
std::string describe_endpoint(const boost::asio::ip::tcp::endpoint& endpoint);

/// "ADDRESS:PORT" of the socket's peer, or "unknown" when it has none.
std::string describe_peer(const boost::asio::ip::tcp::socket& socket);

} // namespace perch::gateway
