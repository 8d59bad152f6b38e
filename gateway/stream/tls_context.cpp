// wolfSSL contexts for the TLS listeners, the cipher order, and the self-signed certificate
// generated with wolfCrypt for a default run.
#include "gateway/stream/tls_context.hpp"

#include <array>
#include <fstream>
#include <mutex>
#include <span>
#include <stdexcept>
#include <system_error>
#include <vector>

#include <fmt/format.h>

// clang-format off
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/wolfcrypt/asn_public.h>
#include <wolfssl/wolfcrypt/ecc.h>
#include <wolfssl/wolfcrypt/random.h>
// clang-format on

#include "gateway/common/log.hpp"
#include "gateway/stream/tls_record_cipher.hpp"

#include <sys/stat.h>
#include <unistd.h>
#if defined(__aarch64__)
#include <asm/hwcap.h>
#include <sys/auxv.h>
#endif

namespace perch::gateway {

namespace {

constexpr std::string_view certificate_file_name = "perch-cert.pem";
constexpr std::string_view key_file_name = "perch-key.pem";
constexpr int certificate_days_valid = 3650;
constexpr std::size_t der_capacity = 4096;

struct rng_deleter {
    void operator()(WC_RNG* rng) const { wc_rng_free(rng); }
};
struct ecc_key_deleter {
    void operator()(ecc_key* key) const { wc_ecc_key_free(key); }
};
struct cert_deleter {
    void operator()(Cert* cert) const { wc_CertFree(cert); }
};

[[noreturn]] void fail_generation(std::string_view step, int code) {
    throw std::runtime_error(fmt::format("cannot generate the TLS certificate: {} failed ({})",
                                         step, wc_GetErrorString(code)));
}

/// One DER element: tag, short or long length, contents.
void append_der(std::vector<std::uint8_t>& out, std::uint8_t tag,
                std::span<const std::uint8_t> contents) {
    out.push_back(tag);
    if (contents.size() < 0x80) {
        out.push_back(static_cast<std::uint8_t>(contents.size()));
    } else {
        out.push_back(0x82);
        out.push_back(static_cast<std::uint8_t>(contents.size() >> 8));
        out.push_back(static_cast<std::uint8_t>(contents.size() & 0xFF));
    }
    out.insert(out.end(), contents.begin(), contents.end());
}

/// GeneralNames for the subjectAltName extension: DNS names [2] and IP addresses [7].
std::vector<std::uint8_t> encode_alt_names(const std::vector<std::string>& dns_names) {
    std::vector<std::uint8_t> names;
    for (const std::string& name : dns_names) {
        append_der(names, 0x82,
                   std::span(reinterpret_cast<const std::uint8_t*>(name.data()), name.size()));
    }
    const std::array<std::uint8_t, 4> ipv4_loopback = {127, 0, 0, 1};
    append_der(names, 0x87, ipv4_loopback);
    std::array<std::uint8_t, 16> ipv6_loopback{};
    ipv6_loopback[15] = 1;
    append_der(names, 0x87, ipv6_loopback);
    std::vector<std::uint8_t> sequence;
    append_der(sequence, 0x30, names);
    return sequence;
}

std::string to_pem(std::span<const std::uint8_t> der, int type) {
    std::string pem(der.size() * 2 + 256, '\0');
    const int size =
        wc_DerToPem(der.data(), static_cast<word32>(der.size()),
                    reinterpret_cast<byte*>(pem.data()), static_cast<word32>(pem.size()), type);
    if (size <= 0) {
        fail_generation("PEM encoding", size);
    }
    pem.resize(static_cast<std::size_t>(size));
    return pem;
}

std::string host_name() {
    std::array<char, 256> name{};
    if (::gethostname(name.data(), name.size() - 1) != 0) {
        return {};
    }
    return std::string(name.data());
}

void write_private_file(const std::filesystem::path& path, std::string_view text, bool is_secret) {
    const std::filesystem::path partial = path.string() + ".partial";
    {
        std::ofstream file(partial, std::ios::binary | std::ios::trunc);
        if (is_secret) {
            ::chmod(partial.c_str(), S_IRUSR | S_IWUSR);
        }
        file.write(text.data(), static_cast<std::streamsize>(text.size()));
        if (!file) {
            throw std::runtime_error(fmt::format("cannot write {}", partial.string()));
        }
    }
    std::filesystem::rename(partial, path);
}

void generate_certificate(const certificate_files& files) {
    const std::unique_ptr<WC_RNG, rng_deleter> rng(wc_rng_new(nullptr, 0, nullptr));
    const std::unique_ptr<ecc_key, ecc_key_deleter> key(wc_ecc_key_new(nullptr));
    const std::unique_ptr<Cert, cert_deleter> cert(wc_CertNew(nullptr));
    if (!rng || !key || !cert) {
        fail_generation("allocation", MEMORY_E);
    }
    int result = wc_ecc_make_key_ex(rng.get(), 32, key.get(), ECC_SECP256R1);
    if (result != 0) {
        fail_generation("P-256 key generation", result);
    }
    cert->daysValid = certificate_days_valid;
    cert->sigType = CTC_SHA256wECDSA;
    cert->isCA = 0;
    const std::string name = host_name();
    fmt::format_to_n(cert->subject.commonName, CTC_NAME_SIZE - 1, "{}", "perch");
    fmt::format_to_n(cert->subject.org, CTC_NAME_SIZE - 1, "{}", "Perch self-signed");
    std::vector<std::string> dns_names = {"localhost"};
    if (!name.empty() && name != "localhost") {
        dns_names.push_back(name);
    }
    const std::vector<std::uint8_t> alt_names = encode_alt_names(dns_names);
    if (alt_names.size() > sizeof(cert->altNames)) {
        fail_generation("subject alternative names", BUFFER_E);
    }
    std::copy(alt_names.begin(), alt_names.end(), cert->altNames);
    cert->altNamesSz = static_cast<int>(alt_names.size());
    if ((result = wc_SetKeyUsage(cert.get(), "digitalSignature")) != 0) {
        fail_generation("key usage", result);
    }
    if ((result = wc_SetExtKeyUsage(cert.get(), "serverAuth")) != 0) {
        fail_generation("extended key usage", result);
    }

    std::vector<std::uint8_t> der(der_capacity);
    result = wc_MakeCert_ex(cert.get(), der.data(), static_cast<word32>(der.size()), ECC_TYPE,
                            key.get(), rng.get());
    if (result < 0) {
        fail_generation("certificate encoding", result);
    }
    result = wc_SignCert_ex(cert->bodySz, cert->sigType, der.data(),
                            static_cast<word32>(der.size()), ECC_TYPE, key.get(), rng.get());
    if (result < 0) {
        fail_generation("signing", result);
    }
    const std::string certificate_pem =
        to_pem(std::span(der.data(), static_cast<std::size_t>(result)), CERT_TYPE);

    std::vector<std::uint8_t> key_der(der_capacity);
    result = wc_EccKeyToDer(key.get(), key_der.data(), static_cast<word32>(key_der.size()));
    if (result < 0) {
        fail_generation("key encoding", result);
    }
    const std::string key_pem =
        to_pem(std::span(key_der.data(), static_cast<std::size_t>(result)), ECC_PRIVATEKEY_TYPE);

    write_private_file(files.key_path, key_pem, true);
    write_private_file(files.certificate_path, certificate_pem, false);
}

std::string wolfssl_error(int code) {
    std::array<char, WOLFSSL_MAX_ERROR_SZ> text{};
    wolfSSL_ERR_error_string_n(static_cast<unsigned long>(code), text.data(), text.size());
    return std::string(text.data());
}

} // namespace

void initialize_tls_library() {
    static std::once_flag once;
    std::call_once(once, [] { wolfSSL_Init(); });
}

void release_tls_thread_state() {
#if defined(FP_ECC)
    wc_ecc_fp_free();
#endif
}

bool has_hardware_aes() {
#if defined(__x86_64__) || defined(__i386__)
    return __builtin_cpu_supports("aes");
#elif defined(__aarch64__)
    return (::getauxval(AT_HWCAP) & HWCAP_AES) != 0;
#else
    return false;
#endif
}

bool is_wolfssl_aes_accelerated() {
#if defined(WOLFSSL_AESNI) || defined(WOLFSSL_ARMASM)
    return true;
#else
    return false;
#endif
}

bool prefers_aes_gcm(bool has_cpu_aes, bool is_library_accelerated) {
    return has_cpu_aes && is_library_accelerated;
}

std::string preferred_cipher_list(bool is_aes_accelerated) {
    const std::string_view aes13 = "TLS13-AES128-GCM-SHA256:TLS13-AES256-GCM-SHA384";
    const std::string_view chacha13 = "TLS13-CHACHA20-POLY1305-SHA256";
    const std::string_view aes12 = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
                                   "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384";
    const std::string_view chacha12 = "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
    if (is_aes_accelerated) {
        return fmt::format("{}:{}:{}:{}", aes13, chacha13, aes12, chacha12);
    }
    return fmt::format("{}:{}:{}:{}", chacha13, aes13, chacha12, aes12);
}

certificate_files ensure_self_signed_certificate(const std::filesystem::path& data_dir) {
    certificate_files files{data_dir / certificate_file_name, data_dir / key_file_name};
    std::error_code error;
    if (std::filesystem::exists(files.certificate_path, error) &&
        std::filesystem::exists(files.key_path, error)) {
        return files;
    }
    // Created private (0700) as the store would: it is the folder of the database too.
    if (std::filesystem::create_directories(data_dir, error)) {
        ::chmod(data_dir.c_str(), S_IRWXU);
    }
    if (error) {
        throw std::runtime_error(fmt::format("data_dir {}: cannot create it for the TLS "
                                             "certificate: {} (set certfile and keyfile)",
                                             data_dir.string(), error.message()));
    }
    generate_certificate(files);
    log_notice("generated a self-signed TLS certificate {} (ECDSA P-256)",
               files.certificate_path.string());
    return files;
}

tls_context::tls_context(const listener_config& listener, const std::filesystem::path& data_dir)
    : uses_identity_as_username_(listener.use_identity_as_username) {
    initialize_tls_library();
    std::string certificate_path = listener.certfile;
    std::string key_path = listener.keyfile;
    if (certificate_path.empty()) {
        const certificate_files generated = ensure_self_signed_certificate(data_dir);
        certificate_path = generated.certificate_path.string();
        key_path = generated.key_path.string();
    } else if (key_path.empty()) {
        throw std::runtime_error(fmt::format("listener on port {}: keyfile: missing (certfile {} "
                                             "needs its private key)",
                                             listener.port, certificate_path));
    }
    certificate_path_ = certificate_path;
    context_ = wolfSSL_CTX_new(wolfSSLv23_server_method());
    if (context_ == nullptr) {
        throw std::runtime_error("cannot create a TLS context");
    }
    const auto fail = [&](std::string_view key, const std::string& path, int code) {
        wolfSSL_CTX_free(context_);
        context_ = nullptr;
        throw std::runtime_error(fmt::format("listener on port {}: {} {}: {}", listener.port, key,
                                             path, wolfssl_error(code)));
    };
    int result = wolfSSL_CTX_SetMinVersion(context_, WOLFSSL_TLSV1_2);
    if (result != WOLFSSL_SUCCESS) {
        fail("minimum version", "TLS 1.2", result);
    }
    result = wolfSSL_CTX_use_certificate_chain_file(context_, certificate_path.c_str());
    if (result != WOLFSSL_SUCCESS) {
        fail("certfile", certificate_path, result);
    }
    result = wolfSSL_CTX_use_PrivateKey_file(context_, key_path.c_str(), WOLFSSL_FILETYPE_PEM);
    if (result != WOLFSSL_SUCCESS) {
        fail("keyfile", key_path, result);
    }
    if (wolfSSL_CTX_check_private_key(context_) != WOLFSSL_SUCCESS) {
        fail("keyfile", key_path, WOLFSSL_FAILURE);
    }
    const std::string ciphers =
        preferred_cipher_list(prefers_aes_gcm(has_hardware_aes(), is_wolfssl_aes_accelerated()));
    result = wolfSSL_CTX_set_cipher_list(context_, ciphers.c_str());
    if (result != WOLFSSL_SUCCESS) {
        fail("cipher list", ciphers, result);
    }
    wolfSSL_CTX_set_options(context_, WOLFSSL_OP_CIPHER_SERVER_PREFERENCE);
    // X25519 first: with Debian's wolfSSL (generic big-number math for P-256) a full handshake
    // costs ~0.28 ms of server CPU with an X25519 key share against ~0.72 ms with P-256. A
    // client's key share in another listed group is still taken as it is (no extra round trip).
    std::array<int, 5> groups = {WOLFSSL_ECC_X25519, WOLFSSL_ECC_SECP256R1, WOLFSSL_ECC_SECP384R1,
                                 WOLFSSL_ECC_SECP521R1, WOLFSSL_ECC_X448};
    result = wolfSSL_CTX_set_groups(context_, groups.data(), static_cast<int>(groups.size()));
    if (result != WOLFSSL_SUCCESS) {
        fail("key exchange groups", "X25519:P-256:P-384:P-521:X448", result);
    }
    int verify_mode = WOLFSSL_VERIFY_NONE;
    if (!listener.cafile.empty()) {
        result = wolfSSL_CTX_load_verify_locations(context_, listener.cafile.c_str(), nullptr);
        if (result != WOLFSSL_SUCCESS) {
            fail("cafile", listener.cafile, result);
        }
        verify_mode = WOLFSSL_VERIFY_PEER;
    }
    if (listener.require_certificate) {
        if (listener.cafile.empty()) {
            fail("require_certificate", "true", BAD_FUNC_ARG);
        }
        verify_mode = WOLFSSL_VERIFY_PEER | WOLFSSL_VERIFY_FAIL_IF_NO_PEER_CERT;
    }
    wolfSSL_CTX_set_verify(context_, verify_mode, nullptr);
    // The record take-over needs the traffic secrets to follow a client's KeyUpdate.
    capture_traffic_secrets(context_);
}

tls_context::~tls_context() {
    if (context_ != nullptr) {
        wolfSSL_CTX_free(context_);
    }
}

} // namespace perch::gateway
