// Fan-out: one publisher, S subscribers to its topic. Closed loop: the publisher keeps at most
// `window` messages not yet delivered to every subscriber (counted in deliveries).
#include <cstdio>
#include <string>

#include "scenario.hpp"
#include <unistd.h>

namespace perch::loadgen {

namespace {

run_measurement fan_out_once(const scenario_options& options, int run) {
    run_measurement result;
    client_loop loop(options.broker_address, options.broker_port);
    loop.set_connect_settings(client_settings(options));
    const std::string prefix = "lg-out-" + std::to_string(getpid()) + "-" + std::to_string(run);
    const std::size_t subscribers = options.subscribers;
    if (!connect_clients(loop, subscribers + 1, prefix, 60) ||
        !subscribe_clients(loop, 1, subscribers, "bench/out", options.qos, 30)) {
        std::fprintf(stderr, "fan_out: set-up failed\n");
        return result;
    }
    std::uint64_t inflight = 0;
    std::uint64_t last_progress_ns = now_ns();
    std::uint64_t last_delivery_ns = 0;
    loop.set_handler([&](std::size_t index, const packet_view& packet) {
        if (index > 0 && packet.type == packet_type::publish) {
            if (packet.qos() > 0) {
                append_puback(loop.at(index).output, packet.packet_id);
                loop.mark_dirty(index);
            }
            ++result.delivered;
            last_delivery_ns = last_progress_ns = now_ns();
        } else if (index == 0 && packet.type == packet_type::puback) {
            --inflight;
            last_progress_ns = now_ns();
        }
    });
    std::vector<std::uint8_t> payload(std::max<std::size_t>(options.payload_bytes, 16), 'x');
    const double cpu_before = own_cpu_seconds();
    syscall_counter all_syscalls(options.broker_pid, options.is_counting_all_syscalls);
    result.before = sample_broker(options.broker_pid);
    const std::uint64_t start_ns = now_ns();
    const std::uint64_t deadline_ns =
        start_ns + static_cast<std::uint64_t>(options.timeout_seconds * 1e9);
    const std::uint64_t expected = options.messages * subscribers;
    while (now_ns() < deadline_ns) {
        while (result.sent < options.messages &&
               result.sent * subscribers - result.delivered < options.window * subscribers &&
               (options.qos == 0 || inflight < options.inflight)) {
            const auto sequence = static_cast<std::uint32_t>(result.sent);
            write_payload(payload, {now_ns(), 0, sequence});
            append_publish(loop.at(0).output, "bench/out", options.qos,
                           static_cast<std::uint16_t>(sequence % 65535 + 1), payload,
                           loop.protocol_level());
            ++result.sent;
            inflight += options.qos > 0 ? 1 : 0;
            loop.mark_dirty(0);
        }
        loop.flush();
        if (result.delivered >= expected && inflight == 0) {
            break;
        }
        if (result.sent == options.messages && now_ns() - last_progress_ns > 2000000000ull) {
            break;
        }
        loop.poll(5);
    }
    result.all_syscalls = all_syscalls.stop();
    result.after = sample_broker(options.broker_pid);
    result.loadgen_cpu_seconds = own_cpu_seconds() - cpu_before;
    result.seconds = static_cast<double>(
                         (last_delivery_ns > start_ns ? last_delivery_ns : now_ns()) - start_ns) /
                     1e9;
    result.lost = result.sent * subscribers - result.delivered;
    return result;
}

} // namespace

void run_fan_out(const scenario_options& options) {
    std::vector<run_measurement> runs;
    for (int run = 0; run < options.runs; ++run) {
        runs.push_back(fan_out_once(options, run));
    }
    const std::string parameters = "scenario=fan_out qos=" + std::to_string(options.qos) +
                                   " payload=" + std::to_string(options.payload_bytes) +
                                   " subscribers=" + std::to_string(options.subscribers) +
                                   " messages=" + std::to_string(options.messages) +
                                   " window=" + std::to_string(options.window);
    print_result(options, parameters + protocol_label(options), "deliveries_per_s", runs);
}

} // namespace perch::loadgen
