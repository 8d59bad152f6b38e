// Committed QoS 1 messages per second to an offline persistent session, and bytes the broker
// writes to disk per message (/proc/PID/io write_bytes), for perch at each durability level and
// for Mosquitto with its persistence file, on the same load in the same run.
//
// Usage: bench_persistence PERCH_BINARY [MOSQUITTO_BINARY] [messages per publisher] [payload sizes]
// (payload sizes: comma separated, default 16,100,1024). Prints one line per broker, level and
// payload size: runs=3 median/min/max of the rate, of the bytes written while the load ran, and
// of all bytes written from the start of the load to the end of the process (shutdown included:
// SQLite's final checkpoint, Mosquitto's final save).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/raw_mqtt_client.hpp"
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

namespace {

using namespace std::chrono_literals;
using perch::integration::raw_mqtt_client;

constexpr int publisher_count = 4;
constexpr std::size_t window = 64;
constexpr int runs = 3;

std::uint64_t write_bytes_of(pid_t process) {
    std::ifstream io("/proc/" + std::to_string(process) + "/io");
    std::string key;
    std::uint64_t value = 0;
    while (io >> key >> value) {
        if (key == "write_bytes:") {
            return value;
        }
    }
    return 0;
}

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

/// One broker started on a fresh directory.
struct broker_run {
    pid_t process = -1;
    std::uint16_t port = 0;
};

broker_run start_broker(const std::string& program, const std::string& config_text,
                        const std::filesystem::path& directory) {
    const auto config_path = directory / "broker.conf";
    std::ofstream(config_path) << config_text;
    broker_run run;
    run.process = ::fork();
    if (run.process == 0) {
        const std::string log_path = (directory / "broker.log").string();
        std::freopen(log_path.c_str(), "w", stdout);
        std::freopen(log_path.c_str(), "a", stderr);
        ::execl(program.c_str(), program.c_str(), "-c", config_path.c_str(),
                static_cast<char*>(nullptr));
        std::_Exit(127);
    }
    return run;
}

/// Stops the broker with SIGTERM and returns its write_bytes at exit: the process is waited for
/// without being reaped (WNOWAIT), so that /proc still has its counters, then reaped.
std::uint64_t stop_broker(const broker_run& run) {
    ::kill(run.process, SIGTERM);
    siginfo_t info{};
    ::waitid(P_PID, static_cast<id_t>(run.process), &info, WEXITED | WNOWAIT);
    const std::uint64_t written = write_bytes_of(run.process);
    int status = 0;
    ::waitpid(run.process, &status, 0);
    return written;
}

/// Sends `count` QoS 1 messages with a window of `window` and waits for every PUBACK.
void publish_all(std::uint16_t port, int index, int count, std::size_t payload_bytes) {
    raw_mqtt_client client;
    if (!client.connect(port, "bench-pub-" + std::to_string(index), true, 5000ms)) {
        return;
    }
    const std::string payload(payload_bytes, 'x');
    const std::string topic = "bench/" + std::to_string(index);
    std::size_t outstanding = 0;
    int sent = 0;
    int acknowledged = 0;
    std::uint16_t packet_id = 1;
    while (acknowledged < count) {
        while (outstanding < window && sent < count) {
            client.publish(topic, payload, 1, packet_id);
            packet_id = packet_id == 65535 ? 1 : packet_id + 1;
            ++outstanding;
            ++sent;
        }
        const auto packet = client.read_packet(10000ms);
        if (!packet) {
            return;
        }
        if (packet->type == 4) {
            --outstanding;
            ++acknowledged;
        }
    }
    client.disconnect();
}

struct run_result {
    double messages_per_second = 0;
    /// Bytes written from the start of the load until 1.5 s after its last PUBACK.
    double bytes_per_message = 0;
    /// Bytes written from the start of the load until the process ended.
    double bytes_per_message_with_exit = 0;
};

run_result run_once(const std::string& program, const std::string& config_body, int count,
                    std::size_t payload_bytes) {
    const auto directory = std::filesystem::temp_directory_path() /
                           ("bench-persistence-" + std::to_string(::getpid()));
    std::filesystem::remove_all(directory);
    std::filesystem::create_directories(directory / "data");
    const std::uint16_t port = free_port();
    const std::string config = "listener " + std::to_string(port) + " 127.0.0.1\n" +
                               "allow_anonymous true\n" + config_body + "\n";
    std::string text = config;
    std::size_t position = 0;
    while ((position = text.find("DIR", position)) != std::string::npos) {
        text.replace(position, 3, (directory / "data").string());
    }
    const broker_run run = start_broker(program, text, directory);
    raw_mqtt_client subscriber;
    for (int attempt = 0; attempt < 100 && !subscriber.connect(port, "bench-sub", false, 1000ms);
         ++attempt) {
        std::this_thread::sleep_for(50ms);
    }
    subscriber.subscribe("bench/#", 1, 1, 5000ms);
    subscriber.disconnect();
    std::this_thread::sleep_for(200ms);

    const std::uint64_t written_before = write_bytes_of(run.process);
    const auto started = std::chrono::steady_clock::now();
    std::vector<std::thread> publishers;
    for (int index = 0; index < publisher_count; ++index) {
        publishers.emplace_back([port, index, count, payload_bytes] {
            publish_all(port, index, count, payload_bytes);
        });
    }
    for (std::thread& publisher : publishers) {
        publisher.join();
    }
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    // Let periodic savers (Mosquitto's autosave) write what they owe before measuring.
    std::this_thread::sleep_for(1500ms);
    const std::uint64_t written = write_bytes_of(run.process) - written_before;
    const std::uint64_t written_with_exit = stop_broker(run) - written_before;
    std::filesystem::remove_all(directory);
    const double total = static_cast<double>(publisher_count) * count;
    return {total / seconds, static_cast<double>(written) / total,
            static_cast<double>(written_with_exit) / total};
}

void report(const char* broker, const char* durability, const std::string& program,
            const std::string& config_body, int count, std::size_t payload_bytes) {
    std::vector<run_result> results;
    for (int run = 0; run < runs; ++run) {
        results.push_back(run_once(program, config_body, count, payload_bytes));
    }
    auto rates = results;
    std::sort(rates.begin(), rates.end(), [](const run_result& a, const run_result& b) {
        return a.messages_per_second < b.messages_per_second;
    });
    auto bytes = results;
    std::sort(bytes.begin(), bytes.end(), [](const run_result& a, const run_result& b) {
        return a.bytes_per_message < b.bytes_per_message;
    });
    std::printf("bench=persistence broker=%s durability=%s publishers=%d messages=%d "
                "payload_bytes=%zu runs=%d msgs_per_s_median=%.0f min=%.0f max=%.0f "
                "disk_bytes_per_msg_median=%.1f min=%.1f max=%.1f\n",
                broker, durability, publisher_count, count * publisher_count, payload_bytes, runs,
                rates[runs / 2].messages_per_second, rates.front().messages_per_second,
                rates.back().messages_per_second, bytes[runs / 2].bytes_per_message,
                bytes.front().bytes_per_message, bytes.back().bytes_per_message);
    auto with_exit = results;
    std::sort(with_exit.begin(), with_exit.end(), [](const run_result& a, const run_result& b) {
        return a.bytes_per_message_with_exit < b.bytes_per_message_with_exit;
    });
    std::printf("    with_exit_bytes_per_msg_median=%.1f min=%.1f max=%.1f\n",
                with_exit[runs / 2].bytes_per_message_with_exit,
                with_exit.front().bytes_per_message_with_exit,
                with_exit.back().bytes_per_message_with_exit);
    std::fflush(stdout);
}

} // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::fprintf(stderr, "usage: %s PERCH_BINARY [MOSQUITTO_BINARY] [MESSAGES]\n", argv[0]);
        return 2;
    }
    const std::string perch = argv[1];
    const std::string mosquitto = argc > 2 ? argv[2] : "/usr/sbin/mosquitto";
    const int count = argc > 3 ? std::max(1, std::atoi(argv[3])) : 5000;
    std::vector<std::size_t> sizes;
    std::string list = argc > 4 ? argv[4] : "16,100,1024";
    for (std::size_t start = 0; start < list.size();) {
        const std::size_t end = std::min(list.find(',', start), list.size());
        sizes.push_back(
            static_cast<std::size_t>(std::atol(list.substr(start, end - start).c_str())));
        start = end + 1;
    }
    // One offline subscriber takes every message: its stored queue is not capped, as
    // Mosquitto's max_queued_messages 0 does not cap its queue.
    // Flat out: no store caps and no publish rate (docs/LIMITS.md).
    const std::string unlimited_store =
        "max_stored_messages 0\nmax_stored_bytes 0\nmax_publish_rate 0\nmax_publish_bytes_rate 0";
    for (const std::size_t payload_bytes : sizes) {
        report("perch", "full", perch, "data_dir DIR\ndurability full\n" + unlimited_store, count,
               payload_bytes);
        report("perch", "batched", perch, "data_dir DIR\ndurability batched\n" + unlimited_store,
               count, payload_bytes);
        report("perch", "none", perch, "data_dir DIR\ndurability none\n" + unlimited_store, count,
               payload_bytes);
        // Mosquitto writes its whole in-memory state to mosquitto.db.new, fsyncs it and renames
        // it over mosquitto.db: every autosave_interval seconds, or with autosave_on_changes
        // every autosave_interval changes, and once more at shutdown. Started as root it runs as
        // the user `user` names; root keeps it able to write the benchmark's directory.
        report("mosquitto", "autosave_1s", mosquitto,
               "persistence true\npersistence_location DIR/\nuser root\nautosave_interval 1\n"
               "max_queued_messages 0",
               count, payload_bytes);
        report("mosquitto", "autosave_every_1000_changes", mosquitto,
               "persistence true\npersistence_location DIR/\nuser root\nautosave_on_changes true\n"
               "autosave_interval 1000\nmax_queued_messages 0",
               count, payload_bytes);
    }
    return 0;
}
