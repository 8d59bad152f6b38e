// `$7$` password hashes: PBKDF2-SHA512 from wolfCrypt, a strict Base64 codec, and a constant-time
// comparison of the derived key.
#include "gateway/chat/password_hash.hpp"

#include <charconv>
#include <climits>
#include <cstddef>
#include <optional>
#include <stdexcept>
#include <utility>
#include <vector>

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/hash.h>
#include <wolfssl/wolfcrypt/pwdbased.h>
#include <wolfssl/wolfcrypt/random.h>

#include "gateway/chat/device_token.hpp"

namespace perch::gateway {
namespace {

constexpr std::string_view hash_prefix = "$7$";
constexpr std::size_t salt_bytes = 12;
constexpr std::size_t key_bytes = 64;
constexpr std::string_view base64_alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

using byte_string = std::vector<unsigned char>;

std::string encode_base64(const byte_string& bytes) {
    std::string text;
    text.reserve((bytes.size() + 2) / 3 * 4);
    for (std::size_t i = 0; i < bytes.size(); i += 3) {
        const std::size_t left = bytes.size() - i;
        std::uint32_t group = static_cast<std::uint32_t>(bytes[i]) << 16;
        if (left > 1) {
            group |= static_cast<std::uint32_t>(bytes[i + 1]) << 8;
        }
        if (left > 2) {
            group |= bytes[i + 2];
        }
        text += base64_alphabet[(group >> 18) & 0x3f];
        text += base64_alphabet[(group >> 12) & 0x3f];
        text += left > 1 ? base64_alphabet[(group >> 6) & 0x3f] : '=';
        text += left > 2 ? base64_alphabet[group & 0x3f] : '=';
    }
    return text;
}

// Strict: a multiple of four characters from the standard alphabet, '=' only as one or two final
// padding characters, and no stray bits in the last group.
std::optional<byte_string> decode_base64(std::string_view text) {
    if (text.size() % 4 != 0) {
        return std::nullopt;
    }
    std::size_t padding = 0;
    while (padding < 2 && padding < text.size() && text[text.size() - 1 - padding] == '=') {
        ++padding;
    }
    byte_string bytes;
    bytes.reserve(text.size() / 4 * 3);
    std::uint32_t group = 0;
    for (std::size_t i = 0; i < text.size(); ++i) {
        std::uint32_t value = 0;
        if (i < text.size() - padding) {
            const std::size_t found = base64_alphabet.find(text[i]);
            if (found == std::string_view::npos) {
                return std::nullopt;
            }
            value = static_cast<std::uint32_t>(found);
        }
        group = (group << 6) | value;
        if (i % 4 == 3) {
            bytes.push_back(static_cast<unsigned char>(group >> 16));
            bytes.push_back(static_cast<unsigned char>(group >> 8));
            bytes.push_back(static_cast<unsigned char>(group));
            group = 0;
        }
    }
    if (padding > 0) {
        // The bits the padding hides must be zero, or the text is not a canonical encoding.
        const unsigned char unused_mask = padding == 1 ? 0x03 : 0x0f;
        const std::size_t last_char = text.size() - 1 - padding;
        const std::size_t found = base64_alphabet.find(text[last_char]);
        if ((found & unused_mask) != 0) {
            return std::nullopt;
        }
        bytes.resize(bytes.size() - padding);
    }
    return bytes;
}

std::optional<byte_string> derive_key(std::string_view password, const byte_string& salt,
                                      std::uint32_t iterations) {
    byte_string key(key_bytes);
    const int result =
        wc_PBKDF2(key.data(), reinterpret_cast<const byte*>(password.data()),
                  static_cast<int>(password.size()), salt.data(), static_cast<int>(salt.size()),
                  static_cast<int>(iterations), static_cast<int>(key.size()), WC_SHA512);
    if (result != 0) {
        return std::nullopt;
    }
    return key;
}

/// equal_in_constant_time (gateway/device_token) over two derived keys.
bool keys_equal(const byte_string& left, const byte_string& right) {
    return equal_in_constant_time(
        std::string_view(reinterpret_cast<const char*>(left.data()), left.size()),
        std::string_view(reinterpret_cast<const char*>(right.data()), right.size()));
}

bool is_valid_iteration_count(std::uint64_t iterations) {
    return iterations >= 1 && iterations <= static_cast<std::uint64_t>(INT_MAX);
}

byte_string random_salt() {
    WC_RNG rng;
    if (wc_InitRng(&rng) != 0) {
        throw std::runtime_error("password hash: cannot initialise the random generator");
    }
    byte_string salt(salt_bytes);
    const int result = wc_RNG_GenerateBlock(&rng, salt.data(), static_cast<word32>(salt.size()));
    wc_FreeRng(&rng);
    if (result != 0) {
        throw std::runtime_error("password hash: the random generator failed");
    }
    return salt;
}

/// The three fields after the prefix, split at '$'.
struct hash_fields {
    std::string_view iterations;
    std::string_view salt;
    std::string_view key;
};

std::optional<hash_fields> split_fields(std::string_view encoded) {
    if (!encoded.starts_with(hash_prefix)) {
        return std::nullopt;
    }
    encoded.remove_prefix(hash_prefix.size());
    const std::size_t first = encoded.find('$');
    if (first == std::string_view::npos) {
        return std::nullopt;
    }
    const std::size_t second = encoded.find('$', first + 1);
    if (second == std::string_view::npos ||
        encoded.find('$', second + 1) != std::string_view::npos) {
        return std::nullopt;
    }
    return hash_fields{encoded.substr(0, first), encoded.substr(first + 1, second - first - 1),
                       encoded.substr(second + 1)};
}

/// A hash's parameters and derived key, decoded.
struct parsed_hash {
    std::uint32_t iterations = 0;
    byte_string salt;
    byte_string key;
};

std::optional<parsed_hash> parse_hash(std::string_view encoded) {
    const auto fields = split_fields(encoded);
    if (!fields || fields->iterations.empty()) {
        return std::nullopt;
    }
    std::uint64_t iterations = 0;
    const char* end = fields->iterations.data() + fields->iterations.size();
    const auto [parsed_to, error] = std::from_chars(fields->iterations.data(), end, iterations);
    if (error != std::errc{} || parsed_to != end || !is_valid_iteration_count(iterations)) {
        return std::nullopt;
    }
    auto salt = decode_base64(fields->salt);
    auto key = decode_base64(fields->key);
    if (!salt || salt->empty() || !key || key->size() != key_bytes) {
        return std::nullopt;
    }
    return parsed_hash{static_cast<std::uint32_t>(iterations), std::move(*salt), std::move(*key)};
}

} // namespace

std::string hash_password(std::string_view password, std::uint32_t iterations) {
    if (!is_valid_iteration_count(iterations)) {
        throw std::invalid_argument("password hash: iterations must be between 1 and 2147483647");
    }
    const byte_string salt = random_salt();
    const auto key = derive_key(password, salt, iterations);
    if (!key) {
        throw std::runtime_error("password hash: PBKDF2 failed");
    }
    return std::string(hash_prefix) + std::to_string(iterations) + "$" + encode_base64(salt) + "$" +
           encode_base64(*key);
}

bool verify_password(std::string_view password, std::string_view encoded) {
    const auto hash = parse_hash(encoded);
    if (!hash) {
        return false;
    }
    const auto key = derive_key(password, hash->salt, hash->iterations);
    return key && keys_equal(*key, hash->key);
}

std::optional<std::uint32_t> password_hash_iterations(std::string_view encoded) {
    const auto hash = parse_hash(encoded);
    if (!hash) {
        return std::nullopt;
    }
    return hash->iterations;
}

bool is_valid_password_hash(std::string_view encoded) {
    return parse_hash(encoded).has_value();
}

} // namespace perch::gateway
