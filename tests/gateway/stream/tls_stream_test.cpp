// Tests of tls_stream after the record take-over, on a loopback TCP connection with a real wolfSSL
// client: key updates in both directions, the alerts sent before closing on a bad record, and the
// read budget that ends a read on records that decrypt to nothing.
#include <chrono>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <gtest/gtest.h>

// clang-format off
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
// clang-format on

#include "gateway/common/config.hpp"
#include "gateway/stream/tls_context.hpp"
#include "gateway/stream/tls_record_cipher.hpp"
#include "gateway/stream/tls_stream.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace perch::gateway {
namespace {

namespace asio = boost::asio;

/// A tls_stream on an accepted loopback socket and a wolfSSL client on the other end, with the
/// handshake done and the server's records taken over.
class stream_pair {
public:
    stream_pair() {
        directory_ = std::filesystem::temp_directory_path() /
                     ("perch-stream-test-" + std::to_string(::getpid()));
        listener_config listener;
        listener.kind = listener_kind::mqtt_tls;
        context_.emplace(listener, directory_);
        client_context_ = wolfSSL_CTX_new(wolfTLSv1_3_client_method());
        wolfSSL_CTX_load_verify_locations(client_context_, context_->certificate_path().c_str(),
                                          nullptr);
        capture_traffic_secrets(client_context_);

        asio::ip::tcp::acceptor acceptor(
            io_, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
        client_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        address.sin_port = htons(acceptor.local_endpoint().port());
        ::connect(client_fd_, reinterpret_cast<const sockaddr*>(&address), sizeof(address));
        // Both ends run on this thread: the client must never block.
        ::fcntl(client_fd_, F_SETFL, O_NONBLOCK);
        stream.emplace(acceptor.accept(), *context_);

        client = wolfSSL_new(client_context_);
        wolfSSL_set_fd(client, client_fd_);
        wolfSSL_set_using_nonblock(client, 1);
        bool is_client_done = false;
        std::array<std::uint8_t, 256> buffer{};
        for (int turn = 0; turn < 500 && !(is_client_done && stream->is_taken_over()); ++turn) {
            if (!is_client_done) {
                const tls_secret_capture capture(client_secrets);
                is_client_done = wolfSSL_connect(client) == WOLFSSL_SUCCESS;
            }
            boost::system::error_code error;
            stream->read_some(buffer, error);
            pollfd waiting{client_fd_, POLLIN, 0};
            ::poll(&waiting, 1, 10);
        }
        is_established = is_client_done && stream->is_taken_over();
        // The client takes in what the server sent after its Finished (a session ticket), so
        // that later records on the client socket are the ones a test caused.
        pollfd waiting{client_fd_, POLLIN, 0};
        ::poll(&waiting, 1, 100);
        char byte = 0;
        wolfSSL_read(client, &byte, 1);
    }
    ~stream_pair() {
        stream.reset();
        wolfSSL_free(client);
        wolfSSL_CTX_free(client_context_);
        ::close(client_fd_);
        std::filesystem::remove_all(directory_);
    }
    stream_pair(const stream_pair&) = delete;
    stream_pair& operator=(const stream_pair&) = delete;

    /// The client's record protection, to send records wolfSSL would not and read the server's
    /// raw records.
    std::optional<tls_record_cipher> take_over_client() {
        auto cipher = tls_record_cipher::take_over(client, client_secrets);
        if (cipher) {
            for (auto& record : client_records()) {
                tls_alert alert = tls_alert::close_notify;
                EXPECT_TRUE(cipher->open(record, alert).has_value());
            }
        }
        return cipher;
    }

    /// Sends raw bytes from the client.
    void client_sends(const std::vector<std::uint8_t>& bytes) {
        ASSERT_EQ(::send(client_fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL),
                  static_cast<ssize_t>(bytes.size()));
    }

    /// The whole records that reached the client socket within a short wait, taken from it.
    std::vector<std::vector<std::uint8_t>> client_records() {
        std::vector<std::uint8_t> bytes;
        for (int turn = 0; turn < 20; ++turn) {
            pollfd waiting{client_fd_, POLLIN, 0};
            if (::poll(&waiting, 1, 20) <= 0) {
                break;
            }
            std::array<std::uint8_t, 4096> chunk{};
            const ssize_t count = ::recv(client_fd_, chunk.data(), chunk.size(), MSG_DONTWAIT);
            if (count <= 0) {
                break;
            }
            bytes.insert(bytes.end(), chunk.begin(), chunk.begin() + count);
        }
        return split(bytes);
    }

    /// The number of whole records waiting in the client socket, left there for wolfSSL.
    std::size_t client_records_waiting() {
        pollfd waiting{client_fd_, POLLIN, 0};
        ::poll(&waiting, 1, 200);
        std::vector<std::uint8_t> bytes(64 * 1024);
        const ssize_t count =
            ::recv(client_fd_, bytes.data(), bytes.size(), MSG_PEEK | MSG_DONTWAIT);
        bytes.resize(count > 0 ? static_cast<std::size_t>(count) : 0);
        return split(bytes).size();
    }

    /// Reads from the server stream until `size` bytes, a failure or the turns run out; counts
    /// the read_yield answers in `yields`.
    std::string server_reads(std::size_t size, boost::system::error_code& error, int& yields) {
        std::string text;
        std::array<std::uint8_t, 4096> buffer{};
        for (int turn = 0; turn < 500 && text.size() < size; ++turn) {
            error.clear();
            const std::size_t count = stream->read_some(buffer, error);
            text.append(reinterpret_cast<const char*>(buffer.data()), count);
            if (error == transport::read_yield) {
                ++yields;
            } else if (error == asio::error::would_block) {
                // The server socket belongs to the stream: a short pause stands in for readiness.
                ::poll(nullptr, 0, 5);
            } else if (error) {
                break;
            }
        }
        return text;
    }

    /// Writes `text` through the server stream and runs the loop until it is sent.
    void server_writes(const std::string& text) {
        const asio::const_buffer buffer(text.data(), text.size());
        bool is_done = false;
        stream->async_write(std::span(&buffer, 1),
                            [&](const boost::system::error_code& error, std::size_t) {
                                EXPECT_FALSE(error) << error.message();
                                is_done = true;
                            });
        io_.restart();
        for (int turn = 0; turn < 1000 && !is_done; ++turn) {
            io_.run_for(std::chrono::milliseconds(10));
        }
        EXPECT_TRUE(is_done);
    }

    /// Reads `size` decrypted bytes on the wolfSSL client.
    std::string client_reads(std::size_t size) {
        std::string text;
        for (int turn = 0; turn < 500 && text.size() < size; ++turn) {
            char chunk[4096];
            const int count = wolfSSL_read(client, chunk, sizeof(chunk));
            if (count > 0) {
                text.append(chunk, static_cast<std::size_t>(count));
            } else {
                pollfd waiting{client_fd_, POLLIN, 0};
                ::poll(&waiting, 1, 10);
            }
        }
        return text;
    }

    std::optional<tls_stream> stream;
    WOLFSSL* client = nullptr;
    tls_traffic_secrets client_secrets;
    bool is_established = false;

private:
    static std::vector<std::vector<std::uint8_t>> split(const std::vector<std::uint8_t>& bytes) {
        std::vector<std::vector<std::uint8_t>> records;
        std::size_t offset = 0;
        while (offset + tls_record_cipher::header_bytes <= bytes.size()) {
            const std::size_t end = offset + tls_record_cipher::header_bytes +
                                    tls_record_cipher::body_length(
                                        std::span<const std::uint8_t, 5>(bytes.data() + offset, 5));
            if (end > bytes.size()) {
                break;
            }
            records.emplace_back(bytes.begin() + static_cast<std::ptrdiff_t>(offset),
                                 bytes.begin() + static_cast<std::ptrdiff_t>(end));
            offset = end;
        }
        return records;
    }

    asio::io_context io_;
    std::filesystem::path directory_;
    std::optional<tls_context> context_;
    WOLFSSL_CTX* client_context_ = nullptr;
    int client_fd_ = -1;
};

/// The alert the client finds in what the server sent, or nullopt.
std::optional<int> alert_received(stream_pair& pair, tls_record_cipher& client) {
    for (auto& record : pair.client_records()) {
        tls_alert ignored = tls_alert::close_notify;
        auto opened = client.open(record, ignored);
        if (opened && opened->content_type == tls_content_type::alert &&
            opened->plaintext.size() == 2) {
            EXPECT_EQ(opened->plaintext[0], 2) << "fatal";
            return opened->plaintext[1];
        }
    }
    return std::nullopt;
}

TEST(TlsStream, FollowsAClientKeyUpdateAndAnswersIt) {
    stream_pair pair;
    ASSERT_TRUE(pair.is_established);
    ASSERT_EQ(wolfSSL_update_keys(pair.client), WOLFSSL_SUCCESS);
    const std::string request = "after the key update";
    ASSERT_EQ(wolfSSL_write(pair.client, request.data(), static_cast<int>(request.size())),
              static_cast<int>(request.size()));
    boost::system::error_code error;
    int yields = 0;
    EXPECT_EQ(pair.server_reads(request.size(), error, yields), request) << error.message();
    // Our KeyUpdate is already on its way, before any data.
    EXPECT_EQ(pair.client_records_waiting(), 1u);
    const std::string answer = "under the next server key";
    pair.server_writes(answer);
    EXPECT_EQ(pair.client_reads(answer.size()), answer);
    // And once more: the client's second update derives from the first.
    ASSERT_EQ(wolfSSL_update_keys(pair.client), WOLFSSL_SUCCESS);
    ASSERT_EQ(wolfSSL_write(pair.client, request.data(), static_cast<int>(request.size())),
              static_cast<int>(request.size()));
    EXPECT_EQ(pair.server_reads(request.size(), error, yields), request) << error.message();
    pair.server_writes(answer);
    EXPECT_EQ(pair.client_reads(answer.size()), answer);
}

TEST(TlsStream, SendsBadRecordMacOnATamperedRecord) {
    stream_pair pair;
    ASSERT_TRUE(pair.is_established);
    auto client = pair.take_over_client();
    ASSERT_TRUE(client.has_value());
    const std::vector<std::uint8_t> text = {'h', 'i'};
    std::vector<std::uint8_t> record;
    ASSERT_TRUE(client->seal(tls_content_type::application_data, text, record));
    record[6] ^= 0x01;
    pair.client_sends(record);
    boost::system::error_code error;
    int yields = 0;
    pair.server_reads(1, error, yields);
    EXPECT_TRUE(error);
    EXPECT_NE(error, asio::error::would_block);
    EXPECT_EQ(alert_received(pair, *client), 20) << "bad_record_mac";
    pair.stream->close();
    EXPECT_TRUE(pair.client_records().empty()) << "no close_notify after a fatal alert";
}

TEST(TlsStream, SendsRecordOverflowOnAnOversizedRecord) {
    stream_pair pair;
    ASSERT_TRUE(pair.is_established);
    auto client = pair.take_over_client();
    ASSERT_TRUE(client.has_value());
    // 2^14 + 256 + 1 bytes announced.
    pair.client_sends({23, 3, 3, 0x41, 0x01});
    boost::system::error_code error;
    int yields = 0;
    pair.server_reads(1, error, yields);
    EXPECT_TRUE(error);
    EXPECT_EQ(alert_received(pair, *client), 22) << "record_overflow";
}

TEST(TlsStream, SendsUnexpectedMessageOnAPostHandshakeMessageOtherThanKeyUpdate) {
    stream_pair pair;
    ASSERT_TRUE(pair.is_established);
    auto client = pair.take_over_client();
    ASSERT_TRUE(client.has_value());
    const std::vector<std::uint8_t> certificate_request = {13, 0, 0, 1, 0};
    std::vector<std::uint8_t> record;
    ASSERT_TRUE(client->seal(tls_content_type::handshake, certificate_request, record));
    pair.client_sends(record);
    boost::system::error_code error;
    int yields = 0;
    pair.server_reads(1, error, yields);
    EXPECT_TRUE(error);
    EXPECT_EQ(alert_received(pair, *client), 10) << "unexpected_message";
}

TEST(TlsStream, EmptyRecordsCountAgainstTheReadBudget) {
    stream_pair pair;
    ASSERT_TRUE(pair.is_established);
    auto client = pair.take_over_client();
    ASSERT_TRUE(client.has_value());
    std::vector<std::uint8_t> records;
    for (int index = 0; index < 100; ++index) {
        // Empty application data, and padding only: both decrypt to nothing.
        ASSERT_TRUE(client->seal_padded(tls_content_type::application_data, {},
                                        index % 2 == 0 ? 0 : 10, records));
    }
    const std::vector<std::uint8_t> text = {'x'};
    ASSERT_TRUE(client->seal(tls_content_type::application_data, text, records));
    pair.client_sends(records);
    // About 25 empty records per read.
    pair.stream->set_read_budget_bytes(600);
    boost::system::error_code error;
    int yields = 0;
    EXPECT_EQ(pair.server_reads(1, error, yields), "x") << error.message();
    EXPECT_GE(yields, 3);
    EXPECT_LE(yields, 5);
}

} // namespace
} // namespace perch::gateway
