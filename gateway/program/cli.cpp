// The `perch` command line parser.
#include "gateway/program/cli.hpp"

#include <charconv>

#include <fmt/format.h>

namespace perch::gateway {

namespace {

std::optional<std::uint16_t> parse_port(std::string_view text) {
    unsigned value = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || error != std::errc() || end != text.data() + text.size() || value > 65535) {
        return std::nullopt;
    }
    return static_cast<std::uint16_t>(value);
}

bool takes_value(std::string_view arg) {
    return arg == "-c" || arg == "--config-file" || arg == "-p" || arg == "--port" ||
           arg == "--data-dir" || arg == "--password" || arg == "--for" || arg == "--reason" ||
           arg == "--user" || arg == "--owner";
}

} // namespace

std::optional<std::size_t> find_subcommand(std::span<const std::string_view> args) {
    for (std::size_t index = 0; index < args.size(); ++index) {
        const std::string_view arg = args[index];
        if (!arg.starts_with('-') || arg == "-") {
            return index;
        }
        if (takes_value(arg)) {
            ++index;
        }
    }
    return std::nullopt;
}

std::variant<cli_options, cli_error> parse_command_line(std::span<const std::string_view> args) {
    cli_options options;
    for (std::size_t index = 0; index < args.size(); ++index) {
        const std::string_view arg = args[index];
        const bool takes_value =
            arg == "-c" || arg == "--config-file" || arg == "-p" || arg == "--port";
        if (takes_value && index + 1 >= args.size()) {
            return cli_error{fmt::format("option {} needs a value", arg)};
        }
        if (arg == "-c" || arg == "--config-file") {
            options.config_path = std::string(args[++index]);
        } else if (arg == "-p" || arg == "--port") {
            const std::string_view value = args[++index];
            const auto port = parse_port(value);
            if (!port) {
                return cli_error{fmt::format("invalid port '{}' for {}", value, arg)};
            }
            options.port = port;
        } else if (arg == "-v" || arg == "--verbose") {
            options.is_verbose = true;
        } else if (arg == "-h" || arg == "--help") {
            options.wants_help = true;
        } else if (arg == "--version") {
            options.wants_version = true;
        } else if (arg == "--check") {
            options.wants_check = true;
        } else if (arg == "--test-config") {
            options.wants_config_test = true;
        } else {
            return cli_error{fmt::format("unknown option '{}' (try --help)", arg)};
        }
    }
    if (options.wants_config_test && !options.config_path) {
        return cli_error{"--test-config needs the file to check: -c FILE"};
    }
    return options;
}

std::string usage_text(std::string_view program_name) {
    return fmt::format(
        "perch is an MQTT 3.1.1 and 5.0 broker.\n"
        "\n"
        "usage: {} [-c FILE] [-p PORT] [-v]\n"
        "       {} reload [-c FILE]\n"
        "       {} --check [-c FILE] [-p PORT]\n"
        "       {} --test-config -c FILE\n"
        "       {} --help | --version\n"
        "\n"
        " -c, --config-file FILE  read the configuration from FILE\n"
        " -p, --port PORT         listen for MQTT on PORT instead of the configured "
        "port;\n"
        "                         without -c, only that plain MQTT listener runs "
        "(no TLS\n"
        "                         or WebSocket listeners)\n"
        " -v, --verbose           log everything (log_level debug)\n"
        " -h, --help              print this text and exit\n"
        "     --version           print the version and exit\n"
        "     --check             connect to the running broker's MQTT listener "
        "and exit 0\n"
        "                         when it answers with a CONNACK (health check)\n"
        "     --test-config       check the configuration file given with -c and "
        "exit;\n"
        "                         non-zero with the file, line and key of the "
        "first problem\n"
        "\n"
        "Without -c perch listens on loopback (127.0.0.1) only.\n"
        "\n"
        "Metrics: a listener with \"protocol http\" in the configuration file "
        "serves\n"
        "Prometheus text at /metrics and a health answer at /healthz (keep it on "
        "loopback:\n"
        "listener 9090 127.0.0.1); docs/OPERATIONS.md lists the metrics.\n"
        "\n"
        "Reload: SIGHUP, or `{} reload [-c FILE]` (which checks FILE, finds the "
        "broker by\n"
        "the pid file DATA_DIR/perch.pid and sends it SIGHUP), rereads the "
        "configuration\n"
        "file the broker started with. Applied at once: the limits and settings "
        "of new\n"
        "connections, max_connections, allow_anonymous, acl_file, web_root, log_level, "
        "log_format,\n"
        "sys_interval, history_retention_days, history_keep_per_conversation,\n"
        "password_iterations, and the certificates and keys of TLS listeners "
        "(new\n"
        "handshakes use them; live connections keep theirs). Listeners, workers, "
        "data_dir,\n"
        "persistence, durability, the store limits, presence, the chat intervals "
        "and the\n"
        "assistant_* keys need a restart; the broker logs each one that changed. "
        "A file\n"
        "with an error changes nothing (the log names its file, line and key).\n"
        "SIGTERM and SIGINT stop the broker.\n",
        program_name, program_name, program_name, program_name, program_name, program_name);
}

} // namespace perch::gateway
