// The TLS 1.3 record protection of one established session, taken over from wolfSSL once the
// handshake is done, so that an idle connection keeps ~250 bytes of keys and secrets instead of
// wolfSSL's ~57 KB session object. Pure computation on buffers: knows nothing about sockets or
// MQTT.
//
// Theory of operation
// - wolfSSL does not export the traffic secrets, but it lets a context replace its
//   HKDF-Expand-Label: capture_traffic_secrets() installs one that notes the application
//   traffic secrets ("c ap traffic", "s ap traffic") of the handshake running on this thread
//   into the tls_secret_capture active there.
// - take_over() copies the traffic keys, IVs and the next sequence numbers of both directions
//   out of a wolfSSL session whose handshake is complete (TLS 1.3 with AES-GCM or
//   ChaCha20-Poly1305 only; any other session stays with wolfSSL), with the captured secrets,
//   which it checks against wolfSSL's keys: without them a peer's KeyUpdate could not be followed.
// - seal() protects outgoing plaintext as one or more records; open() checks and decrypts one
//   incoming record in place. Each call advances its direction's sequence number, so records
//   must be sealed and opened in stream order.
// - Key updates (RFC 8446, 4.6.3): handle_handshake() follows the peer's KeyUpdate (and answers
//   one that asks for it); seal() updates its own keys by itself every key_update_records
//   records, well below the AEAD limits of RFC 8446, 5.5.
// - A failure names the alert to send (open(), handle_handshake()); seal_alert() seals it. After
//   any failure the session is broken: the caller closes the connection.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

struct WOLFSSL;
struct WOLFSSL_CTX;

namespace perch::gateway {

/// TLS record content types (RFC 8446, 5.1).
enum class tls_content_type : std::uint8_t {
    change_cipher_spec = 20,
    alert = 21,
    handshake = 22,
    application_data = 23,
};

/// TLS alert descriptions perch sends (RFC 8446, 6).
enum class tls_alert : std::uint8_t {
    close_notify = 0,
    unexpected_message = 10,
    bad_record_mac = 20,
    record_overflow = 22,
    illegal_parameter = 47,
    decode_error = 50,
    internal_error = 80,
};

/// The application traffic secrets of one TLS 1.3 handshake, as wolfSSL derived them.
struct tls_traffic_secrets {
    /// Largest secret: the SHA-384 hash length.
    static constexpr std::size_t max_secret_bytes = 48;
    std::array<std::uint8_t, max_secret_bytes> client{};
    std::array<std::uint8_t, max_secret_bytes> server{};
    /// Secret length (the suite's hash length); 0 until captured.
    std::uint8_t client_bytes = 0;
    std::uint8_t server_bytes = 0;
    /// wolfCrypt's hash type of the suite, as its HKDF takes it.
    int digest = 0;
};

/// Makes the TLS 1.3 handshakes of `context` note their application traffic secrets in the
/// tls_secret_capture active on the thread running them.
void capture_traffic_secrets(WOLFSSL_CTX* context);

/// While alive, handshakes this thread runs on a context given to capture_traffic_secrets() note
/// their secrets in `secrets`. Scopes nest; each restores the previous one.
class tls_secret_capture {
public:
    explicit tls_secret_capture(tls_traffic_secrets& secrets);
    ~tls_secret_capture();
    tls_secret_capture(const tls_secret_capture&) = delete;
    tls_secret_capture& operator=(const tls_secret_capture&) = delete;

private:
    tls_traffic_secrets* previous_;
};

/// A decrypted record: its inner content type and the plaintext, which lies inside the buffer
/// given to tls_record_cipher::open().
struct tls_opened_record {
    tls_content_type content_type = tls_content_type::application_data;
    std::span<std::uint8_t> plaintext;
};

/// Record protection for one TLS 1.3 session.
class tls_record_cipher {
public:
    /// Bytes of a record header (type, legacy version, length).
    static constexpr std::size_t header_bytes = 5;
    /// Largest plaintext per record (RFC 8446, 5.1).
    static constexpr std::size_t max_plaintext_bytes = 16384;
    /// Largest protected record body accepted (RFC 8446, 5.2: 2^14 + 256).
    static constexpr std::size_t max_body_bytes = max_plaintext_bytes + 256;
    /// Largest TLSInnerPlaintext accepted: content, type byte and padding (RFC 8446, 5.4).
    static constexpr std::size_t max_inner_plaintext_bytes = max_plaintext_bytes + 1;
    /// Bytes of the AEAD tag of both algorithms.
    static constexpr std::size_t tag_bytes = 16;
    /// Records sealed under one key before seal() updates it: 2^24, below the 2^24.5 full-size
    /// records RFC 8446 5.5 allows AES-GCM (ChaCha20-Poly1305 has no practical limit; one
    /// threshold serves both).
    static constexpr std::uint64_t default_key_update_records = std::uint64_t{1} << 24;

    /// The protection state of `session`, whose handshake is complete and whose application
    /// traffic secrets are `secrets`: nullopt unless it negotiated TLS 1.3 with AES-128/256-GCM
    /// or ChaCha20-Poly1305 and the secrets yield its keys. The session must not read or write
    /// records afterwards; the caller frees it. A client session works too (tests use one).
    static std::optional<tls_record_cipher> take_over(WOLFSSL* session,
                                                      const tls_traffic_secrets& secrets);

    /// The length of the record body announced by `header` (its last two bytes).
    static std::size_t body_length(std::span<const std::uint8_t, header_bytes> header);

    /// Appends `plaintext` to `out` as protected records of `content_type`, at most
    /// max_plaintext_bytes each (one record for empty plaintext). Before a record that would
    /// exceed key_update_records under the current key, appends a KeyUpdate
    /// (update_not_requested) and switches to the next key. Returns false when the cipher
    /// failed (out is then unusable).
    bool seal(tls_content_type content_type, std::span<const std::uint8_t> plaintext,
              std::vector<std::uint8_t>& out);

    /// Appends one protected record of `content_type` holding `plaintext` followed by
    /// `padding_bytes` zeros (RFC 8446, 5.4). Sizes are not checked, so that tests can build the
    /// records a peer must refuse. False when the cipher failed.
    bool seal_padded(tls_content_type content_type, std::span<const std::uint8_t> plaintext,
                     std::size_t padding_bytes, std::vector<std::uint8_t>& out);

    /// Appends a protected alert record to `out`: close_notify as a warning, any other alert as
    /// fatal. False when the cipher failed.
    bool seal_alert(tls_alert alert, std::vector<std::uint8_t>& out);

    /// Checks and decrypts one whole record (header and body) in place. nullopt when the record
    /// is malformed, too large, fails authentication or carries no valid content type, with the
    /// alert to send in `alert`: the connection must then be closed.
    std::optional<tls_opened_record> open(std::span<std::uint8_t> record, tls_alert& alert);

    /// Handles the plaintext of a handshake record received after the handshake: it must hold
    /// exactly one KeyUpdate. Switches to the peer's next key; when the peer asks for it,
    /// appends our KeyUpdate (update_not_requested, under the current key) to `out` and switches
    /// our key too. false with the alert to send otherwise.
    bool handle_handshake(std::span<const std::uint8_t> message, std::vector<std::uint8_t>& out,
                          tls_alert& alert);

    /// Sets the records sealed under one key, its KeyUpdate included, before seal() updates it
    /// (at least 2: one record and the KeyUpdate).
    void set_key_update_records(std::uint64_t records) {
        key_update_records_ = std::max<std::uint64_t>(records, 2);
    }

private:
    enum class algorithm : std::uint8_t { aes_gcm, chacha20_poly1305 };

    struct direction {
        std::array<std::uint8_t, 32> key{};
        std::array<std::uint8_t, 12> iv{};
        std::uint64_t sequence = 0;
        /// The application traffic secret the key and IV come from.
        std::array<std::uint8_t, tls_traffic_secrets::max_secret_bytes> secret{};
        /// The per-record nonce: the IV xor the big-endian sequence number (RFC 8446, 5.3).
        std::array<std::uint8_t, 12> next_nonce();
    };

    tls_record_cipher() = default;

    /// Derives the next traffic secret, key and IV of `side` and restarts its sequence
    /// (RFC 8446, 7.2).
    bool update_keys(direction& side);
    /// Seals one record of `content_type` holding `plaintext` and `padding_bytes` zeros.
    bool seal_record(tls_content_type content_type, std::span<const std::uint8_t> plaintext,
                     std::vector<std::uint8_t>& out, std::size_t padding_bytes = 0);
    /// Seals a KeyUpdate (update_not_requested) under the current key, then switches keys.
    bool seal_key_update(std::vector<std::uint8_t>& out);

    algorithm algorithm_ = algorithm::aes_gcm;
    std::uint8_t key_bytes_ = 0;
    std::uint8_t secret_bytes_ = 0;
    int digest_ = 0;
    std::uint64_t key_update_records_ = default_key_update_records;
    direction read_;
    direction write_;
};

} // namespace perch::gateway
