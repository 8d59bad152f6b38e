// websocket_frame: server frame headers at each length encoding, client headers collected from
// bytes as they arrive and checked, and unmasking across calls.
#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include <boost/beast/websocket/error.hpp>
#include <gtest/gtest.h>

#include "gateway/stream/websocket_frame.hpp"

namespace perch::gateway {
namespace {

namespace websocket = boost::beast::websocket;

TEST(WebsocketFrame, ServerHeadersUseTheShortestLengthEncoding) {
    std::array<std::uint8_t, 10> header{};
    EXPECT_EQ(write_frame_header(header, websocket_opcode::binary, false, 125), 2u);
    EXPECT_EQ(header[0], 0x82);
    EXPECT_EQ(header[1], 125);
    EXPECT_EQ(write_frame_header(header, websocket_opcode::binary, true, 126), 4u);
    EXPECT_EQ(header[0], 0xc2) << "FIN and RSV1";
    EXPECT_EQ(header[1], 126);
    EXPECT_EQ(header[2], 0);
    EXPECT_EQ(header[3], 126);
    EXPECT_EQ(write_frame_header(header, websocket_opcode::pong, false, 65'535), 4u);
    EXPECT_EQ(header[0], 0x8a);
    EXPECT_EQ(write_frame_header(header, websocket_opcode::binary, false, 65'536), 10u);
    EXPECT_EQ(header[1], 127);
    EXPECT_EQ((std::vector<std::uint8_t>(header.begin() + 2, header.end())),
              (std::vector<std::uint8_t>{0, 0, 0, 0, 0, 1, 0, 0}));
}

TEST(WebsocketFrame, AHeaderArrivingByteByByteIsTakenWhole) {
    // A masked binary frame with a 64-bit length of 70,000, then the first payload byte.
    const std::vector<std::uint8_t> bytes{0x82, 0xff, 0,    0,    0,    0,    0,   0x01,
                                          0x11, 0x70, 0xa1, 0xb2, 0xc3, 0xd4, 0x42};
    frame_header_reader reader;
    for (std::size_t index = 0; index + 2 < bytes.size(); ++index) {
        std::span<const std::uint8_t> one(&bytes[index], 1);
        EXPECT_FALSE(reader.take(one)) << index;
        EXPECT_TRUE(one.empty());
    }
    std::span<const std::uint8_t> rest(&bytes[bytes.size() - 2], 2);
    ASSERT_TRUE(reader.take(rest));
    EXPECT_EQ(rest.size(), 1u) << "the payload stays";
    boost::system::error_code error;
    const auto header = reader.check(false, false, error);
    ASSERT_TRUE(header) << error.message();
    EXPECT_EQ(header->opcode, websocket_opcode::binary);
    EXPECT_TRUE(header->is_final);
    EXPECT_FALSE(header->is_compressed);
    EXPECT_EQ(header->payload_bytes, 70'000u);
    EXPECT_EQ(header->mask, (std::array<std::uint8_t, 4>{0xa1, 0xb2, 0xc3, 0xd4}));
}

boost::system::error_code check_error(std::vector<std::uint8_t> bytes, bool is_in_message,
                                      bool is_deflate) {
    frame_header_reader reader;
    std::span<const std::uint8_t> input(bytes);
    EXPECT_TRUE(reader.take(input));
    boost::system::error_code error;
    const auto header = reader.check(is_in_message, is_deflate, error);
    EXPECT_EQ(header.has_value(), !error);
    return error;
}

TEST(WebsocketFrame, HeadersBreakingRfc6455OrRfc7692AreRefused) {
    const std::uint8_t m = 0x80; // the mask bit; a 4-byte key of zeros follows
    EXPECT_FALSE(check_error({0x82, m | 1, 0, 0, 0, 0}, false, false));
    EXPECT_EQ(check_error({0x82, 1}, false, false), websocket::error::bad_unmasked_frame);
    EXPECT_EQ(check_error({0xa2, m | 1, 0, 0, 0, 0}, false, false),
              websocket::error::bad_reserved_bits);
    EXPECT_EQ(check_error({0xc2, m | 1, 0, 0, 0, 0}, false, false),
              websocket::error::bad_reserved_bits)
        << "RSV1 without permessage-deflate";
    EXPECT_FALSE(check_error({0xc2, m | 1, 0, 0, 0, 0}, false, true));
    EXPECT_EQ(check_error({0xc0, m | 1, 0, 0, 0, 0}, true, true),
              websocket::error::bad_continuation)
        << "RSV1 on a continuation";
    EXPECT_EQ(check_error({0x80, m | 1, 0, 0, 0, 0}, false, false),
              websocket::error::bad_continuation);
    EXPECT_EQ(check_error({0x82, m | 1, 0, 0, 0, 0}, true, false), websocket::error::bad_data_frame)
        << "a new message inside one";
    EXPECT_FALSE(check_error({0x89, m | 1, 0, 0, 0, 0}, true, false)) << "a ping inside one";
    EXPECT_EQ(check_error({0x09, m | 1, 0, 0, 0, 0}, false, false),
              websocket::error::bad_control_fragment);
    EXPECT_EQ(check_error({0x89, m | 126, 0, 126, 0, 0, 0, 0}, false, false),
              websocket::error::bad_control_size);
    EXPECT_EQ(check_error({0x83, m | 1, 0, 0, 0, 0}, false, false), websocket::error::bad_opcode);
    EXPECT_EQ(check_error({0x8b, m | 1, 0, 0, 0, 0}, false, false), websocket::error::bad_opcode);
    EXPECT_EQ(check_error({0x82, m | 127, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, false, false),
              websocket::error::bad_size);
}

TEST(WebsocketFrame, UnmaskingContinuesWhereTheLastPieceStopped) {
    const std::array<std::uint8_t, 4> mask{1, 2, 3, 4};
    const std::vector<std::uint8_t> masked{'h' ^ 1, 'e' ^ 2, 'l' ^ 3, 'l' ^ 4, 'o' ^ 1, '!' ^ 2};
    std::vector<std::uint8_t> plain(masked.size());
    std::uint8_t mask_index = 0;
    unmask(std::span(masked).first(3), mask, mask_index, plain.data());
    unmask(std::span(masked).subspan(3), mask, mask_index, plain.data() + 3);
    EXPECT_EQ(std::string(plain.begin(), plain.end()), "hello!");
    EXPECT_EQ(mask_index, 2);
}

std::vector<std::size_t> lengths_of(const std::vector<std::string>& pieces) {
    std::vector<boost::asio::const_buffer> buffers;
    for (const auto& piece : pieces) {
        buffers.emplace_back(piece.data(), piece.size());
    }
    return mqtt_packet_lengths(buffers);
}

TEST(WebsocketFrame, PacketLengthsFollowTheFixedHeadersAcrossBuffers) {
    const std::string puback("\x40\x02\x00\x07", 4);
    // A PUBLISH of 200 bytes after its fixed header: Remaining Length in two bytes (0xC8 0x01).
    const std::string publish_header("\x32\xc8\x01", 3);
    const std::string publish_body(200, 'p');
    const std::string ping("\xd0\x00", 2);
    EXPECT_EQ(lengths_of({puback + publish_header, publish_body, ping}),
              (std::vector<std::size_t>{4, 203, 2}));
    // The header itself split between buffers.
    EXPECT_EQ(lengths_of({puback + "\x32", "\xc8", "\x01" + publish_body}),
              (std::vector<std::size_t>{4, 203}));
    EXPECT_EQ(lengths_of({}), std::vector<std::size_t>{});
}

TEST(WebsocketFrame, BytesThatAreNoWholePacketGoTogetherAtTheEnd) {
    // A packet running past the end, a Remaining Length of five bytes, a lone type byte.
    EXPECT_EQ(lengths_of({std::string("\xd0\x00\x30\x05"
                                      "ab",
                                      6)}),
              (std::vector<std::size_t>{2, 4}));
    EXPECT_EQ(lengths_of({std::string("\x30\xff\xff\xff\xff\x01", 6)}),
              std::vector<std::size_t>{6});
    EXPECT_EQ(lengths_of({std::string("\x30", 1)}), std::vector<std::size_t>{1});
}

TEST(WebsocketFrame, SlicesTakeTheirBytesAcrossBuffers) {
    const std::string first = "abcd";
    const std::string second = "efgh";
    const std::vector<boost::asio::const_buffer> buffers{{first.data(), first.size()},
                                                         {second.data(), second.size()}};
    std::vector<boost::asio::const_buffer> slice;
    slice_buffers(buffers, 2, 4, slice);
    std::string joined;
    for (const auto& piece : slice) {
        joined.append(static_cast<const char*>(piece.data()), piece.size());
    }
    EXPECT_EQ(joined, "cdef");
    EXPECT_EQ(slice.size(), 2U);
}

} // namespace
} // namespace perch::gateway
