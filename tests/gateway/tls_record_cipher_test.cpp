// Tests of the TLS 1.3 record protection taken over from wolfSSL: a real wolfSSL client talks to
// a server session over a socket pair; after the handshake the server's records are sealed and
// opened by tls_record_cipher, and the client must not notice.
#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>

// clang-format off
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
// clang-format on

#include "gateway/tls_context.hpp"
#include "gateway/tls_record_cipher.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

namespace perch::gateway {
namespace {

/// A server and a client wolfSSL session joined by a non-blocking socket pair.
class session_pair {
public:
    /// Runs the handshake; `suite` is the only cipher suite the server accepts and `is_tls13`
    /// chooses the client's version.
    session_pair(const std::string& suite, bool is_tls13) {
        initialize_tls_library();
        directory_ = std::filesystem::temp_directory_path() /
                     ("perch-record-test-" + std::to_string(::getpid()));
        const certificate_files files = ensure_self_signed_certificate(directory_);
        server_context_ = wolfSSL_CTX_new(wolfSSLv23_server_method());
        wolfSSL_CTX_use_certificate_chain_file(server_context_, files.certificate_path.c_str());
        wolfSSL_CTX_use_PrivateKey_file(server_context_, files.key_path.c_str(),
                                        WOLFSSL_FILETYPE_PEM);
        wolfSSL_CTX_set_cipher_list(server_context_, suite.c_str());
        client_context_ =
            wolfSSL_CTX_new(is_tls13 ? wolfTLSv1_3_client_method() : wolfTLSv1_2_client_method());
        wolfSSL_CTX_load_verify_locations(client_context_, files.certificate_path.c_str(), nullptr);
        ::socketpair(AF_UNIX, SOCK_STREAM, 0, sockets_);
        for (const int fd : sockets_) {
            ::fcntl(fd, F_SETFL, O_NONBLOCK);
        }
        server = wolfSSL_new(server_context_);
        wolfSSL_set_fd(server, sockets_[0]);
        wolfSSL_set_using_nonblock(server, 1);
        client = wolfSSL_new(client_context_);
        wolfSSL_set_fd(client, sockets_[1]);
        wolfSSL_set_using_nonblock(client, 1);
        bool is_server_done = false;
        bool is_client_done = false;
        for (int turn = 0; turn < 100 && !(is_server_done && is_client_done); ++turn) {
            is_client_done = is_client_done || wolfSSL_connect(client) == WOLFSSL_SUCCESS;
            is_server_done = is_server_done || wolfSSL_accept(server) == WOLFSSL_SUCCESS;
        }
        is_established = is_server_done && is_client_done;
    }
    ~session_pair() {
        wolfSSL_free(client);
        wolfSSL_free(server);
        wolfSSL_CTX_free(client_context_);
        wolfSSL_CTX_free(server_context_);
        ::close(sockets_[0]);
        ::close(sockets_[1]);
        std::filesystem::remove_all(directory_);
    }
    session_pair(const session_pair&) = delete;
    session_pair& operator=(const session_pair&) = delete;

    /// Everything the client sent to the server socket so far.
    std::vector<std::uint8_t> server_receives() {
        std::vector<std::uint8_t> bytes(64 * 1024);
        std::size_t size = 0;
        while (size < bytes.size()) {
            const ssize_t count = ::recv(sockets_[0], bytes.data() + size, bytes.size() - size, 0);
            if (count <= 0) {
                break;
            }
            size += static_cast<std::size_t>(count);
        }
        bytes.resize(size);
        return bytes;
    }

    /// Sends raw bytes from the server socket to the client.
    void server_sends(const std::vector<std::uint8_t>& bytes) {
        ASSERT_EQ(::send(sockets_[0], bytes.data(), bytes.size(), 0),
                  static_cast<ssize_t>(bytes.size()));
    }

    /// Reads `size` decrypted bytes on the client.
    std::string client_reads(std::size_t size) {
        std::string text;
        for (int turn = 0; turn < 1000 && text.size() < size; ++turn) {
            char chunk[4096];
            const int count = wolfSSL_read(client, chunk, sizeof(chunk));
            if (count > 0) {
                text.append(chunk, static_cast<std::size_t>(count));
            }
        }
        return text;
    }

    WOLFSSL* server = nullptr;
    WOLFSSL* client = nullptr;
    bool is_established = false;

private:
    std::filesystem::path directory_;
    WOLFSSL_CTX* server_context_ = nullptr;
    WOLFSSL_CTX* client_context_ = nullptr;
    int sockets_[2] = {-1, -1};
};

/// Splits `bytes` into whole records.
std::vector<std::vector<std::uint8_t>> split_records(const std::vector<std::uint8_t>& bytes) {
    std::vector<std::vector<std::uint8_t>> records;
    std::size_t offset = 0;
    while (offset + tls_record_cipher::header_bytes <= bytes.size()) {
        const std::size_t body = tls_record_cipher::body_length(
            std::span<const std::uint8_t, tls_record_cipher::header_bytes>(bytes.data() + offset,
                                                                           5));
        const std::size_t end = offset + tls_record_cipher::header_bytes + body;
        if (end > bytes.size()) {
            break;
        }
        records.emplace_back(bytes.begin() + static_cast<std::ptrdiff_t>(offset),
                             bytes.begin() + static_cast<std::ptrdiff_t>(end));
        offset = end;
    }
    return records;
}

std::span<const std::uint8_t> as_bytes(const std::string& text) {
    return {reinterpret_cast<const std::uint8_t*>(text.data()), text.size()};
}

std::string as_text(std::span<const std::uint8_t> bytes) {
    return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

/// Both directions work after the take-over, for each TLS 1.3 AEAD suite.
void check_round_trip(const std::string& suite) {
    session_pair pair(suite, true);
    ASSERT_TRUE(pair.is_established) << suite;
    auto cipher = tls_record_cipher::take_over(pair.server);
    ASSERT_TRUE(cipher.has_value()) << suite;

    const std::string request = "CONNECT please";
    ASSERT_EQ(wolfSSL_write(pair.client, request.data(), static_cast<int>(request.size())),
              static_cast<int>(request.size()));
    const std::string second = "and a PINGREQ";
    ASSERT_EQ(wolfSSL_write(pair.client, second.data(), static_cast<int>(second.size())),
              static_cast<int>(second.size()));
    auto records = split_records(pair.server_receives());
    ASSERT_EQ(records.size(), 2u);
    auto first = cipher->open(records[0]);
    ASSERT_TRUE(first.has_value());
    EXPECT_EQ(first->content_type, tls_content_type::application_data);
    EXPECT_EQ(as_text(first->plaintext), request);
    auto next = cipher->open(records[1]);
    ASSERT_TRUE(next.has_value());
    EXPECT_EQ(as_text(next->plaintext), second);

    // 40,000 bytes need three records; the client sees one stream.
    std::string answer(40000, 'a');
    for (std::size_t index = 0; index < answer.size(); ++index) {
        answer[index] = static_cast<char>('a' + index % 26);
    }
    std::vector<std::uint8_t> sealed;
    ASSERT_TRUE(cipher->seal(tls_content_type::application_data, as_bytes(answer), sealed));
    EXPECT_EQ(split_records(sealed).size(), 3u);
    pair.server_sends(sealed);
    EXPECT_EQ(pair.client_reads(answer.size()), answer);

    // The client's close_notify arrives as an alert.
    wolfSSL_shutdown(pair.client);
    records = split_records(pair.server_receives());
    ASSERT_EQ(records.size(), 1u);
    auto alert = cipher->open(records[0]);
    ASSERT_TRUE(alert.has_value());
    EXPECT_EQ(alert->content_type, tls_content_type::alert);
    ASSERT_EQ(alert->plaintext.size(), 2u);
    EXPECT_EQ(alert->plaintext[1], 0) << "close_notify";
}

TEST(TlsRecordCipher, TakesOverAes128Gcm) {
    check_round_trip("TLS13-AES128-GCM-SHA256");
}

TEST(TlsRecordCipher, TakesOverAes256Gcm) {
    check_round_trip("TLS13-AES256-GCM-SHA384");
}

TEST(TlsRecordCipher, TakesOverChaCha20Poly1305) {
    check_round_trip("TLS13-CHACHA20-POLY1305-SHA256");
}

TEST(TlsRecordCipher, RefusesTamperedReorderedAndMalformedRecords) {
    session_pair pair("TLS13-AES128-GCM-SHA256", true);
    ASSERT_TRUE(pair.is_established);
    auto cipher = tls_record_cipher::take_over(pair.server);
    ASSERT_TRUE(cipher.has_value());
    const std::string text = "payload";
    for (int index = 0; index < 2; ++index) {
        ASSERT_GT(wolfSSL_write(pair.client, text.data(), static_cast<int>(text.size())), 0);
    }
    auto records = split_records(pair.server_receives());
    ASSERT_EQ(records.size(), 2u);
    auto tampered = records[0];
    tampered[7] ^= 0x01;
    EXPECT_FALSE(cipher->open(tampered).has_value());

    auto second_alone = tls_record_cipher::take_over(pair.server);
    ASSERT_TRUE(second_alone.has_value());
    // Out of order: the second record's nonce does not match the first sequence number.
    EXPECT_FALSE(second_alone->open(records[1]).has_value());

    auto fresh = tls_record_cipher::take_over(pair.server);
    ASSERT_TRUE(fresh.has_value());
    std::vector<std::uint8_t> truncated(records[0].begin(), records[0].end() - 1);
    EXPECT_FALSE(fresh->open(truncated).has_value());
    std::vector<std::uint8_t> wrong_type = records[0];
    wrong_type[0] = static_cast<std::uint8_t>(tls_content_type::handshake);
    EXPECT_FALSE(fresh->open(wrong_type).has_value());
    EXPECT_TRUE(fresh->open(records[0]).has_value());
}

TEST(TlsRecordCipher, LeavesTls12SessionsToWolfssl) {
    session_pair pair("ECDHE-ECDSA-AES128-GCM-SHA256", false);
    ASSERT_TRUE(pair.is_established);
    EXPECT_FALSE(tls_record_cipher::take_over(pair.server).has_value());
}

TEST(TlsRecordCipher, ReadsTheBodyLengthFromTheHeader) {
    const std::array<std::uint8_t, 5> header = {23, 3, 3, 0x40, 0x11};
    EXPECT_EQ(tls_record_cipher::body_length(header), 0x4011u);
}

} // namespace
} // namespace perch::gateway
