// The load generator's scenarios, their parameters, and the helpers they share: connection set-up,
// payloads stamped with sender, sequence and send time, and the result line each run ends in.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "broker_probe.hpp"
#include "client_loop.hpp"

namespace perch::loadgen {

/// Everything a scenario may be asked to vary; main() fills it from the command line.
struct scenario_options {
    in_addr broker_address{};
    std::uint16_t broker_port = 1883;
    pid_t broker_pid = 0;
    /// A label for the broker under test, copied into every result line.
    std::string broker_name = "broker";
    int runs = 3;
    int qos = 0;
    std::size_t payload_bytes = 16;
    std::size_t publishers = 4;
    std::size_t subscribers = 1000;
    /// Messages per run, across all publishers.
    std::uint64_t messages = 200000;
    /// fan-in: "flat" (as fast as the sockets take them) or "closed" (at most `window`
    /// messages sent and not yet delivered).
    std::string mode = "flat";
    std::uint64_t window = 1000;
    /// QoS 1 publishes a publisher may have unacknowledged.
    std::uint64_t inflight = 100;
    std::size_t rooms = 100;
    std::size_t members = 10;
    double rate_per_member = 1.0;
    double duration_seconds = 10;
    std::size_t connections = 10000;
    /// Whether to count all the broker's system calls with perf during each measured phase.
    bool is_counting_all_syscalls = false;
    /// Hard bound on one run, set-up excluded.
    double timeout_seconds = 60;
    /// chat: after the sends of a step, how long it waits without a delivery or acknowledgement
    /// before it counts what is missing as lost.
    double drain_idle_seconds = 2;
    /// MQTT protocol level of every client: 4 (3.1.1) or 5 (5.0).
    int protocol_level = level_3_1_1;
    /// Credentials every client sends in CONNECT; an empty user name sends none.
    std::string user_name;
    std::string password;
    /// offline and chat: Session Expiry Interval (5.0) the persistent sessions ask for.
    std::uint32_t session_expiry_seconds = 3600;
    /// Whether --rate was given (chat's default rate differs from rooms').
    bool is_rate_given = false;
    /// chat: users u0..u{users-1}, in rooms r0, r1, ... of `room_size` users each.
    std::size_t users = 1000;
    std::size_t room_size = 20;
    /// chat: the load generator subscribes each user to its room (a broker without a chat
    /// layer); otherwise the broker subscribes them itself.
    bool is_subscribing = false;
    /// chat: double the rate after each step until p99 exceeds 10 ms or a message is lost (halve
    /// it while the starting rate does not hold).
    bool is_ramping = false;
    /// chat, --ramp 1: what the rate is multiplied by after a step that held (divided by after
    /// one that did not, while none held yet); below 2 the highest rate is found more finely.
    double ramp_factor = 2.0;
    /// chat: every user over TLS 1.3 trusting this CA file (empty: plain TCP).
    std::string tls_ca_file;
    /// chat: after the chat step every user drops its connection and reconnects at once, over
    /// TLS first resuming its session, then with full handshakes (see chat.cpp).
    bool is_storming = false;
    /// chat: whether each user sends one message before the storm's drop and one once back
    /// (--storm-messages 1, the default). At 0 nobody sends: the drop and the reconnect are
    /// measured apart, each window closed once the broker has written nothing for
    /// `storm_settle_seconds` (disk_bytes_per_logout, disk_bytes_per_login).
    bool is_storm_messaging = true;
    /// chat, --storm-messages 0: how long the broker must write nothing before a window closes;
    /// longer than a group commit (commit_interval_ms, chat_commit_interval_ms).
    double storm_settle_seconds = 1;
    /// chat: seconds the users stay connected after the storm's result line, before they log out
    /// (time for a copy of the broker's write-ahead log, tests/bench/run-login-bytes.sh).
    double storm_hold_seconds = 0;
    /// soak: chat windows of `duration_seconds` each, first without the hostile clients, then
    /// with them.
    int soak_windows = 6;
    /// soak: flood messages per second over all hostile flooders.
    std::uint64_t flood_rate = 20000;
    /// soak: the hostile kinds to run (hostile.hpp's words, comma-separated); empty: all of them.
    std::string hostile_kinds;
    /// soak: the nice value of the hostile clients' thread. On a network the attackers run on
    /// machines of their own; here they share the broker's cores with the measured users, and at
    /// 19 their thread takes only the CPU that nobody else wants (0: the users' priority).
    int hostile_nice = 19;
    /// bridge: the port of the broker the subscriber is on (0: the publisher's, the direct
    /// baseline), and the process ids of that broker and of the upstream between them, whose
    /// CPU time is read too (0: not read).
    std::uint16_t subscriber_port = 0;
    pid_t subscriber_pid = 0;
    pid_t upstream_pid = 0;
};

/// The CONNECT settings of a scenario's clients: protocol level and credentials from `options`,
/// clean session, keep alive 0.
connect_settings client_settings(const scenario_options& options);

/// " mqtt=5" for level-5 runs (so that their result lines differ from 3.1.1 ones), else empty.
std::string protocol_label(const scenario_options& options);

/// What one run measured.
struct run_measurement {
    double seconds = 0;
    std::uint64_t sent = 0;
    std::uint64_t delivered = 0;
    std::uint64_t lost = 0;
    broker_sample before;
    broker_sample after;
    double loadgen_cpu_seconds = 0;
    /// Every system call the broker entered during the run (perf), or -1 when not counted.
    long long all_syscalls = -1;
    /// End-to-end latencies in microseconds (rooms only).
    std::vector<double> latencies_us;
    /// A scenario-specific figure replacing delivered/seconds (idle: bytes per connection).
    double figure = -1;
};

/// Monotonic nanoseconds, the clock stamped into payloads.
std::uint64_t now_ns();

/// Opens `count` clients named PREFIX-N and polls until every CONNACK arrived, keeping at most
/// 512 handshakes in progress. Returns false if some failed or `timeout_seconds` passed.
bool connect_clients(client_loop& loop, std::size_t count, const std::string& prefix,
                     double timeout_seconds);

/// Sends SUBSCRIBE `topic_filter` from the clients [first, first + count) and polls until every
/// SUBACK arrived. Returns false on timeout.
bool subscribe_clients(client_loop& loop, std::size_t first, std::size_t count,
                       const std::string& topic_filter, int qos, double timeout_seconds);

/// The fields the load generator writes at the front of every payload (16 bytes).
struct payload_stamp {
    std::uint64_t sent_ns = 0;
    std::uint32_t sender = 0;
    std::uint32_t sequence = 0;
};

/// A payload of `size` bytes (at least 16) starting with `stamp`.
void write_payload(std::vector<std::uint8_t>& payload, const payload_stamp& stamp);
/// The stamp at the front of a received payload; zeros if it is shorter than 16 bytes.
payload_stamp read_payload(std::span<const std::uint8_t> payload);

/// Prints the result line: the scenario's `parameters`, then runs, median/min/max of the rate,
/// messages lost and the broker figures (medians over the runs), then `extra_fields` (" key=value"
/// pairs a scenario adds).
void print_result(const scenario_options& options, const std::string& parameters,
                  const std::string& unit, const std::vector<run_measurement>& runs,
                  const std::string& extra_fields = "");

/// The scenarios; each runs options.runs times and prints its result line.
void run_fan_in(const scenario_options& options);
void run_fan_out(const scenario_options& options);
void run_rooms(const scenario_options& options);
void run_idle(const scenario_options& options);
void run_offline(const scenario_options& options);
void run_chat(const scenario_options& options);
void run_soak(const scenario_options& options);
void run_bridge(const scenario_options& options);

} // namespace perch::loadgen
