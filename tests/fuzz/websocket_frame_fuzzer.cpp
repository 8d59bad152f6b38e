// libFuzzer target for the WebSocket frames a client sends (gateway/stream/websocket_frame): the
// header collected from bytes arriving in pieces of any size, checked against the connection's
// state, and the payload unmasked, the way websocket_stream reads them. A header is complete
// after at most 14 bytes, a checked one obeys RFC 6455 (control frames final and at most 125
// bytes, a continuation only inside a message), and unmasking twice gives the payload back.
//
// Input: byte 0 picks the piece sizes (its bits) and whether permessage-deflate was negotiated
// (bit 7); the rest is the bytes from the client.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <vector>

#include <boost/system/error_code.hpp>

#include "gateway/stream/websocket_frame.hpp"

namespace {

using namespace perch::gateway;

void require(bool condition, const char* what) {
    if (!condition) {
        std::fprintf(stderr, "websocket_frame_fuzzer: %s\n", what);
        std::abort();
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 1) {
        return 0;
    }
    const std::uint8_t control = data[0];
    const bool is_deflate = (control & 0x80) != 0;
    std::span<const std::uint8_t> input(data + 1, size - 1);
    frame_header_reader reader;
    bool is_in_message = false;
    std::size_t piece_index = 0;
    std::vector<std::uint8_t> unmasked;
    std::vector<std::uint8_t> again;
    while (!input.empty()) {
        // Bytes arrive in pieces of 1 to 8 bytes, as the control byte's bits say.
        const std::size_t piece = 1 + ((control >> (piece_index++ % 7)) & 0x7);
        std::span<const std::uint8_t> arrived = input.first(std::min(piece, input.size()));
        const std::size_t arrived_size = arrived.size();
        if (!reader.take(arrived)) {
            require(arrived.empty(), "an incomplete header left bytes unread");
            input = input.subspan(arrived_size);
            continue;
        }
        input = input.subspan(arrived_size - arrived.size());
        boost::system::error_code error;
        const auto header = reader.check(is_in_message, is_deflate, error);
        if (!header) {
            require(static_cast<bool>(error), "a refused header has no error");
            return 0; // the connection closes with 1002
        }
        require(!error, "an accepted header has an error");
        if (is_control(header->opcode)) {
            require(header->is_final, "a fragmented control frame was accepted");
            require(header->payload_bytes <= max_control_payload_bytes,
                    "a control frame over 125 bytes was accepted");
            require(!header->is_compressed, "a compressed control frame was accepted");
        } else {
            require(header->opcode != websocket_opcode::continuation || is_in_message,
                    "a continuation outside a message was accepted");
            require(header->opcode == websocket_opcode::continuation || !is_in_message,
                    "a new message inside a message was accepted");
            require(!header->is_compressed || is_deflate, "RSV1 without permessage-deflate");
            is_in_message = !header->is_final;
        }
        const std::size_t available = std::min<std::uint64_t>(header->payload_bytes, input.size());
        const std::span<const std::uint8_t> payload = input.first(available);
        unmasked.assign(payload.size(), 0);
        again.assign(payload.size(), 0);
        std::uint8_t mask_index = 0;
        unmask(payload, header->mask, mask_index, unmasked.data());
        std::uint8_t again_index = 0;
        unmask(unmasked, header->mask, again_index, again.data());
        require(std::equal(again.begin(), again.end(), payload.begin()),
                "unmasking twice does not give the payload back");
        input = input.subspan(available);
        reader.clear();
    }
    return 0;
}
