// Tests of the TLS context: cipher order from the CPU and library capabilities, the key-exchange
// group a client gets, and what a listener's context negotiates with a real wolfSSL client.
#include <filesystem>
#include <string>

#include <gtest/gtest.h>

// clang-format off
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
// clang-format on

#include "gateway/stream/tls_context.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

namespace perch::gateway {
namespace {

TEST(TlsContext, AesGcmGoesFirstOnlyWhenCpuAndLibraryAccelerateIt) {
    EXPECT_TRUE(prefers_aes_gcm(true, true));
    // x86-64 with AES-NI but a wolfSSL built without it (Debian's package).
    EXPECT_FALSE(prefers_aes_gcm(true, false));
    // Raspberry Pi 4 (Cortex-A72 without the crypto extensions).
    EXPECT_FALSE(prefers_aes_gcm(false, true));
    EXPECT_FALSE(prefers_aes_gcm(false, false));
}

TEST(TlsContext, CipherListOrderFollowsTheChoice) {
    const std::string with_aes = preferred_cipher_list(true);
    const std::string without_aes = preferred_cipher_list(false);
    EXPECT_EQ(with_aes.rfind("TLS13-AES128-GCM-SHA256", 0), 0u) << with_aes;
    EXPECT_EQ(without_aes.rfind("TLS13-CHACHA20-POLY1305-SHA256", 0), 0u) << without_aes;
    for (const std::string& list : {with_aes, without_aes}) {
        // Forward secrecy and AEAD only.
        EXPECT_EQ(list.find("CBC"), std::string::npos) << list;
        EXPECT_EQ(list.find("SHA:"), std::string::npos) << list;
        EXPECT_NE(list.find("ECDHE-ECDSA-CHACHA20-POLY1305"), std::string::npos) << list;
        EXPECT_NE(list.find("ECDHE-ECDSA-AES128-GCM-SHA256"), std::string::npos) << list;
    }
}

/// The suite and group a wolfSSL TLS 1.3 client gets from a listener's context when it offers
/// `client_suites` in that order and a key share in `client_group`.
struct negotiated {
    std::string suite;
    std::string group;
};

negotiated negotiate(const std::string& client_suites, int client_group) {
    const std::filesystem::path directory = std::filesystem::temp_directory_path() /
                                            ("perch-context-test-" + std::to_string(::getpid()));
    listener_config listener;
    listener.kind = listener_kind::mqtt_tls;
    const tls_context server_context(listener, directory);
    WOLFSSL_CTX* client_context = wolfSSL_CTX_new(wolfTLSv1_3_client_method());
    wolfSSL_CTX_load_verify_locations(client_context, server_context.certificate_path().c_str(),
                                      nullptr);
    wolfSSL_CTX_set_cipher_list(client_context, client_suites.c_str());
    int sockets[2];
    ::socketpair(AF_UNIX, SOCK_STREAM, 0, sockets);
    for (const int fd : sockets) {
        ::fcntl(fd, F_SETFL, O_NONBLOCK);
    }
    WOLFSSL* server = wolfSSL_new(server_context.native_handle());
    wolfSSL_set_fd(server, sockets[0]);
    WOLFSSL* client = wolfSSL_new(client_context);
    wolfSSL_set_fd(client, sockets[1]);
    wolfSSL_UseKeyShare(client, static_cast<word16>(client_group));
    bool is_server_done = false;
    bool is_client_done = false;
    for (int turn = 0; turn < 100 && !(is_server_done && is_client_done); ++turn) {
        is_client_done = is_client_done || wolfSSL_connect(client) == WOLFSSL_SUCCESS;
        is_server_done = is_server_done || wolfSSL_accept(server) == WOLFSSL_SUCCESS;
    }
    negotiated result;
    if (is_server_done && is_client_done) {
        result.suite = wolfSSL_get_cipher(server);
        const char* group = wolfSSL_get_curve_name(server);
        result.group = group != nullptr ? group : "";
    }
    wolfSSL_free(client);
    wolfSSL_free(server);
    wolfSSL_CTX_free(client_context);
    ::close(sockets[0]);
    ::close(sockets[1]);
    std::filesystem::remove_all(directory);
    return result;
}

TEST(TlsContext, ServerOrderPicksTheSuite) {
    // The client prefers AES-GCM; the server's order wins.
    const negotiated result =
        negotiate("TLS13-AES128-GCM-SHA256:TLS13-CHACHA20-POLY1305-SHA256", WOLFSSL_ECC_X25519);
    const bool is_aes_first = prefers_aes_gcm(has_hardware_aes(), is_wolfssl_aes_accelerated());
    EXPECT_EQ(result.suite,
              is_aes_first ? "TLS13-AES128-GCM-SHA256" : "TLS13-CHACHA20-POLY1305-SHA256");
}

TEST(TlsContext, X25519AndP256KeySharesAreBothTaken) {
    const std::string suites = "TLS13-AES128-GCM-SHA256:TLS13-CHACHA20-POLY1305-SHA256";
    EXPECT_EQ(negotiate(suites, WOLFSSL_ECC_X25519).group, "X25519");
    EXPECT_EQ(negotiate(suites, WOLFSSL_ECC_SECP256R1).group, "SECP256R1");
}

} // namespace
} // namespace perch::gateway
