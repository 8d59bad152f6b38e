// TLS and WebSocket costs of perch beside Mosquitto (OpenSSL), in one run on loopback:
//   - broker RSS per idle connection (after CONNACK and one PINGREQ), N plain MQTT connections
//     against N over TLS 1.3;
//   - full TLS 1.3 handshakes (no resumption) per broker CPU-second (utime + stime), with an
//     X25519 key share (what OpenSSL, Node and browsers send first) and with a P-256 one;
//   - bytes on the wire, each direction, for a chat stream over WebSocket with and without
//     permessage-deflate, and perch's RSS per idle WebSocket connection with and without it;
//   - plain TCP connections opened and closed per broker CPU-second (the socket's share of a
//     handshake);
//   - the floor under perch's handshake figure: the microseconds of CPU the linked wolfCrypt
//     needs for a TLS 1.3 server's public-key work alone (one ECDSA P-256 signature, one ephemeral
//     key pair and one shared secret in the client's group, one RNG seeding for wolfSSL_new),
//     and the handshakes per CPU-second that would allow if nothing else cost anything.
// usage: bench_tls PERCH MOSQUITTO [CONNECTIONS] [HANDSHAKES] [websocket]
// Prints one line per result: "bench_tls broker=... metric=... value=... runs=... median=...".
#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/websocket.hpp>

// clang-format off
#include <wolfssl/options.h>
#include <wolfssl/ssl.h>
#include <wolfssl/wolfcrypt/curve25519.h>
#include <wolfssl/wolfcrypt/ecc.h>
#include <wolfssl/wolfcrypt/random.h>
// clang-format on

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

struct broker {
    std::string name;
    pid_t pid = -1;
    std::uint16_t plain_port = 0;
    std::uint16_t tls_port = 0;
    std::uint16_t websocket_port = 0;
};

std::uint16_t free_port() {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof(address);
    ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address));
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
    ::close(fd);
    return ntohs(address.sin_port);
}

int connect_to(std::uint16_t port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = htons(port);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
        ::close(fd);
        return -1;
    }
    return fd;
}

pid_t spawn(const std::vector<std::string>& argv, const fs::path& log) {
    const pid_t pid = ::fork();
    if (pid == 0) {
        const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
        ::dup2(fd, 1);
        ::dup2(fd, 2);
        std::vector<char*> args;
        for (const std::string& arg : argv) {
            args.push_back(const_cast<char*>(arg.c_str()));
        }
        args.push_back(nullptr);
        ::execv(args[0], args.data());
        ::_exit(127);
    }
    return pid;
}

void wait_listening(std::uint16_t port) {
    for (int attempt = 0; attempt < 500; ++attempt) {
        const int fd = connect_to(port);
        if (fd >= 0) {
            ::close(fd);
            return;
        }
        std::this_thread::sleep_for(10ms);
    }
    throw std::runtime_error("broker did not listen on " + std::to_string(port));
}

long rss_kib(pid_t pid) {
    std::ifstream status("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(status, line)) {
        if (line.rfind("VmRSS:", 0) == 0) {
            return std::stol(line.substr(6));
        }
    }
    return 0;
}

double cpu_seconds(pid_t pid) {
    std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
    std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
    std::istringstream fields(text.substr(text.rfind(')') + 2));
    std::string field;
    unsigned long utime = 0;
    unsigned long stime = 0;
    for (int index = 3; index <= 15 && fields >> field; ++index) {
        if (index == 14) {
            utime = std::stoul(field);
        } else if (index == 15) {
            stime = std::stoul(field);
        }
    }
    return static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

std::string connect_packet(const std::string& client_id) {
    std::string body("\x00\x04MQTT\x04\x02\x00\x3c", 10);
    body += static_cast<char>(client_id.size() >> 8);
    body += static_cast<char>(client_id.size() & 0xFF);
    body += client_id;
    return std::string(1, '\x10') + static_cast<char>(body.size()) + body;
}

std::string varint(std::size_t value) {
    std::string out;
    do {
        char byte = static_cast<char>(value % 128);
        value /= 128;
        if (value > 0) {
            byte = static_cast<char>(byte | 0x80);
        }
        out += byte;
    } while (value > 0);
    return out;
}

std::string publish_packet(const std::string& topic, const std::string& payload) {
    std::string body;
    body += static_cast<char>(topic.size() >> 8);
    body += static_cast<char>(topic.size() & 0xFF);
    body += topic + payload;
    return "\x30" + varint(body.size()) + body;
}

/// A client session: a plain socket, or a wolfSSL session over it.
struct session {
    int fd = -1;
    WOLFSSL* tls = nullptr;
};

bool send_all(const session& client, const std::string& bytes) {
    if (client.tls != nullptr) {
        return wolfSSL_write(client.tls, bytes.data(), static_cast<int>(bytes.size())) ==
               static_cast<int>(bytes.size());
    }
    return ::send(client.fd, bytes.data(), bytes.size(), 0) == static_cast<ssize_t>(bytes.size());
}

bool read_connack(const session& client) {
    char connack[4];
    int got = 0;
    while (got < 4) {
        const int count = client.tls != nullptr
                              ? wolfSSL_read(client.tls, connack + got, 4 - got)
                              : static_cast<int>(::recv(client.fd, connack + got, 4 - got, 0));
        if (count <= 0) {
            return false;
        }
        got += count;
    }
    return connack[0] == 0x20 && connack[3] == 0;
}

bool read_pingresp(const session& client) {
    char pingresp[2];
    int got = 0;
    while (got < 2) {
        const int count = client.tls != nullptr
                              ? wolfSSL_read(client.tls, pingresp + got, 2 - got)
                              : static_cast<int>(::recv(client.fd, pingresp + got, 2 - got, 0));
        if (count <= 0) {
            return false;
        }
        got += count;
    }
    return static_cast<std::uint8_t>(pingresp[0]) == 0xD0 && pingresp[1] == 0;
}

/// The key share the idle clients send (X25519, as OpenSSL, Node and browsers do).
constexpr int idle_key_share = WOLFSSL_ECC_X25519;

session open_session(WOLFSSL_CTX* context, std::uint16_t port, const std::string& client_id) {
    session client;
    client.fd = connect_to(port);
    if (client.fd < 0) {
        throw std::runtime_error("connect failed");
    }
    if (context != nullptr) {
        client.tls = wolfSSL_new(context);
        wolfSSL_set_fd(client.tls, client.fd);
        wolfSSL_UseKeyShare(client.tls, static_cast<word16>(idle_key_share));
        if (wolfSSL_connect(client.tls) != WOLFSSL_SUCCESS) {
            throw std::runtime_error("TLS handshake failed");
        }
    }
    if (!send_all(client, connect_packet(client_id)) || !read_connack(client)) {
        throw std::runtime_error("no CONNACK");
    }
    if (!send_all(client, std::string("\xc0\x00", 2)) || !read_pingresp(client)) {
        throw std::runtime_error("no PINGRESP");
    }
    return client;
}

void close_session(session& client) {
    if (client.tls != nullptr) {
        wolfSSL_free(client.tls);
    }
    ::close(client.fd);
}

/// RSS growth of the broker per connection, in bytes, for `count` idle connections.
double bytes_per_connection(const broker& target, WOLFSSL_CTX* context, std::uint16_t port,
                            int count) {
    std::this_thread::sleep_for(300ms);
    const long before = rss_kib(target.pid);
    std::vector<session> sessions;
    for (int index = 0; index < count; ++index) {
        sessions.push_back(open_session(context, port, "idle-" + std::to_string(index)));
    }
    std::this_thread::sleep_for(500ms);
    const long after = rss_kib(target.pid);
    for (session& client : sessions) {
        close_session(client);
    }
    std::this_thread::sleep_for(500ms);
    return static_cast<double>(after - before) * 1024.0 / count;
}

double handshakes_per_cpu_second(const broker& target, WOLFSSL_CTX* context, int count,
                                 int key_share) {
    const double cpu_before = cpu_seconds(target.pid);
    for (int index = 0; index < count; ++index) {
        session client;
        client.fd = connect_to(target.tls_port);
        client.tls = wolfSSL_new(context);
        wolfSSL_set_fd(client.tls, client.fd);
        wolfSSL_UseKeyShare(client.tls, static_cast<word16>(key_share));
        if (wolfSSL_connect(client.tls) != WOLFSSL_SUCCESS) {
            throw std::runtime_error("handshake failed");
        }
        wolfSSL_shutdown(client.tls);
        close_session(client);
    }
    std::this_thread::sleep_for(200ms);
    return count / std::max(cpu_seconds(target.pid) - cpu_before, 1e-3);
}

/// Plain TCP connections opened and closed (no TLS, no MQTT) per broker CPU-second: what accepting,
/// registering and closing a socket costs the broker, the part of a handshake no TLS library saves.
double tcp_connections_per_cpu_second(const broker& target, std::uint16_t port, int count) {
    const double cpu_before = cpu_seconds(target.pid);
    for (int index = 0; index < count; ++index) {
        const int fd = connect_to(port);
        if (fd < 0) {
            throw std::runtime_error("connect failed");
        }
        ::shutdown(fd, SHUT_WR);
        char byte = 0;
        // The broker sees end of stream and closes its side.
        while (::recv(fd, &byte, 1, 0) > 0) {
        }
        ::close(fd);
    }
    std::this_thread::sleep_for(200ms);
    return count / std::max(cpu_seconds(target.pid) - cpu_before, 1e-3);
}

/// A TCP socket that counts the bytes it carries each way (WebSocket frames included), for Beast.
struct counting_socket {
    using executor_type = boost::asio::ip::tcp::socket::executor_type;
    boost::asio::ip::tcp::socket& socket;
    std::uint64_t& bytes_sent;
    std::uint64_t& bytes_received;

    executor_type get_executor() { return socket.get_executor(); }
    template <typename Buffers> std::size_t read_some(const Buffers& buffers) {
        const std::size_t count = socket.read_some(buffers);
        bytes_received += count;
        return count;
    }
    template <typename Buffers>
    std::size_t read_some(const Buffers& buffers, boost::system::error_code& error) {
        const std::size_t count = socket.read_some(buffers, error);
        bytes_received += count;
        return count;
    }
    template <typename Buffers> std::size_t write_some(const Buffers& buffers) {
        const std::size_t count = socket.write_some(buffers);
        bytes_sent += count;
        return count;
    }
    template <typename Buffers>
    std::size_t write_some(const Buffers& buffers, boost::system::error_code& error) {
        const std::size_t count = socket.write_some(buffers, error);
        bytes_sent += count;
        return count;
    }
};

void teardown(boost::beast::role_type, counting_socket& stream, boost::system::error_code& error) {
    stream.socket.shutdown(boost::asio::ip::tcp::socket::shutdown_both, error);
    stream.socket.close(error);
}

/// `count` chat messages as a client app would publish them: JSON of 60 to 300 bytes with an id,
/// sender, room, text and timestamp, to "rooms/ROOM/SENDER" topics (deterministic; outside the
/// chat/ tree, which anonymous clients may not use).
std::vector<std::pair<std::string, std::string>> chat_stream(int count) {
    static const std::vector<std::string> words = {
        "the",   "release", "is",     "ready", "can",       "you",     "review",  "my",
        "patch", "before",  "lunch",  "ok",    "thanks",    "see",     "at",      "standup",
        "build", "failed",  "again",  "on",    "arm64",     "fixed",   "it",      "with",
        "a",     "retry",   "who",    "owns",  "dashboard", "meeting", "moved",   "to",
        "3pm",   "coffee",  "anyone", "lgtm",  "merged",    "deploy",  "tonight", "rollback"};
    static const std::vector<std::string> rooms = {"general", "dev", "ops", "random"};
    static const std::vector<std::string> people = {"alice", "bob", "carol", "dave", "erin"};
    std::uint64_t state = 0x9E3779B97F4A7C15ULL;
    const auto next = [&state](std::uint64_t bound) {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        return state % bound;
    };
    std::vector<std::pair<std::string, std::string>> messages;
    for (int index = 0; index < count; ++index) {
        const std::string& room = rooms[next(rooms.size())];
        const std::string& from = people[next(people.size())];
        std::string text;
        const std::size_t text_bytes = 10 + next(220);
        while (text.size() < text_bytes) {
            text += (text.empty() ? "" : " ") + words[next(words.size())];
        }
        const std::string payload = R"({"id":")" + std::to_string(1'700'000 + index) +
                                    R"(","from":")" + from + R"(","room":")" + room +
                                    R"(","text":")" + text + R"(","ts":)" +
                                    std::to_string(1'764'000'000'000ULL + index * 1371ULL) + "}";
        messages.emplace_back("rooms/" + room + "/" + from, payload);
    }
    return messages;
}

struct wire_bytes {
    std::uint64_t sent = 0;
    std::uint64_t received = 0;
};

/// Wire bytes each way of one WebSocket client, subscribed to "rooms/#", publishing `chat`
/// (so each message travels up and back down), from the upgrade request to the last message.
wire_bytes websocket_chat_bytes(std::uint16_t port, bool is_deflate,
                                const std::vector<std::pair<std::string, std::string>>& chat) {
    namespace websocket = boost::beast::websocket;
    boost::asio::io_context context;
    boost::asio::ip::tcp::socket socket(context);
    socket.connect({boost::asio::ip::make_address("127.0.0.1"), port});
    wire_bytes totals;
    websocket::stream<counting_socket> stream(
        counting_socket{socket, totals.sent, totals.received});
    websocket::permessage_deflate deflate;
    deflate.client_enable = is_deflate;
    stream.set_option(deflate);
    stream.set_option(websocket::stream_base::decorator([](websocket::request_type& request) {
        request.set(boost::beast::http::field::sec_websocket_protocol, "mqtt");
    }));
    stream.binary(true);
    stream.handshake("127.0.0.1", "/mqtt");
    boost::beast::flat_buffer buffer;
    stream.write(boost::asio::buffer(connect_packet(is_deflate ? "chat-z" : "chat")));
    stream.read(buffer);
    buffer.clear();
    // SUBSCRIBE packet id 1, "rooms/#" at QoS 0.
    stream.write(boost::asio::buffer(std::string("\x82\x0c\x00\x01\x00\x07"
                                                 "rooms/#\x00",
                                                 14)));
    stream.read(buffer);
    buffer.clear();
    std::size_t expected = 0;
    for (const auto& [topic, payload] : chat) {
        const std::string packet = publish_packet(topic, payload);
        stream.write(boost::asio::buffer(packet));
        expected += packet.size();
        // One message in flight at a time, as a person chats: every message is its own frame.
        std::size_t received = 0;
        while (received < packet.size()) {
            received += stream.read(buffer);
            buffer.clear();
        }
    }
    const wire_bytes carried = totals;
    stream.close(websocket::close_code::normal);
    return carried;
}

/// perch's RSS growth per idle WebSocket connection (after CONNACK and one PINGREQ/PINGRESP,
/// which the server compresses when deflate is on), `count` connections.
double websocket_bytes_per_connection(const broker& target, bool is_deflate, int count) {
    namespace websocket = boost::beast::websocket;
    std::this_thread::sleep_for(300ms);
    const long before = rss_kib(target.pid);
    boost::asio::io_context context;
    std::vector<std::unique_ptr<websocket::stream<boost::asio::ip::tcp::socket>>> clients;
    for (int index = 0; index < count; ++index) {
        auto stream = std::make_unique<websocket::stream<boost::asio::ip::tcp::socket>>(context);
        stream->next_layer().connect(
            {boost::asio::ip::make_address("127.0.0.1"), target.websocket_port});
        websocket::permessage_deflate deflate;
        deflate.client_enable = is_deflate;
        stream->set_option(deflate);
        stream->set_option(websocket::stream_base::decorator([](websocket::request_type& request) {
            request.set(boost::beast::http::field::sec_websocket_protocol, "mqtt");
        }));
        stream->binary(true);
        stream->handshake("127.0.0.1", "/mqtt");
        boost::beast::flat_buffer buffer;
        stream->write(boost::asio::buffer(connect_packet("ws-idle-" + std::to_string(index))));
        stream->read(buffer);
        buffer.clear();
        stream->write(boost::asio::buffer(std::string("\xc0\x00", 2)));
        stream->read(buffer);
        clients.push_back(std::move(stream));
    }
    std::this_thread::sleep_for(500ms);
    const long after = rss_kib(target.pid);
    for (auto& client : clients) {
        boost::system::error_code ignored;
        client->next_layer().close(ignored);
    }
    std::this_thread::sleep_for(500ms);
    return static_cast<double>(after - before) * 1024.0 / count;
}

/// Best of three runs of `count` calls of `operation`, in microseconds per call.
template <typename Operation> double microseconds_per_call(int count, Operation operation) {
    double best = 1e30;
    for (int run = 0; run < 3; ++run) {
        const auto start = std::chrono::steady_clock::now();
        for (int index = 0; index < count; ++index) {
            operation();
        }
        const std::chrono::duration<double, std::micro> spent =
            std::chrono::steady_clock::now() - start;
        best = std::min(best, spent.count() / count);
    }
    return best;
}

void require(int result, const char* what) {
    if (result != 0) {
        throw std::runtime_error(std::string("wolfCrypt: ") + what + " failed");
    }
}

/// The public-key work a TLS 1.3 server does per full handshake, timed in this process with the
/// wolfCrypt perch links: sign the CertificateVerify with the ECDSA P-256 key, make an ephemeral
/// key pair in the client's group and derive the shared secret, seed the per-session RNG.
struct handshake_crypto {
    double sign_us = 0;
    double rng_seed_us = 0;
    double x25519_us = 0; ///< key pair + shared secret
    double p256_us = 0;   ///< key pair + shared secret
};

handshake_crypto measure_handshake_crypto(int count) {
    WC_RNG rng;
    require(wc_InitRng(&rng), "wc_InitRng");
    handshake_crypto result;

    ecc_key signing_key;
    require(wc_ecc_init(&signing_key), "wc_ecc_init");
    require(wc_ecc_make_key_ex(&rng, 32, &signing_key, ECC_SECP256R1), "wc_ecc_make_key_ex");
    std::array<byte, 32> digest{};
    digest.fill(0x5a);
    result.sign_us = microseconds_per_call(count, [&] {
        std::array<byte, 128> signature{};
        word32 length = signature.size();
        require(wc_ecc_sign_hash(digest.data(), digest.size(), signature.data(), &length, &rng,
                                 &signing_key),
                "wc_ecc_sign_hash");
    });
    wc_ecc_free(&signing_key);

    result.rng_seed_us = microseconds_per_call(count, [] {
        WC_RNG seeded;
        require(wc_InitRng(&seeded), "wc_InitRng");
        wc_FreeRng(&seeded);
    });

    // The client's key share is new in every handshake: the peers rotate through more keys than
    // wolfCrypt's fixed-point cache (FP_ECC) holds, so no peer point is ever precomputed.
    constexpr std::size_t peer_count = 64;
    std::vector<curve25519_key> x25519_peers(peer_count);
    for (curve25519_key& peer : x25519_peers) {
        require(wc_curve25519_init(&peer), "wc_curve25519_init");
        require(wc_curve25519_make_key(&rng, 32, &peer), "wc_curve25519_make_key");
    }
    std::size_t next_peer = 0;
    result.x25519_us = microseconds_per_call(count, [&] {
        curve25519_key own;
        require(wc_curve25519_init(&own), "wc_curve25519_init");
        require(wc_curve25519_make_key(&rng, 32, &own), "wc_curve25519_make_key");
        std::array<byte, 32> secret{};
        word32 length = secret.size();
        require(wc_curve25519_shared_secret(&own, &x25519_peers[next_peer++ % peer_count],
                                            secret.data(), &length),
                "wc_curve25519_shared_secret");
        wc_curve25519_free(&own);
    });
    for (curve25519_key& peer : x25519_peers) {
        wc_curve25519_free(&peer);
    }

    std::vector<ecc_key> p256_peers(peer_count);
    for (ecc_key& peer : p256_peers) {
        require(wc_ecc_init(&peer), "wc_ecc_init");
        require(wc_ecc_make_key_ex(&rng, 32, &peer, ECC_SECP256R1), "wc_ecc_make_key_ex");
    }
    result.p256_us = microseconds_per_call(count, [&] {
        ecc_key own;
        require(wc_ecc_init(&own), "wc_ecc_init");
        require(wc_ecc_make_key_ex(&rng, 32, &own, ECC_SECP256R1), "wc_ecc_make_key_ex");
        require(wc_ecc_set_rng(&own, &rng), "wc_ecc_set_rng");
        std::array<byte, 32> secret{};
        word32 length = secret.size();
        require(wc_ecc_shared_secret(&own, &p256_peers[next_peer++ % peer_count], secret.data(),
                                     &length),
                "wc_ecc_shared_secret");
        wc_ecc_free(&own);
    });
    for (ecc_key& peer : p256_peers) {
        wc_ecc_free(&peer);
    }
    wc_FreeRng(&rng);
    return result;
}

void print(const std::string& broker_name, const std::string& metric, double value,
           const std::string& unit) {
    std::printf("bench_tls broker=%s metric=%s runs=1 median=%.1f min=%.1f max=%.1f unit=%s\n",
                broker_name.c_str(), metric.c_str(), value, value, value, unit.c_str());
    std::fflush(stdout);
}

} // namespace

int main(int argc, char** argv) {
    if (argc < 3) {
        std::fprintf(stderr, "usage: %s PERCH MOSQUITTO [CONNECTIONS] [HANDSHAKES]\n", argv[0]);
        return 2;
    }
    const int connections = argc > 3 ? std::atoi(argv[3]) : 2000;
    const int handshakes = argc > 4 ? std::atoi(argv[4]) : 2000;
    ::signal(SIGPIPE, SIG_IGN);
    wolfSSL_Init();
    const fs::path directory =
        fs::temp_directory_path() / ("bench_tls-" + std::to_string(::getpid()));
    fs::create_directories(directory / "data");

    const fs::path certificate = directory / "data" / "perch-cert.pem";
    const fs::path key = directory / "data" / "perch-key.pem";
    // Mosquitto drops root privileges: it reads a world-readable copy of the key.
    const fs::path shared_key = directory / "shared-key.pem";
    const auto start_perch = [&] {
        broker perch{"perch", -1, free_port(), free_port(), free_port()};
        std::ofstream config(directory / "perch.conf");
        config << "allow_anonymous true\npersistence false\nmax_connection_rate 0\ndata_dir "
               << (directory / "data").string() << "\nsys_interval 0\nlistener " << perch.plain_port
               << " 127.0.0.1\nlistener " << perch.tls_port
               << " 127.0.0.1\nprotocol mqtt_tls\nlistener " << perch.websocket_port
               << " 127.0.0.1\nprotocol websocket\n";
        config.close();
        perch.pid =
            spawn({argv[1], "-c", (directory / "perch.conf").string()}, directory / "perch.log");
        wait_listening(perch.tls_port);
        return perch;
    };
    const auto start_mosquitto = [&] {
        broker mosquitto{"mosquitto", -1, free_port(), free_port(), 0};
        fs::copy_file(key, shared_key, fs::copy_options::overwrite_existing);
        fs::permissions(shared_key,
                        fs::perms::owner_read | fs::perms::group_read | fs::perms::others_read);
        std::ofstream config(directory / "mosquitto.conf");
        config << "allow_anonymous true\npersistence false\nmax_connections -1\nlistener "
               << mosquitto.plain_port << " 127.0.0.1\nlistener " << mosquitto.tls_port
               << " 127.0.0.1\ncertfile " << certificate.string() << "\nkeyfile "
               << shared_key.string() << "\n";
        config.close();
        mosquitto.pid = spawn({argv[2], "-c", (directory / "mosquitto.conf").string()},
                              directory / "mosquitto.log");
        wait_listening(mosquitto.tls_port);
        return mosquitto;
    };
    const auto stop = [](const broker& target) {
        ::kill(target.pid, SIGTERM);
        ::waitpid(target.pid, nullptr, 0);
    };
    // The first start generates the certificate both brokers use.
    stop(start_perch());

    WOLFSSL_CTX* client_context = wolfSSL_CTX_new(wolfTLSv1_3_client_method());
    wolfSSL_CTX_load_verify_locations(client_context, certificate.c_str(), nullptr);
    wolfSSL_CTX_set_session_cache_mode(client_context, WOLFSSL_SESS_CACHE_OFF);

    // "websocket" as the fifth argument measures the WebSocket figures only.
    const bool is_websocket_only = argc > 5 && std::string(argv[5]) == "websocket";
    if (!is_websocket_only) {
        const handshake_crypto crypto = measure_handshake_crypto(std::max(handshakes / 2, 100));
        const double x25519_floor = crypto.sign_us + crypto.rng_seed_us + crypto.x25519_us;
        const double p256_floor = crypto.sign_us + crypto.rng_seed_us + crypto.p256_us;
        print("perch", "wolfcrypt_us_ecdsa_p256_sign", crypto.sign_us, "us");
        print("perch", "wolfcrypt_us_rng_seed", crypto.rng_seed_us, "us");
        print("perch", "wolfcrypt_us_x25519_key_pair_and_secret", crypto.x25519_us, "us");
        print("perch", "wolfcrypt_us_p256_key_pair_and_secret", crypto.p256_us, "us");
        print("perch", "handshake_public_key_us_x25519", x25519_floor, "us");
        print("perch", "handshake_public_key_us_p256", p256_floor, "us");
        print("perch", "handshakes_per_cpu_second_ceiling_from_public_key_x25519",
              1e6 / x25519_floor, "1/s");
        print("perch", "handshakes_per_cpu_second_ceiling_from_public_key_p256", 1e6 / p256_floor,
              "1/s");
    }
    for (const bool is_perch : {true, false}) {
        if (is_websocket_only) {
            break;
        }
        const auto fresh = [&] { return is_perch ? start_perch() : start_mosquitto(); };
        // A fresh broker per measurement: memory freed by one run would hide the next one's.
        broker target = fresh();
        const double plain = bytes_per_connection(target, nullptr, target.plain_port, connections);
        stop(target);
        target = fresh();
        const double tls =
            bytes_per_connection(target, client_context, target.tls_port, connections);
        print(target.name, "rss_bytes_per_idle_plain_connection", plain, "B");
        print(target.name, "rss_bytes_per_idle_tls_connection", tls, "B");
        print(target.name, "tls_extra_bytes_per_idle_connection", tls - plain, "B");
        stop(target);
        target = fresh();
        print(target.name, "tcp_connections_per_cpu_second",
              tcp_connections_per_cpu_second(target, target.plain_port, 4 * handshakes), "1/s");
        print(target.name, "full_tls13_handshakes_per_cpu_second_x25519",
              handshakes_per_cpu_second(target, client_context, handshakes, WOLFSSL_ECC_X25519),
              "1/s");
        print(target.name, "full_tls13_handshakes_per_cpu_second_p256",
              handshakes_per_cpu_second(target, client_context, handshakes, WOLFSSL_ECC_SECP256R1),
              "1/s");
        stop(target);
    }
    broker perch = start_perch();
    const auto chat = chat_stream(1000);
    std::uint64_t payload_bytes = 0;
    for (const auto& [topic, payload] : chat) {
        payload_bytes += payload.size();
    }
    print("perch", "chat_messages", static_cast<double>(chat.size()), "messages");
    print("perch", "chat_payload_bytes", static_cast<double>(payload_bytes), "B");
    for (const bool is_deflate : {false, true}) {
        const wire_bytes wire = websocket_chat_bytes(perch.websocket_port, is_deflate, chat);
        const std::string kind = is_deflate ? "deflate" : "plain";
        print("perch", "websocket_chat_wire_bytes_client_to_broker_" + kind,
              static_cast<double>(wire.sent), "B");
        print("perch", "websocket_chat_wire_bytes_broker_to_client_" + kind,
              static_cast<double>(wire.received), "B");
    }
    stop(perch);
    const int websocket_connections = std::min(connections, 1000);
    for (const bool is_deflate : {false, true}) {
        perch = start_perch();
        print("perch",
              std::string("rss_bytes_per_idle_websocket_connection_") +
                  (is_deflate ? "deflate" : "plain"),
              websocket_bytes_per_connection(perch, is_deflate, websocket_connections), "B");
        stop(perch);
    }

    wolfSSL_CTX_free(client_context);
    fs::remove_all(directory);
    return 0;
}
