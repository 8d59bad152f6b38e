// The cryptography of Web Push, written from the standards on wolfCrypt: the aes128gcm message
// encryption of RFC 8291 (over RFC 8188's content coding) and the VAPID token of RFC 8292 (an
// ES256 JWT). No I/O beyond the key file; the sender and the tests' push service stand-in use it.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace perch::gateway::push {

using bytes = std::vector<std::uint8_t>;

/// A P-256 key as Web Push carries it: the 32-byte private scalar and the 65-byte uncompressed
/// public point (0x04 || x || y).
struct p256_key_pair {
    std::array<std::uint8_t, 32> private_key{};
    std::array<std::uint8_t, 65> public_key{};
};

/// Salt and auth secret lengths (RFC 8291 section 3.2, RFC 8188 section 2.1).
inline constexpr std::size_t salt_bytes = 16;
inline constexpr std::size_t auth_secret_bytes = 16;
inline constexpr std::size_t public_key_bytes = 65;
/// The record size written in every body: one record holds the whole message.
inline constexpr std::uint32_t record_size = 4096;
/// The body header: salt, rs, idlen, the sender's public key.
inline constexpr std::size_t header_bytes = salt_bytes + 4 + 1 + public_key_bytes;
/// The most plaintext one record carries: rs minus the tag (16) and the padding delimiter (1).
inline constexpr std::size_t max_plaintext_bytes = record_size - 16 - 1;

/// base64url without padding (RFC 4648 section 5), as PushSubscription and JWTs use it.
std::string base64url_encode(const std::uint8_t* data, std::size_t size);
inline std::string base64url_encode(const bytes& data) {
    return base64url_encode(data.data(), data.size());
}
std::string base64url_encode(std::string_view text);
/// Decodes base64url, with or without padding; nullopt on any other character.
std::optional<bytes> base64url_decode(std::string_view text);

/// A fresh key pair from wolfCrypt's RNG. Throws std::runtime_error when wolfCrypt fails.
p256_key_pair generate_key_pair();

/// True when `public_key` is an uncompressed point on P-256.
bool is_valid_public_key(const bytes& public_key);

/// Encrypts `plaintext` (at most max_plaintext_bytes) for the user agent whose subscription
/// holds `ua_public` (p256dh) and `auth_secret`, with the sender's ephemeral `sender` key and
/// `salt`: the aes128gcm body, header and one record. Throws std::invalid_argument for bad
/// lengths and std::runtime_error when wolfCrypt fails.
bytes encrypt_message(std::string_view plaintext, const bytes& ua_public, const bytes& auth_secret,
                      const p256_key_pair& sender, const std::array<std::uint8_t, 16>& salt);

/// encrypt_message with a fresh ephemeral key and a random salt.
bytes encrypt_message(std::string_view plaintext, const bytes& ua_public, const bytes& auth_secret);

/// The user agent's side: decrypts an aes128gcm body with the subscription's key pair and auth
/// secret; nullopt when the body is malformed or does not authenticate.
std::optional<std::string> decrypt_message(const bytes& body, const p256_key_pair& ua,
                                           const bytes& auth_secret);

/// The claims of a VAPID token.
struct vapid_claims {
    /// The push resource's origin: "https://push.example.net" (a port when not the default).
    std::string audience;
    std::uint64_t expires_unix_s = 0;
    /// A contact: "mailto:..." or "https://...".
    std::string subject;
};

/// The signed JWT (ES256, raw r || s signature) of `claims`. Throws std::runtime_error when
/// wolfCrypt fails.
std::string make_vapid_token(const vapid_claims& claims, const p256_key_pair& key);

/// The Authorization header value: "vapid t=<jwt>, k=<base64url public key>".
std::string vapid_authorization(const vapid_claims& claims, const p256_key_pair& key);

/// Checks a JWT's ES256 signature with `public_key` and reads its claims; nullopt when the token
/// is malformed, its header is not ES256, or the signature does not verify.
std::optional<vapid_claims> verify_vapid_token(std::string_view token, const bytes& public_key);

/// The VAPID key's file name inside data_dir.
inline constexpr std::string_view vapid_key_file_name = "vapid.key";

/// Loads the VAPID key pair from `path` (97 bytes: private scalar then public point), or, when
/// the file is missing, generates one and writes it with mode 0600. Throws std::runtime_error
/// naming the path when it cannot be read, is malformed, or cannot be written.
p256_key_pair load_or_create_vapid_key(const std::filesystem::path& path);

} // namespace perch::gateway::push
