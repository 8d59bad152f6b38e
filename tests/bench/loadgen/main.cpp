// perch_loadgen: drives an MQTT broker on 127.0.0.0/8 through one scenario and prints one
// machine-readable result line. See usage() for the options.
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>
#include <string_view>

#include "scenario.hpp"
#include <arpa/inet.h>

namespace {

using perch::loadgen::scenario_options;

void usage() {
    std::fprintf(
        stderr,
        "usage: perch_loadgen fan_in|fan_out|rooms|idle|offline|chat|soak|bridge --port P --pid "
        "BROKER_PID "
        "[options]\n"
        "  --host 127.0.0.1   broker address (127.0.0.0/8 only)\n"
        "  --name LABEL       broker label in the result line\n"
        "  --mqtt 3.1.1|5     protocol of every client (default 3.1.1)\n"
        "  --user NAME  --password SECRET   credentials in every CONNECT\n"
        "  --runs N  --qos 0|1  --payload BYTES  --messages N  --timeout SECONDS\n"
        "  --drain-idle SECONDS (chat: wait without progress before counting losses, default 2)\n"
        "  --perf 1           also count every broker system call with perf stat\n"
        "  fan_in:  --publishers P  --mode flat|closed  --window N  --inflight N\n"
        "  fan_out: --subscribers S  --window N (messages not yet delivered to all)\n"
        "  rooms:   --rooms R  --members M  --rate MSGS_PER_S_PER_MEMBER  --duration SECONDS\n"
        "  idle:    --connections N\n"
        "  offline: --subscribers S (persistent, away while --publishers P send --messages N at\n"
        "           --qos 1)  --session-expiry SECONDS (5.0)\n"
        "  chat:    --users N  --room-size M  --rate MSGS_PER_S_PER_USER (default 0.1)\n"
        "           --duration SECONDS  --window CONNECTS_IN_FLIGHT  --subscribe 0|1\n"
        "           --ramp 0|1  --ramp-factor F (the ramp's step, default 2)\n"
        "           --password PREFIX (user uK's password is PREFIX then K)\n"
        "           --tls CAFILE (every user over TLS 1.3)  --storm 0|1 (reconnect storm)\n"
        "           --storm-messages 0|1 (0: no message around the storm; the drop's and the\n"
        "           logins' writes measured apart)  --storm-settle SECONDS (with 0: each window\n"
        "           ends once the broker wrote nothing for this long, default 1)\n"
        "           --storm-hold SECONDS (stay connected this long after the storm's line)\n"
        "  soak:    the chat options, --windows N (chat windows of --duration seconds, first\n"
        "           without, then beside hostile clients)  --flood-rate MSGS_PER_S\n"
        "           --hostile KIND,KIND (only these: stalled_connect, silent, never_reader,\n"
        "           flooder, subscription_storm, guesser, malformed; default all)\n"
        "           --hostile-nice N (the hostile clients' thread's nice value, default 19)\n"
        "  bridge:  one publisher on --port, one subscriber on --sub-port (default: the same\n"
        "           broker) --sub-pid PID  --upstream-pid PID  --rate MSGS_PER_S\n"
        "           --duration SECONDS  --inflight N (QoS 1)  --ramp 0|1 (double --rate until\n"
        "           a step loses a message or falls behind, then bisect)\n");
}

bool apply_option(scenario_options& options, std::string_view key, const std::string& value) {
    if (key == "--host") {
        if (inet_pton(AF_INET, value.c_str(), &options.broker_address) != 1 ||
            (ntohl(options.broker_address.s_addr) >> 24) != 127) {
            std::fprintf(stderr, "--host must be an address in 127.0.0.0/8\n");
            return false;
        }
    } else if (key == "--port") {
        options.broker_port = static_cast<std::uint16_t>(std::stoul(value));
    } else if (key == "--pid") {
        options.broker_pid = static_cast<pid_t>(std::stol(value));
    } else if (key == "--name") {
        options.broker_name = value;
    } else if (key == "--runs") {
        options.runs = std::stoi(value);
    } else if (key == "--qos") {
        options.qos = std::stoi(value) > 0 ? 1 : 0;
    } else if (key == "--payload") {
        options.payload_bytes = std::stoul(value);
    } else if (key == "--publishers") {
        options.publishers = std::stoul(value);
    } else if (key == "--subscribers") {
        options.subscribers = std::stoul(value);
    } else if (key == "--messages") {
        options.messages = std::stoull(value);
    } else if (key == "--mode") {
        options.mode = value;
    } else if (key == "--window") {
        options.window = std::stoull(value);
    } else if (key == "--inflight") {
        options.inflight = std::stoull(value);
    } else if (key == "--rooms") {
        options.rooms = std::stoul(value);
    } else if (key == "--members") {
        options.members = std::stoul(value);
    } else if (key == "--rate") {
        options.rate_per_member = std::stod(value);
        options.is_rate_given = true;
    } else if (key == "--duration") {
        options.duration_seconds = std::stod(value);
    } else if (key == "--connections") {
        options.connections = std::stoul(value);
    } else if (key == "--perf") {
        options.is_counting_all_syscalls = value == "1";
    } else if (key == "--mqtt") {
        if (value != "3.1.1" && value != "5") {
            std::fprintf(stderr, "--mqtt must be 3.1.1 or 5\n");
            return false;
        }
        options.protocol_level =
            value == "5" ? perch::loadgen::level_5 : perch::loadgen::level_3_1_1;
    } else if (key == "--user") {
        options.user_name = value;
    } else if (key == "--password") {
        options.password = value;
    } else if (key == "--session-expiry") {
        options.session_expiry_seconds = static_cast<std::uint32_t>(std::stoul(value));
    } else if (key == "--users") {
        options.users = std::stoul(value);
    } else if (key == "--room-size") {
        options.room_size = std::stoul(value);
    } else if (key == "--subscribe") {
        options.is_subscribing = value == "1";
    } else if (key == "--ramp") {
        options.is_ramping = value == "1";
    } else if (key == "--ramp-factor") {
        options.ramp_factor = std::stod(value);
        if (!(options.ramp_factor > 1.0)) {
            std::fprintf(stderr, "--ramp-factor must be above 1\n");
            return false;
        }
    } else if (key == "--tls") {
        options.tls_ca_file = value;
    } else if (key == "--storm") {
        options.is_storming = value == "1";
    } else if (key == "--storm-messages") {
        options.is_storm_messaging = value != "0";
    } else if (key == "--storm-settle") {
        options.storm_settle_seconds = std::stod(value);
    } else if (key == "--storm-hold") {
        options.storm_hold_seconds = std::stod(value);
    } else if (key == "--windows") {
        options.soak_windows = std::stoi(value);
    } else if (key == "--hostile") {
        options.hostile_kinds = value;
    } else if (key == "--hostile-nice") {
        options.hostile_nice = std::stoi(value);
    } else if (key == "--flood-rate") {
        options.flood_rate = std::stoull(value);
    } else if (key == "--sub-port") {
        options.subscriber_port = static_cast<std::uint16_t>(std::stoul(value));
    } else if (key == "--sub-pid") {
        options.subscriber_pid = static_cast<pid_t>(std::stol(value));
    } else if (key == "--upstream-pid") {
        options.upstream_pid = static_cast<pid_t>(std::stol(value));
    } else if (key == "--timeout") {
        options.timeout_seconds = std::stod(value);
    } else if (key == "--drain-idle") {
        options.drain_idle_seconds = std::stod(value);
    } else {
        std::fprintf(stderr, "unknown option %s\n", std::string(key).c_str());
        return false;
    }
    return true;
}

} // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        usage();
        return 2;
    }
    // A TLS write to a connection the broker closed must fail, not end the program (OpenSSL
    // writes sockets with write(), which raises SIGPIPE).
    std::signal(SIGPIPE, SIG_IGN);
    scenario_options options;
    inet_pton(AF_INET, "127.0.0.1", &options.broker_address);
    try {
        for (int i = 2; i + 1 < argc; i += 2) {
            if (!apply_option(options, argv[i], argv[i + 1])) {
                usage();
                return 2;
            }
        }
    } catch (const std::exception&) {
        std::fprintf(stderr, "bad option value\n");
        return 2;
    }
    if (options.broker_pid <= 0 || options.runs < 1 || options.publishers < 1 ||
        options.members < 1 || options.rate_per_member <= 0 || options.messages < 1 ||
        options.users < 2 || options.room_size < 2 || options.soak_windows < 1) {
        usage();
        return 2;
    }
    const std::string_view scenario = argv[1];
    if (scenario == "fan_in") {
        perch::loadgen::run_fan_in(options);
    } else if (scenario == "fan_out") {
        perch::loadgen::run_fan_out(options);
    } else if (scenario == "rooms") {
        perch::loadgen::run_rooms(options);
    } else if (scenario == "idle") {
        perch::loadgen::run_idle(options);
    } else if (scenario == "offline") {
        perch::loadgen::run_offline(options);
    } else if (scenario == "chat") {
        perch::loadgen::run_chat(options);
    } else if (scenario == "soak") {
        perch::loadgen::run_soak(options);
    } else if (scenario == "bridge") {
        perch::loadgen::run_bridge(options);
    } else {
        usage();
        return 2;
    }
    return 0;
}
