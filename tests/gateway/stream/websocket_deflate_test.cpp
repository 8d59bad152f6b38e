// websocket_deflate: the permessage-deflate parameters chosen for each kind of offer, and whole
// messages compressed and inflated across many messages, with and without the client's context
// takeover, against a compressor that keeps its history as browsers and Node's ws do.
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <boost/asio/buffer.hpp>
#include <boost/beast/websocket/error.hpp>
#include <boost/beast/zlib/deflate_stream.hpp>
#include <boost/beast/zlib/inflate_stream.hpp>
#include <gtest/gtest.h>

#include "gateway/stream/websocket_deflate.hpp"

namespace perch::gateway {
namespace {

namespace zlib = boost::beast::zlib;

// ---- negotiation ------------------------------------------------------------------------

TEST(NegotiateDeflate, ABrowserOfferGetsA512ByteClientWindowWithContextTakeover) {
    // What Chrome, Firefox and MQTT.js (Node's ws) send.
    const auto agreement = negotiate_deflate("permessage-deflate; client_max_window_bits", 9);
    ASSERT_TRUE(agreement);
    EXPECT_EQ(agreement->response,
              "permessage-deflate; server_no_context_takeover; client_max_window_bits=9");
    EXPECT_EQ(agreement->client_window_bits, 9);
    EXPECT_EQ(agreement->server_window_bits, 12);
}

TEST(NegotiateDeflate, AClientWindowSmallerThanPerchsIsKept) {
    const auto agreement = negotiate_deflate("permessage-deflate; client_max_window_bits=10", 12);
    ASSERT_TRUE(agreement);
    EXPECT_EQ(agreement->response,
              "permessage-deflate; server_no_context_takeover; client_max_window_bits=10");
    EXPECT_EQ(agreement->client_window_bits, 10);
}

TEST(NegotiateDeflate, AnEightBitClientWindowKeepsNineBitsOfHistory) {
    // zlib compresses with 2^9 when asked for 2^8.
    const auto agreement = negotiate_deflate("permessage-deflate; client_max_window_bits=8", 9);
    ASSERT_TRUE(agreement);
    EXPECT_EQ(agreement->response,
              "permessage-deflate; server_no_context_takeover; client_max_window_bits=8");
    EXPECT_EQ(agreement->client_window_bits, 9);
}

TEST(NegotiateDeflate, AClientThatCannotBeCappedIsAskedForNoContextTakeover) {
    // Without client_max_window_bits in the offer the response may not cap the client's window
    // (RFC 7692 7.1.2.2), so perch asks it to keep no history instead.
    const auto agreement = negotiate_deflate("permessage-deflate", 9);
    ASSERT_TRUE(agreement);
    EXPECT_EQ(agreement->response,
              "permessage-deflate; server_no_context_takeover; client_no_context_takeover");
    EXPECT_EQ(agreement->client_window_bits, 0);
}

TEST(NegotiateDeflate, TheClientsOwnNoContextTakeoverIsHonoured) {
    const auto agreement = negotiate_deflate(
        "permessage-deflate; client_no_context_takeover; client_max_window_bits", 9);
    ASSERT_TRUE(agreement);
    EXPECT_EQ(agreement->response,
              "permessage-deflate; server_no_context_takeover; client_no_context_takeover");
    EXPECT_EQ(agreement->client_window_bits, 0);
}

TEST(NegotiateDeflate, ZeroWindowBitsAsksEveryClientForNoContextTakeover) {
    const auto agreement = negotiate_deflate("permessage-deflate; client_max_window_bits", 0);
    ASSERT_TRUE(agreement);
    EXPECT_EQ(agreement->response,
              "permessage-deflate; server_no_context_takeover; client_no_context_takeover");
    EXPECT_EQ(agreement->client_window_bits, 0);
}

TEST(NegotiateDeflate, TheServerWindowTheClientAsksForIsEchoedAndUsed) {
    const auto agreement = negotiate_deflate(
        "permessage-deflate; server_no_context_takeover; server_max_window_bits=10", 9);
    ASSERT_TRUE(agreement);
    EXPECT_EQ(agreement->response, "permessage-deflate; server_no_context_takeover; "
                                   "server_max_window_bits=10; client_no_context_takeover");
    EXPECT_EQ(agreement->server_window_bits, 10);
}

TEST(NegotiateDeflate, AnOfferPerchCannotHonourFallsToTheNext) {
    const auto agreement = negotiate_deflate(
        "permessage-deflate; server_max_window_bits=8, permessage-deflate; client_max_window_bits",
        9);
    ASSERT_TRUE(agreement);
    EXPECT_EQ(agreement->response,
              "permessage-deflate; server_no_context_takeover; client_max_window_bits=9");
}

TEST(NegotiateDeflate, UnknownOrBadParametersAndOtherExtensionsAreDeclined) {
    EXPECT_FALSE(negotiate_deflate("permessage-deflate; client_max_window_bits=16", 9));
    EXPECT_FALSE(negotiate_deflate("permessage-deflate; mystery", 9));
    EXPECT_FALSE(negotiate_deflate("permessage-deflate; server_max_window_bits", 9));
    EXPECT_FALSE(negotiate_deflate(
        "permessage-deflate; client_no_context_takeover; client_no_context_takeover", 9));
    EXPECT_FALSE(negotiate_deflate("x-webkit-deflate-frame", 9));
    EXPECT_FALSE(negotiate_deflate("", 9));
}

// ---- messages ---------------------------------------------------------------------------

/// A client's compressor: one stream for the connection (context takeover) or a fresh one per
/// message; each message ends with a sync flush whose 00 00 FF FF is removed (RFC 7692 7.2.1).
class client_compressor {
public:
    client_compressor(int window_bits, bool is_takeover)
        : window_bits_(window_bits), is_takeover_(is_takeover) {
        stream_.reset(6, window_bits_, 8, zlib::Strategy::normal);
    }

    std::vector<std::uint8_t> compress(const std::string& message) {
        if (!is_takeover_) {
            stream_.reset(6, window_bits_, 8, zlib::Strategy::normal);
        }
        std::vector<std::uint8_t> out(message.size() * 2 + 64);
        zlib::z_params params;
        params.next_in = message.data();
        params.avail_in = message.size();
        params.next_out = out.data();
        params.avail_out = out.size();
        boost::system::error_code error;
        stream_.write(params, zlib::Flush::sync, error);
        EXPECT_EQ(params.avail_in, 0u);
        out.resize(out.size() - params.avail_out);
        EXPECT_GE(out.size(), 4u);
        out.resize(out.size() - 4);
        return out;
    }

private:
    zlib::deflate_stream stream_;
    int window_bits_;
    bool is_takeover_;
};

/// Chat-like MQTT traffic: repeated topics and JSON keys, different text.
std::vector<std::string> chat_messages(std::size_t count) {
    std::vector<std::string> messages;
    for (std::size_t index = 0; index < count; ++index) {
        const std::string room = "room" + std::to_string(index % 3);
        const std::string sender = "user" + std::to_string(index % 5);
        std::string message = "0rooms/" + room + "/" + sender +
                              "{\"type\":\"message\",\"room\":\"" + room + "\",\"sender\":\"" +
                              sender + "\",\"id\":" + std::to_string(1000003 * index) +
                              ",\"text\":\"";
        for (std::size_t word = 0; word < 3 + index % 17; ++word) {
            message += "word" + std::to_string((index * 7 + word * 13) % 41) + " ";
        }
        message += "\"}";
        messages.push_back(std::move(message));
    }
    return messages;
}

std::string as_string(const std::vector<std::uint8_t>& bytes) {
    return std::string(bytes.begin(), bytes.end());
}

/// Inflates `messages` as compressed by `client` through one message_deflater; returns the
/// compressed bytes in all.
std::size_t expect_round_trip(client_compressor& client, message_deflater& server,
                              const std::vector<std::string>& messages) {
    std::size_t compressed_bytes = 0;
    for (const std::string& message : messages) {
        const std::vector<std::uint8_t> compressed = client.compress(message);
        compressed_bytes += compressed.size();
        std::vector<std::uint8_t> inflated;
        boost::system::error_code error;
        server.inflate(compressed, 1024 * 1024, inflated, error);
        EXPECT_FALSE(error) << error.message();
        EXPECT_EQ(as_string(inflated), message);
    }
    return compressed_bytes;
}

TEST(MessageDeflater, InflatesManyMessagesOfAClientWithContextTakeover) {
    const auto agreement = negotiate_deflate("permessage-deflate; client_max_window_bits", 9);
    ASSERT_TRUE(agreement);
    message_deflater server(*agreement);
    client_compressor client(agreement->client_window_bits, true);
    const auto messages = chat_messages(300);
    const std::size_t with_history = expect_round_trip(client, server, messages);
    EXPECT_EQ(server.history_bytes(), 512u);

    // The history is what makes the client's messages small: the same messages compressed one
    // by one take clearly more.
    client_compressor fresh(9, false);
    std::size_t without_history = 0;
    for (const auto& message : messages) {
        without_history += fresh.compress(message).size();
    }
    EXPECT_LT(with_history * 10, without_history * 9);
}

TEST(MessageDeflater, KeepsTheHistoryAcrossMessagesShorterAndLongerThanTheWindow) {
    const auto agreement = negotiate_deflate("permessage-deflate; client_max_window_bits=10", 10);
    ASSERT_TRUE(agreement);
    message_deflater server(*agreement);
    client_compressor client(10, true);
    std::vector<std::string> messages;
    for (std::size_t size : {1, 5, 700, 3, 1500, 0, 40, 1024, 2, 900}) {
        messages.push_back(std::string(size, 'x') + std::to_string(size) + "/repeated/topic");
    }
    expect_round_trip(client, server, messages);
    EXPECT_EQ(server.history_bytes(), 1024u);
}

TEST(MessageDeflater, InflatesManyMessagesOfAClientWithoutContextTakeover) {
    const auto agreement = negotiate_deflate("permessage-deflate", 9);
    ASSERT_TRUE(agreement);
    message_deflater server(*agreement);
    client_compressor client(15, false);
    expect_round_trip(client, server, chat_messages(300));
    EXPECT_EQ(server.history_bytes(), 0u) << "no history without context takeover";
}

TEST(MessageDeflater, ServerMessagesInflateOnTheirOwn) {
    // server_no_context_takeover: a client may inflate each message with a fresh inflater.
    const auto agreement = negotiate_deflate("permessage-deflate; client_max_window_bits", 9);
    ASSERT_TRUE(agreement);
    message_deflater server(*agreement);
    std::size_t raw_bytes = 0;
    std::size_t compressed_bytes = 0;
    for (const std::string& message : chat_messages(200)) {
        // Gathered from two buffers, as a connection's flush is.
        const std::size_t half = message.size() / 2;
        const std::array<boost::asio::const_buffer, 2> buffers{
            boost::asio::const_buffer(message.data(), half),
            boost::asio::const_buffer(message.data() + half, message.size() - half)};
        std::vector<std::uint8_t> compressed;
        server.compress(buffers, compressed);
        raw_bytes += message.size();
        compressed_bytes += compressed.size();
        compressed.insert(compressed.end(), {0x00, 0x00, 0xff, 0xff});
        zlib::inflate_stream client;
        client.reset(agreement->server_window_bits);
        std::vector<std::uint8_t> inflated(message.size() + 64);
        zlib::z_params params;
        params.next_in = compressed.data();
        params.avail_in = compressed.size();
        params.next_out = inflated.data();
        params.avail_out = inflated.size();
        boost::system::error_code error;
        client.write(params, zlib::Flush::sync, error);
        EXPECT_TRUE(!error || error == zlib::error::need_buffers) << error.message();
        inflated.resize(inflated.size() - params.avail_out);
        EXPECT_EQ(as_string(inflated), message);
    }
    EXPECT_LT(compressed_bytes, raw_bytes);
}

TEST(MessageDeflater, AnEmptyMessageCompressesToOneByte) {
    const auto agreement = negotiate_deflate("permessage-deflate", 9);
    ASSERT_TRUE(agreement);
    message_deflater server(*agreement);
    std::vector<std::uint8_t> compressed;
    server.compress({}, compressed);
    EXPECT_EQ(compressed, std::vector<std::uint8_t>{0x00});
}

TEST(MessageDeflater, AMessageInflatingPastTheLimitFailsWithoutGrowingPastIt) {
    const auto agreement = negotiate_deflate("permessage-deflate", 9);
    ASSERT_TRUE(agreement);
    message_deflater server(*agreement);
    client_compressor client(15, false);
    const auto compressed = client.compress(std::string(100'000, 'z'));
    ASSERT_LT(compressed.size(), 1000u);
    std::vector<std::uint8_t> inflated;
    boost::system::error_code error;
    server.inflate(compressed, 4096, inflated, error);
    EXPECT_EQ(error, boost::beast::websocket::error::message_too_big);
    EXPECT_LE(inflated.size(), 4097u);

    inflated.clear();
    server.inflate(client.compress(std::string(4096, 'z')), 4096, inflated, error);
    EXPECT_FALSE(error) << error.message();
    EXPECT_EQ(inflated.size(), 4096u);
}

TEST(MessageDeflater, CorruptDataFails) {
    const auto agreement = negotiate_deflate("permessage-deflate", 9);
    ASSERT_TRUE(agreement);
    message_deflater server(*agreement);
    const std::vector<std::uint8_t> corrupt{0xff, 0xff, 0xff, 0xff, 0x00};
    std::vector<std::uint8_t> inflated;
    boost::system::error_code error;
    server.inflate(corrupt, 4096, inflated, error);
    EXPECT_TRUE(error);
}

} // namespace
} // namespace perch::gateway
