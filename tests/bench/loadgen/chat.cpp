// Chat: N authenticated users (user uK, client id uK, password PREFIX then K) with persistent
// sessions, in rooms r0, r1, ... of M users each (uK is in room K / M). Phase 1, the login storm:
// every user connects as fast as the broker accepts them, at most `window` CONNECTs in flight.
// Phase 2: every user publishes at QoS 1 to `chat/room/{room}/{user}` at a fixed rate, the sends of
// all users spread evenly over time; each receiver computes the end-to-end latency from the send
// time stamped in the payload. A broker with a chat layer subscribes the users itself; for one
// without, --subscribe 1 makes each user subscribe to `chat/room/{room}/+` (No Local at 5.0).
// With --ramp 1 the rate doubles after each step until p99 exceeds 10 ms or a message is lost (and
// halves instead while even the starting rate does not hold), to find the highest rate that holds;
// --ramp-factor sets another step (1.25: each rate a quarter above the last).
// With --tls every user connects over TLS 1.3. With --storm 1, after the chat step comes the
// reconnect storm: every user sends one message, and once the broker has acknowledged them all,
// every connection is dropped at once (no DISCONNECT) and every user reconnects (at most `window`
// CONNECTs in flight; a refused or failed one is tried again) to its persistent session; each sends
// one message as soon as its CONNACK arrives. Measured: time from the drop until every CONNACK
// arrived, broker CPU in that time, latency of the messages sent after reconnecting, and deliveries
// missing from both sets of messages. With --storm-messages 0 nobody sends around the storm, and
// the drop and the reconnect are measured apart: bytes written from the drop until the broker has
// written nothing for --storm-settle seconds (disk_bytes_per_logout, per user dropped), then from
// the first CONNECT until every CONNACK arrived and the disk was quiet as long again
// (disk_bytes_per_login, per user back; the settle time covers the group commits of both stores,
// so the logins' own writes are counted). Over TLS the storm runs twice: resuming each user's
// session with its latest ticket, then with full handshakes.
#include <cstdio>
#include <string>
#include <vector>

#include "chat_session_set.hpp"

namespace perch::loadgen {

namespace {

constexpr int max_ramp_steps = 16;

/// The result line of one storm.
void print_storm(const scenario_options& options, const std::string& handshakes,
                 const storm_outcome& outcome) {
    std::printf("broker=%s scenario=chat_storm handshakes=%s users=%zu room_size=%zu window=%llu%s "
                "unit=seconds_until_all_back median=%.3f back=%zu resumed=%zu retries=%zu "
                "storm_broker_cpu_s=%.2f storm_loadgen_cpu_s=%.2f after_p50_us=%.0f "
                "after_p99_us=%.0f expected=%llu lost=%llu lost_before_drop=%llu "
                "storm_messages=%d disk_bytes_per_logout=%.0f disk_bytes_per_login=%.0f\n",
                options.broker_name.c_str(), handshakes.c_str(), options.users, options.room_size,
                static_cast<unsigned long long>(options.window), protocol_label(options).c_str(),
                outcome.seconds, outcome.back, outcome.resumed, outcome.retries,
                outcome.broker_cpu_seconds, outcome.loadgen_cpu_seconds,
                percentile_of(outcome.latencies_us, 0.5), percentile_of(outcome.latencies_us, 0.99),
                static_cast<unsigned long long>(outcome.expected),
                static_cast<unsigned long long>(outcome.expected > outcome.delivered
                                                    ? outcome.expected - outcome.delivered
                                                    : 0),
                static_cast<unsigned long long>(outcome.expected_before - outcome.delivered_before),
                options.is_storm_messaging ? 1 : 0,
                outcome.dropped > 0 ? static_cast<double>(outcome.logout_written_bytes) /
                                          static_cast<double>(outcome.dropped)
                                    : 0.0,
                outcome.back > 0 ? static_cast<double>(outcome.written_bytes) / outcome.back : 0.0);
    std::fflush(stdout);
}

std::string chat_parameters(const scenario_options& options, double rate_per_user) {
    char rate[32];
    std::snprintf(rate, sizeof rate, "%g", rate_per_user);
    return "scenario=chat qos=1 payload=" + std::to_string(options.payload_bytes) +
           " users=" + std::to_string(options.users) +
           " room_size=" + std::to_string(options.room_size) + " rate=" + rate +
           " duration=" + std::to_string(static_cast<int>(options.duration_seconds)) +
           protocol_label(options);
}

/// The chat figures beside the common ones: login storm, broker memory, disk bytes per message
/// sent, publishes left unacknowledged.
std::string chat_fields(const std::vector<login_outcome>& logins, std::uint64_t rss_start,
                        std::uint64_t rss_logged_in, const std::vector<chat_step>& steps) {
    std::vector<double> login_rates;
    std::size_t failed = 0;
    for (const auto& login : logins) {
        login_rates.push_back(
            login.seconds > 0 ? static_cast<double>(login.accepted) / login.seconds : 0);
        failed += login.failed;
    }
    std::vector<double> disk_per_sent;
    std::uint64_t unacknowledged = 0;
    std::size_t disconnected = 0;
    std::uint64_t rss_end = 0;
    for (const auto& step : steps) {
        const run_measurement& m = step.measurement;
        const double written = static_cast<double>(m.after.written_bytes - m.before.written_bytes);
        disk_per_sent.push_back(m.sent > 0 ? written / static_cast<double>(m.sent) : 0);
        unacknowledged += step.unacknowledged;
        disconnected += step.disconnected;
        rss_end = m.after.resident_bytes;
    }
    char fields[320];
    std::snprintf(fields, sizeof fields,
                  " logins_per_s=%.0f login_failures=%zu disk_bytes_per_sent=%.1f "
                  "unacknowledged=%llu disconnected=%zu rss_start_mb=%.1f rss_logged_in_mb=%.1f "
                  "rss_end_mb=%.1f",
                  percentile_of(login_rates, 0.5), failed, percentile_of(disk_per_sent, 0.5),
                  static_cast<unsigned long long>(unacknowledged), disconnected,
                  mebibytes(rss_start), mebibytes(rss_logged_in), mebibytes(rss_end));
    return fields;
}

} // namespace

void run_chat(const scenario_options& options) {
    const double rate = options.is_rate_given ? options.rate_per_member : 0.1;
    const int runs = options.is_ramping ? 1 : options.runs;
    std::vector<login_outcome> logins;
    std::vector<chat_step> steps;
    const std::uint64_t rss_start = sample_broker(options.broker_pid).resident_bytes;
    std::uint64_t rss_logged_in = 0;
    for (int run = 0; run < runs; ++run) {
        chat_session_set sessions(options);
        logins.push_back(sessions.log_in());
        rss_logged_in = sample_broker(options.broker_pid).resident_bytes;
        std::fprintf(stderr, "chat: %zu of %zu users logged in in %.2f s\n", logins.back().accepted,
                     options.users, logins.back().seconds);
        if (logins.back().failed > 0) {
            std::fprintf(stderr, "chat: %zu logins failed\n", logins.back().failed);
        }
        if (options.is_subscribing && !sessions.subscribe_rooms()) {
            std::fprintf(stderr, "chat: room subscriptions failed\n");
        }
        if (!options.is_ramping) {
            steps.push_back(sessions.chat(rate, options.duration_seconds));
            if (options.is_storming) {
                if (options.tls_ca_file.empty()) {
                    print_storm(options, "plain", sessions.storm(false));
                    sessions.serve_for(options.storm_hold_seconds);
                } else {
                    print_storm(options, "resumed", sessions.storm(true));
                    print_storm(options, "full", sessions.storm(false));
                }
            }
            sessions.log_out();
            continue;
        }
        double highest = 0;
        double step_rate = rate;
        bool is_descending = false;
        for (int step = 0; step < max_ramp_steps; ++step) {
            steps.push_back(sessions.chat(step_rate, options.duration_seconds));
            const chat_step& done = steps.back();
            print_result(options,
                         chat_parameters(options, step_rate) + " step=" + std::to_string(step),
                         "deliveries_per_s", {done.measurement},
                         chat_fields(logins, rss_start, rss_logged_in, {done}));
            const double p99 = percentile_of(done.measurement.latencies_us, 0.99);
            const bool holds =
                p99 <= p99_limit_us && done.measurement.lost == 0 && done.unacknowledged == 0;
            // Upwards from the starting rate while it holds; downwards while nothing held yet.
            if (holds) {
                highest = step_rate;
                if (is_descending) {
                    break;
                }
                step_rate *= options.ramp_factor;
            } else if (highest > 0) {
                break;
            } else {
                is_descending = true;
                step_rate /= options.ramp_factor;
            }
        }
        std::printf(
            "broker=%s scenario=chat_ramp users=%zu room_size=%zu%s unit=msgs_per_s_per_user "
            "median=%g highest_total_msgs_per_s=%.0f\n",
            options.broker_name.c_str(), options.users, options.room_size,
            protocol_label(options).c_str(), highest, highest * static_cast<double>(options.users));
        std::fflush(stdout);
        sessions.log_out();
        return;
    }
    std::vector<run_measurement> measurements;
    for (const auto& step : steps) {
        measurements.push_back(step.measurement);
    }
    print_result(options, chat_parameters(options, rate), "deliveries_per_s", measurements,
                 chat_fields(logins, rss_start, rss_logged_in, steps));
}

} // namespace perch::loadgen
