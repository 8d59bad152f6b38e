// The in-memory transport pair: bytes move between two byte strings, handlers are posted.
#include "gateway/stream/memory_transport.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <string>

#include <boost/asio/error.hpp>
#include <boost/asio/post.hpp>

namespace perch::gateway {

/// What both ends share. Owner: the worker thread of `context`.
struct memory_channel {
    explicit memory_channel(boost::asio::io_context& io) : context(io) {}

    boost::asio::io_context& context;
    /// inbound[side]: bytes written by the other end, not yet read by `side`.
    std::array<std::string, 2> inbound;
    /// Where reading starts in inbound[side] (consumed bytes are dropped in bulk).
    std::array<std::size_t, 2> read_offset{0, 0};
    std::array<bool, 2> is_closed{false, false};
    std::array<transport::wait_handler, 2> waiter;

    bool is_ended() const { return is_closed[0] || is_closed[1]; }

    /// Posts `side`'s waiter, if any, with `error`.
    void wake(std::size_t side, const boost::system::error_code& error) {
        if (!waiter[side]) {
            return;
        }
        boost::asio::post(context, [handler = std::move(waiter[side]), error] { handler(error); });
        waiter[side] = nullptr;
    }
};

memory_transport::memory_transport(std::shared_ptr<memory_channel> channel, std::size_t side,
                                   std::string identity_user_name, std::string remote_address)
    : channel_(std::move(channel)), side_(side), identity_user_name_(std::move(identity_user_name)),
      remote_address_(std::move(remote_address)) {}

memory_transport::~memory_transport() {
    close();
}

std::size_t memory_transport::read_some(std::span<std::uint8_t> buffer,
                                        boost::system::error_code& error) {
    error = {};
    memory_channel& shared = *channel_;
    if (shared.is_closed[side_]) {
        error = boost::asio::error::bad_descriptor;
        return 0;
    }
    std::string& bytes = shared.inbound[side_];
    std::size_t& offset = shared.read_offset[side_];
    const std::size_t available = bytes.size() - offset;
    if (available == 0) {
        error = shared.is_ended()
                    ? boost::asio::error::make_error_code(boost::asio::error::eof)
                    : boost::asio::error::make_error_code(boost::asio::error::would_block);
        return 0;
    }
    const std::size_t count = std::min(available, buffer.size());
    std::memcpy(buffer.data(), bytes.data() + offset, count);
    offset += count;
    if (offset == bytes.size()) {
        bytes.clear();
        offset = 0;
    }
    return count;
}

void memory_transport::async_wait_readable(wait_handler handler) {
    memory_channel& shared = *channel_;
    if (shared.is_closed[side_]) {
        boost::asio::post(shared.context, [handler = std::move(handler)] {
            handler(boost::asio::error::operation_aborted);
        });
        return;
    }
    shared.waiter[side_] = std::move(handler);
    if (shared.inbound[side_].size() > shared.read_offset[side_] || shared.is_ended()) {
        shared.wake(side_, {});
    }
}

void memory_transport::async_write(std::span<const boost::asio::const_buffer> buffers,
                                   write_handler handler) {
    memory_channel& shared = *channel_;
    if (shared.is_ended()) {
        const auto error = shared.is_closed[side_] ? boost::asio::error::operation_aborted
                                                   : boost::asio::error::broken_pipe;
        boost::asio::post(shared.context,
                          [handler = std::move(handler), error] { handler(error, 0); });
        return;
    }
    const std::size_t peer = 1 - side_;
    std::size_t total = 0;
    for (const boost::asio::const_buffer& piece : buffers) {
        shared.inbound[peer].append(static_cast<const char*>(piece.data()), piece.size());
        total += piece.size();
    }
    shared.wake(peer, {});
    boost::asio::post(shared.context,
                      [handler = std::move(handler), total] { handler({}, total); });
}

void memory_transport::close() {
    memory_channel& shared = *channel_;
    if (shared.is_closed[side_]) {
        return;
    }
    shared.is_closed[side_] = true;
    shared.wake(side_, boost::asio::error::operation_aborted);
    // The other end reads what is left, then eof.
    shared.wake(1 - side_, {});
}

bool memory_transport::is_open() const {
    return !channel_->is_closed[side_];
}

std::pair<std::unique_ptr<memory_transport>, std::unique_ptr<memory_transport>>
make_memory_transport_pair(boost::asio::io_context& context, const std::string& user_name) {
    auto channel = std::make_shared<memory_channel>(context);
    return {std::make_unique<memory_transport>(channel, 0, user_name, "in-process:" + user_name),
            std::make_unique<memory_transport>(channel, 1, std::string(), "in-process:broker")};
}

} // namespace perch::gateway
