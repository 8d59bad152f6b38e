// websocket_message_reader: messages assembled from frames arriving in pieces, pings between
// fragments, the limits before and after CONNECT, compressed messages inflated whole, and the
// close code of each failure.
#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/beast/websocket/error.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <gtest/gtest.h>

#include "gateway/stream/websocket_message_reader.hpp"

namespace perch::gateway {
namespace {

namespace websocket = boost::beast::websocket;
using step = websocket_message_reader::step;

/// A client frame: FIN, RSV1 and opcode as given, masked with a fixed key.
std::vector<std::uint8_t> client_frame(std::uint8_t opcode, std::string_view payload,
                                       bool fin = true, bool rsv1 = false) {
    std::vector<std::uint8_t> frame;
    frame.push_back(static_cast<std::uint8_t>((fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | opcode));
    if (payload.size() < 126) {
        frame.push_back(static_cast<std::uint8_t>(0x80 | payload.size()));
    } else {
        frame.push_back(0x80 | 126);
        frame.push_back(static_cast<std::uint8_t>(payload.size() >> 8));
        frame.push_back(static_cast<std::uint8_t>(payload.size() & 0xff));
    }
    const std::array<std::uint8_t, 4> key{0x12, 0x34, 0x56, 0x78};
    frame.insert(frame.end(), key.begin(), key.end());
    for (std::size_t index = 0; index < payload.size(); ++index) {
        frame.push_back(static_cast<std::uint8_t>(payload[index]) ^ key[index % 4]);
    }
    return frame;
}

std::vector<std::uint8_t> joined(std::initializer_list<std::vector<std::uint8_t>> frames) {
    std::vector<std::uint8_t> bytes;
    for (const auto& frame : frames) {
        bytes.insert(bytes.end(), frame.begin(), frame.end());
    }
    return bytes;
}

std::string as_text(const std::vector<std::uint8_t>& bytes) {
    return {bytes.begin(), bytes.end()};
}

TEST(WebsocketMessageReader, AMessageArrivingByteByByteIsHandedOverOnceWhole) {
    websocket_message_reader reader(1024);
    const auto bytes = joined({client_frame(0x2, "hello ", false), client_frame(0x0, "world")});
    for (std::size_t index = 0; index + 1 < bytes.size(); ++index) {
        std::size_t consumed = 0;
        ASSERT_EQ(reader.parse(std::span(bytes).subspan(index, 1), nullptr, consumed),
                  step::need_more)
            << "byte " << index;
        EXPECT_EQ(consumed, 1u);
    }
    std::size_t consumed = 0;
    ASSERT_EQ(reader.parse(std::span(bytes).last(1), nullptr, consumed), step::message_done);
    EXPECT_EQ(consumed, 1u);
    EXPECT_EQ(as_text(reader.take_message()), "hello world");
}

TEST(WebsocketMessageReader, APingBetweenFragmentsIsAnsweredAndTheRestParsedAfter) {
    websocket_message_reader reader(1024);
    const auto bytes = joined({client_frame(0x2, "first ", false), client_frame(0x9, "are you"),
                               client_frame(0x0, "last"), client_frame(0x2, "next")});
    std::span<const std::uint8_t> rest(bytes);
    std::size_t consumed = 0;
    ASSERT_EQ(reader.parse(rest, nullptr, consumed), step::ping);
    EXPECT_EQ(std::string(reader.control_payload().begin(), reader.control_payload().end()),
              "are you");
    reader.release_control_payload();
    rest = rest.subspan(consumed);
    ASSERT_EQ(reader.parse(rest, nullptr, consumed), step::message_done);
    EXPECT_EQ(as_text(reader.take_message()), "first last");
    rest = rest.subspan(consumed);
    EXPECT_EQ(rest.size(), client_frame(0x2, "next").size()) << "the next message is left";
    ASSERT_EQ(reader.parse(rest, nullptr, consumed), step::message_done);
    EXPECT_EQ(as_text(reader.take_message()), "next");
}

TEST(WebsocketMessageReader, APongIsTakenSilently) {
    websocket_message_reader reader(1024);
    const auto bytes = client_frame(0xa, "pong");
    std::size_t consumed = 0;
    EXPECT_EQ(reader.parse(bytes, nullptr, consumed), step::need_more);
    EXPECT_EQ(consumed, bytes.size());
}

struct failure_case {
    const char* name;
    std::vector<std::uint8_t> bytes;
    boost::system::error_code failure;
    std::uint16_t close_code;
};

class WebsocketMessageReaderFailure : public ::testing::TestWithParam<failure_case> {};

TEST_P(WebsocketMessageReaderFailure, ClosesWithItsCode) {
    websocket_message_reader reader(16);
    std::size_t consumed = 0;
    EXPECT_EQ(reader.parse(GetParam().bytes, nullptr, consumed), step::failed);
    EXPECT_EQ(reader.failure(), GetParam().failure);
    EXPECT_EQ(reader.close_code(), GetParam().close_code);
}

std::vector<std::uint8_t> close_frame(std::uint16_t code) {
    const std::string payload{static_cast<char>(code >> 8), static_cast<char>(code & 0xff)};
    return client_frame(0x8, payload);
}

INSTANTIATE_TEST_SUITE_P(
    Frames, WebsocketMessageReaderFailure,
    ::testing::Values(
        failure_case{"Text", client_frame(0x1, "hi"), boost::asio::error::operation_not_supported,
                     websocket::close_code::unknown_data},
        failure_case{"OverTheLimit", client_frame(0x2, std::string(17, 'x')),
                     websocket::error::message_too_big, websocket::close_code::too_big},
        failure_case{"OverTheLimitInFragments",
                     joined({client_frame(0x2, std::string(10, 'x'), false),
                             client_frame(0x0, std::string(7, 'y'))}),
                     websocket::error::message_too_big, websocket::close_code::too_big},
        failure_case{"ContinuationFirst", client_frame(0x0, "x"),
                     websocket::error::bad_continuation, websocket::close_code::protocol_error},
        failure_case{"CompressedWithoutDeflate", client_frame(0x2, "x", true, true),
                     websocket::error::bad_reserved_bits, websocket::close_code::protocol_error},
        failure_case{"ClientClose", close_frame(4000), websocket::error::closed, 4000},
        failure_case{"ClientCloseWithoutCode", client_frame(0x8, ""), websocket::error::closed,
                     websocket::close_code::normal},
        failure_case{"ClientCloseWithAReservedCode", close_frame(1005), websocket::error::closed,
                     websocket::close_code::protocol_error},
        failure_case{"ClientCloseWithCodeZero", close_frame(0), websocket::error::closed,
                     websocket::close_code::protocol_error},
        failure_case{"ClientCloseWithOneByte", client_frame(0x8, "x"), websocket::error::closed,
                     websocket::close_code::protocol_error}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(WebsocketMessageReader, TheLimitRisesWhenTheConnectIsAccepted) {
    websocket_message_reader reader(8);
    const auto big = client_frame(0x2, std::string(12, 'x'));
    std::size_t consumed = 0;
    reader.set_message_limit(16);
    EXPECT_EQ(reader.parse(big, nullptr, consumed), step::message_done);
    EXPECT_EQ(reader.take_message().size(), 12u);
}

/// The payload of `text` as one compressed message, as a client with permessage-deflate sends.
std::string compressed(message_deflater& deflater, const std::string& text) {
    std::vector<std::uint8_t> out;
    const boost::asio::const_buffer buffer(text.data(), text.size());
    deflater.compress(std::span(&buffer, 1), out);
    return {out.begin(), out.end()};
}

TEST(WebsocketMessageReader, ACompressedMessageIsInflatedWholeWithinTheLimit) {
    const auto agreement = negotiate_deflate("permessage-deflate; client_no_context_takeover", 0);
    ASSERT_TRUE(agreement);
    message_deflater sender(*agreement);
    message_deflater deflater(*agreement);
    const std::string text(200, 'a');
    const std::string payload = compressed(sender, text);
    ASSERT_LT(payload.size(), 64u);
    const auto bytes = joined({client_frame(0x2, payload.substr(0, 3), false, true),
                               client_frame(0x0, payload.substr(3))});
    websocket_message_reader reader(256);
    std::size_t consumed = 0;
    ASSERT_EQ(reader.parse(bytes, &deflater, consumed), step::message_done);
    EXPECT_EQ(as_text(reader.take_message()), text);

    // The same message inflates past a limit of 100 bytes: refused though it is small on the wire.
    websocket_message_reader small(100);
    EXPECT_EQ(small.parse(client_frame(0x2, payload, true, true), &deflater, consumed),
              step::failed);
    EXPECT_EQ(small.close_code(), websocket::close_code::too_big);
}

TEST(WebsocketMessageReader, DataThatDoesNotInflateClosesWith1007) {
    const auto agreement = negotiate_deflate("permessage-deflate; client_no_context_takeover", 0);
    ASSERT_TRUE(agreement);
    message_deflater deflater(*agreement);
    websocket_message_reader reader(1024);
    std::size_t consumed = 0;
    EXPECT_EQ(reader.parse(client_frame(0x2, "\xff\xff\xff\xff", true, true), &deflater, consumed),
              step::failed);
    EXPECT_EQ(reader.close_code(), websocket::close_code::bad_payload);
}

} // namespace
} // namespace perch::gateway
