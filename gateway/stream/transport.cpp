// MQTT over plain TCP: the connection's reads and gather writes go straight to the socket, and
// the worker's readiness_poller says when it is worth trying again.
#include "gateway/stream/transport.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <utility>

#include <boost/asio/post.hpp>
#include <fmt/format.h>

#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

namespace perch::gateway {

std::string describe_endpoint(const boost::asio::ip::tcp::endpoint& endpoint) {
    return fmt::format("{}:{}", endpoint.address().to_string(), endpoint.port());
}

std::string describe_peer(const boost::asio::ip::tcp::socket& socket) {
    boost::system::error_code error;
    const auto endpoint = socket.remote_endpoint(error);
    if (error) {
        return "unknown";
    }
    return describe_endpoint(endpoint);
}

tcp_transport::tcp_transport(readiness_poller& poller, boost::asio::ip::tcp::socket socket)
    : poller_(poller) {
    if (!socket.is_open()) {
        return;
    }
    boost::system::error_code error;
    socket.set_option(boost::asio::ip::tcp::no_delay(true), error);
    peer_ = socket.remote_endpoint(error);
    socket_ = socket.release(error);
    if (error) {
        socket_ = -1;
        return;
    }
    const int flags = ::fcntl(socket_, F_GETFL, 0);
    ::fcntl(socket_, F_SETFL, flags | O_NONBLOCK);
    registration_ = poller_.add(socket_, *this);
    if (registration_ == 0) {
        // Never watched, so never readable again: the connection finds the transport closed.
        ::close(socket_);
        socket_ = -1;
    }
}

tcp_transport::~tcp_transport() {
    release();
}

void tcp_transport::release() {
    if (socket_ < 0) {
        return;
    }
    poller_.remove(socket_, registration_);
    registration_ = 0;
    ::close(socket_);
    socket_ = -1;
}

std::size_t tcp_transport::read_some(std::span<std::uint8_t> buffer,
                                     boost::system::error_code& error) {
    error.clear();
    if (socket_ < 0) {
        error = boost::asio::error::bad_descriptor;
        return 0;
    }
    while (true) {
        const ssize_t count = ::recv(socket_, buffer.data(), buffer.size(), 0);
        if (count > 0) {
            return static_cast<std::size_t>(count);
        }
        if (count == 0) {
            error = boost::asio::error::eof;
            return 0;
        }
        if (errno == EINTR) {
            continue;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            is_readable_ = false;
            error = boost::asio::error::would_block;
            return 0;
        }
        error = boost::system::error_code(errno, boost::system::system_category());
        return 0;
    }
}

void tcp_transport::async_wait_readable(wait_handler handler) {
    if (socket_ < 0) {
        post_wait(std::move(handler), boost::asio::error::operation_aborted);
        return;
    }
    if (is_readable_) {
        // Input (or an error) may be waiting already: let the caller read now.
        post_wait(std::move(handler), {});
        return;
    }
    wait_handler_ = std::move(handler);
}

void tcp_transport::async_write(std::span<const boost::asio::const_buffer> buffers,
                                write_handler handler) {
    if (socket_ < 0) {
        post_write(std::move(handler), boost::asio::error::operation_aborted, 0);
        return;
    }
    // Straight from the caller's buffers: only what the socket did not take is copied.
    const send_result sent = send_buffers(buffers);
    if (sent.error || sent.buffers == buffers.size()) {
        post_write(std::move(handler), sent.error, sent.bytes);
        return;
    }
    // The socket is full: the rest goes when the poller reports it writable.
    pending_write_ = std::make_unique<pending_write>();
    pending_write_->handler = std::move(handler);
    pending_write_->left.assign(buffers.begin() + static_cast<std::ptrdiff_t>(sent.buffers),
                                buffers.end());
    pending_write_->left.front() += sent.partial_bytes;
    pending_write_->bytes_done = sent.bytes;
}

tcp_transport::send_result
tcp_transport::send_buffers(std::span<const boost::asio::const_buffer> buffers) {
    // Several sendmsg calls only when the buffers outnumber what one call takes.
    constexpr std::size_t max_buffers_per_call = 1024;
    std::array<iovec, max_buffers_per_call> vectors;
    send_result result;
    std::size_t first = 0;
    std::size_t skip = 0;
    while (first < buffers.size()) {
        const std::size_t count = std::min(buffers.size() - first, max_buffers_per_call);
        for (std::size_t i = 0; i < count; ++i) {
            const std::size_t offset = i == 0 ? skip : 0;
            vectors[i].iov_base = const_cast<std::uint8_t*>(
                static_cast<const std::uint8_t*>(buffers[first + i].data()) + offset);
            vectors[i].iov_len = buffers[first + i].size() - offset;
        }
        msghdr message{};
        message.msg_iov = vectors.data();
        message.msg_iovlen = count;
        const ssize_t sent = ::sendmsg(socket_, &message, MSG_NOSIGNAL);
        if (sent < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno != EAGAIN && errno != EWOULDBLOCK) {
                result.error = boost::system::error_code(errno, boost::system::system_category());
            }
            break;
        }
        result.bytes += static_cast<std::size_t>(sent);
        auto left = static_cast<std::size_t>(sent) + skip;
        skip = 0;
        while (first < buffers.size() && left >= buffers[first].size()) {
            left -= buffers[first].size();
            ++first;
        }
        skip = left;
    }
    result.buffers = first;
    result.partial_bytes = skip;
    return result;
}

bool tcp_transport::continue_write() {
    pending_write& write = *pending_write_;
    const send_result sent = send_buffers(write.left);
    write.bytes_done += sent.bytes;
    write.error = sent.error;
    if (sent.error || sent.buffers == write.left.size()) {
        return true;
    }
    write.left.erase(write.left.begin(),
                     write.left.begin() + static_cast<std::ptrdiff_t>(sent.buffers));
    write.left.front() += sent.partial_bytes;
    return false;
}

void tcp_transport::on_readiness(std::uint32_t events) {
    // Each handler holds the connection that owns this transport: they run last and are
    // destroyed only when this function returns, after its last use of *this.
    wait_handler ready;
    std::unique_ptr<pending_write> written;
    if ((events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0) {
        is_readable_ = true;
        ready = std::move(wait_handler_);
        wait_handler_ = nullptr;
    }
    if ((events & (EPOLLOUT | EPOLLHUP | EPOLLERR)) != 0 && pending_write_ && continue_write()) {
        written = std::move(pending_write_);
    }
    if (written) {
        written->handler(written->error, written->bytes_done);
    }
    if (ready) {
        // Called now, in the poller's wake-up: the connection reads at once.
        ready(socket_ < 0 ? boost::system::error_code(boost::asio::error::operation_aborted)
                          : boost::system::error_code());
    }
}

void tcp_transport::post_wait(wait_handler handler, const boost::system::error_code& error) {
    boost::asio::post(poller_.context(), [handler = std::move(handler), error] { handler(error); });
}

void tcp_transport::post_write(write_handler handler, const boost::system::error_code& error,
                               std::size_t bytes) {
    boost::asio::post(poller_.context(),
                      [handler = std::move(handler), error, bytes] { handler(error, bytes); });
}

void tcp_transport::shutdown_send() {
    if (socket_ >= 0) {
        ::shutdown(socket_, SHUT_WR);
    }
}

void tcp_transport::close() {
    if (socket_ < 0) {
        return;
    }
    ::shutdown(socket_, SHUT_RDWR);
    release();
    // Pending operations end with operation_aborted, later, as Asio's would.
    if (wait_handler_) {
        wait_handler handler = std::move(wait_handler_);
        wait_handler_ = nullptr;
        post_wait(std::move(handler), boost::asio::error::operation_aborted);
    }
    if (pending_write_) {
        const std::unique_ptr<pending_write> aborted = std::move(pending_write_);
        post_write(std::move(aborted->handler), boost::asio::error::operation_aborted,
                   aborted->bytes_done);
    }
}

std::string tcp_transport::remote_address() const {
    return peer_.port() == 0 ? std::string("unknown") : describe_endpoint(peer_);
}

} // namespace perch::gateway
