// Wire bytes per chat message: 20 chat users of one room, MQTT 5.0, each message published by one
// of them (QoS 1) and delivered to the 19 others, over plain TCP, WebSocket, and WebSocket with
// permessage-deflate, with the clients allowing 64 topic aliases (the broker uses at most its
// outbound_topic_alias_maximum of them) or none.
//
// Usage: bench_chat_wire_bytes PERCH_BINARY [MESSAGES] [RUNS] [OUTBOUND_TOPIC_ALIAS_MAXIMUM]
// (default 400 messages, 3 runs, the broker's default alias cap). Prints one line per transport and
// alias setting: the TCP payload bytes the 20 clients received per delivered message (kernel count,
// TCP_INFO; PUBACKs to the senders included, the login excluded), median/min/max over the runs. One
// broker serves every run; messages go one at a time (a chat room, not a flood), and their texts
// are drawn from a fixed word list with a fixed seed, so runs repeat.
#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <variant>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket.hpp>

#include "gateway/chat/password_hash.hpp"
#include "mqtt/decoder.hpp"
#include "mqtt/encoder.hpp"
#include "mqtt/reason_code.hpp"
#include "store/chat_store.hpp"

#include "tests/bench/tcp_bytes_received.hpp"
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

namespace {

namespace asio = boost::asio;
namespace websocket = boost::beast::websocket;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;
namespace mqtt = perch::mqtt;

constexpr std::array<const char*, 20> user_names{"alice",   "bob",   "carol",  "dave",   "erin",
                                                 "frank",   "grace", "heidi",  "ivan",   "judy",
                                                 "mallory", "niaj",  "olivia", "peggy",  "rupert",
                                                 "sybil",   "trent", "victor", "walter", "yolanda"};
constexpr const char* room = "kitchen";
constexpr const char* password = "correct horse battery staple";

enum class transport_kind { tcp, websocket, websocket_deflate };

const char* name_of(transport_kind kind) {
    switch (kind) {
    case transport_kind::tcp: return "tcp";
    case transport_kind::websocket: return "websocket";
    case transport_kind::websocket_deflate: return "websocket_deflate";
    }
    return "?";
}

/// One chat client: an MQTT byte stream over TCP or WebSocket, blocking.
class chat_client {
public:
    chat_client(asio::io_context& context, transport_kind kind, std::uint16_t port)
        : kind_(kind), socket_(context), ws_(context) {
        const tcp::endpoint broker(asio::ip::make_address("127.0.0.1"), port);
        if (kind == transport_kind::tcp) {
            socket_.connect(broker);
            return;
        }
        ws_.next_layer().connect(broker);
        websocket::permessage_deflate deflate;
        deflate.client_enable = kind == transport_kind::websocket_deflate;
        ws_.set_option(deflate);
        ws_.set_option(websocket::stream_base::decorator([](websocket::request_type& request) {
            request.set(boost::beast::http::field::sec_websocket_protocol, "mqtt");
        }));
        ws_.binary(true);
        ws_.handshake("127.0.0.1", "/mqtt");
    }

    int native_handle() {
        return kind_ == transport_kind::tcp ? socket_.native_handle()
                                            : ws_.next_layer().native_handle();
    }

    std::uint64_t bytes_received() { return perch::bench::tcp_bytes_received(native_handle()); }

    void send(const mqtt::packet& out) {
        mqtt::byte_vector bytes;
        mqtt::encode_append(out, mqtt::protocol_version::v5, bytes);
        if (kind_ == transport_kind::tcp) {
            asio::write(socket_, asio::buffer(bytes.data(), bytes.size()));
        } else {
            ws_.write(asio::buffer(bytes.data(), bytes.size()));
        }
    }

    /// The next packet from the broker, waiting for it.
    mqtt::packet receive() {
        while (true) {
            std::size_t consumed = 0;
            auto outcome =
                mqtt::decode_next(mqtt::byte_view(input_.data(), input_.size()), {}, consumed);
            if (auto* decoded = std::get_if<mqtt::packet>(&outcome)) {
                input_.erase(input_.begin(), input_.begin() + static_cast<long>(consumed));
                return std::move(*decoded);
            }
            if (!std::holds_alternative<mqtt::need_more>(outcome)) {
                throw std::runtime_error("malformed packet from the broker");
            }
            if (kind_ == transport_kind::tcp) {
                std::array<std::uint8_t, 4096> chunk{};
                const std::size_t count = socket_.read_some(asio::buffer(chunk));
                input_.insert(input_.end(), chunk.begin(), chunk.begin() + count);
            } else {
                boost::beast::flat_buffer message;
                ws_.read(message);
                const auto* first = static_cast<const std::uint8_t*>(message.data().data());
                input_.insert(input_.end(), first, first + message.size());
            }
        }
    }

    template <typename T> T receive_a() {
        while (true) {
            mqtt::packet next = receive();
            if (auto* wanted = std::get_if<T>(&next)) {
                return std::move(*wanted);
            }
        }
    }

private:
    transport_kind kind_;
    tcp::socket socket_;
    websocket::stream<tcp::socket> ws_;
    mqtt::byte_vector input_;
};

std::uint16_t free_port() {
    asio::io_context context;
    tcp::acceptor probe(context, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    return probe.local_endpoint().port();
}

/// The users and the room, written into the database before the broker starts.
void write_directory(const std::string& path) {
    perch::store::store_options options;
    options.path = path;
    options.durability = perch::store::durability_level::batched;
    options.commit_interval_ms = 1;
    auto store = perch::store::open_chat_store(options);
    const std::string hash = perch::gateway::hash_password(password, 1);
    std::vector<perch::store::directory_change> changes;
    changes.push_back(perch::store::directory_change::adding_room({room, "", 0}));
    for (const char* user : user_names) {
        changes.push_back(perch::store::directory_change::adding_user({user, hash, 1}));
        changes.push_back(perch::store::directory_change::adding_member({room, user}));
    }
    std::promise<void> added;
    store->apply_directory_changes(std::move(changes),
                                   [&](perch::store::directory_result, std::size_t,
                                       const perch::store::store_status&) { added.set_value(); });
    added.get_future().wait();
    store->flush();
}

/// A short chat line drawn from a fixed vocabulary.
std::string chat_line(std::mt19937& random) {
    static constexpr std::array<const char*, 32> words{
        "the",   "train",  "is",       "late",  "again", "see",  "you",    "at",
        "six",   "who",    "brings",   "cake",  "I",     "will", "call",   "tonight",
        "ok",    "thanks", "kitchen",  "light", "left",  "on",   "coffee", "anyone",
        "later", "maybe",  "tomorrow", "great", "idea",  "done", "shop",   "milk"};
    std::uniform_int_distribution<std::size_t> word(0, words.size() - 1);
    std::uniform_int_distribution<int> length(3, 12);
    std::string line;
    for (int index = length(random); index > 0; --index) {
        if (!line.empty()) {
            line += ' ';
        }
        line += words[word(random)];
    }
    return line;
}

/// Bytes received per delivered message in one run.
double run_once(transport_kind kind, std::uint16_t port, std::uint16_t alias_maximum,
                int messages) {
    asio::io_context context;
    std::vector<std::unique_ptr<chat_client>> clients;
    for (std::size_t index = 0; index < user_names.size(); ++index) {
        auto client = std::make_unique<chat_client>(context, kind, port);
        mqtt::connect request;
        request.client_id = std::string(user_names[index]) + "/phone";
        request.user_name = user_names[index];
        const std::string secret = password;
        request.password = mqtt::byte_vector(secret.begin(), secret.end());
        if (alias_maximum > 0) {
            request.props.topic_alias_maximum = alias_maximum;
        }
        client->send(request);
        const mqtt::connack answer = client->receive_a<mqtt::connack>();
        if (answer.reason != mqtt::reason_code::success) {
            throw std::runtime_error(std::string("login refused: ") +
                                     std::string(mqtt::to_string(answer.reason)));
        }
        clients.push_back(std::move(client));
    }
    // Whatever the logins set off is read before counting starts.
    for (auto& client : clients) {
        client->send(mqtt::pingreq{});
        client->receive_a<mqtt::pingresp>();
    }
    std::vector<std::uint64_t> received_before;
    for (auto& client : clients) {
        received_before.push_back(client->bytes_received());
    }

    std::mt19937 random(42);
    std::uint64_t deliveries = 0;
    for (int index = 0; index < messages; ++index) {
        const std::size_t sender = static_cast<std::size_t>(index) % clients.size();
        mqtt::publish message;
        message.topic_name = std::string("chat/room/") + room + "/" + user_names[sender];
        message.payload = mqtt::shared_bytes::copy_of(std::string_view(chat_line(random)));
        message.qos_level = mqtt::qos::at_least_once;
        message.packet_id = static_cast<std::uint16_t>(index % 60000 + 1);
        clients[sender]->send(message);
        for (std::size_t other = 0; other < clients.size(); ++other) {
            if (other == sender) {
                continue;
            }
            const mqtt::publish delivered = clients[other]->receive_a<mqtt::publish>();
            if (delivered.qos_level != mqtt::qos::at_most_once) {
                clients[other]->send(mqtt::puback{delivered.packet_id, {}, {}});
            }
            ++deliveries;
        }
        clients[sender]->receive_a<mqtt::puback>();
    }
    // Every delivery and PUBACK has been read, and nothing else comes (presence is off).
    std::uint64_t received = 0;
    for (std::size_t index = 0; index < clients.size(); ++index) {
        received += clients[index]->bytes_received() - received_before[index];
    }
    for (auto& client : clients) {
        client->send(mqtt::disconnect{});
    }
    return static_cast<double>(received) / static_cast<double>(deliveries);
}

double median_of(std::vector<double> values) {
    std::sort(values.begin(), values.end());
    return values[values.size() / 2];
}

} // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr,
                     "usage: %s PERCH_BINARY [MESSAGES] [RUNS] [OUTBOUND_TOPIC_ALIAS_MAXIMUM]\n",
                     argv[0]);
        return 2;
    }
    const std::string program = argv[1];
    const int messages = argc > 2 ? std::atoi(argv[2]) : 400;
    const int runs = argc > 3 ? std::atoi(argv[3]) : 3;
    const std::string server_alias_maximum = argc > 4 ? argv[4] : "";

    const auto directory =
        std::filesystem::temp_directory_path() / ("bench-wire-" + std::to_string(::getpid()));
    std::filesystem::remove_all(directory);
    std::filesystem::create_directories(directory / "data");
    write_directory((directory / "data" / "perch.db").string());
    const std::uint16_t mqtt_port = free_port();
    const std::uint16_t websocket_port = free_port();
    const auto config_path = directory / "broker.conf";
    std::ofstream(config_path) << "listener " << mqtt_port << " 127.0.0.1\n"
                               << "listener " << websocket_port << " 127.0.0.1\n"
                               << "protocol websocket\n"
                               << "data_dir " << (directory / "data").string() << "\n"
                               << "password_iterations 1\n"
                               << "presence false\n"
                               << "log_level notice\n";
    if (!server_alias_maximum.empty()) {
        std::ofstream(config_path, std::ios::app)
            << "outbound_topic_alias_maximum " << server_alias_maximum << "\n";
    }
    const pid_t broker = ::fork();
    if (broker == 0) {
        const std::string log_path = (directory / "broker.log").string();
        std::freopen(log_path.c_str(), "w", stdout);
        std::freopen(log_path.c_str(), "a", stderr);
        ::execl(program.c_str(), program.c_str(), "-c", config_path.c_str(),
                static_cast<char*>(nullptr));
        std::_Exit(127);
    }
    int status = 0;
    try {
        asio::io_context probe_context;
        for (int attempt = 0;; ++attempt) {
            try {
                chat_client probe(probe_context, transport_kind::tcp, mqtt_port);
                chat_client websocket_probe(probe_context, transport_kind::websocket,
                                            websocket_port);
                break;
            } catch (const std::exception&) {
                if (attempt > 200) {
                    throw;
                }
                std::this_thread::sleep_for(50ms);
            }
        }
        for (const transport_kind kind :
             {transport_kind::tcp, transport_kind::websocket, transport_kind::websocket_deflate}) {
            for (const std::uint16_t alias_maximum : {std::uint16_t{0}, std::uint16_t{64}}) {
                std::vector<double> received;
                for (int run = 0; run < runs; ++run) {
                    received.push_back(
                        run_once(kind, kind == transport_kind::tcp ? mqtt_port : websocket_port,
                                 alias_maximum, messages));
                }
                std::printf("scenario=chat_wire_bytes transport=%s users=%zu messages=%d "
                            "client_topic_alias_maximum=%u server_outbound_topic_alias_maximum=%s "
                            "runs=%d "
                            "received_bytes_per_delivery_median=%.1f min=%.1f max=%.1f\n",
                            name_of(kind), user_names.size(), messages,
                            static_cast<unsigned>(alias_maximum),
                            server_alias_maximum.empty() ? "default" : server_alias_maximum.c_str(),
                            runs, median_of(received),
                            *std::min_element(received.begin(), received.end()),
                            *std::max_element(received.begin(), received.end()));
                std::fflush(stdout);
            }
        }
    } catch (const std::exception& error) {
        std::fprintf(stderr, "bench_chat_wire_bytes: %s (broker log: %s)\n", error.what(),
                     (directory / "broker.log").c_str());
        status = 1;
    }
    ::kill(broker, SIGTERM);
    ::waitpid(broker, nullptr, 0);
    if (status == 0) {
        std::filesystem::remove_all(directory);
    }
    return status;
}
