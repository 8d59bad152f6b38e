// Web Push encryption (RFC 8291 over RFC 8188) and VAPID tokens (RFC 8292) on wolfCrypt.
#include "gateway/push/web_push_crypto.hpp"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <stdexcept>
#include <system_error>

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/aes.h>
#include <wolfssl/wolfcrypt/ecc.h>
#include <wolfssl/wolfcrypt/hmac.h>
#include <wolfssl/wolfcrypt/random.h>
#include <wolfssl/wolfcrypt/sha256.h>

#include <fcntl.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

namespace perch::gateway::push {
namespace {

using json = nlohmann::json;

constexpr std::string_view alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
constexpr std::size_t tag_bytes = 16;
constexpr std::size_t nonce_bytes = 12;
constexpr std::size_t key_bytes = 16;
constexpr std::size_t scalar_bytes = 32;

void check(int result, const char* what) {
    if (result != 0) {
        throw std::runtime_error(std::string("wolfCrypt: ") + what + " failed (" +
                                 std::to_string(result) + ")");
    }
}

/// wolfCrypt's RNG for one operation.
class random_source {
public:
    random_source() { check(wc_InitRng(&rng_), "wc_InitRng"); }
    ~random_source() { wc_FreeRng(&rng_); }
    random_source(const random_source&) = delete;
    random_source& operator=(const random_source&) = delete;
    WC_RNG* get() { return &rng_; }

private:
    WC_RNG rng_{};
};

/// An ecc_key freed with its scope.
class p256_key {
public:
    p256_key() { check(wc_ecc_init(&key_), "wc_ecc_init"); }
    ~p256_key() {
        wc_ecc_free(&key_);
#ifdef FP_ECC
        // wolfCrypt caches fixed-point tables per thread and frees them only when asked: on the
        // workers and the sender thread they would outlive the thread. A notification's few
        // operations do not need the cache.
        wc_ecc_fp_free();
#endif
    }
    p256_key(const p256_key&) = delete;
    p256_key& operator=(const p256_key&) = delete;
    ecc_key* get() {
        return &key_;
    }

    /// Imports a public point; false when it is not one on P-256.
    bool import_public(const std::uint8_t* point, std::size_t size) {
        return wc_ecc_import_x963_ex(point, static_cast<word32>(size), &key_, ECC_SECP256R1) == 0 &&
               wc_ecc_check_key(&key_) == 0;
    }
    void import_private(const p256_key_pair& pair) {
        check(wc_ecc_import_private_key_ex(pair.private_key.data(), scalar_bytes,
                                           pair.public_key.data(), public_key_bytes, &key_,
                                           ECC_SECP256R1),
              "wc_ecc_import_private_key_ex");
    }

private:
    ecc_key key_{};
};

bytes hkdf(const bytes& salt, const bytes& ikm, const bytes& info, std::size_t size) {
    bytes out(size);
    check(wc_HKDF(WC_SHA256, ikm.data(), static_cast<word32>(ikm.size()), salt.data(),
                  static_cast<word32>(salt.size()), info.data(), static_cast<word32>(info.size()),
                  out.data(), static_cast<word32>(size)),
          "wc_HKDF");
    return out;
}

bytes info_of(std::string_view label) {
    // The labels end with a zero byte (RFC 8188 section 2.2, RFC 8291 section 3.4).
    bytes info(label.begin(), label.end());
    info.push_back(0);
    return info;
}

/// ECDH of `own` with `peer_public`, then the key and nonce of the record (RFC 8291 section 3.4).
struct record_keys {
    bytes cek;
    bytes nonce;
};

record_keys derive_keys(const p256_key_pair& own, const std::uint8_t* peer_public,
                        const bytes& ua_public, const bytes& as_public, const bytes& auth_secret,
                        const bytes& salt) {
    random_source rng;
    p256_key private_key;
    private_key.import_private(own);
    check(wc_ecc_set_rng(private_key.get(), rng.get()), "wc_ecc_set_rng");
    p256_key public_key;
    if (!public_key.import_public(peer_public, public_key_bytes)) {
        throw std::invalid_argument("not a P-256 public key");
    }
    bytes secret(scalar_bytes);
    word32 secret_size = scalar_bytes;
    check(wc_ecc_shared_secret(private_key.get(), public_key.get(), secret.data(), &secret_size),
          "wc_ecc_shared_secret");
    secret.resize(secret_size);

    bytes key_info = info_of("WebPush: info");
    key_info.insert(key_info.end(), ua_public.begin(), ua_public.end());
    key_info.insert(key_info.end(), as_public.begin(), as_public.end());
    const bytes ikm = hkdf(auth_secret, secret, key_info, 32);
    return {hkdf(salt, ikm, info_of("Content-Encoding: aes128gcm"), key_bytes),
            hkdf(salt, ikm, info_of("Content-Encoding: nonce"), nonce_bytes)};
}

/// An AES-GCM context freed with its scope.
class aes_gcm {
public:
    explicit aes_gcm(const bytes& key) {
        check(wc_AesInit(&aes_, nullptr, INVALID_DEVID), "wc_AesInit");
        if (wc_AesGcmSetKey(&aes_, key.data(), static_cast<word32>(key.size())) != 0) {
            wc_AesFree(&aes_);
            throw std::runtime_error("wolfCrypt: wc_AesGcmSetKey failed");
        }
    }
    ~aes_gcm() { wc_AesFree(&aes_); }
    aes_gcm(const aes_gcm&) = delete;
    aes_gcm& operator=(const aes_gcm&) = delete;
    Aes* get() { return &aes_; }

private:
    Aes aes_{};
};

std::array<std::uint8_t, 32> sha256_of(std::string_view text) {
    std::array<std::uint8_t, 32> digest{};
    check(wc_Sha256Hash(reinterpret_cast<const byte*>(text.data()),
                        static_cast<word32>(text.size()), digest.data()),
          "wc_Sha256Hash");
    return digest;
}

} // namespace

std::string base64url_encode(const std::uint8_t* data, std::size_t size) {
    std::string out;
    out.reserve((size * 4 + 2) / 3);
    std::size_t at = 0;
    for (; at + 3 <= size; at += 3) {
        const std::uint32_t group =
            (std::uint32_t{data[at]} << 16) | (std::uint32_t{data[at + 1]} << 8) | data[at + 2];
        out += alphabet[(group >> 18) & 63];
        out += alphabet[(group >> 12) & 63];
        out += alphabet[(group >> 6) & 63];
        out += alphabet[group & 63];
    }
    if (size - at == 1) {
        const std::uint32_t group = std::uint32_t{data[at]} << 16;
        out += alphabet[(group >> 18) & 63];
        out += alphabet[(group >> 12) & 63];
    } else if (size - at == 2) {
        const std::uint32_t group =
            (std::uint32_t{data[at]} << 16) | (std::uint32_t{data[at + 1]} << 8);
        out += alphabet[(group >> 18) & 63];
        out += alphabet[(group >> 12) & 63];
        out += alphabet[(group >> 6) & 63];
    }
    return out;
}

std::string base64url_encode(std::string_view text) {
    return base64url_encode(reinterpret_cast<const std::uint8_t*>(text.data()), text.size());
}

std::optional<bytes> base64url_decode(std::string_view text) {
    while (!text.empty() && text.back() == '=') {
        text.remove_suffix(1);
    }
    if (text.size() % 4 == 1) {
        return std::nullopt;
    }
    bytes out;
    out.reserve(text.size() * 3 / 4);
    std::uint32_t group = 0;
    int bits = 0;
    for (const char character : text) {
        const std::size_t value = alphabet.find(character);
        if (value == std::string_view::npos) {
            return std::nullopt;
        }
        group = (group << 6) | static_cast<std::uint32_t>(value);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out.push_back(static_cast<std::uint8_t>((group >> bits) & 0xff));
        }
    }
    return out;
}

p256_key_pair generate_key_pair() {
    random_source rng;
    p256_key key;
    check(wc_ecc_make_key_ex(rng.get(), scalar_bytes, key.get(), ECC_SECP256R1),
          "wc_ecc_make_key_ex");
    p256_key_pair pair;
    word32 public_size = public_key_bytes;
    check(wc_ecc_export_x963(key.get(), pair.public_key.data(), &public_size),
          "wc_ecc_export_x963");
    word32 private_size = scalar_bytes;
    check(wc_ecc_export_private_only(key.get(), pair.private_key.data(), &private_size),
          "wc_ecc_export_private_only");
    if (public_size != public_key_bytes || private_size != scalar_bytes) {
        throw std::runtime_error("wolfCrypt: unexpected P-256 key sizes");
    }
    return pair;
}

bool is_valid_public_key(const bytes& public_key) {
    if (public_key.size() != public_key_bytes || public_key[0] != 0x04) {
        return false;
    }
    p256_key key;
    return key.import_public(public_key.data(), public_key.size());
}

bytes encrypt_message(std::string_view plaintext, const bytes& ua_public, const bytes& auth_secret,
                      const p256_key_pair& sender, const std::array<std::uint8_t, 16>& salt) {
    if (plaintext.size() > max_plaintext_bytes || ua_public.size() != public_key_bytes ||
        auth_secret.size() != auth_secret_bytes) {
        throw std::invalid_argument("web push: bad plaintext, p256dh or auth length");
    }
    const bytes salt_bytes_(salt.begin(), salt.end());
    const bytes as_public(sender.public_key.begin(), sender.public_key.end());
    const record_keys keys =
        derive_keys(sender, ua_public.data(), ua_public, as_public, auth_secret, salt_bytes_);

    bytes body(salt.begin(), salt.end());
    body.push_back(static_cast<std::uint8_t>(record_size >> 24));
    body.push_back(static_cast<std::uint8_t>((record_size >> 16) & 0xff));
    body.push_back(static_cast<std::uint8_t>((record_size >> 8) & 0xff));
    body.push_back(static_cast<std::uint8_t>(record_size & 0xff));
    body.push_back(static_cast<std::uint8_t>(public_key_bytes));
    body.insert(body.end(), as_public.begin(), as_public.end());

    // One record, the last: the plaintext and the delimiter 0x02, no further padding.
    bytes padded(plaintext.begin(), plaintext.end());
    padded.push_back(0x02);
    const std::size_t start = body.size();
    body.resize(start + padded.size() + tag_bytes);
    aes_gcm aes(keys.cek);
    check(wc_AesGcmEncrypt(aes.get(), body.data() + start, padded.data(),
                           static_cast<word32>(padded.size()), keys.nonce.data(),
                           static_cast<word32>(keys.nonce.size()),
                           body.data() + start + padded.size(), tag_bytes, nullptr, 0),
          "wc_AesGcmEncrypt");
    return body;
}

bytes encrypt_message(std::string_view plaintext, const bytes& ua_public,
                      const bytes& auth_secret) {
    std::array<std::uint8_t, 16> salt{};
    {
        random_source rng;
        check(wc_RNG_GenerateBlock(rng.get(), salt.data(), salt.size()), "wc_RNG_GenerateBlock");
    }
    return encrypt_message(plaintext, ua_public, auth_secret, generate_key_pair(), salt);
}

std::optional<std::string> decrypt_message(const bytes& body, const p256_key_pair& ua,
                                           const bytes& auth_secret) {
    if (body.size() < header_bytes + tag_bytes + 1 || body[20] != public_key_bytes ||
        auth_secret.size() != auth_secret_bytes) {
        return std::nullopt;
    }
    const std::uint32_t rs = (std::uint32_t{body[16]} << 24) | (std::uint32_t{body[17]} << 16) |
                             (std::uint32_t{body[18]} << 8) | body[19];
    const std::size_t record_bytes = body.size() - header_bytes;
    if (record_bytes > rs) {
        return std::nullopt; // More than one record: never sent by perch.
    }
    const bytes salt(body.begin(), body.begin() + salt_bytes);
    const bytes as_public(body.begin() + 21, body.begin() + header_bytes);
    const bytes ua_public(ua.public_key.begin(), ua.public_key.end());
    record_keys keys;
    try {
        keys = derive_keys(ua, as_public.data(), ua_public, as_public, auth_secret, salt);
    } catch (const std::exception&) {
        return std::nullopt;
    }
    const std::size_t cipher_bytes = record_bytes - tag_bytes;
    bytes padded(cipher_bytes);
    aes_gcm aes(keys.cek);
    if (wc_AesGcmDecrypt(aes.get(), padded.data(), body.data() + header_bytes,
                         static_cast<word32>(cipher_bytes), keys.nonce.data(),
                         static_cast<word32>(keys.nonce.size()),
                         body.data() + header_bytes + cipher_bytes, tag_bytes, nullptr, 0) != 0) {
        return std::nullopt;
    }
    // Strip the padding: zeros after the delimiter, which must be 0x02 in the last record.
    while (!padded.empty() && padded.back() == 0) {
        padded.pop_back();
    }
    if (padded.empty() || padded.back() != 0x02) {
        return std::nullopt;
    }
    padded.pop_back();
    return std::string(padded.begin(), padded.end());
}

std::string make_vapid_token(const vapid_claims& claims, const p256_key_pair& key) {
    const json header = {{"typ", "JWT"}, {"alg", "ES256"}};
    const json body = {
        {"aud", claims.audience}, {"exp", claims.expires_unix_s}, {"sub", claims.subject}};
    const std::string signing_input =
        base64url_encode(header.dump()) + "." + base64url_encode(body.dump());
    const auto digest = sha256_of(signing_input);

    random_source rng;
    p256_key signer;
    signer.import_private(key);
    std::array<std::uint8_t, 80> der{};
    word32 der_size = der.size();
    check(wc_ecc_sign_hash(digest.data(), digest.size(), der.data(), &der_size, rng.get(),
                           signer.get()),
          "wc_ecc_sign_hash");
    // JWS wants r and s as two 32-byte big-endian numbers (RFC 7518 section 3.4), not DER.
    std::array<std::uint8_t, scalar_bytes> r{};
    std::array<std::uint8_t, scalar_bytes> s{};
    word32 r_size = r.size();
    word32 s_size = s.size();
    check(wc_ecc_sig_to_rs(der.data(), der_size, r.data(), &r_size, s.data(), &s_size),
          "wc_ecc_sig_to_rs");
    std::array<std::uint8_t, 2 * scalar_bytes> raw{};
    std::memcpy(raw.data() + scalar_bytes - r_size, r.data(), r_size);
    std::memcpy(raw.data() + 2 * scalar_bytes - s_size, s.data(), s_size);
    return signing_input + "." + base64url_encode(raw.data(), raw.size());
}

std::string vapid_authorization(const vapid_claims& claims, const p256_key_pair& key) {
    return "vapid t=" + make_vapid_token(claims, key) +
           ", k=" + base64url_encode(key.public_key.data(), key.public_key.size());
}

std::optional<vapid_claims> verify_vapid_token(std::string_view token, const bytes& public_key) {
    const std::size_t first = token.find('.');
    const std::size_t second = token.find('.', first == std::string_view::npos ? 0 : first + 1);
    if (first == std::string_view::npos || second == std::string_view::npos) {
        return std::nullopt;
    }
    const auto header_bytes_ = base64url_decode(token.substr(0, first));
    const auto body_bytes = base64url_decode(token.substr(first + 1, second - first - 1));
    const auto signature = base64url_decode(token.substr(second + 1));
    if (!header_bytes_ || !body_bytes || !signature || signature->size() != 2 * scalar_bytes) {
        return std::nullopt;
    }
    const json header = json::parse(header_bytes_->begin(), header_bytes_->end(), nullptr, false);
    const json body = json::parse(body_bytes->begin(), body_bytes->end(), nullptr, false);
    if (!header.is_object() || header.value("alg", "") != "ES256" || !body.is_object()) {
        return std::nullopt;
    }
    p256_key verifier;
    if (!verifier.import_public(public_key.data(), public_key.size())) {
        return std::nullopt;
    }
    std::array<std::uint8_t, 80> der{};
    word32 der_size = der.size();
    if (wc_ecc_rs_raw_to_sig(signature->data(), scalar_bytes, signature->data() + scalar_bytes,
                             scalar_bytes, der.data(), &der_size) != 0) {
        return std::nullopt;
    }
    const auto digest = sha256_of(token.substr(0, second));
    int is_valid = 0;
    if (wc_ecc_verify_hash(der.data(), der_size, digest.data(), digest.size(), &is_valid,
                           verifier.get()) != 0 ||
        is_valid != 1) {
        return std::nullopt;
    }
    vapid_claims claims;
    const auto audience = body.find("aud");
    const auto expires = body.find("exp");
    const auto subject = body.find("sub");
    if (audience == body.end() || !audience->is_string() || expires == body.end() ||
        !expires->is_number_unsigned() || subject == body.end() || !subject->is_string()) {
        return std::nullopt;
    }
    claims.audience = audience->get<std::string>();
    claims.expires_unix_s = expires->get<std::uint64_t>();
    claims.subject = subject->get<std::string>();
    return claims;
}

p256_key_pair load_or_create_vapid_key(const std::filesystem::path& path) {
    constexpr std::size_t file_bytes = scalar_bytes + public_key_bytes;
    std::ifstream in(path, std::ios::binary);
    if (in) {
        const bytes content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
        p256_key_pair pair;
        if (content.size() != file_bytes ||
            !is_valid_public_key(bytes(content.begin() + scalar_bytes, content.end()))) {
            throw std::runtime_error(path.string() + ": not a VAPID key file (" +
                                     std::to_string(file_bytes) + " bytes: private, public)");
        }
        std::memcpy(pair.private_key.data(), content.data(), scalar_bytes);
        std::memcpy(pair.public_key.data(), content.data() + scalar_bytes, public_key_bytes);
        return pair;
    }
    const p256_key_pair pair = generate_key_pair();
    bytes content(pair.private_key.begin(), pair.private_key.end());
    content.insert(content.end(), pair.public_key.begin(), pair.public_key.end());
    // O_EXCL: two processes starting at once never overwrite each other's key.
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        if (errno == EEXIST) {
            return load_or_create_vapid_key(path);
        }
        throw std::runtime_error(path.string() + ": " +
                                 std::error_code(errno, std::generic_category()).message());
    }
    const ssize_t written = ::write(fd, content.data(), content.size());
    const bool is_closed = ::close(fd) == 0;
    if (written != static_cast<ssize_t>(content.size()) || !is_closed) {
        throw std::runtime_error(path.string() + ": cannot write the VAPID key");
    }
    return pair;
}

} // namespace perch::gateway::push
