// Soak: the chat scenario's users log in once and chat in windows of --duration seconds: first
// --windows windows on their own, then as many beside the hostile clients (hostile.hpp). Each
// window prints a line with its p99, the messages lost and the broker's memory; the last line
// compares the two phases: the users' p99 beside the hostile clients against the p99 without them,
// messages lost (must be 0), and the broker's memory over the hostile phase (must stay flat).
#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "chat_session_set.hpp"
#include "hostile.hpp"

namespace perch::loadgen {

namespace {

/// What one phase of the soak measured.
struct soak_phase {
    std::vector<double> latencies_us;
    std::uint64_t sent = 0;
    std::uint64_t lost = 0;
    std::uint64_t unacknowledged = 0;
    /// Broker memory at the end of each window.
    std::vector<double> rss_mb;
};

void print_window(const scenario_options& options, const char* phase, int window,
                  const chat_step& step, double rss_mb, const std::string& hostile_fields) {
    const run_measurement& m = step.measurement;
    std::printf("broker=%s scenario=soak_window phase=%s window=%d users=%zu sent=%llu "
                "p50_us=%.0f p99_us=%.0f lost=%llu unacknowledged=%llu rss_mb=%.1f "
                "broker_cpu_s=%.2f%s\n",
                options.broker_name.c_str(), phase, window, options.users,
                static_cast<unsigned long long>(m.sent), percentile_of(m.latencies_us, 0.5),
                percentile_of(m.latencies_us, 0.99), static_cast<unsigned long long>(m.lost),
                static_cast<unsigned long long>(step.unacknowledged), rss_mb,
                m.after.cpu_seconds - m.before.cpu_seconds, hostile_fields.c_str());
    std::fflush(stdout);
}

void add_step(soak_phase& phase, const chat_step& step, double rss_mb) {
    const run_measurement& m = step.measurement;
    phase.latencies_us.insert(phase.latencies_us.end(), m.latencies_us.begin(),
                              m.latencies_us.end());
    phase.sent += m.sent;
    phase.lost += m.lost;
    phase.unacknowledged += step.unacknowledged;
    phase.rss_mb.push_back(rss_mb);
}

} // namespace

void run_soak(const scenario_options& options) {
    const double rate = options.is_rate_given ? options.rate_per_member : 0.1;
    chat_session_set sessions(options);
    const login_outcome login = sessions.log_in();
    std::fprintf(stderr, "soak: %zu of %zu users logged in in %.2f s\n", login.accepted,
                 options.users, login.seconds);
    const double rss_logged_in = mebibytes(sample_broker(options.broker_pid).resident_bytes);

    soak_phase quiet;
    for (int window = 0; window < options.soak_windows; ++window) {
        const chat_step step = sessions.chat(rate, options.duration_seconds);
        const double rss = mebibytes(sample_broker(options.broker_pid).resident_bytes);
        add_step(quiet, step, rss);
        print_window(options, "quiet", window, step, rss, "");
    }

    hostile_settings settings;
    settings.broker_address = options.broker_address;
    settings.broker_port = options.broker_port;
    settings.flood_messages_per_second = options.flood_rate;
    settings.nice = options.hostile_nice;
    if (!options.hostile_kinds.empty()) {
        // Only the kinds named: the others get no connection.
        const std::string wanted = "," + options.hostile_kinds + ",";
        for (std::size_t kind = 0; kind < hostile_kinds; ++kind) {
            const std::string word =
                std::string(",") + to_string(static_cast<hostile_kind>(kind)) + ",";
            if (wanted.find(word) == std::string::npos) {
                settings.counts[kind] = 0;
            }
        }
    }
    hostile_clients hostile(settings);
    hostile.start();
    soak_phase rough;
    for (int window = 0; window < options.soak_windows; ++window) {
        const chat_step step = sessions.chat(rate, options.duration_seconds);
        const double rss = mebibytes(sample_broker(options.broker_pid).resident_bytes);
        add_step(rough, step, rss);
        print_window(options, "hostile", window, step, rss, hostile.report_fields());
    }
    hostile.stop();
    const hostile_report report = hostile.report();
    std::uint64_t not_closed = 0;
    for (const std::uint64_t count : report.not_closed) {
        not_closed += count;
    }
    const double quiet_p99 = percentile_of(quiet.latencies_us, 0.99);
    const double hostile_p99 = percentile_of(rough.latencies_us, 0.99);
    const auto [rss_low, rss_high] = std::minmax_element(rough.rss_mb.begin(), rough.rss_mb.end());
    std::printf("broker=%s scenario=soak users=%zu room_size=%zu rate=%g window_s=%d windows=%d%s "
                "quiet_p99_us=%.0f hostile_p99_us=%.0f p99_ratio=%.2f sent=%llu lost=%llu "
                "unacknowledged=%llu rss_logged_in_mb=%.1f hostile_rss_first_mb=%.1f "
                "hostile_rss_last_mb=%.1f hostile_rss_min_mb=%.1f hostile_rss_max_mb=%.1f "
                "guesses_accepted=%llu hostile_not_closed=%llu stale=%llu hostile_nice=%d%s\n",
                options.broker_name.c_str(), options.users, options.room_size, rate,
                static_cast<int>(options.duration_seconds), options.soak_windows,
                protocol_label(options).c_str(), quiet_p99, hostile_p99,
                quiet_p99 > 0 ? hostile_p99 / quiet_p99 : 0,
                static_cast<unsigned long long>(quiet.sent + rough.sent),
                static_cast<unsigned long long>(quiet.lost + rough.lost),
                static_cast<unsigned long long>(quiet.unacknowledged + rough.unacknowledged),
                rss_logged_in, rough.rss_mb.front(), rough.rss_mb.back(), *rss_low, *rss_high,
                static_cast<unsigned long long>(report.guesses_accepted),
                static_cast<unsigned long long>(not_closed),
                static_cast<unsigned long long>(sessions.stale_deliveries()), options.hostile_nice,
                hostile.report_fields().c_str());
    std::fflush(stdout);
    sessions.log_out();
}

} // namespace perch::loadgen
