// Helpers shared by the scenarios: set-up of connections and subscriptions, payload stamps and
// the machine-readable result line.
#include "scenario.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>

namespace perch::loadgen {

namespace {

double median_of(std::vector<double> values) {
    if (values.empty()) {
        return 0;
    }
    std::sort(values.begin(), values.end());
    const std::size_t middle = values.size() / 2;
    return values.size() % 2 == 1 ? values[middle] : (values[middle - 1] + values[middle]) / 2;
}

double percentile(const std::vector<double>& sorted, double fraction) {
    if (sorted.empty()) {
        return 0;
    }
    const auto rank = static_cast<std::size_t>(std::ceil(fraction * sorted.size()));
    return sorted[std::min(sorted.size() - 1, rank == 0 ? 0 : rank - 1)];
}

} // namespace

connect_settings client_settings(const scenario_options& options) {
    connect_settings settings;
    settings.protocol_level = options.protocol_level;
    settings.user_name = options.user_name;
    settings.password = options.password;
    return settings;
}

std::string protocol_label(const scenario_options& options) {
    return options.protocol_level == level_5 ? " mqtt=5" : "";
}

std::uint64_t now_ns() {
    timespec now{};
    clock_gettime(CLOCK_MONOTONIC, &now);
    return static_cast<std::uint64_t>(now.tv_sec) * 1000000000ull +
           static_cast<std::uint64_t>(now.tv_nsec);
}

bool connect_clients(client_loop& loop, std::size_t count, const std::string& prefix,
                     double timeout_seconds) {
    const std::uint64_t deadline = now_ns() + static_cast<std::uint64_t>(timeout_seconds * 1e9);
    const std::size_t first = loop.size();
    std::size_t opened = 0;
    while (now_ns() < deadline) {
        const std::size_t settled = loop.connected_count() + loop.closed_count();
        while (opened < count && first + opened < settled + 512) {
            loop.open(prefix + "-" + std::to_string(opened));
            ++opened;
        }
        if (opened == count && loop.connected_count() + loop.closed_count() >= first + count) {
            break;
        }
        loop.poll(10);
    }
    return loop.closed_count() == 0 && loop.connected_count() >= first + count;
}

bool subscribe_clients(client_loop& loop, std::size_t first, std::size_t count,
                       const std::string& topic_filter, int qos, double timeout_seconds) {
    for (std::size_t index = first; index < first + count; ++index) {
        append_subscribe(loop.at(index).output, 1, topic_filter, qos, loop.protocol_level());
        loop.mark_dirty(index);
    }
    loop.flush();
    const std::uint64_t deadline = now_ns() + static_cast<std::uint64_t>(timeout_seconds * 1e9);
    while (now_ns() < deadline) {
        bool is_done = true;
        for (std::size_t index = first; index < first + count && is_done; ++index) {
            is_done = loop.at(index).subacks_received > 0;
        }
        if (is_done) {
            return true;
        }
        loop.poll(10);
    }
    return false;
}

void write_payload(std::vector<std::uint8_t>& payload, const payload_stamp& stamp) {
    std::memcpy(payload.data(), &stamp.sent_ns, 8);
    std::memcpy(payload.data() + 8, &stamp.sender, 4);
    std::memcpy(payload.data() + 12, &stamp.sequence, 4);
}

payload_stamp read_payload(std::span<const std::uint8_t> payload) {
    payload_stamp stamp;
    if (payload.size() >= 16) {
        std::memcpy(&stamp.sent_ns, payload.data(), 8);
        std::memcpy(&stamp.sender, payload.data() + 8, 4);
        std::memcpy(&stamp.sequence, payload.data() + 12, 4);
    }
    return stamp;
}

void print_result(const scenario_options& options, const std::string& parameters,
                  const std::string& unit, const std::vector<run_measurement>& runs,
                  const std::string& extra_fields) {
    std::vector<double> rates;
    std::vector<double> cpu;
    std::vector<double> syscalls;
    std::vector<double> per_cpu;
    std::vector<double> per_message;
    std::vector<double> written_per_message;
    std::vector<double> loadgen_cpu;
    std::vector<double> latencies;
    std::vector<double> all_calls;
    std::vector<double> all_per_message;
    std::uint64_t lost = 0;
    std::uint64_t delivered = 0;
    for (const run_measurement& run : runs) {
        const double broker_cpu = run.after.cpu_seconds - run.before.cpu_seconds;
        const double calls =
            static_cast<double>((run.after.read_syscalls - run.before.read_syscalls) +
                                (run.after.write_syscalls - run.before.write_syscalls));
        const double count = static_cast<double>(run.delivered);
        rates.push_back(run.figure >= 0 ? run.figure : (run.seconds > 0 ? count / run.seconds : 0));
        cpu.push_back(broker_cpu);
        syscalls.push_back(calls);
        per_cpu.push_back(broker_cpu > 0 ? count / broker_cpu : 0);
        per_message.push_back(count > 0 ? calls / count : 0);
        const double written =
            static_cast<double>(run.after.written_bytes - run.before.written_bytes);
        written_per_message.push_back(count > 0 ? written / count : 0);
        loadgen_cpu.push_back(run.loadgen_cpu_seconds);
        latencies.insert(latencies.end(), run.latencies_us.begin(), run.latencies_us.end());
        if (run.all_syscalls >= 0) {
            all_calls.push_back(static_cast<double>(run.all_syscalls));
            all_per_message.push_back(count > 0 ? static_cast<double>(run.all_syscalls) / count
                                                : 0);
        }
        lost += run.lost;
        delivered += run.delivered;
    }
    std::vector<double> sorted_rates = rates;
    std::sort(sorted_rates.begin(), sorted_rates.end());
    std::printf("broker=%s %s runs=%zu unit=%s median=%.1f min=%.1f max=%.1f delivered=%llu "
                "lost=%llu broker_cpu_s=%.2f broker_syscalls=%.0f msgs_per_cpu_s=%.0f "
                "syscalls_per_msg=%.3f loadgen_cpu_s=%.2f",
                options.broker_name.c_str(), parameters.c_str(), runs.size(), unit.c_str(),
                median_of(rates), sorted_rates.empty() ? 0 : sorted_rates.front(),
                sorted_rates.empty() ? 0 : sorted_rates.back(),
                static_cast<unsigned long long>(delivered), static_cast<unsigned long long>(lost),
                median_of(cpu), median_of(syscalls), median_of(per_cpu), median_of(per_message),
                median_of(loadgen_cpu));
    std::printf(" disk_bytes_per_msg=%.1f", median_of(written_per_message));
    if (!all_calls.empty()) {
        std::printf(" all_syscalls=%.0f all_syscalls_per_msg=%.3f", median_of(all_calls),
                    median_of(all_per_message));
    }
    if (!latencies.empty()) {
        std::sort(latencies.begin(), latencies.end());
        std::printf(" p50_us=%.0f p99_us=%.0f p999_us=%.0f max_us=%.0f", percentile(latencies, 0.5),
                    percentile(latencies, 0.99), percentile(latencies, 0.999), latencies.back());
    }
    std::printf("%s\n", extra_fields.c_str());
    std::fflush(stdout);
}

} // namespace perch::loadgen
