// Fan-in: P publishers, one subscriber to all their topics. Flat out (publishers write whenever
// their socket takes more) or closed loop (at most `window` messages sent and not delivered).
// For QoS 1 every publish and delivery is tracked, so a message the broker acknowledged and never
// delivered is counted as lost.
#include <cstdio>
#include <string>

#include "scenario.hpp"
#include <unistd.h>

namespace perch::loadgen {

namespace {

constexpr std::uint8_t was_acked = 1;
constexpr std::uint8_t was_received = 2;
constexpr std::size_t max_pending_bytes = 64 * 1024;

struct publisher_state {
    std::string topic;
    std::uint64_t quota = 0;
    std::uint64_t sent = 0;
    std::uint64_t inflight = 0;
    std::vector<std::uint32_t> sequence_of_packet_id = std::vector<std::uint32_t>(65536);
    std::vector<std::uint8_t> status;
};

run_measurement fan_in_once(const scenario_options& options, int run) {
    run_measurement result;
    client_loop loop(options.broker_address, options.broker_port);
    loop.set_connect_settings(client_settings(options));
    const std::string prefix = "lg-in-" + std::to_string(getpid()) + "-" + std::to_string(run);
    const std::size_t count = options.publishers;
    if (!connect_clients(loop, count + 1, prefix, 30) ||
        !subscribe_clients(loop, 0, 1, "bench/in/+", options.qos, 10)) {
        std::fprintf(stderr, "fan_in: set-up failed\n");
        return result;
    }
    std::vector<publisher_state> publishers(count);
    for (std::size_t i = 0; i < count; ++i) {
        publishers[i].topic = "bench/in/" + std::to_string(i);
        publishers[i].quota = options.messages / count + (i < options.messages % count ? 1 : 0);
        publishers[i].status.assign(publishers[i].quota, 0);
    }
    std::uint64_t total_sent = 0;
    std::uint64_t acked = 0;
    std::uint64_t last_progress_ns = now_ns();
    std::uint64_t last_delivery_ns = 0;
    loop.set_handler([&](std::size_t index, const packet_view& packet) {
        if (index == 0 && packet.type == packet_type::publish) {
            if (packet.qos() > 0) {
                append_puback(loop.at(0).output, packet.packet_id);
                loop.mark_dirty(0);
            }
            const payload_stamp stamp = read_payload(packet.payload);
            if (stamp.sender < count && stamp.sequence < publishers[stamp.sender].quota) {
                std::uint8_t& status = publishers[stamp.sender].status[stamp.sequence];
                if ((status & was_received) == 0) {
                    status |= was_received;
                    ++result.delivered;
                }
            }
            last_delivery_ns = last_progress_ns = now_ns();
        } else if (index > 0 && packet.type == packet_type::puback) {
            publisher_state& publisher = publishers[index - 1];
            publisher.status[publisher.sequence_of_packet_id[packet.packet_id]] |= was_acked;
            --publisher.inflight;
            ++acked;
            last_progress_ns = now_ns();
        }
    });
    std::vector<std::uint8_t> payload(std::max<std::size_t>(options.payload_bytes, 16), 'x');
    const bool is_closed_loop = options.mode == "closed";
    const double cpu_before = own_cpu_seconds();
    syscall_counter all_syscalls(options.broker_pid, options.is_counting_all_syscalls);
    result.before = sample_broker(options.broker_pid);
    const std::uint64_t start_ns = now_ns();
    const std::uint64_t deadline_ns =
        start_ns + static_cast<std::uint64_t>(options.timeout_seconds * 1e9);
    while (now_ns() < deadline_ns) {
        bool can_send_more = false;
        for (std::size_t i = 0; i < count; ++i) {
            publisher_state& publisher = publishers[i];
            client& connection = loop.at(i + 1);
            while (publisher.sent < publisher.quota &&
                   connection.pending_bytes() < max_pending_bytes &&
                   (options.qos == 0 || publisher.inflight < options.inflight) &&
                   (!is_closed_loop || total_sent - result.delivered < options.window)) {
                const auto sequence = static_cast<std::uint32_t>(publisher.sent);
                write_payload(payload, {now_ns(), static_cast<std::uint32_t>(i), sequence});
                const auto packet_id = static_cast<std::uint16_t>(sequence % 65535 + 1);
                publisher.sequence_of_packet_id[packet_id] = sequence;
                append_publish(connection.output, publisher.topic, options.qos, packet_id, payload,
                               loop.protocol_level());
                ++publisher.sent;
                ++total_sent;
                publisher.inflight += options.qos > 0 ? 1 : 0;
            }
            loop.mark_dirty(i + 1);
            can_send_more = can_send_more || (publisher.sent < publisher.quota &&
                                              connection.pending_bytes() < max_pending_bytes);
        }
        loop.flush();
        const bool is_all_sent = total_sent == options.messages;
        if (is_all_sent && result.delivered == total_sent &&
            (options.qos == 0 || acked == total_sent)) {
            break;
        }
        if (is_all_sent && now_ns() - last_progress_ns > 2000000000ull) {
            break;
        }
        loop.poll(can_send_more && !is_closed_loop ? 0 : 5);
    }
    result.all_syscalls = all_syscalls.stop();
    result.after = sample_broker(options.broker_pid);
    result.loadgen_cpu_seconds = own_cpu_seconds() - cpu_before;
    result.seconds = static_cast<double>(
                         (last_delivery_ns > start_ns ? last_delivery_ns : now_ns()) - start_ns) /
                     1e9;
    result.sent = total_sent;
    for (const publisher_state& publisher : publishers) {
        for (const std::uint8_t status : publisher.status) {
            const bool is_lost =
                options.qos == 0 ? (status & was_received) == 0 : status == was_acked;
            result.lost += is_lost ? 1 : 0;
        }
    }
    // Messages never sent (deadline) are not lost; they show as delivered < messages.
    if (options.qos == 0) {
        result.lost -= options.messages - total_sent;
    }
    return result;
}

} // namespace

void run_fan_in(const scenario_options& options) {
    std::vector<run_measurement> runs;
    for (int run = 0; run < options.runs; ++run) {
        runs.push_back(fan_in_once(options, run));
    }
    const std::string parameters =
        "scenario=fan_in mode=" + options.mode + " qos=" + std::to_string(options.qos) +
        " payload=" + std::to_string(options.payload_bytes) +
        " publishers=" + std::to_string(options.publishers) +
        " messages=" + std::to_string(options.messages) +
        (options.mode == "closed" ? " window=" + std::to_string(options.window) : "");
    print_result(options, parameters + protocol_label(options), "msgs_per_s", runs);
}

} // namespace perch::loadgen
