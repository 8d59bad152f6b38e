// Tests of the TLS 1.3 record protection taken over from wolfSSL: a real wolfSSL client talks to
// a server session over a socket pair; after the handshake the server's records are sealed and
// opened by tls_record_cipher (key updates and alerts included), and the client must not notice.
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

// clang-format off
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
// clang-format on

#include "gateway/stream/tls_context.hpp"
#include "gateway/stream/tls_record_cipher.hpp"

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
        capture_traffic_secrets(server_context_);
        client_context_ =
            wolfSSL_CTX_new(is_tls13 ? wolfTLSv1_3_client_method() : wolfTLSv1_2_client_method());
        wolfSSL_CTX_load_verify_locations(client_context_, files.certificate_path.c_str(), nullptr);
        capture_traffic_secrets(client_context_);
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
            if (!is_client_done) {
                const tls_secret_capture capture(client_secrets);
                is_client_done = wolfSSL_connect(client) == WOLFSSL_SUCCESS;
            }
            if (!is_server_done) {
                const tls_secret_capture capture(server_secrets);
                is_server_done = wolfSSL_accept(server) == WOLFSSL_SUCCESS;
            }
        }
        is_established = is_server_done && is_client_done;
        // The client takes in what the server sent after its Finished (a session ticket).
        char byte = 0;
        wolfSSL_read(client, &byte, 1);
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

    /// The server's record protection, as taken over.
    std::optional<tls_record_cipher> take_over_server() {
        return tls_record_cipher::take_over(server, server_secrets);
    }
    /// The client's record protection, to send records wolfSSL would not.
    std::optional<tls_record_cipher> take_over_client() {
        return tls_record_cipher::take_over(client, client_secrets);
    }

    /// Everything the server sent to the client socket so far.
    std::vector<std::uint8_t> client_receives() { return receive_all(sockets_[1]); }

    /// Sends raw bytes from the client socket to the server.
    void client_sends(const std::vector<std::uint8_t>& bytes) {
        ASSERT_EQ(::send(sockets_[1], bytes.data(), bytes.size(), 0),
                  static_cast<ssize_t>(bytes.size()));
    }

    /// Everything the client sent to the server socket so far.
    std::vector<std::uint8_t> server_receives() { return receive_all(sockets_[0]); }

    std::vector<std::uint8_t> receive_all(int socket) {
        std::vector<std::uint8_t> bytes(64 * 1024);
        std::size_t size = 0;
        while (size < bytes.size()) {
            const ssize_t count = ::recv(socket, bytes.data() + size, bytes.size() - size, 0);
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
    tls_traffic_secrets server_secrets;
    tls_traffic_secrets client_secrets;
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
    auto cipher = pair.take_over_server();
    ASSERT_TRUE(cipher.has_value()) << suite;

    const std::string request = "CONNECT please";
    ASSERT_EQ(wolfSSL_write(pair.client, request.data(), static_cast<int>(request.size())),
              static_cast<int>(request.size()));
    const std::string second = "and a PINGREQ";
    ASSERT_EQ(wolfSSL_write(pair.client, second.data(), static_cast<int>(second.size())),
              static_cast<int>(second.size()));
    auto records = split_records(pair.server_receives());
    ASSERT_EQ(records.size(), 2u);
    tls_alert alert_to_send = tls_alert::close_notify;
    auto first = cipher->open(records[0], alert_to_send);
    ASSERT_TRUE(first.has_value());
    EXPECT_EQ(first->content_type, tls_content_type::application_data);
    EXPECT_EQ(as_text(first->plaintext), request);
    auto next = cipher->open(records[1], alert_to_send);
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
    auto alert = cipher->open(records[0], alert_to_send);
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

TEST(TlsRecordCipher, RefusesTamperedReorderedAndMalformedRecordsWithTheirAlerts) {
    session_pair pair("TLS13-AES128-GCM-SHA256", true);
    ASSERT_TRUE(pair.is_established);
    auto cipher = pair.take_over_server();
    ASSERT_TRUE(cipher.has_value());
    const std::string text = "payload";
    for (int index = 0; index < 2; ++index) {
        ASSERT_GT(wolfSSL_write(pair.client, text.data(), static_cast<int>(text.size())), 0);
    }
    auto records = split_records(pair.server_receives());
    ASSERT_EQ(records.size(), 2u);
    tls_alert alert = tls_alert::close_notify;
    auto tampered = records[0];
    tampered[7] ^= 0x01;
    EXPECT_FALSE(cipher->open(tampered, alert).has_value());
    EXPECT_EQ(alert, tls_alert::bad_record_mac);

    auto second_alone = pair.take_over_server();
    ASSERT_TRUE(second_alone.has_value());
    // Out of order: the second record's nonce does not match the first sequence number.
    EXPECT_FALSE(second_alone->open(records[1], alert).has_value());
    EXPECT_EQ(alert, tls_alert::bad_record_mac);

    auto fresh = pair.take_over_server();
    ASSERT_TRUE(fresh.has_value());
    std::vector<std::uint8_t> truncated(records[0].begin(), records[0].end() - 1);
    EXPECT_FALSE(fresh->open(truncated, alert).has_value());
    EXPECT_EQ(alert, tls_alert::decode_error);
    std::vector<std::uint8_t> wrong_type = records[0];
    wrong_type[0] = static_cast<std::uint8_t>(tls_content_type::handshake);
    EXPECT_FALSE(fresh->open(wrong_type, alert).has_value());
    EXPECT_EQ(alert, tls_alert::unexpected_message);
    std::vector<std::uint8_t> oversized = records[0];
    oversized[3] = 0x41; // 2^14 + 256 + 1 bytes announced
    oversized[4] = 0x01;
    EXPECT_FALSE(fresh->open(oversized, alert).has_value());
    EXPECT_EQ(alert, tls_alert::record_overflow);
    EXPECT_TRUE(fresh->open(records[0], alert).has_value());
}

/// Opens one record the client sealed with `seal`; returns the alert, or nullopt if accepted.
template <typename Seal> std::optional<tls_alert> server_verdict(Seal seal) {
    session_pair pair("TLS13-CHACHA20-POLY1305-SHA256", true);
    EXPECT_TRUE(pair.is_established);
    auto server = pair.take_over_server();
    auto client = pair.take_over_client();
    EXPECT_TRUE(server.has_value() && client.has_value());
    if (!server || !client) {
        return tls_alert::internal_error;
    }
    std::vector<std::uint8_t> record;
    EXPECT_TRUE(seal(*client, record));
    tls_alert alert = tls_alert::close_notify;
    if (server->open(record, alert).has_value()) {
        return std::nullopt;
    }
    return alert;
}

TEST(TlsRecordCipher, LimitsTheInnerPlaintextTo2To14PlusOneBytes) {
    const std::vector<std::uint8_t> full(tls_record_cipher::max_plaintext_bytes, 'x');
    // Content, type byte and padding may make up 2^14 + 1 bytes, not one more.
    EXPECT_EQ(server_verdict([&](tls_record_cipher& client, std::vector<std::uint8_t>& out) {
                  return client.seal_padded(tls_content_type::application_data, full, 0, out);
              }),
              std::nullopt);
    EXPECT_EQ(server_verdict([&](tls_record_cipher& client, std::vector<std::uint8_t>& out) {
                  return client.seal_padded(tls_content_type::application_data,
                                            std::span(full).first(16000), 384, out);
              }),
              std::nullopt);
    EXPECT_EQ(server_verdict([&](tls_record_cipher& client, std::vector<std::uint8_t>& out) {
                  return client.seal_padded(tls_content_type::application_data, full, 1, out);
              }),
              tls_alert::record_overflow);
    EXPECT_EQ(server_verdict([&](tls_record_cipher& client, std::vector<std::uint8_t>& out) {
                  return client.seal_padded(tls_content_type::application_data, {}, 400, out);
              }),
              std::nullopt)
        << "padding-only application data is an empty record";
}

TEST(TlsRecordCipher, RefusesUnknownAndMissingInnerContentTypes) {
    const std::vector<std::uint8_t> text = {'h', 'i'};
    EXPECT_EQ(server_verdict([&](tls_record_cipher& client, std::vector<std::uint8_t>& out) {
                  return client.seal_padded(static_cast<tls_content_type>(99), text, 0, out);
              }),
              tls_alert::unexpected_message);
    EXPECT_EQ(server_verdict([&](tls_record_cipher& client, std::vector<std::uint8_t>& out) {
                  return client.seal_padded(tls_content_type::change_cipher_spec, text, 0, out);
              }),
              tls_alert::unexpected_message);
    // All zeros: no content type at all.
    EXPECT_EQ(server_verdict([&](tls_record_cipher& client, std::vector<std::uint8_t>& out) {
                  return client.seal_padded(static_cast<tls_content_type>(0), {}, 20, out);
              }),
              tls_alert::unexpected_message);
}

TEST(TlsRecordCipher, RefusesPostHandshakeMessagesOtherThanKeyUpdate) {
    session_pair pair("TLS13-AES128-GCM-SHA256", true);
    ASSERT_TRUE(pair.is_established);
    auto cipher = pair.take_over_server();
    ASSERT_TRUE(cipher.has_value());
    std::vector<std::uint8_t> out;
    tls_alert alert = tls_alert::close_notify;
    const std::vector<std::uint8_t> client_hello = {1, 0, 0, 1, 0};
    EXPECT_FALSE(cipher->handle_handshake(client_hello, out, alert));
    EXPECT_EQ(alert, tls_alert::unexpected_message);
    const std::vector<std::uint8_t> long_key_update = {24, 0, 0, 2, 0, 0};
    EXPECT_FALSE(cipher->handle_handshake(long_key_update, out, alert));
    EXPECT_EQ(alert, tls_alert::decode_error);
    const std::vector<std::uint8_t> key_update_and_more = {24, 0, 0, 1, 0, 24, 0, 0, 1, 0};
    EXPECT_FALSE(cipher->handle_handshake(key_update_and_more, out, alert));
    EXPECT_EQ(alert, tls_alert::decode_error);
    const std::vector<std::uint8_t> bad_request = {24, 0, 0, 1, 2};
    EXPECT_FALSE(cipher->handle_handshake(bad_request, out, alert));
    EXPECT_EQ(alert, tls_alert::illegal_parameter);
    EXPECT_TRUE(out.empty());
}

/// A client's KeyUpdate asking for ours: both directions move to the next keys and wolfSSL's
/// client follows.
void check_key_update(const std::string& suite) {
    session_pair pair(suite, true);
    ASSERT_TRUE(pair.is_established) << suite;
    auto cipher = pair.take_over_server();
    ASSERT_TRUE(cipher.has_value()) << suite;
    // wolfSSL's client asks for the server's update with its own.
    ASSERT_EQ(wolfSSL_update_keys(pair.client), WOLFSSL_SUCCESS);
    const std::string request = "after the update";
    ASSERT_EQ(wolfSSL_write(pair.client, request.data(), static_cast<int>(request.size())),
              static_cast<int>(request.size()));
    auto records = split_records(pair.server_receives());
    ASSERT_EQ(records.size(), 2u);
    tls_alert alert = tls_alert::close_notify;
    auto key_update = cipher->open(records[0], alert);
    ASSERT_TRUE(key_update.has_value());
    ASSERT_EQ(key_update->content_type, tls_content_type::handshake);
    std::vector<std::uint8_t> out;
    ASSERT_TRUE(cipher->handle_handshake(key_update->plaintext, out, alert));
    EXPECT_EQ(split_records(out).size(), 1u) << "our KeyUpdate answers update_requested";
    auto data = cipher->open(records[1], alert);
    ASSERT_TRUE(data.has_value()) << "the client's next key";
    EXPECT_EQ(as_text(data->plaintext), request);

    const std::string answer = "under the server's next key";
    ASSERT_TRUE(cipher->seal(tls_content_type::application_data, as_bytes(answer), out));
    pair.server_sends(out);
    EXPECT_EQ(pair.client_reads(answer.size()), answer);
}

TEST(TlsRecordCipher, FollowsKeyUpdatesWithSha256) {
    check_key_update("TLS13-CHACHA20-POLY1305-SHA256");
}

TEST(TlsRecordCipher, FollowsKeyUpdatesWithSha384) {
    check_key_update("TLS13-AES256-GCM-SHA384");
}

TEST(TlsRecordCipher, KeyUpdateNotRequestedIsNotAnswered) {
    session_pair pair("TLS13-AES128-GCM-SHA256", true);
    ASSERT_TRUE(pair.is_established);
    auto server = pair.take_over_server();
    auto client = pair.take_over_client();
    ASSERT_TRUE(server.has_value() && client.has_value());
    std::vector<std::uint8_t> out;
    tls_alert alert = tls_alert::close_notify;
    const std::vector<std::uint8_t> not_requested = {24, 0, 0, 1, 0};
    EXPECT_TRUE(server->handle_handshake(not_requested, out, alert));
    EXPECT_TRUE(out.empty());
    // The server's sending key is unchanged; the client's moved on.
    const std::string text = "same key";
    ASSERT_TRUE(server->seal(tls_content_type::application_data, as_bytes(text), out));
    pair.server_sends(out);
    EXPECT_EQ(pair.client_reads(text.size()), text);
}

TEST(TlsRecordCipher, UpdatesItsOwnKeysBeforeTheThreshold) {
    session_pair pair("TLS13-AES128-GCM-SHA256", true);
    ASSERT_TRUE(pair.is_established);
    auto cipher = pair.take_over_server();
    ASSERT_TRUE(cipher.has_value());
    cipher->set_key_update_records(3);
    std::vector<std::uint8_t> out;
    std::string expected;
    for (int index = 0; index < 10; ++index) {
        const std::string text = "message " + std::to_string(index) + ";";
        expected += text;
        ASSERT_TRUE(cipher->seal(tls_content_type::application_data, as_bytes(text), out));
    }
    // Three records per key, the KeyUpdate included: a KeyUpdate after every two messages, and
    // one more when the first key already sealed the session ticket.
    const std::size_t records = split_records(out).size();
    EXPECT_GE(records, 14u);
    EXPECT_LE(records, 15u);
    pair.server_sends(out);
    EXPECT_EQ(pair.client_reads(expected.size()), expected);
}

TEST(TlsRecordCipher, SealsAlerts) {
    session_pair pair("TLS13-AES128-GCM-SHA256", true);
    ASSERT_TRUE(pair.is_established);
    auto server = pair.take_over_server();
    auto client = pair.take_over_client();
    ASSERT_TRUE(server.has_value() && client.has_value());
    std::vector<std::uint8_t> out;
    ASSERT_TRUE(server->seal_alert(tls_alert::bad_record_mac, out));
    tls_alert alert = tls_alert::close_notify;
    auto opened = client->open(out, alert);
    ASSERT_TRUE(opened.has_value());
    EXPECT_EQ(opened->content_type, tls_content_type::alert);
    ASSERT_EQ(opened->plaintext.size(), 2u);
    EXPECT_EQ(opened->plaintext[0], 2) << "fatal";
    EXPECT_EQ(opened->plaintext[1], 20) << "bad_record_mac";
}

TEST(TlsRecordCipher, RefusesSecretsThatDoNotYieldTheKeys) {
    session_pair pair("TLS13-AES128-GCM-SHA256", true);
    ASSERT_TRUE(pair.is_established);
    tls_traffic_secrets wrong = pair.server_secrets;
    wrong.client[0] ^= 0x01;
    EXPECT_FALSE(tls_record_cipher::take_over(pair.server, wrong).has_value());
    EXPECT_FALSE(tls_record_cipher::take_over(pair.server, tls_traffic_secrets{}).has_value());
}

TEST(TlsRecordCipher, LeavesTls12SessionsToWolfssl) {
    session_pair pair("ECDHE-ECDSA-AES128-GCM-SHA256", false);
    ASSERT_TRUE(pair.is_established);
    EXPECT_FALSE(pair.take_over_server().has_value());
}

TEST(TlsRecordCipher, ReadsTheBodyLengthFromTheHeader) {
    const std::array<std::uint8_t, 5> header = {23, 3, 3, 0x40, 0x11};
    EXPECT_EQ(tls_record_cipher::body_length(header), 0x4011u);
}

} // namespace
} // namespace perch::gateway
