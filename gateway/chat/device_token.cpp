// Device tokens: random generation, the token format and its SHA-256.
#include "gateway/chat/device_token.hpp"

#include <array>
#include <cstddef>
#include <stdexcept>

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/hash.h>
#include <wolfssl/wolfcrypt/random.h>
#include <wolfssl/wolfcrypt/sha256.h>

namespace perch::gateway {
namespace {

constexpr std::size_t secret_bytes = 32;
constexpr std::string_view hex_digits = "0123456789abcdef";

template <std::size_t Size> std::string to_hex(const std::array<unsigned char, Size>& bytes) {
    std::string text;
    text.reserve(Size * 2);
    for (const unsigned char byte : bytes) {
        text += hex_digits[byte >> 4];
        text += hex_digits[byte & 0x0f];
    }
    return text;
}

} // namespace

std::string make_device_token() {
    WC_RNG rng;
    if (wc_InitRng(&rng) != 0) {
        throw std::runtime_error("device token: cannot initialise the random generator");
    }
    std::array<unsigned char, secret_bytes> secret{};
    const int result = wc_RNG_GenerateBlock(&rng, secret.data(), secret.size());
    wc_FreeRng(&rng);
    if (result != 0) {
        throw std::runtime_error("device token: the random generator failed");
    }
    return std::string(device_token_prefix) + to_hex(secret);
}

bool is_device_token(std::string_view password) {
    if (!password.starts_with(device_token_prefix)) {
        return false;
    }
    password.remove_prefix(device_token_prefix.size());
    return password.size() == secret_bytes * 2 &&
           password.find_first_not_of(hex_digits) == std::string_view::npos;
}

std::string device_token_hash(std::string_view token) {
    std::array<unsigned char, WC_SHA256_DIGEST_SIZE> digest{};
    if (wc_Sha256Hash(reinterpret_cast<const byte*>(token.data()),
                      static_cast<word32>(token.size()), digest.data()) != 0) {
        throw std::runtime_error("device token: SHA-256 failed");
    }
    return to_hex(digest);
}

bool equal_in_constant_time(std::string_view left, std::string_view right) {
    if (left.size() != right.size()) {
        return false;
    }
    unsigned char difference = 0;
    for (std::size_t i = 0; i < left.size(); ++i) {
        difference = static_cast<unsigned char>(difference | (left[i] ^ right[i]));
    }
    return difference == 0;
}

} // namespace perch::gateway
