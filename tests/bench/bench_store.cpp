// Committed enqueues per second and bytes written per message for each durability level, for
// messages that wait in an offline queue and for messages acknowledged at once (online delivery,
// whose entries the group commit cancels). Prints one line per result.
// usage: bench_store [DIRECTORY] [MESSAGES] [RUNS]   (DIRECTORY on the disk to measure; default .)
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "store/message_store.hpp"

#include <unistd.h>

namespace {

using perch::store::durability_level;

/// Bytes this process has caused to be sent to the storage layer (/proc/self/io write_bytes).
std::uint64_t bytes_written_so_far() {
    std::ifstream io("/proc/self/io");
    std::string key;
    std::uint64_t value = 0;
    while (io >> key >> value) {
        if (key == "write_bytes:") {
            return value;
        }
    }
    return 0;
}

struct run_result {
    double messages_per_second = 0;
    double bytes_per_message = 0;
};

run_result run_once(const std::filesystem::path& directory, durability_level durability,
                    bool is_acknowledged_at_once, int messages, std::size_t payload_bytes) {
    std::filesystem::remove_all(directory);
    std::filesystem::create_directories(directory);
    perch::store::store_options options;
    options.path = (directory / "bench.db").string();
    options.durability = durability;
    auto store = perch::store::open_message_store(options);
    perch::store::stored_session session;
    session.client_id = "alice";
    session.protocol_level = 5;
    session.session_expiry_interval_s = 3600;
    store->save_session(session);
    store->flush();

    perch::store::stored_message message;
    message.topic = "chat/dm/alice/bob";
    message.payload.assign(payload_bytes, 0x42);
    message.qos = 1;
    const std::vector<perch::store::queue_target> targets{{"alice", 1, false, {}}};
    std::atomic<int> completed{0};
    const std::uint64_t bytes_before = bytes_written_so_far();
    const auto started = std::chrono::steady_clock::now();
    for (int index = 0; index < messages; ++index) {
        const auto receipt = store->enqueue(targets, message, [&](const auto&) { ++completed; });
        if (is_acknowledged_at_once) {
            store->ack("alice", receipt.sequences[0]);
        }
    }
    store->flush();
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    store.reset();
    const std::uint64_t bytes = bytes_written_so_far() - bytes_before;
    std::filesystem::remove_all(directory);
    return {completed.load() / seconds, static_cast<double>(bytes) / messages};
}

const char* name_of(durability_level durability) {
    switch (durability) {
    case durability_level::full: return "full";
    case durability_level::batched: return "batched";
    case durability_level::none: return "none";
    }
    return "?";
}

} // namespace

int main(int argc, char** argv) {
    const std::filesystem::path base = argc > 1 ? argv[1] : ".";
    const int messages = argc > 2 ? std::stoi(argv[2]) : 20000;
    const int runs = argc > 3 ? std::stoi(argv[3]) : 5;
    const std::size_t payload_bytes = 100;
    const auto directory = base / ("perch-bench-store-" + std::to_string(::getpid()));
    for (const auto durability :
         {durability_level::full, durability_level::batched, durability_level::none}) {
        for (const bool is_acknowledged_at_once : {false, true}) {
            std::vector<double> rates;
            std::vector<double> bytes;
            for (int run = 0; run < runs; ++run) {
                const run_result result = run_once(directory, durability, is_acknowledged_at_once,
                                                   messages, payload_bytes);
                rates.push_back(result.messages_per_second);
                bytes.push_back(result.bytes_per_message);
            }
            std::sort(rates.begin(), rates.end());
            std::sort(bytes.begin(), bytes.end());
            std::printf("bench=store durability=%s scenario=%s messages=%d payload_bytes=%zu "
                        "runs=%d median_per_s=%.0f min_per_s=%.0f max_per_s=%.0f "
                        "median_bytes_written_per_message=%.1f\n",
                        name_of(durability), is_acknowledged_at_once ? "acked_at_once" : "offline",
                        messages, payload_bytes, runs, rates[rates.size() / 2], rates.front(),
                        rates.back(), bytes[bytes.size() / 2]);
        }
    }
    return 0;
}
