// Idle connections: N clients connect (clean session, keep alive 0) and stay silent; the figure
// is the growth of the broker's resident memory divided by N, read after the broker settled.
#include <cstdio>
#include <string>

#include "scenario.hpp"
#include <unistd.h>

namespace perch::loadgen {

namespace {

run_measurement idle_once(const scenario_options& options, int run) {
    run_measurement result;
    const double cpu_before = own_cpu_seconds();
    result.before = sample_broker(options.broker_pid);
    client_loop loop(options.broker_address, options.broker_port);
    loop.set_connect_settings(client_settings(options));
    const std::string prefix = "lg-idle-" + std::to_string(getpid()) + "-" + std::to_string(run);
    const std::uint64_t start_ns = now_ns();
    const bool is_connected =
        connect_clients(loop, options.connections, prefix, options.timeout_seconds);
    result.seconds = static_cast<double>(now_ns() - start_ns) / 1e9;
    if (!is_connected) {
        std::fprintf(stderr, "idle: %zu of %zu connected, %zu closed\n", loop.connected_count(),
                     options.connections, loop.closed_count());
    }
    const std::uint64_t settle_end_ns = now_ns() + 1000000000ull;
    while (now_ns() < settle_end_ns) {
        loop.poll(50);
    }
    result.after = sample_broker(options.broker_pid);
    result.loadgen_cpu_seconds = own_cpu_seconds() - cpu_before;
    result.delivered = loop.connected_count();
    result.lost = options.connections - loop.connected_count();
    const double growth = static_cast<double>(result.after.resident_bytes) -
                          static_cast<double>(result.before.resident_bytes);
    result.figure = result.delivered > 0 ? growth / static_cast<double>(result.delivered) : 0;
    return result;
}

} // namespace

void run_idle(const scenario_options& options) {
    std::vector<run_measurement> runs;
    for (int run = 0; run < options.runs; ++run) {
        runs.push_back(idle_once(options, run));
        // Let the broker notice the closed sockets before the next run measures again.
        sleep(2);
    }
    const std::string parameters =
        "scenario=idle connections=" + std::to_string(options.connections);
    print_result(options, parameters + protocol_label(options), "rss_bytes_per_connection", runs);
}

} // namespace perch::loadgen
