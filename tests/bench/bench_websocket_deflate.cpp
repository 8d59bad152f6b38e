// What each permessage-deflate choice costs and gains on chat traffic, without sockets: the chat
// stream of bench_tls (same generator and seed) as MQTT PUBLISH packets, one WebSocket message
// each, compressed by a client that keeps its history as browsers and Node's ws do (zlib level 6,
// memLevel 8, sync flush, the window perch's answer allows) and inflated by perch's
// message_deflater, for each websocket_deflate_window_bits; and the same packets compressed by
// perch towards the client. Bytes are frame headers (masked from the client) plus payloads, as on
// the wire after the upgrade. Also the CPU per message of perch's inflating and compressing.
// usage: bench_websocket_deflate [MESSAGES]
// Prints one line per result: "bench_websocket_deflate metric=... value=... unit=...".
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/buffer.hpp>
#include <boost/beast/zlib/deflate_stream.hpp>

#include "gateway/stream/websocket_deflate.hpp"

namespace {

namespace zlib = boost::beast::zlib;
using perch::gateway::deflate_agreement;
using perch::gateway::message_deflater;
using perch::gateway::negotiate_deflate;

/// bench_tls's chat stream: (topic, JSON payload) pairs of 60-300 bytes.
std::vector<std::pair<std::string, std::string>> chat_stream(int count) {
    static const std::vector<std::string> words = {
        "the",   "release", "is",     "ready", "can",       "you",     "review",  "my",
        "patch", "before",  "lunch",  "ok",    "thanks",    "see",     "at",      "standup",
        "build", "failed",  "again",  "on",    "arm64",     "fixed",   "it",      "with",
        "a",     "retry",   "who",    "owns",  "dashboard", "meeting", "moved",   "to",
        "3pm",   "coffee",  "anyone", "lgtm",  "merged",    "deploy",  "tonight", "rollback"};
    static const std::vector<std::string> rooms = {"general", "dev", "ops", "random"};
    static const std::vector<std::string> people = {"alice", "bob", "carol", "dave", "erin"};
    std::uint64_t state = 0x9E3779B97F4A7C15ULL;
    const auto next = [&state](std::uint64_t bound) {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        return state % bound;
    };
    std::vector<std::pair<std::string, std::string>> messages;
    for (int index = 0; index < count; ++index) {
        const std::string& room = rooms[next(rooms.size())];
        const std::string& from = people[next(people.size())];
        std::string text;
        const std::size_t text_bytes = 10 + next(220);
        while (text.size() < text_bytes) {
            text += (text.empty() ? "" : " ") + words[next(words.size())];
        }
        const std::string payload = R"({"id":")" + std::to_string(1'700'000 + index) +
                                    R"(","from":")" + from + R"(","room":")" + room +
                                    R"(","text":")" + text + R"(","ts":)" +
                                    std::to_string(1'764'000'000'000ULL + index * 1371ULL) + "}";
        messages.emplace_back("rooms/" + room + "/" + from, payload);
    }
    return messages;
}

std::string publish_packet(const std::string& topic, const std::string& payload) {
    std::string body;
    body += static_cast<char>(topic.size() >> 8);
    body += static_cast<char>(topic.size() & 0xFF);
    body += topic + payload;
    std::string length;
    std::size_t value = body.size();
    do {
        char byte = static_cast<char>(value % 128);
        value /= 128;
        if (value > 0) {
            byte = static_cast<char>(byte | 0x80);
        }
        length += byte;
    } while (value > 0);
    return "\x30" + length + body;
}

/// WebSocket frame header bytes for a payload: 2, 4 or 10, plus 4 for a client's mask.
std::size_t frame_header_bytes(std::size_t payload_bytes, bool is_masked) {
    const std::size_t length_bytes = payload_bytes < 126 ? 0 : payload_bytes <= 0xffff ? 2 : 8;
    return 2 + length_bytes + (is_masked ? 4 : 0);
}

/// A browser's compressor for one connection: its history kept unless `window_bits` is 0.
class browser_compressor {
public:
    explicit browser_compressor(int window_bits)
        : window_bits_(window_bits == 0 ? 15 : window_bits), is_takeover_(window_bits != 0) {
        stream_.reset(6, window_bits_, 8, zlib::Strategy::normal);
    }

    std::vector<std::uint8_t> compress(const std::string& message) {
        if (!is_takeover_) {
            stream_.reset(6, window_bits_, 8, zlib::Strategy::normal);
        }
        std::vector<std::uint8_t> out(message.size() + 64);
        zlib::z_params params;
        params.next_in = message.data();
        params.avail_in = message.size();
        params.next_out = out.data();
        params.avail_out = out.size();
        boost::system::error_code error;
        stream_.write(params, zlib::Flush::sync, error);
        out.resize(out.size() - params.avail_out - 4);
        return out;
    }

private:
    zlib::deflate_stream stream_;
    int window_bits_;
    bool is_takeover_;
};

void print(const std::string& metric, double value, const char* unit) {
    std::printf("bench_websocket_deflate metric=%s value=%.2f unit=%s\n", metric.c_str(), value,
                unit);
}

} // namespace

int main(int argc, char** argv) {
    const int count = argc > 1 ? std::atoi(argv[1]) : 1000;
    std::vector<std::string> packets;
    std::size_t raw_bytes = 0;
    std::size_t plain_wire_up = 0;
    std::size_t plain_wire_down = 0;
    for (const auto& [topic, payload] : chat_stream(count)) {
        packets.push_back(publish_packet(topic, payload));
        raw_bytes += packets.back().size();
        plain_wire_up += frame_header_bytes(packets.back().size(), true) + packets.back().size();
        plain_wire_down += frame_header_bytes(packets.back().size(), false) + packets.back().size();
    }
    print("chat_messages", count, "messages");
    print("mqtt_bytes", static_cast<double>(raw_bytes), "B");
    print("wire_bytes_client_to_broker_no_deflate", static_cast<double>(plain_wire_up), "B");
    print("wire_bytes_broker_to_client_no_deflate", static_cast<double>(plain_wire_down), "B");

    for (const int bits : {0, 9, 10, 11, 12, 13, 15}) {
        const auto agreement =
            negotiate_deflate("permessage-deflate; client_max_window_bits", bits);
        if (!agreement) {
            return 1;
        }
        message_deflater server(*agreement);
        browser_compressor client(agreement->client_window_bits);
        std::vector<std::vector<std::uint8_t>> compressed;
        std::size_t wire = 0;
        for (const std::string& packet : packets) {
            compressed.push_back(client.compress(packet));
            wire += frame_header_bytes(compressed.back().size(), true) + compressed.back().size();
        }
        const auto start = std::chrono::steady_clock::now();
        for (std::size_t index = 0; index < packets.size(); ++index) {
            std::vector<std::uint8_t> inflated;
            boost::system::error_code error;
            server.inflate(compressed[index], 1024 * 1024, inflated, error);
            if (error || std::string(inflated.begin(), inflated.end()) != packets[index]) {
                std::fprintf(stderr, "message %zu does not inflate back\n", index);
                return 1;
            }
        }
        const double seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        const std::string name = "window_bits_" + std::to_string(bits);
        print("wire_bytes_client_to_broker_" + name, static_cast<double>(wire), "B");
        print("wire_ratio_client_to_broker_" + name,
              100.0 * static_cast<double>(wire) / static_cast<double>(plain_wire_up), "%");
        print("history_bytes_per_connection_" + name, static_cast<double>(server.history_bytes()),
              "B");
        print("inflate_us_per_message_" + name, 1e6 * seconds / static_cast<double>(count), "us");
    }

    const auto agreement = negotiate_deflate("permessage-deflate; client_max_window_bits", 9);
    message_deflater server(*agreement);
    std::size_t wire = 0;
    const auto start = std::chrono::steady_clock::now();
    for (const std::string& packet : packets) {
        const boost::asio::const_buffer buffer(packet.data(), packet.size());
        std::vector<std::uint8_t> compressed;
        server.compress(std::span(&buffer, 1), compressed);
        wire += frame_header_bytes(compressed.size(), false) + compressed.size();
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    print("wire_bytes_broker_to_client_deflate", static_cast<double>(wire), "B");
    print("wire_ratio_broker_to_client_deflate",
          100.0 * static_cast<double>(wire) / static_cast<double>(plain_wire_down), "%");
    print("compress_us_per_message", 1e6 * seconds / static_cast<double>(count), "us");
    return 0;
}
