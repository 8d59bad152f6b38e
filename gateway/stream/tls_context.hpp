// The TLS side of a listener: one wolfSSL context (certificate, key, trusted CAs, versions, cipher
// order) shared by every worker, and the self-signed certificate a default run uses. Knows
// nothing about MQTT or sockets.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "gateway/common/config.hpp"

struct WOLFSSL_CTX;

namespace perch::gateway {

/// A server-side wolfSSL context for one TLS listener. Built once at start-up; afterwards only
/// read (wolfSSL lets any thread create sessions from it).
class tls_context {
public:
    /// Builds the context for `listener` (TLS 1.2 and 1.3, server cipher order from
    /// preferred_cipher_list()). Without a certfile, the certificate in `data_dir` is used,
    /// generated first when missing (ensure_self_signed_certificate). Throws std::runtime_error
    /// naming the file and key when a certificate, key or CA file cannot be used.
    tls_context(const listener_config& listener, const std::filesystem::path& data_dir);
    ~tls_context();
    tls_context(const tls_context&) = delete;
    tls_context& operator=(const tls_context&) = delete;

    /// The wolfSSL context; owned by this object.
    WOLFSSL_CTX* native_handle() const { return context_; }
    /// Whether the listener maps the client certificate's common name to the MQTT user name.
    bool uses_identity_as_username() const { return uses_identity_as_username_; }
    /// The certificate file in use (configured or generated).
    const std::string& certificate_path() const { return certificate_path_; }

private:
    WOLFSSL_CTX* context_ = nullptr;
    bool uses_identity_as_username_ = false;
    std::string certificate_path_;
};

/// True when the CPU has AES instructions (x86 AES-NI, ARMv8 AES).
bool has_hardware_aes();

/// True when this wolfSSL build uses AES instructions (built with AES-NI or the ARMv8 crypto
/// extensions). Debian's package is built without them: its AES-GCM runs in plain C, at less
/// than half the speed of its ChaCha20-Poly1305, even on a CPU with AES-NI.
bool is_wolfssl_aes_accelerated();

/// Whether AES-GCM goes before ChaCha20-Poly1305: only when the CPU has AES instructions and
/// the TLS library uses them.
bool prefers_aes_gcm(bool has_cpu_aes, bool is_library_accelerated);

/// The wolfSSL cipher list in server preference order: AES-GCM first with hardware AES,
/// ChaCha20-Poly1305 first without; TLS 1.3 suites, then TLS 1.2 ECDHE suites with AEAD only.
std::string preferred_cipher_list(bool is_aes_accelerated);

/// Paths of the generated server certificate and key in `data_dir`.
struct certificate_files {
    std::filesystem::path certificate_path;
    std::filesystem::path key_path;
};

/// Makes sure `data_dir` holds a certificate and key ("perch-cert.pem", "perch-key.pem"): when
/// either is missing, generates a self-signed ECDSA P-256 certificate valid ten years for the
/// names "localhost", this host's name, 127.0.0.1 and ::1. The key file is created mode 0600.
/// Throws std::runtime_error when the directory or files cannot be written.
certificate_files ensure_self_signed_certificate(const std::filesystem::path& data_dir);

/// Starts wolfSSL once for the process (idempotent, thread-safe).
void initialize_tls_library();

/// Frees what wolfSSL keeps per thread (the fixed-point ECC cache of the calling thread). Every
/// thread that ran handshakes or generated keys calls it once before it exits; harmless on a
/// thread that did neither.
void release_tls_thread_state();

} // namespace perch::gateway
