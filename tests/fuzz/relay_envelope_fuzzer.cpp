// libFuzzer target for the relay copies other gateways send through an upstream broker
// (gateway/chat/relay_envelope, docs/BRIDGES.md "Chat across gateways"): what a stranger on the
// upstream can publish. The input is checked twice: as it came (its last 32 bytes taken as the
// tag, which must then be refused unless it really is the tag), and with the right tag appended,
// so that the parser behind the tag check sees every input. An envelope that decodes encodes and
// decodes again to itself.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <variant>
#include <vector>

#include "gateway/chat/relay_envelope.hpp"

namespace {

using namespace perch::gateway;

void require(bool condition, const char* what) {
    if (!condition) {
        std::fprintf(stderr, "relay_envelope_fuzzer: %s\n", what);
        std::abort();
    }
}

constexpr std::uint8_t key_bytes[relay_key_bytes] = {1,  2,  3,  4,  5,  6,  7,  8,  9,  10, 11,
                                                     12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22,
                                                     23, 24, 25, 26, 27, 28, 29, 30, 31, 32};

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::span<const std::uint8_t> key(key_bytes);
    const std::span<const std::uint8_t> input(data, size);
    (void)decode_relay_envelope(input, key);

    std::vector<std::uint8_t> sealed(input.begin(), input.end());
    const auto tag = relay_tag(input, key);
    sealed.insert(sealed.end(), tag.begin(), tag.end());
    const auto decoded = decode_relay_envelope(sealed, key);
    if (const auto* envelope = std::get_if<relay_envelope>(&decoded)) {
        const std::vector<std::uint8_t> again = encode_relay_envelope(*envelope, key);
        const auto round_trip = decode_relay_envelope(again, key);
        const auto* same = std::get_if<relay_envelope>(&round_trip);
        require(same != nullptr, "a decoded envelope, encoded again, is refused");
        require(*same == *envelope, "a decoded envelope, encoded again, decodes to another one");
        // Under another key, never accepted.
        std::vector<std::uint8_t> other(key.begin(), key.end());
        other[0] ^= 0xFF;
        require(std::holds_alternative<relay_refusal>(decode_relay_envelope(again, other)),
                "an envelope is accepted under another key");
    }
    return 0;
}
