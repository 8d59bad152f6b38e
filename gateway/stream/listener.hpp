// Accepts connections on one port for one worker's io_context. Every worker opens its own socket
// on the same port with SO_REUSEPORT, so the kernel spreads new connections over the workers and
// no socket ever crosses threads. Knows nothing about MQTT nor about the worker around it.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include "gateway/common/config.hpp"
#include "gateway/common/counter.hpp"

namespace perch::gateway {

/// One accepting socket on one worker.
class listener {
public:
    /// Called on the worker's thread (the one running `context`) with each accepted socket.
    using accept_handler = std::function<void(boost::asio::ip::tcp::socket)>;

    /// Opens, binds (with SO_REUSEADDR and SO_REUSEPORT) and listens on `endpoint` on `context`,
    /// the io_context of the worker that owns the listener. Throws boost::system::system_error
    /// when the port cannot be bound.
    listener(boost::asio::io_context& context, const listener_config& config,
             boost::asio::ip::tcp::endpoint endpoint, accept_handler on_accept);

    /// Starts accepting (posts the first accept to the worker). Any thread.
    void start();

    /// Stops accepting and closes the socket. Must run on the worker's thread.
    void close();

    /// The port actually bound (differs from the configured one when that was 0).
    std::uint16_t port() const { return port_; }
    const listener_config& config() const { return config_; }
    /// Connections this socket has accepted. Read from any thread.
    const counter& accepted() const { return accepted_; }

private:
    void accept_next();

    boost::asio::io_context& context_;
    listener_config config_;
    boost::asio::ip::tcp::acceptor acceptor_;
    boost::asio::steady_timer retry_timer_;
    accept_handler on_accept_;
    std::uint16_t port_ = 0;
    /// Written on the worker's thread only.
    counter accepted_;
};

/// The endpoint a listener binds: its bind_address, or every interface (IPv6 with IPv4 mapped
/// when the host has IPv6, else IPv4) when that is empty, on `port`. Throws
/// boost::system::system_error for an address that is not an IP address.
boost::asio::ip::tcp::endpoint listener_endpoint(const listener_config& config, std::uint16_t port);

} // namespace perch::gateway
