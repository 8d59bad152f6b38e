// QoS 1 to offline persistent sessions: S subscribers connect with a persistent session (clean
// session 0; at level 5 a Session Expiry Interval), subscribe at QoS 1 and disconnect; then P
// publishers send N QoS 1 messages, at most `inflight` unacknowledged each. The measured phase is
// the publishing: acknowledged (committed) messages per second, with the broker's CPU and the bytes
// it wrote to storage (/proc/PID/io write_bytes) per message. Afterwards the subscribers come back
// and every acknowledged message must reach each of them: the rest are counted lost.
#include <cstdio>
#include <string>

#include "scenario.hpp"
#include <unistd.h>

namespace perch::loadgen {

namespace {

constexpr std::size_t max_pending_bytes = 64 * 1024;
/// Commits of many offline sessions may take long: give up after this long without progress.
constexpr std::uint64_t no_progress_ns = 10000000000ull;

/// Connects the persistent subscribers (or reconnects them when `is_resuming`).
bool connect_subscribers(client_loop& loop, const scenario_options& options,
                         const std::string& prefix) {
    connect_settings settings = client_settings(options);
    settings.is_clean = false;
    settings.session_expiry_seconds = options.session_expiry_seconds;
    loop.set_connect_settings(settings);
    return connect_clients(loop, options.subscribers, prefix, 30);
}

run_measurement offline_once(const scenario_options& options, int run) {
    run_measurement result;
    const std::string prefix = "lg-off-" + std::to_string(getpid()) + "-" + std::to_string(run);
    const std::size_t subscriber_count = options.subscribers;
    {
        client_loop away(options.broker_address, options.broker_port);
        if (!connect_subscribers(away, options, prefix + "-s") ||
            !subscribe_clients(away, 0, subscriber_count, "bench/off", 1, 10)) {
            std::fprintf(stderr, "offline: subscriber set-up failed\n");
            return result;
        }
        for (std::size_t index = 0; index < subscriber_count; ++index) {
            append_disconnect(away.at(index).output);
            away.mark_dirty(index);
        }
        away.flush();
        const std::uint64_t deadline = now_ns() + 5000000000ull;
        while (away.closed_count() < subscriber_count && now_ns() < deadline) {
            away.poll(10);
        }
    }

    client_loop loop(options.broker_address, options.broker_port);
    loop.set_connect_settings(client_settings(options));
    const std::size_t count = options.publishers;
    if (!connect_clients(loop, count, prefix + "-p", 30)) {
        std::fprintf(stderr, "offline: publisher set-up failed\n");
        return result;
    }
    std::vector<std::uint64_t> quota(count);
    std::vector<std::uint64_t> sent(count);
    std::vector<std::uint64_t> inflight(count);
    std::vector<std::vector<std::uint32_t>> sequence_of_packet_id(
        count, std::vector<std::uint32_t>(65536));
    std::vector<std::vector<bool>> is_acked(count);
    for (std::size_t i = 0; i < count; ++i) {
        quota[i] = options.messages / count + (i < options.messages % count ? 1 : 0);
        is_acked[i].assign(quota[i], false);
    }
    std::uint64_t total_sent = 0;
    std::uint64_t acked = 0;
    std::uint64_t last_progress_ns = now_ns();
    loop.set_handler([&](std::size_t index, const packet_view& packet) {
        if (packet.type == packet_type::puback && inflight[index] > 0) {
            const std::uint32_t sequence = sequence_of_packet_id[index][packet.packet_id];
            if (!is_acked[index][sequence]) {
                is_acked[index][sequence] = true;
                --inflight[index];
                ++acked;
            }
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
    while (now_ns() < deadline_ns) {
        for (std::size_t i = 0; i < count; ++i) {
            client& connection = loop.at(i);
            while (sent[i] < quota[i] && inflight[i] < options.inflight &&
                   connection.pending_bytes() < max_pending_bytes) {
                const auto sequence = static_cast<std::uint32_t>(sent[i]);
                write_payload(payload, {now_ns(), static_cast<std::uint32_t>(i), sequence});
                const auto packet_id = static_cast<std::uint16_t>(sequence % 65535 + 1);
                sequence_of_packet_id[i][packet_id] = sequence;
                append_publish(connection.output, "bench/off", 1, packet_id, payload,
                               loop.protocol_level());
                ++sent[i];
                ++inflight[i];
                ++total_sent;
            }
            loop.mark_dirty(i);
        }
        loop.flush();
        if (acked == options.messages ||
            (now_ns() - last_progress_ns > no_progress_ns && acked == total_sent)) {
            break;
        }
        if (now_ns() - last_progress_ns > no_progress_ns) {
            break;
        }
        loop.poll(5);
    }
    const std::uint64_t end_ns = now_ns();
    result.all_syscalls = all_syscalls.stop();
    result.after = sample_broker(options.broker_pid);
    result.loadgen_cpu_seconds = own_cpu_seconds() - cpu_before;
    result.seconds = static_cast<double>(end_ns - start_ns) / 1e9;
    result.sent = total_sent;
    result.delivered = acked;

    // The subscribers return: each must receive every acknowledged message.
    client_loop back(options.broker_address, options.broker_port);
    std::vector<std::vector<bool>> is_received(subscriber_count * count);
    for (std::size_t s = 0; s < subscriber_count; ++s) {
        for (std::size_t i = 0; i < count; ++i) {
            is_received[s * count + i].assign(quota[i], false);
        }
    }
    std::uint64_t received = 0;
    last_progress_ns = now_ns();
    back.set_handler([&](std::size_t index, const packet_view& packet) {
        if (packet.type != packet_type::publish) {
            return;
        }
        if (packet.qos() > 0) {
            append_puback(back.at(index).output, packet.packet_id);
            back.mark_dirty(index);
        }
        const payload_stamp stamp = read_payload(packet.payload);
        if (index < subscriber_count && stamp.sender < count &&
            stamp.sequence < quota[stamp.sender]) {
            auto&& seen = is_received[index * count + stamp.sender][stamp.sequence];
            if (!seen) {
                seen = true;
                ++received;
            }
        }
        last_progress_ns = now_ns();
    });
    if (!connect_subscribers(back, options, prefix + "-s")) {
        std::fprintf(stderr, "offline: subscribers could not resume\n");
    }
    const std::uint64_t drain_deadline =
        now_ns() + static_cast<std::uint64_t>(options.timeout_seconds * 1e9);
    while (received < acked * subscriber_count && now_ns() < drain_deadline &&
           now_ns() - last_progress_ns < no_progress_ns) {
        back.poll(10);
    }
    for (std::size_t s = 0; s < subscriber_count; ++s) {
        for (std::size_t i = 0; i < count; ++i) {
            for (std::size_t sequence = 0; sequence < quota[i]; ++sequence) {
                if (is_acked[i][sequence] && !is_received[s * count + i][sequence]) {
                    ++result.lost;
                }
            }
        }
    }
    return result;
}

} // namespace

void run_offline(const scenario_options& options) {
    std::vector<run_measurement> runs;
    for (int run = 0; run < options.runs; ++run) {
        runs.push_back(offline_once(options, run));
    }
    const std::string parameters =
        "scenario=offline qos=1 payload=" + std::to_string(options.payload_bytes) +
        " subscribers=" + std::to_string(options.subscribers) +
        " publishers=" + std::to_string(options.publishers) +
        " messages=" + std::to_string(options.messages);
    print_result(options, parameters + protocol_label(options), "committed_msgs_per_s", runs);
}

} // namespace perch::loadgen
