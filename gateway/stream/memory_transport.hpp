// An in-process byte stream: two connected transport ends in memory, for a client that lives
// inside the broker (the assistant bot). Both ends run on one worker's io_context; nothing here
// is thread-safe. Knows nothing about MQTT.
//
// Theory of operation. The two ends share one channel holding the bytes on their way to each end
// and at most one waiting read handler per end. A write appends to the other end's bytes and
// wakes its waiter; a close ends both directions: the closing end's waiter gets
// operation_aborted, the other end reads what is left and then eof. Every handler is posted,
// never called inline.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <utility>

#include <boost/asio/io_context.hpp>

#include "gateway/stream/transport.hpp"

namespace perch::gateway {

struct memory_channel;

/// One end of an in-memory byte stream.
class memory_transport final : public transport {
public:
    /// Use make_memory_transport_pair.
    memory_transport(std::shared_ptr<memory_channel> channel, std::size_t side,
                     std::string identity_user_name, std::string remote_address);
    /// Closes this end.
    ~memory_transport() override;
    memory_transport(const memory_transport&) = delete;
    memory_transport& operator=(const memory_transport&) = delete;

    std::size_t read_some(std::span<std::uint8_t> buffer,
                          boost::system::error_code& error) override;
    void async_wait_readable(wait_handler handler) override;
    void async_write(std::span<const boost::asio::const_buffer> buffers,
                     write_handler handler) override;
    void close() override;
    bool is_open() const override;
    std::string remote_address() const override { return remote_address_; }
    /// The user name given at creation (the broker end: the in-process client's user).
    std::string identity_user_name() const override { return identity_user_name_; }

private:
    std::shared_ptr<memory_channel> channel_;
    /// 0 or 1: which end of the channel this is.
    std::size_t side_;
    std::string identity_user_name_;
    std::string remote_address_;
};

/// Two connected ends on `context`. The first is the broker's end, whose identity_user_name() is
/// `user_name` (so the connection logs that user in as a verified identity) and whose
/// remote_address() is "in-process:USER"; the second is the client's end.
std::pair<std::unique_ptr<memory_transport>, std::unique_ptr<memory_transport>>
make_memory_transport_pair(boost::asio::io_context& context, const std::string& user_name);

} // namespace perch::gateway
