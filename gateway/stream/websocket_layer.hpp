// The layer under a WebSocket connection, plain TCP or TLS (tls_stream.hpp), behind one set of
// overloads, so that websocket_transport is written once for both: reads without blocking,
// waits, writes, and the teardown after perch's close frame.
#pragma once

#include <span>
#include <string>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>

#include "gateway/stream/tls_stream.hpp"
#include "gateway/stream/transport.hpp"

namespace perch::gateway::websocket_layer {

inline std::string describe_layer(const boost::asio::ip::tcp::socket& socket) {
    return describe_peer(socket);
}
inline std::string describe_layer(const tls_stream& stream) {
    return stream.remote_address();
}
inline void close_layer(boost::asio::ip::tcp::socket& socket) {
    boost::system::error_code ignored;
    socket.shutdown(boost::asio::ip::tcp::socket::shutdown_both, ignored);
    socket.close(ignored);
}
inline void close_layer(tls_stream& stream) {
    stream.close();
}
inline bool is_layer_open(const boost::asio::ip::tcp::socket& socket) {
    return socket.is_open();
}
inline bool is_layer_open(const tls_stream& stream) {
    return stream.is_open();
}
inline std::string layer_identity(const boost::asio::ip::tcp::socket&) {
    return {};
}
inline std::string layer_identity(const tls_stream& stream) {
    return stream.identity_user_name();
}
/// Reads what is there without blocking: would_block when nothing is.
inline std::size_t read_layer(boost::asio::ip::tcp::socket& socket, std::span<std::uint8_t> buffer,
                              boost::system::error_code& error) {
    if (!socket.non_blocking()) {
        socket.non_blocking(true, error);
        if (error) {
            return 0;
        }
    }
    return socket.read_some(boost::asio::buffer(buffer.data(), buffer.size()), error);
}
inline std::size_t read_layer(tls_stream& stream, std::span<std::uint8_t> buffer,
                              boost::system::error_code& error) {
    return stream.read_some(buffer, error);
}
template <typename Handler> void wait_layer(boost::asio::ip::tcp::socket& socket, Handler handler) {
    socket.async_wait(boost::asio::ip::tcp::socket::wait_read, std::move(handler));
}
template <typename Handler> void wait_layer(tls_stream& stream, Handler handler) {
    stream.async_wait_readable(std::move(handler));
}
template <typename Handler>
inline void write_layer(boost::asio::ip::tcp::socket& socket,
                        std::span<const boost::asio::const_buffer> buffers, Handler handler) {
    boost::asio::async_write(socket, buffers, std::move(handler));
}
template <typename Handler>
inline void write_layer(tls_stream& stream, std::span<const boost::asio::const_buffer> buffers,
                        Handler handler) {
    stream.async_write(buffers, std::move(handler));
}
/// After perch's close frame: whether to read until the client closes (plain TCP, half-closed
/// first) or to close at once (TLS, as Beast's teardown over TLS did).
inline bool begin_teardown(boost::asio::ip::tcp::socket& socket) {
    boost::system::error_code ignored;
    socket.shutdown(boost::asio::ip::tcp::socket::shutdown_send, ignored);
    return true;
}
inline bool begin_teardown(tls_stream& stream) {
    stream.close();
    return false;
}

} // namespace perch::gateway::websocket_layer
