// Bridge: one publisher on one broker (--port), one subscriber on another (--sub-port), the two
// brokers bridged through an upstream; or both on one broker, the direct baseline the bridged
// latency is compared with. A step publishes at a fixed rate for a fixed time; each delivery's
// latency is its receive time minus the send time stamped in its payload (one clock: the same
// process sends and reads). With --ramp the rate doubles after each step that held, then is
// bisected between the last rate that held and the first that did not.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>

#include "scenario.hpp"
#include <poll.h>
#include <unistd.h>

namespace perch::loadgen {

namespace {

/// A step holds when every message arrived and the subscriber kept up: a backlog that grows
/// through the step shows as a median latency of a good part of the step, and as deliveries
/// going on long after the step's end. (Not p99: on a shared machine another process's burst
/// alone puts p99 over any bound that small.)
constexpr double held_p50_us = 10000;
constexpr std::uint64_t held_tail_ns = 1000000000ull;
/// Bisection steps once the doubling found a rate that does not hold.
constexpr int bisection_steps = 3;
/// The ramp stops doubling here even if every step held.
constexpr double max_ramp_rate = 2e6;
/// Output the publisher may have queued and not yet written; past it, sending waits.
constexpr std::size_t max_pending_bytes = 256 * 1024;
/// A drain ends after this long without a delivery.
constexpr std::uint64_t quiet_ns = 2000000000ull;

double percentile_of(const std::vector<double>& sorted, double fraction) {
    if (sorted.empty()) {
        return 0;
    }
    const auto rank =
        static_cast<std::size_t>(std::ceil(fraction * static_cast<double>(sorted.size())));
    return sorted[std::min(sorted.size() - 1, rank == 0 ? 0 : rank - 1)];
}

/// CPU seconds used so far by the publisher's broker, the subscriber's (when another one) and
/// the upstream.
struct cpu_sample {
    double publisher_side = 0;
    double subscriber_side = 0;
    double upstream = 0;
};

/// What one step measured.
struct step_result {
    double rate = 0;
    double seconds = 0;
    std::uint64_t sent = 0;
    std::uint64_t delivered = 0;
    std::uint64_t unacknowledged = 0;
    /// Sorted.
    std::vector<double> latencies_us;
    cpu_sample cpu;
    double loadgen_cpu = 0;
    /// How long after the step's end its last message arrived (0 if before).
    std::uint64_t tail_ns = 0;

    std::uint64_t lost() const { return sent - delivered; }
    /// The publisher sent at the rate asked for (at QoS 1 its window may hold it back).
    bool kept_rate() const {
        return static_cast<double>(sent) >= 0.98 * std::floor(rate * seconds);
    }
    bool held() const {
        return lost() == 0 && kept_rate() && percentile_of(latencies_us, 0.5) < held_p50_us &&
               tail_ns <= held_tail_ns;
    }
};

class bridge_bench {
public:
    explicit bridge_bench(const scenario_options& options)
        : options_(options), publisher_(options.broker_address, options.broker_port),
          subscriber_(options.broker_address,
                      options.subscriber_port != 0 ? options.subscriber_port : options.broker_port),
          payload_(std::max<std::size_t>(options.payload_bytes, 16), 'x') {
        publisher_.set_connect_settings(client_settings(options));
        subscriber_.set_connect_settings(client_settings(options));
        publisher_.set_handler([this](std::size_t, const packet_view& p) { on_publisher(p); });
        subscriber_.set_handler([this](std::size_t, const packet_view& p) { on_subscriber(p); });
    }

    /// Connects both clients, subscribes, and waits until a message crosses (the bridges may
    /// still be connecting upstream).
    bool set_up();
    /// Publishes at `rate` messages/s for `seconds`, then waits for what is on its way.
    step_result step(double rate, double seconds);

private:
    void on_publisher(const packet_view& packet);
    void on_subscriber(const packet_view& packet);
    /// Waits up to `timeout_ns` for either loop, then lets both handle what arrived.
    void wait(std::uint64_t timeout_ns);
    void send_one();
    bool can_send() {
        return publisher_.at(0).pending_bytes() < max_pending_bytes &&
               (options_.qos == 0 || inflight_ < options_.inflight);
    }
    /// Waits until `sent` messages were delivered (and acknowledged at QoS 1), or nothing
    /// arrived for quiet_ns, or the hard bound passed.
    void drain(std::uint64_t sent, std::uint64_t bound_ns);
    cpu_sample sample_cpu() const;

    const scenario_options& options_;
    client_loop publisher_;
    client_loop subscriber_;
    std::vector<std::uint8_t> payload_;
    const std::string topic_ = "bench/bridge/0";
    /// The current step's sender id in the payload stamp (0: the warm-up); deliveries of
    /// earlier steps are ignored.
    std::uint32_t sender_ = 0;
    std::uint32_t sequence_ = 0;
    std::vector<std::uint8_t> received_;
    std::uint64_t delivered_ = 0;
    std::uint64_t acknowledged_ = 0;
    std::uint64_t inflight_ = 0;
    std::vector<double> latencies_us_;
    std::uint64_t last_progress_ns_ = 0;
    /// When the current step's latest new message arrived.
    std::uint64_t last_delivery_ns_ = 0;
    std::uint16_t packet_id_ = 0;
};

bool bridge_bench::set_up() {
    const std::string prefix = "lg-bridge-" + std::to_string(getpid());
    if (!connect_clients(publisher_, 1, prefix + "-pub", 30) ||
        !connect_clients(subscriber_, 1, prefix + "-sub", 30) ||
        !subscribe_clients(subscriber_, 0, 1, "bench/bridge/#", options_.qos, 10)) {
        return false;
    }
    received_.assign(1 << 20, 0);
    const std::uint64_t deadline = now_ns() + 30000000000ull;
    while (delivered_ == 0 && now_ns() < deadline) {
        if (can_send()) {
            send_one();
        }
        wait(100000000);
    }
    drain(sequence_, now_ns() + 5000000000ull);
    return delivered_ > 0;
}

void bridge_bench::on_publisher(const packet_view& packet) {
    if (packet.type == packet_type::puback) {
        inflight_ -= inflight_ > 0 ? 1 : 0;
        ++acknowledged_;
    }
}

void bridge_bench::on_subscriber(const packet_view& packet) {
    if (packet.type != packet_type::publish) {
        return;
    }
    if (packet.qos() > 0) {
        append_puback(subscriber_.at(0).output, packet.packet_id);
        subscriber_.mark_dirty(0);
    }
    last_progress_ns_ = now_ns();
    const payload_stamp stamp = read_payload(packet.payload);
    if (stamp.sender != sender_ || stamp.sequence >= received_.size() ||
        received_[stamp.sequence] != 0) {
        return; // An earlier step's, or a second copy (QoS 1 may send one again).
    }
    received_[stamp.sequence] = 1;
    ++delivered_;
    last_delivery_ns_ = last_progress_ns_;
    latencies_us_.push_back(static_cast<double>(last_progress_ns_ - stamp.sent_ns) / 1e3);
}

void bridge_bench::wait(std::uint64_t timeout_ns) {
    pollfd fds[2] = {{publisher_.event_fd(), POLLIN, 0}, {subscriber_.event_fd(), POLLIN, 0}};
    const timespec timeout{static_cast<time_t>(timeout_ns / 1000000000ull),
                           static_cast<long>(timeout_ns % 1000000000ull)};
    ppoll(fds, 2, &timeout, nullptr);
    publisher_.poll(0);
    subscriber_.poll(0);
}

void bridge_bench::send_one() {
    write_payload(payload_, {now_ns(), sender_, sequence_});
    packet_id_ = static_cast<std::uint16_t>(packet_id_ % 65535 + 1);
    append_publish(publisher_.at(0).output, topic_, options_.qos, packet_id_, payload_,
                   publisher_.protocol_level());
    ++sequence_;
    inflight_ += options_.qos > 0 ? 1 : 0;
    publisher_.mark_dirty(0);
}

void bridge_bench::drain(std::uint64_t sent, std::uint64_t bound_ns) {
    publisher_.flush();
    last_progress_ns_ = now_ns();
    while (now_ns() < bound_ns && now_ns() - last_progress_ns_ < quiet_ns &&
           (delivered_ < sent || (options_.qos > 0 && inflight_ > 0))) {
        wait(10000000);
    }
}

cpu_sample bridge_bench::sample_cpu() const {
    cpu_sample sample;
    sample.publisher_side = sample_broker(options_.broker_pid).cpu_seconds;
    if (options_.subscriber_pid > 0 && options_.subscriber_pid != options_.broker_pid) {
        sample.subscriber_side = sample_broker(options_.subscriber_pid).cpu_seconds;
    }
    if (options_.upstream_pid > 0) {
        sample.upstream = sample_broker(options_.upstream_pid).cpu_seconds;
    }
    return sample;
}

step_result bridge_bench::step(double rate, double seconds) {
    const auto total = static_cast<std::uint64_t>(std::floor(rate * seconds));
    ++sender_;
    sequence_ = 0;
    delivered_ = 0;
    acknowledged_ = 0;
    latencies_us_.clear();
    latencies_us_.reserve(total);
    received_.assign(total, 0);
    const double loadgen_before = own_cpu_seconds();
    const cpu_sample before = sample_cpu();
    const std::uint64_t start_ns = now_ns();
    const std::uint64_t end_ns = start_ns + static_cast<std::uint64_t>(seconds * 1e9);
    for (std::uint64_t now = start_ns; now < end_ns; now = now_ns()) {
        const auto due = std::min<std::uint64_t>(
            total,
            static_cast<std::uint64_t>(static_cast<double>(now - start_ns) * rate / 1e9) + 1);
        while (sequence_ < due && can_send()) {
            send_one();
        }
        publisher_.flush();
        const auto next_ns =
            start_ns + static_cast<std::uint64_t>(static_cast<double>(sequence_) * 1e9 / rate);
        const std::uint64_t after = now_ns();
        std::uint64_t timeout_ns = 0;
        if (sequence_ >= total) {
            timeout_ns = end_ns > after ? end_ns - after : 0;
        } else if (!can_send()) {
            timeout_ns = 1000000; // An acknowledgement or a writable socket wakes it sooner.
        } else if (next_ns > after) {
            timeout_ns = std::min(next_ns, end_ns) - after;
        }
        wait(timeout_ns);
    }
    drain(sequence_, now_ns() + static_cast<std::uint64_t>(options_.timeout_seconds * 1e9));
    const cpu_sample after = sample_cpu();
    step_result result;
    result.rate = rate;
    result.seconds = seconds;
    result.sent = sequence_;
    result.delivered = delivered_;
    result.unacknowledged =
        options_.qos > 0 ? sequence_ - std::min<std::uint64_t>(acknowledged_, sequence_) : 0;
    result.latencies_us = std::move(latencies_us_);
    std::sort(result.latencies_us.begin(), result.latencies_us.end());
    result.cpu = {after.publisher_side - before.publisher_side,
                  after.subscriber_side - before.subscriber_side, after.upstream - before.upstream};
    result.loadgen_cpu = own_cpu_seconds() - loadgen_before;
    result.tail_ns = last_delivery_ns_ > end_ns ? last_delivery_ns_ - end_ns : 0;
    return result;
}

/// " key=value" fields of one step: counts, latencies and CPU per delivered message.
std::string step_fields(const step_result& result) {
    const double delivered = std::max<double>(1, static_cast<double>(result.delivered));
    const double edges = result.cpu.publisher_side + result.cpu.subscriber_side;
    char line[640];
    std::snprintf(line, sizeof line,
                  " rate=%.0f sent=%llu delivered=%llu lost=%llu unacknowledged=%llu p50_us=%.0f "
                  "p99_us=%.0f p999_us=%.0f max_us=%.0f publisher_cpu_s=%.2f "
                  "subscriber_cpu_s=%.2f upstream_cpu_s=%.2f edge_cpu_us_per_msg=%.2f "
                  "upstream_cpu_us_per_msg=%.2f tail_ms=%.0f loadgen_cpu_s=%.2f",
                  result.rate, static_cast<unsigned long long>(result.sent),
                  static_cast<unsigned long long>(result.delivered),
                  static_cast<unsigned long long>(result.lost()),
                  static_cast<unsigned long long>(result.unacknowledged),
                  percentile_of(result.latencies_us, 0.5), percentile_of(result.latencies_us, 0.99),
                  percentile_of(result.latencies_us, 0.999),
                  result.latencies_us.empty() ? 0 : result.latencies_us.back(),
                  result.cpu.publisher_side, result.cpu.subscriber_side, result.cpu.upstream,
                  edges * 1e6 / delivered, result.cpu.upstream * 1e6 / delivered,
                  static_cast<double>(result.tail_ns) / 1e6, result.loadgen_cpu);
    return line;
}

/// One step of the ramp at `rate`, printed on stderr. A step that does not hold runs once more
/// before it counts: on a shared machine one stall of another process should not end the ramp.
step_result ramp_step(bridge_bench& bench, double rate, const scenario_options& options,
                      const char* phase) {
    for (int attempt = 0;; ++attempt) {
        step_result result = bench.step(rate, options.duration_seconds);
        std::fprintf(stderr, "bridge %s%s held=%d\n", phase, step_fields(result).c_str(),
                     result.held() ? 1 : 0);
        if (result.held() || attempt == 1) {
            return result;
        }
    }
}

/// Doubles the rate from options.rate_per_member while steps hold, then bisects; returns the
/// step of the highest rate that held (rate 0 if none did).
step_result ramp(bridge_bench& bench, const scenario_options& options) {
    step_result best;
    double low = 0;
    double high = 0;
    for (double rate = options.rate_per_member; high == 0 && rate <= max_ramp_rate; rate *= 2) {
        step_result result = ramp_step(bench, rate, options, "ramp");
        if (result.held()) {
            low = rate;
            best = std::move(result);
        } else {
            high = rate;
        }
    }
    for (int step = 0; step < bisection_steps && low > 0 && high > 0; ++step) {
        const double rate = std::round((low + high) / 2);
        step_result result = ramp_step(bench, rate, options, "bisect");
        if (result.held()) {
            low = rate;
            best = std::move(result);
        } else {
            high = rate;
        }
    }
    return best;
}

} // namespace

void run_bridge(const scenario_options& options) {
    bridge_bench bench(options);
    if (!bench.set_up()) {
        std::fprintf(stderr, "bridge: set-up failed (no message crossed)\n");
        return;
    }
    const std::string parameters =
        "broker=" + options.broker_name +
        " scenario=" + (options.is_ramping ? "bridge_ramp" : "bridge") +
        " qos=" + std::to_string(options.qos) +
        " payload=" + std::to_string(options.payload_bytes) + protocol_label(options) +
        " step_s=" + std::to_string(static_cast<int>(options.duration_seconds));
    if (options.is_ramping) {
        const step_result best = ramp(bench, options);
        std::printf("%s highest_msgs_per_s=%.0f%s\n", parameters.c_str(), best.rate,
                    step_fields(best).c_str());
    } else {
        std::printf(
            "%s%s\n", parameters.c_str(),
            step_fields(bench.step(options.rate_per_member, options.duration_seconds)).c_str());
    }
    std::fflush(stdout);
}

} // namespace perch::loadgen
