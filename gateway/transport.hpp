// The byte stream under one client connection: plain TCP, TLS or WebSocket. The connection drives
// it one turn at a time (wait until readable, read everything without blocking, one gather write),
// so each kind costs one virtual call per read or write, never one per byte. Knows nothing about
// MQTT.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>

#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/system/error_code.hpp>

namespace perch::gateway {

/// A client byte stream owned by one connection on one worker. Every member function runs on
/// that worker's thread.
class transport {
public:
    /// Called when read_some may make progress, or with the error that ended the stream.
    using wait_handler = std::function<void(const boost::system::error_code&)>;
    /// Called once a write finished: the error, if any, and the application bytes written.
    using write_handler = std::function<void(const boost::system::error_code&, std::size_t)>;

    virtual ~transport() = default;

    /// Reads what is available without blocking into `buffer`. Returns the application bytes read
    /// (never 0 without an error); `error` is would_block when nothing is ready now, eof when the
    /// peer closed, or the failure (a refused TLS or WebSocket handshake included).
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
};

/// MQTT over plain TCP: the socket itself, read and written directly.
class tcp_transport final : public transport {
public:
    /// Takes an accepted socket; makes it non-blocking and turns Nagle off.
    explicit tcp_transport(boost::asio::ip::tcp::socket socket);

    std::size_t read_some(std::span<std::uint8_t> buffer,
                          boost::system::error_code& error) override;
    void async_wait_readable(wait_handler handler) override;
    void async_write(std::span<const boost::asio::const_buffer> buffers,
                     write_handler handler) override;
    void close() override;
    bool is_open() const override { return socket_.is_open(); }
    std::string remote_address() const override;

private:
    boost::asio::ip::tcp::socket socket_;
};

/// "ADDRESS:PORT" of the socket's peer, or "unknown" when it has none.
std::string describe_peer(const boost::asio::ip::tcp::socket& socket);

} // namespace perch::gateway
