// Rooms: R rooms of M members; every member subscribes to its room's topic and publishes to it
// at a fixed rate, sends spread evenly over the period. Each delivery's latency is the receive
// time minus the send time stamped in the payload (one clock: the same process sends and reads).
#include <algorithm>
#include <cstdio>
#include <string>

#include "scenario.hpp"
#include <unistd.h>

namespace perch::loadgen {

namespace {

run_measurement rooms_once(const scenario_options& options, int run) {
    run_measurement result;
    client_loop loop(options.broker_address, options.broker_port);
    loop.set_connect_settings(client_settings(options));
    const std::string prefix = "lg-room-" + std::to_string(getpid()) + "-" + std::to_string(run);
    const std::size_t members = options.members;
    const std::size_t total = options.rooms * members;
    std::vector<std::string> topics;
    for (std::size_t room = 0; room < options.rooms; ++room) {
        topics.push_back("bench/room/" + std::to_string(room));
    }
    if (!connect_clients(loop, total, prefix, 60)) {
        std::fprintf(stderr, "rooms: set-up failed\n");
        return result;
    }
    for (std::size_t room = 0; room < options.rooms; ++room) {
        if (!subscribe_clients(loop, room * members, members, topics[room], options.qos, 30)) {
            std::fprintf(stderr, "rooms: subscribe failed\n");
            return result;
        }
    }
    std::uint64_t last_progress_ns = now_ns();
    result.latencies_us.reserve(static_cast<std::size_t>(
        options.duration_seconds * options.rate_per_member * static_cast<double>(total * members)));
    loop.set_handler([&](std::size_t index, const packet_view& packet) {
        if (packet.type != packet_type::publish) {
            return;
        }
        if (packet.qos() > 0) {
            append_puback(loop.at(index).output, packet.packet_id);
            loop.mark_dirty(index);
        }
        last_progress_ns = now_ns();
        const payload_stamp stamp = read_payload(packet.payload);
        result.latencies_us.push_back(static_cast<double>(last_progress_ns - stamp.sent_ns) / 1e3);
        ++result.delivered;
    });
    std::vector<std::uint8_t> payload(std::max<std::size_t>(options.payload_bytes, 16), 'x');
    const auto period_ns = static_cast<std::uint64_t>(1e9 / options.rate_per_member);
    const double cpu_before = own_cpu_seconds();
    syscall_counter all_syscalls(options.broker_pid, options.is_counting_all_syscalls);
    result.before = sample_broker(options.broker_pid);
    const std::uint64_t start_ns = now_ns();
    const std::uint64_t end_ns =
        start_ns + static_cast<std::uint64_t>(options.duration_seconds * 1e9);
    std::vector<std::uint64_t> next_send_ns(total);
    std::vector<std::uint32_t> sequence(total, 0);
    for (std::size_t k = 0; k < total; ++k) {
        next_send_ns[k] = start_ns + period_ns * k / total;
    }
    std::vector<std::uint16_t> packet_ids(total, 0);
    while (true) {
        const std::uint64_t now = now_ns();
        if (now >= end_ns) {
            break;
        }
        std::uint64_t next_due = end_ns;
        for (std::size_t k = 0; k < total; ++k) {
            if (next_send_ns[k] <= now) {
                write_payload(payload, {now, static_cast<std::uint32_t>(k), sequence[k]++});
                packet_ids[k] = static_cast<std::uint16_t>(packet_ids[k] % 65535 + 1);
                append_publish(loop.at(k).output, topics[k / members], options.qos, packet_ids[k],
                               payload, loop.protocol_level());
                loop.mark_dirty(k);
                ++result.sent;
                next_send_ns[k] += period_ns;
            }
            next_due = std::min(next_due, next_send_ns[k]);
        }
        loop.flush();
        // Sleep until the next send is due, rounded up to whole milliseconds: a busy loop
        // would take the CPU the broker and the kernel need on a small machine.
        const std::uint64_t after = now_ns();
        loop.poll(next_due > after ? static_cast<int>((next_due - after + 999999) / 1000000) : 0);
    }
    // Drain what is still on its way, for at most the hard bound.
    const std::uint64_t drain_end_ns =
        now_ns() + static_cast<std::uint64_t>(options.timeout_seconds * 1e9);
    while (result.delivered < result.sent * members && now_ns() < drain_end_ns &&
           now_ns() - last_progress_ns < 2000000000ull) {
        loop.poll(10);
    }
    result.all_syscalls = all_syscalls.stop();
    result.after = sample_broker(options.broker_pid);
    result.loadgen_cpu_seconds = own_cpu_seconds() - cpu_before;
    result.seconds = options.duration_seconds;
    result.lost = result.sent * members - result.delivered;
    return result;
}

} // namespace

void run_rooms(const scenario_options& options) {
    std::vector<run_measurement> runs;
    for (int run = 0; run < options.runs; ++run) {
        runs.push_back(rooms_once(options, run));
    }
    char rate[32];
    std::snprintf(rate, sizeof rate, "%g", options.rate_per_member);
    const std::string parameters =
        "scenario=rooms qos=" + std::to_string(options.qos) +
        " payload=" + std::to_string(options.payload_bytes) +
        " rooms=" + std::to_string(options.rooms) + " members=" + std::to_string(options.members) +
        " rate=" + rate + " duration=" + std::to_string(static_cast<int>(options.duration_seconds));
    print_result(options, parameters + protocol_label(options), "deliveries_per_s", runs);
}

} // namespace perch::loadgen
