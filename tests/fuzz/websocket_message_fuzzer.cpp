// libFuzzer target for the WebSocket messages a client sends (gateway/stream/
// websocket_message_reader): frames arriving in pieces of any size, assembled into messages,
// inflated when compressed, within a limit, the way websocket_stream reads them. Every byte is
// accounted for, a message handed over never exceeds the limit, a ping's payload fits a control
// frame, and a failure names a close code.
//
// Input: byte 0 picks the piece sizes (bits 0-5), whether permessage-deflate was negotiated
// (bit 6) and the limit (bit 7: 64 bytes, else 4 KiB); the rest is the bytes from the client.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <span>

#include "gateway/stream/websocket_message_reader.hpp"

namespace {

using namespace perch::gateway;

void require(bool condition, const char* what) {
    if (!condition) {
        std::fprintf(stderr, "websocket_message_fuzzer: %s\n", what);
        std::abort();
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1) {
        return 0;
    }
    const std::uint8_t control = data[0];
    const std::uint64_t limit = (control & 0x80) != 0 ? 64 : 4096;
    std::optional<message_deflater> deflater;
    if ((control & 0x40) != 0) {
        deflater.emplace(*negotiate_deflate("permessage-deflate; client_max_window_bits", 9));
    }
    websocket_message_reader reader(limit);
    std::span<const std::uint8_t> input(data + 1, size - 1);
    std::size_t piece_index = 0;
    while (!input.empty()) {
        const std::size_t piece = 1 + ((control >> (piece_index++ % 6)) & 0x1f);
        std::span<const std::uint8_t> arrived = input.first(std::min(piece, input.size()));
        while (!arrived.empty()) {
            std::size_t consumed = 0;
            const auto step = reader.parse(arrived, deflater ? &*deflater : nullptr, consumed);
            require(consumed <= arrived.size(), "consumed more than it was given");
            if (step == websocket_message_reader::step::need_more) {
                require(consumed == arrived.size(), "need_more left bytes unread");
            } else {
                require(consumed > 0, "a step without a byte");
            }
            arrived = arrived.subspan(consumed);
            if (step == websocket_message_reader::step::failed) {
                require(reader.close_code() != 0, "a failure without a close code");
                return 0;
            }
            if (step == websocket_message_reader::step::ping) {
                require(reader.control_payload().size() <= max_control_payload_bytes,
                        "a ping payload over 125 bytes");
                reader.release_control_payload();
            }
            if (step == websocket_message_reader::step::message_done) {
                require(reader.take_message().size() <= limit, "a message over the limit");
            }
        }
        input = input.subspan(std::min(piece, input.size()));
    }
    return 0;
}
