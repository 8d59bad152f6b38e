// TLS 1.3 record protection (RFC 8446, 5.2 and 5.3) with wolfCrypt's AEAD primitives.
#include "gateway/stream/tls_record_cipher.hpp"

#include <algorithm>
#include <cstring>
#include <string_view>

// clang-format off
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/wolfcrypt/aes.h>
#include <wolfssl/wolfcrypt/chacha20_poly1305.h>
#include <wolfssl/wolfcrypt/kdf.h>
// clang-format on

namespace perch::gateway {

namespace {

/// The legacy record version every TLS 1.3 record carries (RFC 8446, 5.1).
constexpr std::uint8_t legacy_version_major = 0x03;
constexpr std::uint8_t legacy_version_minor = 0x03;
constexpr int tls13_version = 0x0304;
constexpr int aead_iv_bytes = 12;
/// TLS 1.3 handshake message type of KeyUpdate and its request values (RFC 8446, 4.6.3).
constexpr std::uint8_t key_update_type = 24;
constexpr std::uint8_t update_not_requested = 0;
constexpr std::uint8_t update_requested = 1;
/// Bytes of a handshake message header (type, 24-bit length).
constexpr std::size_t handshake_header_bytes = 4;
/// Alert levels (RFC 8446, 6).
constexpr std::uint8_t alert_level_warning = 1;
constexpr std::uint8_t alert_level_fatal = 2;

/// The capture active on this thread: where the handshake it runs notes its secrets.
thread_local tls_traffic_secrets* active_capture = nullptr;

bool has_label(const byte* label, word32 label_bytes, std::string_view expected) {
    return label_bytes == expected.size() && std::memcmp(label, expected.data(), label_bytes) == 0;
}

/// wolfSSL's HKDF-Expand-Label, plus noting the application traffic secrets it derives.
int expand_label_noting_secrets(byte* okm, word32 okm_bytes, const byte* prk, word32 prk_bytes,
                                const byte* protocol, word32 protocol_bytes, const byte* label,
                                word32 label_bytes, const byte* info, word32 info_bytes, int digest,
                                int /*side*/) {
    const int result =
        wc_Tls13_HKDF_Expand_Label(okm, okm_bytes, prk, prk_bytes, protocol, protocol_bytes, label,
                                   label_bytes, info, info_bytes, digest);
    tls_traffic_secrets* capture = active_capture;
    if (result != 0 || capture == nullptr || okm_bytes > tls_traffic_secrets::max_secret_bytes) {
        return result;
    }
    if (has_label(label, label_bytes, "c ap traffic")) {
        std::memcpy(capture->client.data(), okm, okm_bytes);
        capture->client_bytes = static_cast<std::uint8_t>(okm_bytes);
        capture->digest = digest;
    } else if (has_label(label, label_bytes, "s ap traffic")) {
        std::memcpy(capture->server.data(), okm, okm_bytes);
        capture->server_bytes = static_cast<std::uint8_t>(okm_bytes);
        capture->digest = digest;
    }
    return result;
}

/// HKDF-Expand-Label(secret, label, "", out.size()) of TLS 1.3 (RFC 8446, 7.1).
bool expand_label(int digest, std::span<const std::uint8_t> secret, std::string_view label,
                  std::span<std::uint8_t> out) {
    static constexpr std::string_view protocol = "tls13 ";
    return wc_Tls13_HKDF_Expand_Label(
               out.data(), static_cast<word32>(out.size()), secret.data(),
               static_cast<word32>(secret.size()), reinterpret_cast<const byte*>(protocol.data()),
               static_cast<word32>(protocol.size()), reinterpret_cast<const byte*>(label.data()),
               static_cast<word32>(label.size()), nullptr, 0, digest) == 0;
}

/// True when `secret` derives `key` and `iv`, as wolfSSL derived them (RFC 8446, 7.3).
bool derives(int digest, std::span<const std::uint8_t> secret, std::span<const std::uint8_t> key,
             std::span<const std::uint8_t> iv) {
    std::array<std::uint8_t, 32> derived_key{};
    std::array<std::uint8_t, aead_iv_bytes> derived_iv{};
    return expand_label(digest, secret, "key", std::span(derived_key).first(key.size())) &&
           expand_label(digest, secret, "iv", derived_iv) &&
           std::equal(key.begin(), key.end(), derived_key.begin()) &&
           std::equal(iv.begin(), iv.end(), derived_iv.begin());
}

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

void capture_traffic_secrets(WOLFSSL_CTX* context) {
    wolfSSL_CTX_SetHKDFExpandLabelCb(context, &expand_label_noting_secrets);
}

tls_secret_capture::tls_secret_capture(tls_traffic_secrets& secrets) : previous_(active_capture) {
    active_capture = &secrets;
}

tls_secret_capture::~tls_secret_capture() {
    active_capture = previous_;
}

std::array<std::uint8_t, 12> tls_record_cipher::direction::next_nonce() {
    std::array<std::uint8_t, 12> nonce = iv;
    for (std::size_t index = 0; index < 8; ++index) {
        nonce[nonce.size() - 1 - index] ^= static_cast<std::uint8_t>(sequence >> (8 * index));
    }
    ++sequence;
    return nonce;
}

std::optional<tls_record_cipher> tls_record_cipher::take_over(WOLFSSL* session,
                                                              const tls_traffic_secrets& secrets) {
    if (session == nullptr || wolfSSL_is_init_finished(session) == 0 ||
        wolfSSL_version(session) != tls13_version || secrets.client_bytes == 0 ||
        secrets.client_bytes != secrets.server_bytes) {
        return std::nullopt;
    }
    const bool is_server = wolfSSL_GetSide(session) == WOLFSSL_SERVER_END;
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
    cipher.key_bytes_ = static_cast<std::uint8_t>(key_bytes);
    cipher.secret_bytes_ = secrets.client_bytes;
    cipher.digest_ = secrets.digest;
    // The server reads what the client writes.
    direction& client = is_server ? cipher.read_ : cipher.write_;
    direction& server = is_server ? cipher.write_ : cipher.read_;
    std::memcpy(client.key.data(), wolfSSL_GetClientWriteKey(session), cipher.key_bytes_);
    std::memcpy(client.iv.data(), wolfSSL_GetClientWriteIV(session), aead_iv_bytes);
    std::memcpy(server.key.data(), wolfSSL_GetServerWriteKey(session), cipher.key_bytes_);
    std::memcpy(server.iv.data(), wolfSSL_GetServerWriteIV(session), aead_iv_bytes);
    client.secret = secrets.client;
    server.secret = secrets.server;
    // The secrets must be the ones behind these keys: a KeyUpdate derives the next key from them.
    for (const direction* side : {&client, &server}) {
        if (!derives(cipher.digest_, std::span(side->secret).first(cipher.secret_bytes_),
                     std::span(side->key).first(cipher.key_bytes_), side->iv)) {
            return std::nullopt;
        }
    }
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

bool tls_record_cipher::update_keys(direction& side) {
    const std::span<const std::uint8_t> current(side.secret.data(), secret_bytes_);
    std::array<std::uint8_t, tls_traffic_secrets::max_secret_bytes> next{};
    const std::span<std::uint8_t> next_secret(next.data(), secret_bytes_);
    if (!expand_label(digest_, current, "traffic upd", next_secret) ||
        !expand_label(digest_, next_secret, "key", std::span(side.key).first(key_bytes_)) ||
        !expand_label(digest_, next_secret, "iv", side.iv)) {
        return false;
    }
    side.secret = next;
    side.sequence = 0;
    return true;
}

bool tls_record_cipher::seal_record(tls_content_type content_type,
                                    std::span<const std::uint8_t> plaintext,
                                    std::vector<std::uint8_t>& out, std::size_t padding_bytes) {
    // TLSInnerPlaintext: content, the real type, then padding zeros; the outer type is always
    // application_data (RFC 8446, 5.2).
    const std::size_t chunk = plaintext.size();
    const std::size_t sealed = chunk + 1 + padding_bytes;
    const std::size_t body = sealed + tag_bytes;
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
    std::fill_n(inner + chunk + 1, padding_bytes, std::uint8_t{0});
    const std::array<std::uint8_t, 12> nonce = write_.next_nonce();
    const std::span<const std::uint8_t> key(write_.key.data(), key_bytes_);
    const std::span<const std::uint8_t> aad(record, header_bytes);
    return algorithm_ == algorithm::aes_gcm
               ? run_aes_gcm(true, key, nonce, aad, inner, sealed, inner + sealed)
               : run_chacha20_poly1305(true, key, nonce, aad, inner, sealed, inner + sealed);
}

bool tls_record_cipher::seal_padded(tls_content_type content_type,
                                    std::span<const std::uint8_t> plaintext,
                                    std::size_t padding_bytes, std::vector<std::uint8_t>& out) {
    return seal_record(content_type, plaintext, out, padding_bytes);
}

bool tls_record_cipher::seal_key_update(std::vector<std::uint8_t>& out) {
    static constexpr std::array<std::uint8_t, 5> key_update = {key_update_type, 0, 0, 1,
                                                               update_not_requested};
    return seal_record(tls_content_type::handshake, key_update, out) && update_keys(write_);
}

bool tls_record_cipher::seal(tls_content_type content_type, std::span<const std::uint8_t> plaintext,
                             std::vector<std::uint8_t>& out) {
    do {
        // The KeyUpdate itself is the last record under the old key.
        if (write_.sequence + 1 >= key_update_records_ && !seal_key_update(out)) {
            return false;
        }
        const std::size_t chunk = std::min(plaintext.size(), max_plaintext_bytes);
        if (!seal_record(content_type, plaintext.first(chunk), out)) {
            return false;
        }
        plaintext = plaintext.subspan(chunk);
    } while (!plaintext.empty());
    return true;
}

bool tls_record_cipher::seal_alert(tls_alert alert, std::vector<std::uint8_t>& out) {
    const std::array<std::uint8_t, 2> body = {alert == tls_alert::close_notify ? alert_level_warning
                                                                               : alert_level_fatal,
                                              static_cast<std::uint8_t>(alert)};
    return seal_record(tls_content_type::alert, body, out);
}

bool tls_record_cipher::handle_handshake(std::span<const std::uint8_t> message,
                                         std::vector<std::uint8_t>& out, tls_alert& alert) {
    // Only a KeyUpdate may follow the handshake here (no post-handshake authentication is
    // asked for), and it must end its record: what follows it is protected by the next key
    // (RFC 8446, 5.1). A KeyUpdate split across records is not accepted.
    if (message.empty() || message[0] != key_update_type) {
        alert = tls_alert::unexpected_message;
        return false;
    }
    if (message.size() != handshake_header_bytes + 1 || message[1] != 0 || message[2] != 0 ||
        message[3] != 1) {
        alert = tls_alert::decode_error;
        return false;
    }
    const std::uint8_t request = message[handshake_header_bytes];
    if (request != update_not_requested && request != update_requested) {
        alert = tls_alert::illegal_parameter;
        return false;
    }
    if (!update_keys(read_) || (request == update_requested && !seal_key_update(out))) {
        alert = tls_alert::internal_error;
        return false;
    }
    return true;
}

std::optional<tls_opened_record> tls_record_cipher::open(std::span<std::uint8_t> record,
                                                         tls_alert& alert) {
    if (record.size() < header_bytes) {
        alert = tls_alert::decode_error;
        return std::nullopt;
    }
    const std::size_t body = body_length(record.first<header_bytes>());
    if (body > max_body_bytes) {
        alert = tls_alert::record_overflow;
        return std::nullopt;
    }
    if (record[0] != static_cast<std::uint8_t>(tls_content_type::application_data)) {
        // change_cipher_spec is only allowed during the handshake, and nothing is unprotected.
        alert = tls_alert::unexpected_message;
        return std::nullopt;
    }
    if (record.size() != header_bytes + body || body < tag_bytes + 1) {
        alert = tls_alert::decode_error;
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
        alert = tls_alert::bad_record_mac;
        return std::nullopt;
    }
    if (sealed > max_inner_plaintext_bytes) {
        alert = tls_alert::record_overflow;
        return std::nullopt;
    }
    // The content type is the last non-zero byte; zeros after it are padding (RFC 8446, 5.4).
    std::size_t length = sealed;
    while (length > 0 && inner[length - 1] == 0) {
        --length;
    }
    const std::uint8_t type = length == 0 ? 0 : inner[length - 1];
    if (type != static_cast<std::uint8_t>(tls_content_type::application_data) &&
        type != static_cast<std::uint8_t>(tls_content_type::alert) &&
        type != static_cast<std::uint8_t>(tls_content_type::handshake)) {
        alert = tls_alert::unexpected_message;
        return std::nullopt;
    }
    tls_opened_record opened;
    opened.content_type = static_cast<tls_content_type>(type);
    opened.plaintext = std::span(inner, length - 1);
    return opened;
}

} // namespace perch::gateway
