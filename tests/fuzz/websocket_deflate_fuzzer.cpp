// libFuzzer target for what a WebSocket client controls in permessage-deflate: its
// Sec-WebSocket-Extensions offer, and the compressed messages perch inflates with the client's
// history. Every inflated message stays within the limit, and whatever perch compresses inflates
// back to itself.
//
// Input: byte 0 selects the part (even: the offer, odd: messages); byte 1 is the
// websocket_deflate_window_bits (modulo 16). The rest is the offer, or the compressed messages
// separated by the byte 0xA5, inflated in order on one connection.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string_view>
#include <vector>

#include <boost/asio/buffer.hpp>

#include "gateway/stream/websocket_deflate.hpp"

namespace {

using namespace perch::gateway;

void require(bool condition, const char* what) {
    if (!condition) {
        std::fprintf(stderr, "websocket_deflate_fuzzer: %s\n", what);
        std::abort();
    }
}

constexpr std::uint64_t limit_bytes = 64 * 1024;

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 2) {
        return 0;
    }
    int window_bits = data[1] % 16;
    if (window_bits != 0 && window_bits < 9) {
        window_bits = 9;
    }
    const std::span<const std::uint8_t> rest(data + 2, size - 2);
    if (data[0] % 2 == 0) {
        const std::string_view offer(reinterpret_cast<const char*>(rest.data()), rest.size());
        const auto agreement = negotiate_deflate(offer, window_bits);
        if (agreement) {
            require(
                agreement->response.starts_with("permessage-deflate; server_no_context_takeover"),
                "response");
            require(agreement->client_window_bits == 0 ||
                        (agreement->client_window_bits >= 9 &&
                         agreement->client_window_bits <= window_bits),
                    "client window");
            require(agreement->server_window_bits >= 9 && agreement->server_window_bits <= 15,
                    "server window");
        }
        return 0;
    }
    const auto agreement =
        negotiate_deflate("permessage-deflate; client_max_window_bits", window_bits);
    require(agreement.has_value(), "a browser's offer is accepted");
    message_deflater deflater(*agreement);
    std::size_t start = 0;
    while (start <= rest.size()) {
        std::size_t end = start;
        while (end < rest.size() && rest[end] != 0xA5) {
            ++end;
        }
        std::vector<std::uint8_t> inflated;
        boost::system::error_code error;
        deflater.inflate(rest.subspan(start, end - start), limit_bytes, inflated, error);
        require(inflated.size() <= limit_bytes + 1, "inflated past the limit");
        require(deflater.history_bytes() <= (std::size_t{1} << 15), "history");
        if (!error) {
            // What perch would send back inflates to itself with a fresh inflater.
            const boost::asio::const_buffer buffer(inflated.data(), inflated.size());
            std::vector<std::uint8_t> compressed;
            deflater.compress(std::span(&buffer, 1), compressed);
            message_deflater receiver(*negotiate_deflate("permessage-deflate", 0)); // no history
            std::vector<std::uint8_t> back;
            receiver.inflate(compressed, limit_bytes, back, error);
            require(!error && back == inflated, "round trip");
        }
        start = end + 1;
    }
    return 0;
}
