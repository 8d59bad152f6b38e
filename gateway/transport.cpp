// MQTT over plain TCP: the connection's reads and gather writes go straight to the socket.
#include "gateway/transport.hpp"

#include <utility>

#include <boost/asio/write.hpp>
#include <fmt/format.h>

namespace perch::gateway {

std::string describe_peer(const boost::asio::ip::tcp::socket& socket) {
    boost::system::error_code error;
    const auto endpoint = socket.remote_endpoint(error);
    if (error) {
        return "unknown";
    }
    return fmt::format("{}:{}", endpoint.address().to_string(), endpoint.port());
}

tcp_transport::tcp_transport(boost::asio::ip::tcp::socket socket) : socket_(std::move(socket)) {
    boost::system::error_code ignored;
    socket_.non_blocking(true, ignored);
    socket_.set_option(boost::asio::ip::tcp::no_delay(true), ignored);
}

std::size_t tcp_transport::read_some(std::span<std::uint8_t> buffer,
                                     boost::system::error_code& error) {
    return socket_.read_some(boost::asio::buffer(buffer.data(), buffer.size()), error);
}

void tcp_transport::async_wait_readable(wait_handler handler) {
    // The reactor is edge-triggered: callers wait only after read_some returned would_block.
    socket_.async_wait(boost::asio::ip::tcp::socket::wait_read, std::move(handler));
}

void tcp_transport::async_write(std::span<const boost::asio::const_buffer> buffers,
                                write_handler handler) {
    boost::asio::async_write(socket_, buffers, std::move(handler));
}

void tcp_transport::close() {
    if (!socket_.is_open()) {
        return;
    }
    boost::system::error_code ignored;
    socket_.shutdown(boost::asio::ip::tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
}

std::string tcp_transport::remote_address() const {
    return describe_peer(socket_);
}

} // namespace perch::gateway
