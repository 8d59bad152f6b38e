// libFuzzer target for the bytes a peer sends: decode_next over arbitrary input at either
// protocol level. Checks the decoder's promises, then re-encodes every decoded packet and decodes
// it again, which must give the same packet (and the same bytes when encoded once more).
//
// Input: byte 0 selects the level (bit 0: 5.0, else 3.1.1) and, with bit 1, a small Maximum
// Packet Size; the rest is the byte stream, decoded packet after packet.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "mqtt/decoder.hpp"
#include "mqtt/encoder.hpp"

namespace {

using namespace perch::mqtt;

void require(bool condition, const char* what) {
    if (!condition) {
        std::fprintf(stderr, "decoder_fuzzer: %s\n", what);
        std::abort();
    }
}

/// Encodes `decoded`, decodes that again and requires the same packet and stable bytes.
void check_round_trip(const packet& decoded, protocol_version version) {
    byte_vector wire;
    encode_append(decoded, version, wire);
    require(wire.size() == encoded_size(decoded, version), "encoded_size disagrees with encode");
    std::size_t consumed = 0;
    const decode_outcome again = decode_next(wire, decode_limits{version}, consumed);
    if (const auto* violation = std::get_if<protocol_violation>(&again)) {
        std::fprintf(stderr, "re-encoded packet rejected: %.*s\n",
                     static_cast<int>(violation->rule.size()), violation->rule.data());
    }
    require(std::holds_alternative<packet>(again), "re-encoded packet does not decode");
    require(consumed == wire.size(), "re-encoded packet not consumed whole");
    require(std::get<packet>(again) == decoded, "round trip changed the packet");
    byte_vector wire_again;
    encode_append(std::get<packet>(again), version, wire_again);
    require(wire_again == wire, "encoding is not deterministic");
    if (const auto* message = std::get_if<publish>(&decoded)) {
        byte_vector header(publish_header_size(*message, version));
        require(encode_publish_header(*message, version, header) == header.size(),
                "publish header size");
        header.insert(header.end(), message->payload.view().begin(), message->payload.view().end());
        require(header == wire, "publish header and payload differ from the whole packet");
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) {
        return 0;
    }
    decode_limits limits;
    limits.version = (data[0] & 0x01) != 0 ? protocol_version::v5 : protocol_version::v3_1_1;
    if ((data[0] & 0x02) != 0) {
        limits.maximum_packet_size = 2 + (data[0] >> 2);
    }
    byte_view input(data + 1, size - 1);
    while (!input.empty()) {
        std::size_t consumed = 99;
        const decode_outcome outcome = decode_next(input, limits, consumed);
        if (const auto* more = std::get_if<need_more>(&outcome)) {
            require(consumed == 0, "need_more with bytes consumed");
            require(more->bytes_missing >= 1, "need_more asks for nothing");
            return 0;
        }
        if (const auto* violation = std::get_if<protocol_violation>(&outcome)) {
            require(consumed == 0, "violation with bytes consumed");
            require(!violation->rule.empty(), "violation without a rule");
            require(is_failure(violation->reason), "violation with a success reason");
            return 0;
        }
        require(consumed >= 2 && consumed <= input.size(), "consumed out of range");
        require(encoded_size(std::get<packet>(outcome), limits.version) <= consumed ||
                    std::holds_alternative<auth>(std::get<packet>(outcome)),
                "re-encoding is larger than the input");
        std::size_t prefix_consumed = 99;
        const decode_outcome prefix =
            decode_next(input.first(consumed - 1), limits, prefix_consumed);
        require(std::holds_alternative<need_more>(prefix), "a strict prefix did not need more");
        check_round_trip(std::get<packet>(outcome), limits.version);
        input = input.subspan(consumed);
    }
    return 0;
}
