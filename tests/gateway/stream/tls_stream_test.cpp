// Tests of tls_stream as a transport on a loopback TCP connection with a real wolfSSL client: the
// handshake (TLS 1.3, taken over, and TLS 1.2, left to wolfSSL), bytes both ways, close_notify,
// garbage instead of a ClientHello, key updates in both directions, the alerts sent before closing
// on a bad record, and the read budget that ends a read on records that decrypt to nothing.
#include <algorithm>
#include <array>
#include <chrono>
#include <filesystem>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
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

/// A wolfSSL client method: wolfTLSv1_3_client_method or wolfTLSv1_2_client_method.
using client_method = WOLFSSL_METHOD* (*)();

/// A tls_stream on an accepted loopback socket and a wolfSSL client on the other end, with the
/// handshake done and, for TLS 1.3, the server's records taken over.
class stream_pair {
public:
    explicit stream_pair(client_method method = wolfTLSv1_3_client_method)
        : is_tls13_(method == wolfTLSv1_3_client_method) {
        directory_ = std::filesystem::temp_directory_path() /
                     ("perch-stream-test-" + std::to_string(::getpid()));
        listener_config listener;
        listener.kind = listener_kind::mqtt_tls;
        context_.emplace(listener, directory_);
        client_context_ = wolfSSL_CTX_new(method());
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
        stream.emplace(
            acceptor.accept(), *context_,
            tls_handshake_counters{&handshakes_full, &handshakes_resumed, &handshakes_failed});

        client = wolfSSL_new(client_context_);
        wolfSSL_set_fd(client, client_fd_);
        wolfSSL_set_using_nonblock(client, 1);
        bool is_client_done = false;
        std::array<std::uint8_t, 256> buffer{};
        // A TLS 1.2 server is done once it sent its Finished, before the client is.
        const auto is_server_done = [&] { return stream->is_taken_over() || !is_tls13_; };
        for (int turn = 0; turn < 500 && !(is_client_done && is_server_done()); ++turn) {
            if (!is_client_done) {
                const tls_secret_capture capture(client_secrets);
                is_client_done = wolfSSL_connect(client) == WOLFSSL_SUCCESS;
            }
            boost::system::error_code error;
            stream->read_some(buffer, error);
            pollfd waiting{client_fd_, POLLIN, 0};
            ::poll(&waiting, 1, 10);
        }
        is_established = is_client_done && is_server_done();
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

    /// Writes `text` through the server stream while the client reads it, so that neither socket
    /// buffer has to hold it all; returns what the client read.
    std::string server_writes_while_client_reads(const std::string& text) {
        const asio::const_buffer buffer(text.data(), text.size());
        bool is_done = false;
        stream->async_write(std::span(&buffer, 1),
                            [&](const boost::system::error_code& error, std::size_t) {
                                EXPECT_FALSE(error) << error.message();
                                is_done = true;
                            });
        io_.restart();
        std::string received;
        for (int turn = 0; turn < 2000 && (!is_done || received.size() < text.size()); ++turn) {
            io_.poll();
            char chunk[4096];
            const int count = wolfSSL_read(client, chunk, sizeof(chunk));
            if (count > 0) {
                received.append(chunk, static_cast<std::size_t>(count));
            } else {
                pollfd waiting{client_fd_, POLLIN, 0};
                ::poll(&waiting, 1, 5);
            }
        }
        EXPECT_TRUE(is_done);
        return received;
    }

    /// Writes `text` on the wolfSSL client while the server stream reads it; returns what the
    /// server read.
    std::string client_writes_while_server_reads(const std::string& text) {
        std::string received;
        std::size_t written = 0;
        std::array<std::uint8_t, 4096> buffer{};
        for (int turn = 0; turn < 2000 && received.size() < text.size(); ++turn) {
            if (written < text.size()) {
                // wolfSSL wants the same arguments again after WANT_WRITE.
                const int size =
                    static_cast<int>(std::min<std::size_t>(text.size() - written, 20000));
                const int count = wolfSSL_write(client, text.data() + written, size);
                if (count > 0) {
                    written += static_cast<std::size_t>(count);
                }
            }
            boost::system::error_code error;
            const std::size_t count = stream->read_some(buffer, error);
            received.append(reinterpret_cast<const char*>(buffer.data()), count);
            if (error && error != asio::error::would_block && error != transport::read_yield) {
                ADD_FAILURE() << error.message();
                break;
            }
            if (count == 0) {
                ::poll(nullptr, 0, 1);
            }
        }
        return received;
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

    /// How the server's handshake ended.
    counter handshakes_full;
    counter handshakes_resumed;
    counter handshakes_failed;
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

    bool is_tls13_;
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

/// `size` bytes that differ from one record to the next, so that a lost, repeated or reordered
/// record shows.
std::string patterned_bytes(std::size_t size) {
    std::string bytes(size, '\0');
    for (std::size_t index = 0; index < size; ++index) {
        bytes[index] = static_cast<char>((index * 7 + index / 16384) % 251);
    }
    return bytes;
}

/// Reads the server stream until it reports something other than would_block or read_yield;
/// the bytes read on the way are appended to `text`.
boost::system::error_code server_reads_to_the_end(stream_pair& pair, std::string& text) {
    std::array<std::uint8_t, 4096> buffer{};
    boost::system::error_code error;
    for (int turn = 0; turn < 500; ++turn) {
        const std::size_t count = pair.stream->read_some(buffer, error);
        text.append(reinterpret_cast<const char*>(buffer.data()), count);
        if (error == asio::error::would_block) {
            ::poll(nullptr, 0, 5);
        } else if (error != transport::read_yield && count == 0) {
            break;
        }
    }
    return error;
}

TEST(TlsStream, Tls13HandshakeTakesTheRecordsOver) {
    stream_pair pair(wolfTLSv1_3_client_method);
    ASSERT_TRUE(pair.is_established);
    EXPECT_EQ(wolfSSL_version(pair.client), TLS1_3_VERSION);
    EXPECT_TRUE(pair.stream->is_taken_over());
    EXPECT_TRUE(pair.stream->is_open());
    EXPECT_EQ(pair.stream->remote_address().rfind("127.0.0.1", 0), 0u)
        << pair.stream->remote_address();
}

TEST(TlsStream, CountsACompletedHandshakeAsFull) {
    stream_pair pair(wolfTLSv1_3_client_method);
    ASSERT_TRUE(pair.is_established);
    EXPECT_EQ(pair.handshakes_full.value(), 1u);
    EXPECT_EQ(pair.handshakes_resumed.value(), 0u);
    EXPECT_EQ(pair.handshakes_failed.value(), 0u);
}

TEST(TlsStream, Tls13CarriesBytesBothWaysBeyondOneRecord) {
    stream_pair pair(wolfTLSv1_3_client_method);
    ASSERT_TRUE(pair.is_established);
    const std::string request = "hello server";
    EXPECT_EQ(pair.client_writes_while_server_reads(request), request);
    const std::string answer = "hello client";
    EXPECT_EQ(pair.server_writes_while_client_reads(answer), answer);
    // More than six records of 2^14 bytes each way, in one write.
    const std::string upload = patterned_bytes(100'000);
    EXPECT_EQ(pair.client_writes_while_server_reads(upload), upload);
    const std::string download = patterned_bytes(100'003);
    EXPECT_EQ(pair.server_writes_while_client_reads(download), download);
}

TEST(TlsStream, Tls12HandshakeStaysWithWolfsslAndCarriesBytesBothWays) {
    stream_pair pair(wolfTLSv1_2_client_method);
    ASSERT_TRUE(pair.is_established);
    EXPECT_EQ(wolfSSL_version(pair.client), TLS1_2_VERSION);
    EXPECT_FALSE(pair.stream->is_taken_over());
    const std::string request = "hello server";
    EXPECT_EQ(pair.client_writes_while_server_reads(request), request);
    const std::string answer = "hello client";
    EXPECT_EQ(pair.server_writes_while_client_reads(answer), answer);
    const std::string upload = patterned_bytes(100'000);
    EXPECT_EQ(pair.client_writes_while_server_reads(upload), upload);
    const std::string download = patterned_bytes(100'003);
    EXPECT_EQ(pair.server_writes_while_client_reads(download), download);
}

/// A TLS version the client speaks, named for the test's name.
struct client_version {
    std::string name;
    client_method method;
};

void PrintTo(const client_version& version, std::ostream* out) {
    *out << version.name;
}

class TlsStreamCloseNotify : public ::testing::TestWithParam<client_version> {};

TEST_P(TlsStreamCloseNotify, EndsReadsWithEofAfterTheBytesBeforeIt) {
    stream_pair pair(GetParam().method);
    ASSERT_TRUE(pair.is_established);
    const std::string last_words = "last words";
    ASSERT_EQ(wolfSSL_write(pair.client, last_words.data(), static_cast<int>(last_words.size())),
              static_cast<int>(last_words.size()));
    // Sends close_notify; the client does not wait for the server's.
    wolfSSL_shutdown(pair.client);
    std::string text;
    const boost::system::error_code error = server_reads_to_the_end(pair, text);
    EXPECT_EQ(text, last_words);
    EXPECT_EQ(error, asio::error::eof) << error.message();
}

INSTANTIATE_TEST_SUITE_P(Versions, TlsStreamCloseNotify,
                         ::testing::Values(client_version{"Tls13", wolfTLSv1_3_client_method},
                                           client_version{"Tls12", wolfTLSv1_2_client_method}),
                         [](const ::testing::TestParamInfo<client_version>& info) {
                             return info.param.name;
                         });

TEST(TlsStream, FailsAClientThatSendsPlaintextInsteadOfAClientHello) {
    asio::io_context io;
    const std::filesystem::path directory =
        std::filesystem::temp_directory_path() /
        ("perch-stream-garbage-test-" + std::to_string(::getpid()));
    listener_config listener;
    listener.kind = listener_kind::mqtt_tls;
    std::optional<tls_context> context;
    context.emplace(listener, directory);
    asio::ip::tcp::acceptor acceptor(
        io, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    asio::ip::tcp::socket client(io);
    client.connect(acceptor.local_endpoint());
    std::optional<tls_stream> stream;
    counter failed;
    stream.emplace(acceptor.accept(), *context, tls_handshake_counters{nullptr, nullptr, &failed});
    // An MQTT CONNECT, as from a client that was told the plain port: not a TLS record.
    const std::string connect("\x10\x11\x00\x04MQTT\x04\x02\x00\x3c\x00\x05perch", 19);
    asio::write(client, asio::buffer(connect));

    std::array<std::uint8_t, 256> buffer{};
    boost::system::error_code error;
    std::size_t delivered = 0;
    for (int turn = 0; turn < 200; ++turn) {
        delivered += stream->read_some(buffer, error);
        if (error != asio::error::would_block) {
            break;
        }
        ::poll(nullptr, 0, 5);
    }
    EXPECT_EQ(delivered, 0u);
    EXPECT_TRUE(error);
    EXPECT_NE(error, asio::error::would_block);
    EXPECT_EQ(failed.value(), 1u);
    EXPECT_FALSE(stream->is_taken_over());
    stream->close();
    EXPECT_FALSE(stream->is_open());
    // The client gets at most an alert record, never a ServerHello, then the end of the stream.
    std::vector<std::uint8_t> answer;
    boost::system::error_code read_error;
    for (int turn = 0; turn < 100 && !read_error; ++turn) {
        std::array<std::uint8_t, 1024> chunk{};
        const std::size_t count = client.read_some(asio::buffer(chunk), read_error);
        answer.insert(answer.end(), chunk.begin(),
                      chunk.begin() + static_cast<std::ptrdiff_t>(count));
    }
    EXPECT_TRUE(read_error == asio::error::eof || read_error == asio::error::connection_reset)
        << read_error.message();
    if (!answer.empty()) {
        EXPECT_EQ(answer[0], 21) << "only an alert";
    }
    stream.reset();
    context.reset();
    std::filesystem::remove_all(directory);
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
