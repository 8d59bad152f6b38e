// Tests of the in-memory transport pair: bytes both ways, handlers never inline, close and eof.
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include <boost/asio/error.hpp>
#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>

#include "gateway/stream/memory_transport.hpp"

namespace perch::gateway {
namespace {

std::string read_all(transport& end, boost::system::error_code& error) {
    std::string text;
    std::array<std::uint8_t, 4> buffer{};
    while (true) {
        const std::size_t count = end.read_some(buffer, error);
        if (error) {
            return text;
        }
        text.append(reinterpret_cast<const char*>(buffer.data()), count);
    }
}

void write_text(transport& end, const std::string& text, bool& is_written) {
    const std::array<boost::asio::const_buffer, 1> buffers{boost::asio::buffer(text)};
    end.async_write(buffers, [&is_written, size = text.size()](
                                 const boost::system::error_code& error, std::size_t bytes) {
        EXPECT_FALSE(error);
        EXPECT_EQ(bytes, size);
        is_written = true;
    });
}

TEST(MemoryTransport, CarriesBytesBothWaysWithHandlersPosted) {
    boost::asio::io_context context;
    auto [broker_end, client_end] = make_memory_transport_pair(context, "assistant");
    EXPECT_EQ(broker_end->identity_user_name(), "assistant");
    EXPECT_EQ(client_end->identity_user_name(), "");
    EXPECT_EQ(broker_end->remote_address(), "in-process:assistant");

    bool is_readable = false;
    broker_end->async_wait_readable(
        [&](const boost::system::error_code& error) { is_readable = !error; });
    bool is_written = false;
    const std::string hello = "hello, broker";
    write_text(*client_end, hello, is_written);
    EXPECT_FALSE(is_readable);
    EXPECT_FALSE(is_written);
    context.run();
    context.restart();
    EXPECT_TRUE(is_readable);
    EXPECT_TRUE(is_written);
    boost::system::error_code error;
    EXPECT_EQ(read_all(*broker_end, error), hello);
    EXPECT_EQ(error, boost::asio::error::would_block);

    is_written = false;
    write_text(*broker_end, "and back", is_written);
    context.run();
    EXPECT_EQ(read_all(*client_end, error), "and back");
}

TEST(MemoryTransport, ClosingOneEndLetsTheOtherReadTheRestThenEof) {
    boost::asio::io_context context;
    auto [broker_end, client_end] = make_memory_transport_pair(context, "assistant");
    bool is_written = false;
    write_text(*client_end, "last words", is_written);
    bool was_aborted = false;
    client_end->async_wait_readable([&](const boost::system::error_code& error) {
        was_aborted = error == boost::asio::error::operation_aborted;
    });
    client_end->close();
    EXPECT_FALSE(client_end->is_open());
    EXPECT_TRUE(broker_end->is_open());
    bool is_woken = false;
    broker_end->async_wait_readable(
        [&](const boost::system::error_code& error) { is_woken = !error; });
    context.run();
    EXPECT_TRUE(was_aborted);
    EXPECT_TRUE(is_woken);
    boost::system::error_code error;
    EXPECT_EQ(read_all(*broker_end, error), "last words");
    EXPECT_EQ(error, boost::asio::error::eof);

    context.restart();
    bool is_refused = false;
    const std::string late = "late";
    const std::array<boost::asio::const_buffer, 1> buffers{boost::asio::buffer(late)};
    broker_end->async_write(buffers, [&](const boost::system::error_code& failure, std::size_t) {
        is_refused = failure == boost::asio::error::broken_pipe;
    });
    context.run();
    EXPECT_TRUE(is_refused);
}

TEST(MemoryTransport, DestroyingAnEndWakesTheOther) {
    boost::asio::io_context context;
    auto [broker_end, client_end] = make_memory_transport_pair(context, "assistant");
    bool is_woken = false;
    broker_end->async_wait_readable(
        [&](const boost::system::error_code& error) { is_woken = !error; });
    client_end.reset();
    context.run();
    EXPECT_TRUE(is_woken);
    boost::system::error_code error;
    read_all(*broker_end, error);
    EXPECT_EQ(error, boost::asio::error::eof);
}

} // namespace
} // namespace perch::gateway
