// TLS 1.3 record protection (RFC 8446, 5.2 and 5.3) with wolfCrypt's AEAD primitives.
#include "gateway/tls_record_cipher.hpp"

#include <algorithm>
#include <cstring>

// clang-format off
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/wolfcrypt/aes.h>
#include <wolfssl/wolfcrypt/chacha20_poly1305.h>
// clang-format on

namespace perch::gateway {

namespace {

/// The legacy record version every TLS 1.3 record carries (RFC 8446, 5.1).
constexpr std::uint8_t legacy_version_major = 0x03;
constexpr std::uint8_t legacy_version_minor = 0x03;
constexpr int tls13_version = 0x0304;
constexpr int aead_iv_bytes = 12;

/// Seals or opens with AES-GCM; false on a failure (an authentication failure included).
bool run_aes_gcm(bool is_encrypt, std::span<const std::uint8_t> key,
                 std::span<const std::uint8_t, 12> nonce, std::span<const std::uint8_t> aad,
                 std::uint8_t* data, std::size_t size, std::uint8_t* tag) {
    Aes aes;
    if (wc_AesInit(&aes, nullptr, INVALID_DEVID) != 0) {
        return false;
    }
    int result = wc_AesGcmSetKey(&aes, key.data(), static_cast<word32>(key.size()));
    if (result == 0 && is_encrypt) {
        result =
            wc_AesGcmEncrypt(&aes, data, data, static_cast<word32>(size), nonce.data(),
                             static_cast<word32>(nonce.size()), tag, tls_record_cipher::tag_bytes,
                             aad.data(), static_cast<word32>(aad.size()));
    } else if (result == 0) {
        result =
            wc_AesGcmDecrypt(&aes, data, data, static_cast<word32>(size), nonce.data(),
                             static_cast<word32>(nonce.size()), tag, tls_record_cipher::tag_bytes,
                             aad.data(), static_cast<word32>(aad.size()));
    }
    wc_AesFree(&aes);
    return result == 0;
}

/// Seals or opens with ChaCha20-Poly1305; false on a failure (an authentication failure
/// included).
bool run_chacha20_poly1305(bool is_encrypt, std::span<const std::uint8_t> key,
                           std::span<const std::uint8_t, 12> nonce,
                           std::span<const std::uint8_t> aad, std::uint8_t* data, std::size_t size,
                           std::uint8_t* tag) {
    if (is_encrypt) {
        return wc_ChaCha20Poly1305_Encrypt(key.data(), nonce.data(), aad.data(),
                                           static_cast<word32>(aad.size()), data,
                                           static_cast<word32>(size), data, tag) == 0;
    }
    return wc_ChaCha20Poly1305_Decrypt(key.data(), nonce.data(), aad.data(),
                                       static_cast<word32>(aad.size()), data,
                                       static_cast<word32>(size), tag, data) == 0;
}

} // namespace

std::array<std::uint8_t, 12> tls_record_cipher::direction::next_nonce() {
    std::array<std::uint8_t, 12> nonce = iv;
    for (std::size_t index = 0; index < 8; ++index) {
        nonce[nonce.size() - 1 - index] ^= static_cast<std::uint8_t>(sequence >> (8 * index));
    }
    ++sequence;
    return nonce;
}

std::optional<tls_record_cipher> tls_record_cipher::take_over(WOLFSSL* session) {
    if (session == nullptr || wolfSSL_is_init_finished(session) == 0 ||
        wolfSSL_version(session) != tls13_version ||
        wolfSSL_GetSide(session) != WOLFSSL_SERVER_END) {
        return std::nullopt;
    }
    tls_record_cipher cipher;
    const int bulk = wolfSSL_GetBulkCipher(session);
    if (bulk == wolfssl_aes_gcm) {
        cipher.algorithm_ = algorithm::aes_gcm;
    } else if (bulk == wolfssl_chacha) {
        cipher.algorithm_ = algorithm::chacha20_poly1305;
    } else {
        return std::nullopt;
    }
    const int key_bytes = wolfSSL_GetKeySize(session);
    if (key_bytes <= 0 || static_cast<std::size_t>(key_bytes) > cipher.read_.key.size() ||
        wolfSSL_GetIVSize(session) != aead_iv_bytes ||
        wolfSSL_GetAeadMacSize(session) != static_cast<int>(tag_bytes)) {
        return std::nullopt;
    }
    cipher.key_bytes_ = static_cast<std::uint32_t>(key_bytes);
    // The server reads what the client writes.
    std::memcpy(cipher.read_.key.data(), wolfSSL_GetClientWriteKey(session), cipher.key_bytes_);
    std::memcpy(cipher.read_.iv.data(), wolfSSL_GetClientWriteIV(session), aead_iv_bytes);
    std::memcpy(cipher.write_.key.data(), wolfSSL_GetServerWriteKey(session), cipher.key_bytes_);
    std::memcpy(cipher.write_.iv.data(), wolfSSL_GetServerWriteIV(session), aead_iv_bytes);
    word64 read_sequence = 0;
    word64 write_sequence = 0;
    // Both answer a negative code on bad arguments; their other results carry no meaning.
    if (wolfSSL_GetPeerSequenceNumber(session, &read_sequence) < 0 ||
        wolfSSL_GetSequenceNumber(session, &write_sequence) < 0) {
        return std::nullopt;
    }
    cipher.read_.sequence = read_sequence;
    cipher.write_.sequence = write_sequence;
    return cipher;
}

std::size_t tls_record_cipher::body_length(std::span<const std::uint8_t, header_bytes> header) {
    return (static_cast<std::size_t>(header[3]) << 8) | header[4];
}

bool tls_record_cipher::seal(tls_content_type content_type, std::span<const std::uint8_t> plaintext,
                             std::vector<std::uint8_t>& out) {
    do {
        const std::size_t chunk = std::min(plaintext.size(), max_plaintext_bytes);
        // TLSInnerPlaintext: content, then the real type; the outer type is always
        // application_data (RFC 8446, 5.2).
        const std::size_t body = chunk + 1 + tag_bytes;
        const std::size_t start = out.size();
        out.resize(start + header_bytes + body);
        std::uint8_t* record = out.data() + start;
        record[0] = static_cast<std::uint8_t>(tls_content_type::application_data);
        record[1] = legacy_version_major;
        record[2] = legacy_version_minor;
        record[3] = static_cast<std::uint8_t>(body >> 8);
        record[4] = static_cast<std::uint8_t>(body & 0xFF);
        std::uint8_t* inner = record + header_bytes;
        std::copy_n(plaintext.data(), chunk, inner);
        inner[chunk] = static_cast<std::uint8_t>(content_type);
        const std::array<std::uint8_t, 12> nonce = write_.next_nonce();
        const std::span<const std::uint8_t> key(write_.key.data(), key_bytes_);
        const std::span<const std::uint8_t> aad(record, header_bytes);
        const bool is_sealed =
            algorithm_ == algorithm::aes_gcm
                ? run_aes_gcm(true, key, nonce, aad, inner, chunk + 1, inner + chunk + 1)
                : run_chacha20_poly1305(true, key, nonce, aad, inner, chunk + 1, inner + chunk + 1);
        if (!is_sealed) {
            return false;
        }
        plaintext = plaintext.subspan(chunk);
    } while (!plaintext.empty());
    return true;
}

std::optional<tls_opened_record> tls_record_cipher::open(std::span<std::uint8_t> record) {
    if (record.size() < header_bytes) {
        return std::nullopt;
    }
    const std::size_t body = body_length(record.first<header_bytes>());
    if (record.size() != header_bytes + body || body < tag_bytes + 1 || body > max_body_bytes ||
        record[0] != static_cast<std::uint8_t>(tls_content_type::application_data)) {
        return std::nullopt;
    }
    const std::size_t sealed = body - tag_bytes;
    std::uint8_t* inner = record.data() + header_bytes;
    const std::array<std::uint8_t, 12> nonce = read_.next_nonce();
    const std::span<const std::uint8_t> key(read_.key.data(), key_bytes_);
    const std::span<const std::uint8_t> aad(record.data(), header_bytes);
    const bool is_opened =
        algorithm_ == algorithm::aes_gcm
            ? run_aes_gcm(false, key, nonce, aad, inner, sealed, inner + sealed)
            : run_chacha20_poly1305(false, key, nonce, aad, inner, sealed, inner + sealed);
    if (!is_opened) {
        return std::nullopt;
    }
    // The content type is the last non-zero byte; zeros after it are padding (RFC 8446, 5.4).
    std::size_t length = sealed;
    while (length > 0 && inner[length - 1] == 0) {
        --length;
    }
    if (length == 0) {
        return std::nullopt;
    }
    tls_opened_record opened;
    opened.content_type = static_cast<tls_content_type>(inner[length - 1]);
    opened.plaintext = std::span(inner, length - 1);
    return opened;
}

} // namespace perch::gateway
