// MQTT over TLS (wolfSSL) and over WebSocket (Beast), driven by mosquitto_pub/sub, Paho C++,
// MQTT.js and a byte-level OpenSSL client against one perch with all four listener kinds: key
// updates, and the refusals of bad transport input (with their TLS alerts).
// The certificate the clients trust is the one perch generates into its empty data_dir.
#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <mqtt/async_client.h>

#include "broker_process.hpp"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/bio.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace perch::integration {
namespace {

using namespace std::chrono_literals;

constexpr auto command_timeout = 15s;
constexpr auto start_timeout = 10s;

std::uint16_t free_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof(address);
    ::bind(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address));
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
    ::close(fd);
    return ntohs(address.sin_port);
}

/// A raw TCP connection to 127.0.0.1:`port`, or -1.
int connect_raw(std::uint16_t port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = htons(port);
    if (::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0) {
        ::close(fd);
        return -1;
    }
    return fd;
}

/// Everything the peer sends on `fd` until it closes; false when it stays open past `timeout`.
bool read_until_closed(int fd, std::chrono::milliseconds timeout, std::string& received) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        pollfd waiting{fd, POLLIN, 0};
        if (::poll(&waiting, 1, 50) <= 0) {
            continue;
        }
        char chunk[4096];
        const ssize_t count = ::recv(fd, chunk, sizeof(chunk), 0);
        if (count <= 0) {
            return true;
        }
        received.append(chunk, static_cast<std::size_t>(count));
    }
    return false;
}

/// How often `needle` occurs in `text`.
std::size_t count_occurrences(const std::string& text, const std::string& needle) {
    std::size_t count = 0;
    for (std::size_t at = text.find(needle); at != std::string::npos;
         at = text.find(needle, at + needle.size())) {
        ++count;
    }
    return count;
}

/// MQTT 3.1.1 CONNECT, client id "raw", clean session, keep alive 60.
const std::string plain_connect("\x10\x0f\x00\x04MQTT\x04\x02\x00\x3c\x00\x03raw", 17);

/// Runs openssl with `arguments`; fails the test when it does not succeed.
void run_openssl(std::vector<std::string> arguments) {
    arguments.insert(arguments.begin(), "openssl");
    const auto result = run_command(arguments, {}, command_timeout);
    ASSERT_TRUE(result.ending.is_success()) << result.errors;
}

/// Makes KEY and PEM for `name` in `directory`: signed by the CA `ca` when given, else
/// self-signed; `days` of validity, -1 for one that expired yesterday.
void make_certificate(const std::filesystem::path& directory, const std::string& name,
                      const std::string& ca = {}, int days = 2) {
    const std::string base = (directory / name).string();
    if (ca.empty()) {
        run_openssl({"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                     "-nodes", "-keyout", base + ".key", "-out", base + ".pem", "-days", "2",
                     "-subj", "/CN=" + name});
        return;
    }
    const std::string authority = (directory / ca).string();
    run_openssl({"req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
                 base + ".key", "-out", base + ".csr", "-subj", "/CN=" + name});
    run_openssl({"x509", "-req", "-in", base + ".csr", "-CA", authority + ".pem", "-CAkey",
                 authority + ".key", "-CAcreateserial", "-out", base + ".pem", "-days",
                 std::to_string(days)});
}

/// perch with one listener of each kind on free loopback ports and its own data_dir.
class transport_broker {
public:
    /// `extra_config` goes before the listeners, `tls_config` right after the mqtt_tls listener.
    explicit transport_broker(const std::string& extra_config = {},
                              const std::string& tls_config = {}) {
        for (int attempt = 0; attempt < 5; ++attempt) {
            if (start(extra_config, tls_config)) {
                return;
            }
        }
        throw std::runtime_error("perch did not start:\n" + log());
    }
    ~transport_broker() { stop(); }

    process_exit stop() {
        if (!ending_ && process_) {
            ending_ = process_->stop(5000ms, SIGTERM);
        }
        return ending_.value_or(process_exit{});
    }

    std::string log() const { return read_file_text(directory_.path() / "broker.log"); }
    std::filesystem::path certificate() const {
        return directory_.path() / "data" / "perch-cert.pem";
    }
    const std::filesystem::path& scratch() const { return directory_.path(); }

    std::uint16_t mqtt_port = 0;
    std::uint16_t tls_port = 0;
    std::uint16_t websocket_port = 0;
    std::uint16_t websocket_tls_port = 0;

private:
    bool start(const std::string& extra_config, const std::string& tls_config) {
        mqtt_port = free_port();
        tls_port = free_port();
        websocket_port = free_port();
        websocket_tls_port = free_port();
        const auto config = directory_.path() / "broker.conf";
        write_file_text(config, extra_config + "allow_anonymous true\ndata_dir " +
                                    (directory_.path() / "data").string() + "\nlistener " +
                                    std::to_string(mqtt_port) + " 127.0.0.1\nlistener " +
                                    std::to_string(tls_port) + " 127.0.0.1\nprotocol mqtt_tls\n" +
                                    tls_config + "listener " + std::to_string(websocket_port) +
                                    " 127.0.0.1\nprotocol websocket\nlistener " +
                                    std::to_string(websocket_tls_port) +
                                    " 127.0.0.1\nprotocol websocket_tls\n");
        const auto log_path = directory_.path() / "broker.log";
        process_ = std::make_unique<child_process>(
            std::vector<std::string>{PERCH_BROKER_PATH, "-c", config.string()},
            process_streams{{}, log_path, log_path});
        if (wait_for_text(log_path, "running", start_timeout)) {
            return true;
        }
        process_->stop(0ms, SIGKILL);
        process_.reset();
        return false;
    }

    temporary_directory directory_;
    std::unique_ptr<child_process> process_;
    std::optional<process_exit> ending_;
};

/// A client running in the background until it exits, with its output in a file.
class background_client {
public:
    background_client(const std::filesystem::path& output_path, std::vector<std::string> argv)
        : output_path_(output_path), process_(std::make_unique<child_process>(
                                         argv, process_streams{{}, output_path_, output_path_})) {}
    bool wait_for_output(std::string_view needle) {
        return wait_for_text(output_path_, needle, command_timeout);
    }
    std::optional<process_exit> wait() { return process_->wait_for(command_timeout); }
    std::string output() const { return read_file_text(output_path_); }

private:
    std::filesystem::path output_path_;
    std::unique_ptr<child_process> process_;
};

/// An MQTT 3.1.1 client over OpenSSL's TLS 1.3, written byte by byte, that can ask for key
/// updates, send raw or tampered records, and notes the KeyUpdates and alerts it receives.
class openssl_mqtt_client {
public:
    /// Connects to 127.0.0.1:`port` trusting `certificate`, offering `resumed` (a session from an
    /// earlier connection, with its ticket) when given; `is_connected` tells whether the
    /// handshake succeeded.
    openssl_mqtt_client(std::uint16_t port, const std::filesystem::path& certificate,
                        SSL_SESSION* resumed = nullptr) {
        fd_ = connect_raw(port);
        if (fd_ < 0) {
            return;
        }
        // Reads are bounded: a missing answer fails the test instead of hanging it.
        timeval timeout{5, 0};
        ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
        context_ = SSL_CTX_new(TLS_client_method());
        SSL_CTX_set_min_proto_version(context_, TLS1_3_VERSION);
        SSL_CTX_load_verify_locations(context_, certificate.c_str(), nullptr);
        SSL_CTX_set_verify(context_, SSL_VERIFY_PEER, nullptr);
        SSL_CTX_set_msg_callback(context_, &openssl_mqtt_client::note_message);
        ssl_ = SSL_new(context_);
        SSL_set_msg_callback_arg(ssl_, this);
        SSL_set_fd(ssl_, fd_);
        if (resumed != nullptr) {
            SSL_set_session(ssl_, resumed);
        }
        is_connected = SSL_connect(ssl_) == 1;
    }
    ~openssl_mqtt_client() {
        if (ssl_ != nullptr) {
            SSL_free(ssl_);
        }
        if (context_ != nullptr) {
            SSL_CTX_free(context_);
        }
        if (fd_ >= 0) {
            ::close(fd_);
        }
    }
    openssl_mqtt_client(const openssl_mqtt_client&) = delete;
    openssl_mqtt_client& operator=(const openssl_mqtt_client&) = delete;

    bool write(const std::string& bytes) {
        return SSL_write(ssl_, bytes.data(), static_cast<int>(bytes.size())) ==
               static_cast<int>(bytes.size());
    }

    /// Exactly `size` decrypted bytes, or fewer when the connection failed or timed out.
    std::string read(std::size_t size) {
        std::string text;
        while (text.size() < size) {
            char chunk[4096];
            const int count = SSL_read(
                ssl_, chunk, static_cast<int>(std::min(sizeof(chunk), size - text.size())));
            if (count <= 0) {
                break;
            }
            text.append(chunk, static_cast<std::size_t>(count));
        }
        return text;
    }

    /// CONNECT (clean session) and its CONNACK.
    bool connect_mqtt(const std::string& client_id) {
        std::string packet =
            std::string("\x00\x04MQTT\x04\x02\x00\x3c", 10) + length_prefixed(client_id);
        return write(with_header('\x10', packet)) && read(4) == std::string("\x20\x02\x00\x00", 4);
    }

    /// SUBSCRIBE at QoS 0 and its SUBACK.
    bool subscribe(const std::string& topic) {
        const std::string packet = std::string("\x00\x01", 2) + length_prefixed(topic) + '\x00';
        return write(with_header('\x82', packet)) &&
               read(5) == std::string("\x90\x03\x00\x01\x00", 5);
    }

    /// A QoS 0 PUBLISH as it goes on the wire, either way.
    static std::string publish_packet(const std::string& topic, const std::string& payload) {
        return with_header('\x30', length_prefixed(topic) + payload);
    }

    /// The session with the ticket the server sent (read after the first application data, which
    /// follows the NewSessionTicket), or nullptr; the caller frees it with SSL_SESSION_free.
    SSL_SESSION* session() const {
        SSL_SESSION* session = SSL_get1_session(ssl_);
        if (session != nullptr && SSL_SESSION_is_resumable(session) == 0) {
            SSL_SESSION_free(session);
            return nullptr;
        }
        return session;
    }

    /// Sends close_notify: OpenSSL keeps a session resumable only when its connection was shut
    /// down, not merely freed.
    void shut_down() { SSL_shutdown(ssl_); }

    /// Whether the handshake resumed the offered session (a PSK handshake) instead of a full one.
    bool is_resumed() const { return SSL_session_reused(ssl_) == 1; }

    /// Asks OpenSSL to send a KeyUpdate with update_requested before its next record.
    bool request_key_update() { return SSL_key_update(ssl_, SSL_KEY_UPDATE_REQUESTED) == 1; }

    /// Seals `bytes` as OpenSSL would, flips a bit of the record's tag and sends it.
    bool write_tampered(const std::string& bytes) {
        BIO* sealed = BIO_new(BIO_s_mem());
        BIO_up_ref(sealed);
        SSL_set0_wbio(ssl_, sealed);
        const bool is_written = write(bytes);
        char* data = nullptr;
        const long size = BIO_get_mem_data(sealed, &data);
        std::string record(data, static_cast<std::size_t>(std::max(size, 0L)));
        BIO_free(sealed);
        if (!is_written || record.empty()) {
            return false;
        }
        record.back() = static_cast<char>(record.back() ^ 0x01);
        return write_raw(record);
    }

    bool write_raw(const std::string& bytes) {
        return ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL) ==
               static_cast<ssize_t>(bytes.size());
    }

    bool is_connected = false;
    int key_updates_received = 0;
    std::vector<int> alerts_received;

private:
    static std::string length_prefixed(const std::string& text) {
        return std::string{static_cast<char>(text.size() >> 8),
                           static_cast<char>(text.size() & 0xFF)} +
               text;
    }
    static std::string with_header(char type, const std::string& body) {
        // Bodies here stay below 128 bytes: one length byte.
        return std::string{type, static_cast<char>(body.size())} + body;
    }
    static void note_message(int is_write, int, int content_type, const void* buffer,
                             std::size_t size, SSL*, void* argument) {
        auto* self = static_cast<openssl_mqtt_client*>(argument);
        const auto* bytes = static_cast<const unsigned char*>(buffer);
        if (is_write != 0 || self == nullptr || size == 0) {
            return;
        }
        if (content_type == SSL3_RT_HANDSHAKE && bytes[0] == SSL3_MT_KEY_UPDATE) {
            ++self->key_updates_received;
        } else if (content_type == SSL3_RT_ALERT && size == 2) {
            self->alerts_received.push_back(bytes[1]);
        }
    }

    int fd_ = -1;
    SSL_CTX* context_ = nullptr;
    SSL* ssl_ = nullptr;
};

class Transport : public ::testing::Test {
protected:
    void SetUp() override {
        if (broker_under_test() != broker_kind::perch) {
            GTEST_SKIP() << "needs perch's TLS and WebSocket listeners";
        }
    }

    void TearDown() override {
        if (broker_) {
            const process_exit ending = broker_->stop();
            EXPECT_TRUE(ending.is_success()) << "perch " << describe(ending);
            if (HasFailure()) {
                std::cerr << "---- perch log ----\n" << broker_->log();
            }
        }
    }

    transport_broker& start_broker(const std::string& extra_config = {},
                                   const std::string& tls_config = {}) {
        broker_ = std::make_unique<transport_broker>(extra_config, tls_config);
        return *broker_;
    }

    /// mosquitto_sub over TLS at `tls_version` on `topic`, waiting for `count` messages; returns
    /// once it has its SUBACK (its debug output is line-buffered through stdbuf so that the
    /// "received SUBACK" line shows while it runs).
    std::unique_ptr<background_client> tls_subscriber(const std::string& name,
                                                      const std::string& tls_version,
                                                      const std::string& topic, int count) {
        auto subscriber = std::make_unique<background_client>(
            broker_->scratch() / (name + ".out"),
            std::vector<std::string>{"stdbuf", "-oL", "mosquitto_sub", "-h", "127.0.0.1", "-p",
                                     std::to_string(broker_->tls_port), "--cafile",
                                     broker_->certificate().string(), "--tls-version", tls_version,
                                     "-d", "-t", topic, "-C", std::to_string(count), "-W", "10"});
        EXPECT_TRUE(subscriber->wait_for_output("received SUBACK")) << subscriber->output();
        return subscriber;
    }

    /// node transport_client.js MODE ARGUMENTS... in the background.
    std::unique_ptr<background_client> node_client(const std::string& name,
                                                   std::vector<std::string> arguments) {
        std::vector<std::string> argv{PERCH_NODE_PATH,
                                      std::string(PERCH_MQTTJS_DIRECTORY) + "/transport_client.js"};
        argv.insert(argv.end(), arguments.begin(), arguments.end());
        return std::make_unique<background_client>(broker_->scratch() / (name + ".out"), argv);
    }

    command_result plain_publish(const std::string& topic, const std::string& payload) {
        return run_command({"mosquitto_pub", "-h", "127.0.0.1", "-p",
                            std::to_string(broker_->mqtt_port), "-q", "1", "-t", topic, "-m",
                            payload},
                           {}, command_timeout);
    }

    std::string url(const std::string& scheme, std::uint16_t port, const std::string& path = {}) {
        return scheme + "://127.0.0.1:" + std::to_string(port) + path;
    }

    std::unique_ptr<transport_broker> broker_;
};

/// mosquitto_sub over TLS (its --tls-version only sets a minimum: both negotiate TLS 1.3) and
/// MQTT.js capped at TLS 1.2, trusting the generated certificate, hear a TCP publisher.
TEST_F(Transport, MosquittoAndMqttJsSubscribeOverTls12AndTls13) {
    start_broker("log_level debug\n");
    auto tls12 = tls_subscriber("tls12", "tlsv1.2", "tls/versions", 1);
    auto tls13 = tls_subscriber("tls13", "tlsv1.3", "tls/versions", 1);
    auto capped = node_client("tls12-js", {"subscribe", "--url", url("mqtts", broker_->tls_port),
                                           "--ca", broker_->certificate().string(), "--tls-max",
                                           "TLSv1.2", "--topic", "tls/versions", "--count", "1"});
    ASSERT_TRUE(capped->wait_for_output("subscribed")) << capped->output();
    EXPECT_TRUE(plain_publish("tls/versions", "over-tls").ending.is_success());
    const auto capped_ending = capped->wait();
    ASSERT_TRUE(capped_ending.has_value());
    EXPECT_NE(capped->output().find("message\tover-tls"), std::string::npos) << capped->output();
    for (auto* subscriber : {tls12.get(), tls13.get()}) {
        const auto ending = subscriber->wait();
        ASSERT_TRUE(ending.has_value());
        EXPECT_TRUE(ending->is_success()) << subscriber->output();
        EXPECT_NE(subscriber->output().find("over-tls"), std::string::npos) << subscriber->output();
    }
    // Only the TLS 1.3 session runs on taken-over record keys; TLS 1.2 stays with wolfSSL.
    const std::string log = broker_->log();
    EXPECT_NE(log.find("done: TLSv1.2"), std::string::npos);
    EXPECT_NE(log.find("done: TLSv1.3"), std::string::npos);
    EXPECT_EQ(count_occurrences(log, "records taken over"), 2u);
}

/// mosquitto_pub over TLS reaches a plain TCP subscriber.
TEST_F(Transport, MosquittoPublishesOverTls) {
    start_broker();
    auto subscriber = std::make_unique<background_client>(
        broker_->scratch() / "plain.out",
        std::vector<std::string>{"stdbuf", "-oL", "mosquitto_sub", "-h", "127.0.0.1", "-p",
                                 std::to_string(broker_->mqtt_port), "-d", "-t", "tls/in", "-C",
                                 "1", "-W", "10"});
    ASSERT_TRUE(subscriber->wait_for_output("received SUBACK"));
    const auto result = run_command(
        {"mosquitto_pub", "-h", "127.0.0.1", "-p", std::to_string(broker_->tls_port), "--cafile",
         broker_->certificate().string(), "-q", "1", "-t", "tls/in", "-m", "from-tls"},
        {}, command_timeout);
    EXPECT_TRUE(result.ending.is_success()) << result.errors;
    ASSERT_TRUE(subscriber->wait().has_value());
    EXPECT_NE(subscriber->output().find("from-tls"), std::string::npos) << subscriber->output();
}

/// Paho C++ over ssl:// (TLS 1.3 with OpenSSL 3) with the generated certificate as its trust
/// store; a payload larger than one TLS record travels both ways on the taken-over record keys.
/// (Paho's TLS 1.2 setting only sets a minimum, so TLS 1.2 is covered by mosquitto_sub.)
TEST_F(Transport, PahoRoundTripOverTls13) {
    start_broker("log_level debug\n");
    ::mqtt::async_client client(url("ssl", broker_->tls_port), "paho-tls");
    auto ssl = ::mqtt::ssl_options_builder()
                   .trust_store(broker_->certificate().string())
                   .enable_server_cert_auth(true)
                   .finalize();
    auto options = ::mqtt::connect_options_builder()
                       .ssl(std::move(ssl))
                       .clean_session(true)
                       .connect_timeout(5s)
                       .finalize();
    client.start_consuming();
    ASSERT_NO_THROW(client.connect(options)->wait());
    client.subscribe("paho/tls", 1)->wait();
    const std::string payload(40000, 's');
    client.publish("paho/tls", payload.data(), payload.size(), 1, false)->wait();
    const auto message = client.try_consume_message_for(5s);
    ASSERT_TRUE(message != nullptr);
    EXPECT_EQ(message->get_payload_str(), payload);
    client.disconnect()->wait();
    const std::string log = broker_->log();
    EXPECT_NE(log.find("done: TLSv1.3"), std::string::npos);
    EXPECT_EQ(count_occurrences(log, "records taken over"), 1u);
}

/// MQTT.js over ws:// and wss:// (rejectUnauthorized with the ca) and mqtts://.
TEST_F(Transport, MqttJsOverWebSocketAndTls) {
    start_broker();
    const std::string ca = broker_->certificate().string();
    auto subscriber =
        node_client("ws-sub", {"subscribe", "--url", url("ws", broker_->websocket_port, "/mqtt"),
                               "--topic", "js/+", "--count", "2"});
    ASSERT_TRUE(subscriber->wait_for_output("subscribed")) << subscriber->output();
    auto over_wss = node_client("wss-pub", {"publish", "--url",
                                            url("wss", broker_->websocket_tls_port, "/mqtt"),
                                            "--ca", ca, "--topic", "js/wss", "--payload", "wss-1"});
    ASSERT_TRUE(over_wss->wait().has_value());
    EXPECT_NE(over_wss->output().find("published"), std::string::npos) << over_wss->output();
    auto over_tls = node_client("tls-pub", {"publish", "--url", url("mqtts", broker_->tls_port),
                                            "--ca", ca, "--topic", "js/tls", "--payload", "tls-1"});
    ASSERT_TRUE(over_tls->wait().has_value());
    const auto ending = subscriber->wait();
    ASSERT_TRUE(ending.has_value());
    EXPECT_TRUE(ending->is_success()) << subscriber->output();
    EXPECT_NE(subscriber->output().find("message\twss-1"), std::string::npos);
    EXPECT_NE(subscriber->output().find("message\ttls-1"), std::string::npos);
}

/// MQTT.js compressing every message (as browsers do) over ws:// and wss://: perch answers its
/// offer with a 2^9 client window with context takeover and its own messages compressed one by
/// one, and 300 chat messages go up and come back intact.
TEST_F(Transport, MqttJsChatsWithPermessageDeflate) {
    start_broker();
    auto plain =
        node_client("deflate-ws", {"chat", "--url", url("ws", broker_->websocket_port, "/mqtt"),
                                   "--topic", "deflate-ws", "--count", "300"});
    auto secure =
        node_client("deflate-wss",
                    {"chat", "--url", url("wss", broker_->websocket_tls_port, "/mqtt"), "--ca",
                     broker_->certificate().string(), "--topic", "deflate-wss", "--count", "300"});
    for (auto* client : {plain.get(), secure.get()}) {
        const auto ending = client->wait();
        ASSERT_TRUE(ending.has_value());
        EXPECT_TRUE(ending->is_success()) << client->output();
        EXPECT_NE(
            client->output().find("extensions\tpermessage-deflate; server_no_context_takeover; "
                                  "client_max_window_bits=9\n"),
            std::string::npos)
            << client->output();
        EXPECT_NE(client->output().find("received\t300\n"), std::string::npos) << client->output();
    }
}

/// TCP, TLS and WebSocket clients share one broker: each hears what the others publish.
TEST_F(Transport, TcpTlsAndWebSocketClientsTalkToEachOther) {
    start_broker();
    auto tls = tls_subscriber("cross-tls", "tlsv1.3", "cross/#", 3);
    auto websocket =
        node_client("cross-ws", {"subscribe", "--url", url("ws", broker_->websocket_port, "/mqtt"),
                                 "--topic", "cross/#", "--count", "3"});
    ASSERT_TRUE(websocket->wait_for_output("subscribed"));
    EXPECT_TRUE(plain_publish("cross/tcp", "from-tcp").ending.is_success());
    const auto over_tls = run_command(
        {"mosquitto_pub", "-h", "127.0.0.1", "-p", std::to_string(broker_->tls_port), "--cafile",
         broker_->certificate().string(), "-q", "1", "-t", "cross/tls", "-m", "from-tls"},
        {}, command_timeout);
    EXPECT_TRUE(over_tls.ending.is_success()) << over_tls.errors;
    auto over_ws = node_client("cross-ws-pub",
                               {"publish", "--url", url("ws", broker_->websocket_port, "/mqtt"),
                                "--topic", "cross/ws", "--payload", "from-ws"});
    ASSERT_TRUE(over_ws->wait().has_value());
    ASSERT_TRUE(tls->wait().has_value());
    ASSERT_TRUE(websocket->wait().has_value());
    for (const std::string payload : {"from-tcp", "from-tls", "from-ws"}) {
        EXPECT_NE(tls->output().find(payload), std::string::npos) << tls->output();
        EXPECT_NE(websocket->output().find(payload), std::string::npos) << websocket->output();
    }
}

/// An OpenSSL TLS 1.3 client asks for key updates twice (RFC 8446, 4.6.3): perch follows the
/// client's new keys, answers each with its own KeyUpdate and moves to its next keys, and MQTT
/// traffic keeps flowing both ways on the same connection.
TEST_F(Transport, KeyUpdatesRollBothDirectionsOverTls13) {
    start_broker("log_level debug\n");
    openssl_mqtt_client client(broker_->tls_port, broker_->certificate());
    ASSERT_TRUE(client.is_connected);
    ASSERT_TRUE(client.connect_mqtt("key-updater"));
    ASSERT_TRUE(client.subscribe("keys/rolled"));
    for (int round = 1; round <= 2; ++round) {
        ASSERT_TRUE(client.request_key_update());
        const std::string packet =
            openssl_mqtt_client::publish_packet("keys/rolled", "round " + std::to_string(round));
        ASSERT_TRUE(client.write(packet));
        EXPECT_EQ(client.read(packet.size()), packet) << "round " << round;
        EXPECT_EQ(client.key_updates_received, round);
    }
    EXPECT_TRUE(client.alerts_received.empty());
    // perch's record layer, not wolfSSL's, followed the updates.
    const std::string log = broker_->log();
    EXPECT_NE(log.find("records taken over"), std::string::npos) << log;
    EXPECT_EQ(count_occurrences(log, "key update, answered"), 2u) << log;
}

/// TLS 1.3 session resumption: the first connection gets a NewSessionTicket from wolfSSL before
/// perch takes the record layer over; the second presents it and its handshake is resumed (PSK,
/// no certificate), and both carry MQTT on perch's own record layer.
TEST_F(Transport, Tls13TicketResumesTheNextHandshakeOnTakenOverRecords) {
    start_broker("log_level debug\n");
    const std::string packet = openssl_mqtt_client::publish_packet("tickets/echo", "first");
    SSL_SESSION* ticket = nullptr;
    {
        openssl_mqtt_client first(broker_->tls_port, broker_->certificate());
        ASSERT_TRUE(first.is_connected);
        EXPECT_FALSE(first.is_resumed());
        ASSERT_TRUE(first.connect_mqtt("ticket-holder"));
        ASSERT_TRUE(first.subscribe("tickets/echo"));
        ASSERT_TRUE(first.write(packet));
        EXPECT_EQ(first.read(packet.size()), packet);
        ticket = first.session();
        EXPECT_TRUE(first.alerts_received.empty());
        first.shut_down();
    }
    ASSERT_NE(ticket, nullptr) << "no resumable session: perch sent no ticket";
    openssl_mqtt_client second(broker_->tls_port, broker_->certificate(), ticket);
    SSL_SESSION_free(ticket);
    ASSERT_TRUE(second.is_connected);
    EXPECT_TRUE(second.is_resumed());
    ASSERT_TRUE(second.connect_mqtt("ticket-holder"));
    ASSERT_TRUE(second.subscribe("tickets/echo"));
    const std::string again = openssl_mqtt_client::publish_packet("tickets/echo", "resumed");
    ASSERT_TRUE(second.write(again));
    EXPECT_EQ(second.read(again.size()), again);
    EXPECT_TRUE(second.alerts_received.empty());
    const std::string log = broker_->log();
    EXPECT_EQ(count_occurrences(log, "records taken over"), 2u) << log;
    EXPECT_EQ(count_occurrences(log, "(resumed)"), 1u) << log;
}

/// A record with a broken tag is answered with a bad_record_mac alert before perch closes; an
/// oversized record with record_overflow. Other clients carry on.
TEST_F(Transport, BadRecordsGetTheirAlerts) {
    start_broker();
    openssl_mqtt_client tampering(broker_->tls_port, broker_->certificate());
    ASSERT_TRUE(tampering.is_connected);
    ASSERT_TRUE(tampering.connect_mqtt("tampering"));
    ASSERT_TRUE(tampering.write_tampered(std::string("\xc0\x00", 2)));
    EXPECT_EQ(tampering.read(1), "");
    EXPECT_EQ(tampering.alerts_received, std::vector<int>{20}) << "bad_record_mac";

    openssl_mqtt_client oversized(broker_->tls_port, broker_->certificate());
    ASSERT_TRUE(oversized.is_connected);
    ASSERT_TRUE(oversized.connect_mqtt("oversized"));
    // A header announcing 2^14 + 256 + 1 bytes.
    ASSERT_TRUE(oversized.write_raw(std::string("\x17\x03\x03\x41\x01", 5)));
    EXPECT_EQ(oversized.read(1), "");
    EXPECT_EQ(oversized.alerts_received, std::vector<int>{22}) << "record_overflow";

    openssl_mqtt_client calm(broker_->tls_port, broker_->certificate());
    ASSERT_TRUE(calm.is_connected);
    EXPECT_TRUE(calm.connect_mqtt("calm"));
}

/// Plaintext MQTT on the TLS port is refused (no CONNACK, closed) and a TLS client connected
/// meanwhile is not disturbed.
TEST_F(Transport, PlaintextOnTlsPortIsRefusedWithoutDisturbingOthers) {
    start_broker();
    auto subscriber = tls_subscriber("calm", "tlsv1.3", "calm/topic", 1);
    const int fd = connect_raw(broker_->tls_port);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::send(fd, plain_connect.data(), plain_connect.size(), 0),
              static_cast<ssize_t>(plain_connect.size()));
    std::string received;
    EXPECT_TRUE(read_until_closed(fd, 5000ms, received));
    ::close(fd);
    EXPECT_TRUE(received.empty() || received.front() != '\x20') << "answered with a CONNACK";
    EXPECT_TRUE(plain_publish("calm/topic", "still-here").ending.is_success());
    ASSERT_TRUE(subscriber->wait().has_value());
    EXPECT_NE(subscriber->output().find("still-here"), std::string::npos);
}

/// A client that opens the TLS port and never completes the handshake is closed at the
/// connect timeout.
TEST_F(Transport, StalledTlsHandshakeTimesOut) {
    start_broker("connect_timeout 1\n");
    const int fd = connect_raw(broker_->tls_port);
    ASSERT_GE(fd, 0);
    std::string received;
    const auto started = std::chrono::steady_clock::now();
    EXPECT_TRUE(read_until_closed(fd, 5000ms, received));
    EXPECT_GE(std::chrono::steady_clock::now() - started, 900ms);
    ::close(fd);
}

/// A WebSocket ping is answered with a pong carrying the same data.
TEST_F(Transport, WebSocketPingGetsPong) {
    start_broker();
    auto client =
        node_client("ping", {"raw-frame", "--url", url("ws", broker_->websocket_port, "/mqtt"),
                             "--protocol", "mqtt", "--kind", "ping", "--size", "16"});
    ASSERT_TRUE(client->wait().has_value());
    EXPECT_NE(client->output().find("pong\t16"), std::string::npos) << client->output();
    EXPECT_NE(client->output().find("close\t1000"), std::string::npos) << client->output();
}

/// A client that does not trust the server's certificate gives up; the broker carries on.
TEST_F(Transport, UntrustedServerCertificateIsRefusedByTheClient) {
    start_broker();
    temporary_directory certificates;
    make_certificate(certificates.path(), "other-ca");
    if (HasFatalFailure()) {
        return;
    }
    auto subscriber = tls_subscriber("steady", "tlsv1.3", "steady/topic", 1);
    const auto refused = run_command(
        {"mosquitto_pub", "-h", "127.0.0.1", "-p", std::to_string(broker_->tls_port), "--cafile",
         (certificates.path() / "other-ca.pem").string(), "-t", "steady/topic", "-m", "nope"},
        {}, command_timeout);
    EXPECT_FALSE(refused.ending.is_success()) << "trusted a certificate from another CA";
    EXPECT_TRUE(plain_publish("steady/topic", "still-here").ending.is_success());
    ASSERT_TRUE(subscriber->wait().has_value());
    EXPECT_NE(subscriber->output().find("still-here"), std::string::npos);
    EXPECT_EQ(subscriber->output().find("nope"), std::string::npos);
}

/// A text WebSocket message is refused with close code 1003 [MQTT-6.0.0-1]; the subprotocol
/// "mqtt" the client offered was echoed [MQTT-6.0.0-4]. A WebSocket subscriber connected
/// meanwhile is not disturbed.
TEST_F(Transport, WebSocketTextFrameIsClosedWith1003) {
    start_broker();
    auto subscriber =
        node_client("calm-ws", {"subscribe", "--url", url("ws", broker_->websocket_port, "/mqtt"),
                                "--topic", "calm/ws", "--count", "1"});
    ASSERT_TRUE(subscriber->wait_for_output("subscribed")) << subscriber->output();
    auto client =
        node_client("text", {"raw-frame", "--url", url("ws", broker_->websocket_port, "/mqtt"),
                             "--protocol", "mqtt", "--kind", "text", "--size", "8"});
    ASSERT_TRUE(client->wait().has_value());
    EXPECT_NE(client->output().find("open\tmqtt"), std::string::npos) << client->output();
    EXPECT_NE(client->output().find("close\t1003"), std::string::npos) << client->output();
    EXPECT_TRUE(plain_publish("calm/ws", "after-1003").ending.is_success());
    ASSERT_TRUE(subscriber->wait().has_value());
    EXPECT_NE(subscriber->output().find("message\tafter-1003"), std::string::npos)
        << subscriber->output();
}

/// A binary message larger than max_packet_size and the 64 KiB allowance for packets sent with it
/// is refused with close code 1009, compressed (MQTT.js's ws compresses messages of 1 KiB or more)
/// or not; a WebSocket-over-TLS subscriber connected meanwhile is not disturbed.
TEST_F(Transport, OversizedWebSocketMessageIsClosedWith1009) {
    start_broker("max_packet_size 1024\n");
    auto subscriber = node_client(
        "calm-wss", {"subscribe", "--url", url("wss", broker_->websocket_tls_port, "/mqtt"), "--ca",
                     broker_->certificate().string(), "--topic", "calm/wss", "--count", "1"});
    ASSERT_TRUE(subscriber->wait_for_output("subscribed")) << subscriber->output();
    auto client =
        node_client("big", {"raw-frame", "--url", url("ws", broker_->websocket_port, "/mqtt"),
                            "--protocol", "mqtt", "--kind", "binary", "--size", "100000"});
    ASSERT_TRUE(client->wait().has_value());
    EXPECT_NE(client->output().find("close\t1009"), std::string::npos) << client->output();
    auto uncompressible = node_client(
        "big-random", {"raw-frame", "--url", url("ws", broker_->websocket_port, "/mqtt"),
                       "--protocol", "mqtt", "--kind", "random", "--size", "100000"});
    ASSERT_TRUE(uncompressible->wait().has_value());
    EXPECT_NE(uncompressible->output().find("close\t1009"), std::string::npos)
        << uncompressible->output();
    EXPECT_TRUE(plain_publish("calm/wss", "after-1009").ending.is_success());
    ASSERT_TRUE(subscriber->wait().has_value());
    EXPECT_NE(subscriber->output().find("message\tafter-1009"), std::string::npos)
        << subscriber->output();
}

/// Before CONNECT only a small message is taken, whatever max_packet_size says: a 200 KB binary
/// message, which ws compresses to a few hundred bytes, closes with 1009 as soon as its inflated
/// size passes the limit. Once connected, a client may send a 100 KB PUBLISH.
TEST_F(Transport, LargeWebSocketMessageBeforeConnectIsClosedWith1009) {
    start_broker();
    auto early =
        node_client("early-big", {"raw-frame", "--url", url("ws", broker_->websocket_port, "/mqtt"),
                                  "--protocol", "mqtt", "--kind", "binary", "--size", "200000"});
    ASSERT_TRUE(early->wait().has_value());
    EXPECT_NE(early->output().find("close\t1009"), std::string::npos) << early->output();
    auto publisher = node_client("large-publish",
                                 {"publish", "--url", url("ws", broker_->websocket_port, "/mqtt"),
                                  "--topic", "large/ws", "--payload", std::string(100'000, 'p')});
    ASSERT_TRUE(publisher->wait().has_value());
    EXPECT_NE(publisher->output().find("published"), std::string::npos) << publisher->output();
}

/// With require_certificate, only clients with a valid certificate from cafile get in; with
/// use_identity_as_username its common name is the user, so allow_anonymous false admits it.
TEST_F(Transport, RequiredClientCertificateAdmitsOnlyTrustedClients) {
    temporary_directory certificates;
    const auto& directory = certificates.path();
    make_certificate(directory, "clients-ca");
    make_certificate(directory, "alice", "clients-ca");
    make_certificate(directory, "mallory");
    make_certificate(directory, "expired", "clients-ca", -1);
    if (HasFatalFailure()) {
        return;
    }
    start_broker("allow_anonymous false\n",
                 "cafile " + (directory / "clients-ca.pem").string() +
                     "\nrequire_certificate true\nuse_identity_as_username true\n");
    const auto publish_with = [&](const std::string& name) {
        std::vector<std::string> argv{"mosquitto_pub",
                                      "-h",
                                      "127.0.0.1",
                                      "-p",
                                      std::to_string(broker_->tls_port),
                                      "--cafile",
                                      broker_->certificate().string(),
                                      "-t",
                                      "certs/in",
                                      "-m",
                                      "hello",
                                      "-q",
                                      "1"};
        if (!name.empty()) {
            argv.insert(argv.end(), {"--cert", (directory / (name + ".pem")).string(), "--key",
                                     (directory / (name + ".key")).string()});
        }
        return run_command(argv, {}, command_timeout);
    };
    const auto trusted = publish_with("alice");
    EXPECT_TRUE(trusted.ending.is_success()) << trusted.errors;
    const auto untrusted = publish_with("mallory");
    EXPECT_FALSE(untrusted.ending.is_success()) << "an untrusted certificate was accepted";
    const auto expired = publish_with("expired");
    EXPECT_FALSE(expired.ending.is_success()) << "an expired certificate was accepted";
    const auto without = publish_with("");
    EXPECT_FALSE(without.ending.is_success()) << "a client without certificate was accepted";
    // The refusals left the listener working.
    EXPECT_TRUE(publish_with("alice").ending.is_success());
}

/// A WebSocket upgrade on another path than /mqtt gets 404.
TEST_F(Transport, WebSocketUpgradeOnAnotherPathGets404) {
    start_broker();
    auto wrong_path =
        node_client("path", {"raw-frame", "--url", url("ws", broker_->websocket_port, "/other"),
                             "--protocol", "mqtt", "--kind", "binary", "--size", "2"});
    ASSERT_TRUE(wrong_path->wait().has_value());
    EXPECT_NE(wrong_path->output().find("unexpected-response\t404"), std::string::npos)
        << wrong_path->output();
}

} // namespace
} // namespace perch::integration
