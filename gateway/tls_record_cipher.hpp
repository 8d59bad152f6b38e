// The TLS 1.3 record protection of one established session, taken over from wolfSSL once the
// handshake is done, so that an idle connection keeps ~100 bytes of keys instead of wolfSSL's
// ~57 KB session object. Pure computation on buffers: knows nothing about sockets or MQTT.
//
// Theory of operation
// - take_over() copies the traffic keys, IVs and the next sequence numbers of both directions
//   out of a server-side wolfSSL session whose handshake is complete (TLS 1.3 with AES-GCM or
//   ChaCha20-Poly1305 only; any other session stays with wolfSSL).
// - seal() protects outgoing plaintext as one or more records; open() checks and decrypts one
//   incoming record in place. Each call advances its direction's sequence number, so records
//   must be sealed and opened in stream order.
// - After an authentication failure the session is broken: the caller closes the connection.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

struct WOLFSSL;

namespace perch::gateway {

/// TLS record content types (RFC 8446, 5.1).
enum class tls_content_type : std::uint8_t {
    change_cipher_spec = 20,
    alert = 21,
    handshake = 22,
    application_data = 23,
};

/// A decrypted record: its inner content type and the plaintext, which lies inside the buffer
/// given to tls_record_cipher::open().
struct tls_opened_record {
    tls_content_type content_type = tls_content_type::application_data;
    std::span<std::uint8_t> plaintext;
};

/// Record protection for one TLS 1.3 server session.
class tls_record_cipher {
public:
    /// Bytes of a record header (type, legacy version, length).
    static constexpr std::size_t header_bytes = 5;
    /// Largest plaintext per record (RFC 8446, 5.1).
    static constexpr std::size_t max_plaintext_bytes = 16384;
    /// Largest protected record body accepted (RFC 8446, 5.2: 2^14 + 256).
    static constexpr std::size_t max_body_bytes = max_plaintext_bytes + 256;
    /// Bytes of the AEAD tag of both algorithms.
    static constexpr std::size_t tag_bytes = 16;

    /// The protection state of `session`, a server-side session whose handshake is complete:
    /// nullopt unless it negotiated TLS 1.3 with AES-128/256-GCM or ChaCha20-Poly1305. The
    /// session must not read or write records afterwards; the caller frees it.
    static std::optional<tls_record_cipher> take_over(WOLFSSL* session);

    /// The length of the record body announced by `header` (its last two bytes).
    static std::size_t body_length(std::span<const std::uint8_t, header_bytes> header);

    /// Appends `plaintext` to `out` as protected records of `content_type`, at most
    /// max_plaintext_bytes each (one record for empty plaintext). Returns false when the cipher
    /// failed (out is then unusable).
    bool seal(tls_content_type content_type, std::span<const std::uint8_t> plaintext,
              std::vector<std::uint8_t>& out);

    /// Checks and decrypts one whole record (header and body) in place. nullopt when the record
    /// is malformed, too large, fails authentication or carries no content type: the connection
    /// must then be closed.
    std::optional<tls_opened_record> open(std::span<std::uint8_t> record);

private:
    enum class algorithm : std::uint8_t { aes_gcm, chacha20_poly1305 };

    struct direction {
        std::array<std::uint8_t, 32> key{};
        std::array<std::uint8_t, 12> iv{};
        std::uint64_t sequence = 0;
        /// The per-record nonce: the IV xor the big-endian sequence number (RFC 8446, 5.3).
        std::array<std::uint8_t, 12> next_nonce();
    };

    tls_record_cipher() = default;

    algorithm algorithm_ = algorithm::aes_gcm;
    std::uint32_t key_bytes_ = 0;
    direction read_;
    direction write_;
};

} // namespace perch::gateway
