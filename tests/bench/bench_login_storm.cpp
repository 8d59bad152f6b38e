// A login storm after a restart: N chat users log in at once (MQTT 3.1.1 CONNECT with user name
// and password, CONNACK, DISCONNECT) against a freshly started perch, with the password checked
// against a PBKDF2-SHA512 hash of a given iteration count, or with a device token.
//
// Usage: bench_login_storm PERCH_BINARY [USERS] [ITERATIONS,...]
// (default 500 users, iterations 101,210000). For each iteration count, and then for device
// tokens, prints one line: runs=3, median/min/max of logins per second (wall clock, 8 client
// threads) and of the broker's CPU seconds (user + system, /proc/PID/stat) for the whole storm.
// The users are written into the database before the broker starts, all with the same hash (one
// PBKDF2 to set up; verification costs the same as with a hash per user).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include "gateway/chat/device_token.hpp"
#include "gateway/chat/password_hash.hpp"
#include "store/chat_store.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

namespace {

using namespace std::chrono_literals;

constexpr int runs = 3;
constexpr int client_threads = 8;
constexpr auto login_timeout = 60s;

std::uint16_t free_port() {
    const int probe = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(probe, reinterpret_cast<const sockaddr*>(&address), sizeof(address));
    socklen_t length = sizeof(address);
    ::getsockname(probe, reinterpret_cast<sockaddr*>(&address), &length);
    ::close(probe);
    return ntohs(address.sin_port);
}

/// CPU seconds (user + system) the process has used so far.
double cpu_seconds_of(pid_t process) {
    std::ifstream stat("/proc/" + std::to_string(process) + "/stat");
    std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
    // Fields after the command name (which may hold spaces) start after the last ')'.
    std::size_t position = text.rfind(')');
    if (position == std::string::npos) {
        return 0;
    }
    std::vector<std::string> fields;
    std::size_t start = position + 2;
    while (start < text.size()) {
        const std::size_t end = std::min(text.find(' ', start), text.size());
        fields.push_back(text.substr(start, end - start));
        start = end + 1;
    }
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    if (fields.size() < 13) {
        return 0;
    }
    const double ticks =
        std::strtod(fields[11].c_str(), nullptr) + std::strtod(fields[12].c_str(), nullptr);
    return ticks / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

void append_string(std::vector<std::uint8_t>& out, std::string_view text) {
    out.push_back(static_cast<std::uint8_t>(text.size() >> 8));
    out.push_back(static_cast<std::uint8_t>(text.size() & 0xff));
    out.insert(out.end(), text.begin(), text.end());
}

/// An MQTT 3.1.1 CONNECT (clean session, keep alive 0) with user name and password.
std::vector<std::uint8_t> connect_packet(std::string_view client_id, std::string_view user_name,
                                         std::string_view password) {
    std::vector<std::uint8_t> body;
    append_string(body, "MQTT");
    body.push_back(4);
    body.push_back(0xc2); // user name, password, clean session
    body.push_back(0);
    body.push_back(0);
    append_string(body, client_id);
    append_string(body, user_name);
    append_string(body, password);
    std::vector<std::uint8_t> packet{0x10};
    std::size_t length = body.size();
    do {
        std::uint8_t digit = length % 128;
        length /= 128;
        packet.push_back(length > 0 ? static_cast<std::uint8_t>(digit | 0x80) : digit);
    } while (length > 0);
    packet.insert(packet.end(), body.begin(), body.end());
    return packet;
}

/// One login: the CONNACK's return code (0: accepted), or -1 when none came.
int log_in(std::uint16_t port, std::string_view user, std::string_view password) {
    const int socket = ::socket(AF_INET, SOCK_STREAM, 0);
    timeval timeout{static_cast<time_t>(login_timeout.count()), 0};
    ::setsockopt(socket, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int return_code = -1;
    if (::connect(socket, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) == 0) {
        const auto packet = connect_packet(std::string(user) + "/bench", user, password);
        std::uint8_t connack[4] = {};
        std::size_t received = 0;
        if (::send(socket, packet.data(), packet.size(), MSG_NOSIGNAL) ==
            static_cast<ssize_t>(packet.size())) {
            while (received < sizeof(connack)) {
                const ssize_t count =
                    ::recv(socket, connack + received, sizeof(connack) - received, 0);
                if (count <= 0) {
                    break;
                }
                received += static_cast<std::size_t>(count);
            }
        }
        if (received == sizeof(connack) && connack[0] == 0x20) {
            return_code = connack[3];
        }
        if (return_code == 0) {
            const std::uint8_t disconnect[2] = {0xe0, 0};
            ::send(socket, disconnect, sizeof(disconnect), MSG_NOSIGNAL);
        }
    }
    ::close(socket);
    return return_code;
}

/// Writes `users` users u0.. with `password_hash`, and when `tokens` is given one device token
/// each (tokens[k] for user uK), into the database at `path`.
void write_users(const std::string& path, std::size_t users, const std::string& password_hash,
                 const std::vector<std::string>* tokens) {
    perch::store::store_options options;
    options.path = path;
    options.durability = perch::store::durability_level::batched;
    options.commit_interval_ms = 1;
    auto store = perch::store::open_chat_store(options);
    std::vector<perch::store::directory_change> changes;
    for (std::size_t user = 0; user < users; ++user) {
        changes.push_back(perch::store::directory_change::adding_user(
            {"u" + std::to_string(user), password_hash, 1}));
    }
    std::promise<void> added;
    store->apply_directory_changes(std::move(changes),
                                   [&](perch::store::directory_result, std::size_t,
                                       const perch::store::store_status&) { added.set_value(); });
    added.get_future().wait();
    if (tokens != nullptr) {
        for (std::size_t user = 0; user < users; ++user) {
            store->set_device_token({"u" + std::to_string(user), "bench",
                                     perch::gateway::device_token_hash((*tokens)[user]), 1},
                                    {});
        }
    }
    store->flush();
}

struct storm_result {
    double logins_per_second = 0;
    double cpu_seconds = 0;
    std::size_t failures = 0;
};

storm_result run_once(const std::string& program, std::size_t users, std::uint32_t iterations,
                      bool is_token) {
    const auto directory =
        std::filesystem::temp_directory_path() / ("bench-login-" + std::to_string(::getpid()));
    std::filesystem::remove_all(directory);
    std::filesystem::create_directories(directory / "data");
    const std::string password = "correct horse battery staple";
    std::vector<std::string> tokens;
    if (is_token) {
        for (std::size_t user = 0; user < users; ++user) {
            tokens.push_back(perch::gateway::make_device_token());
        }
    }
    write_users((directory / "data" / "perch.db").string(), users,
                perch::gateway::hash_password(password, iterations), is_token ? &tokens : nullptr);

    const std::uint16_t port = free_port();
    const auto config_path = directory / "broker.conf";
    // The configured count is the stored one: no login rehashes.
    std::ofstream(config_path) << "listener " << port << " 127.0.0.1\n"
                               << "data_dir " << (directory / "data").string() << "\n"
                               << "password_iterations " << iterations << "\n"
                               << "presence false\n"
                               // A storm from one address: no per-address rate (docs/LIMITS.md).
                               << "max_connection_rate 0\n";
    const pid_t broker = ::fork();
    if (broker == 0) {
        const std::string log_path = (directory / "broker.log").string();
        std::freopen(log_path.c_str(), "w", stdout);
        std::freopen(log_path.c_str(), "a", stderr);
        ::execl(program.c_str(), program.c_str(), "-c", config_path.c_str(),
                static_cast<char*>(nullptr));
        std::_Exit(127);
    }
    // Up when a CONNECT is answered (refused: no such user).
    for (int attempt = 0; attempt < 200 && log_in(port, "nobody", "x") < 0; ++attempt) {
        std::this_thread::sleep_for(50ms);
    }

    const double cpu_before = cpu_seconds_of(broker);
    std::atomic<std::size_t> next{0};
    std::atomic<std::size_t> failures{0};
    const auto started = std::chrono::steady_clock::now();
    std::vector<std::thread> clients;
    for (int thread = 0; thread < client_threads; ++thread) {
        clients.emplace_back([&] {
            for (std::size_t user = next++; user < users; user = next++) {
                const std::string name = "u" + std::to_string(user);
                if (log_in(port, name, is_token ? tokens[user] : password) != 0) {
                    ++failures;
                }
            }
        });
    }
    for (std::thread& client : clients) {
        client.join();
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    const double cpu_seconds = cpu_seconds_of(broker) - cpu_before;
    ::kill(broker, SIGTERM);
    int status = 0;
    ::waitpid(broker, &status, 0);
    std::filesystem::remove_all(directory);
    return {static_cast<double>(users) / seconds, cpu_seconds, failures.load()};
}

void report(const std::string& program, std::size_t users, std::uint32_t iterations,
            bool is_token) {
    std::vector<storm_result> results;
    std::size_t failures = 0;
    for (int run = 0; run < runs; ++run) {
        results.push_back(run_once(program, users, iterations, is_token));
        failures += results.back().failures;
    }
    auto rates = results;
    std::sort(rates.begin(), rates.end(), [](const storm_result& a, const storm_result& b) {
        return a.logins_per_second < b.logins_per_second;
    });
    auto cpu = results;
    std::sort(cpu.begin(), cpu.end(), [](const storm_result& a, const storm_result& b) {
        return a.cpu_seconds < b.cpu_seconds;
    });
    std::printf("bench=login_storm credential=%s iterations=%u users=%zu clients=%d runs=%d "
                "logins_per_s_median=%.0f min=%.0f max=%.0f cpu_s_median=%.2f min=%.2f "
                "max=%.2f failures=%zu\n",
                is_token ? "device_token" : "password", is_token ? 0U : iterations, users,
                client_threads, runs, rates[runs / 2].logins_per_second,
                rates.front().logins_per_second, rates.back().logins_per_second,
                cpu[runs / 2].cpu_seconds, cpu.front().cpu_seconds, cpu.back().cpu_seconds,
                failures);
    std::fflush(stdout);
}

} // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: %s PERCH_BINARY [USERS] [ITERATIONS,...]\n", argv[0]);
        return 2;
    }
    const std::string perch = argv[1];
    const std::size_t users = argc > 2 ? std::max(1L, std::atol(argv[2])) : 500;
    std::vector<std::uint32_t> counts;
    const std::string list = argc > 3 ? argv[3] : "101,210000";
    for (std::size_t start = 0; start < list.size();) {
        const std::size_t end = std::min(list.find(',', start), list.size());
        counts.push_back(
            static_cast<std::uint32_t>(std::atol(list.substr(start, end - start).c_str())));
        start = end + 1;
    }
    for (const std::uint32_t iterations : counts) {
        report(perch, users, iterations, false);
    }
    report(perch, users, counts.back(), true);
    return 0;
}
