// The `perch` program: command line, config file, then the broker until SIGTERM or SIGINT; or
// `perch reload`, which asks the running broker to reread its configuration.
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <exception>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <fmt/format.h>

#include "gateway/broker/server.hpp"
#include "gateway/common/config.hpp"
#include "gateway/common/log.hpp"
#include "gateway/program/admin_command.hpp"
#include "gateway/program/assistant_wiring.hpp"
#include "gateway/program/cli.hpp"
#include "gateway/program/health_check.hpp"
#include "gateway/program/pid_file.hpp"
#include "gateway/program/signal_handler.hpp"
#include "gateway/stream/tls_context.hpp"

namespace {

using namespace perch::gateway;

/// The config file (if any) with the command line's overrides applied.
broker_config load_effective_config(const cli_options& options) {
    broker_config config =
        options.config_path ? load_config_file(*options.config_path) : broker_config{};
    if (options.port && options.config_path) {
        override_mqtt_port(config, *options.port);
    } else if (options.port) {
        // -p without -c: only that plain MQTT listener, so brokers can run side by side.
        use_only_mqtt_port(config, *options.port);
    }
    if (options.is_verbose) {
        config.log_threshold = log_level::debug;
    }
    return config;
}

/// Checks what the configuration names beyond its own lines: the certificate, key and CA files of
/// every TLS listener that names them (the generated certificate is made at start). Throws
/// std::runtime_error naming the listener, the file and the key.
void check_tls_files(const broker_config& config, const std::string& source_name) {
    for (const listener_config& listener : config.listeners) {
        if (!is_tls(listener.kind) || listener.certfile.empty()) {
            continue;
        }
        try {
            const tls_context checked(listener, config.data_dir);
        } catch (const std::exception& error) {
            release_tls_thread_state();
            throw std::runtime_error(fmt::format("{}: listener {} ({}): {}", source_name,
                                                 listener.port, to_string(listener.kind),
                                                 error.what()));
        }
    }
    // Loading a key fills wolfSSL's per-thread cache.
    release_tls_thread_state();
}

int run_broker(const cli_options& options) {
    broker_config config = load_effective_config(options);
    set_log_level(config.log_threshold);
    set_log_format(config.log_style);
    if (options.config_path) {
        log_notice("perch {} starting with {}", PERCH_VERSION, *options.config_path);
    } else {
        // docs/DESIGN.md "Secure defaults": without a file, nothing but this machine reaches it.
        log_notice("perch {} starting without a config file: listening on loopback only "
                   "(127.0.0.1); give -c FILE with `listener` lines to serve a network",
                   PERCH_VERSION);
    }
    // Writes to a peer that has gone must fail with EPIPE, not kill the process.
    std::signal(SIGPIPE, SIG_IGN);

    boost::asio::io_context main_context(1);
    server broker(config);
    // Bridges are read at start only: a reload leaves them as they are (docs/BRIDGES.md).
    wire_assistant(broker, config,
                   options.config_path ? load_bridges_file(*options.config_path)
                                       : std::vector<bridge_config>{});
    signal_handler signals(
        main_context,
        [&main_context] {
            log_notice("stopping");
            main_context.stop();
        },
        [&] {
            if (!options.config_path) {
                log_notice("SIGHUP: no config file to reload (started without -c)");
                return;
            }
            log_notice("SIGHUP: rereading {}", *options.config_path);
            try {
                broker.reload(load_effective_config(options));
            } catch (const config_error& error) {
                log_error("reload failed, keeping the current configuration: {}", error.what());
            }
        });
    broker.start();
    // After start: the signal handler is in place once `perch reload` can find this process.
    std::unique_ptr<pid_file> pid;
    try {
        pid = std::make_unique<pid_file>(pid_file_path(config.data_dir));
    } catch (const std::runtime_error& error) {
        log_warning("{}; `perch reload` cannot reach this broker", error.what());
    }
    log_notice("perch {} running", PERCH_VERSION);
    main_context.run();
    pid.reset();
    broker.stop();
    // The main thread loaded the TLS keys (and may have generated the certificate).
    release_tls_thread_state();
    log_notice("perch stopped");
    return 0;
}

/// `perch --check`: 0 when the configured broker answers CONNECT, 1 otherwise.
int run_health_check(const cli_options& options) {
    const broker_config config = load_effective_config(options);
    std::uint16_t port = 0;
    const std::string host = health_check_target(config, port);
    if (host.empty()) {
        std::fprintf(stderr, "perch: --check needs a plain MQTT listener in the configuration\n");
        return 2;
    }
    const health_report report = check_broker_health(host, port, std::chrono::seconds(5));
    std::fprintf(report.is_healthy ? stdout : stderr, "perch: %s\n", report.detail.c_str());
    return report.is_healthy ? 0 : 1;
}

/// `perch reload [-c FILE]`: checks FILE, finds the broker by the pid file in its data_dir and
/// sends it SIGHUP. 0 when the signal was sent; the broker logs what the reload changed.
int run_reload(const cli_options& options) {
    const broker_config config = load_effective_config(options);
    if (options.config_path) {
        check_tls_files(config, *options.config_path);
    }
    const std::filesystem::path path = pid_file_path(config.data_dir);
    const auto found = find_running_broker(path);
    if (const auto* missing = std::get_if<no_running_broker>(&found)) {
        std::fprintf(stderr, "perch: reload: %s\n", missing->message.c_str());
        return 1;
    }
    const pid_t pid = std::get<pid_t>(found);
    if (::kill(pid, SIGHUP) != 0) {
        std::fprintf(stderr, "perch: reload: cannot signal the broker (pid %d): %s\n",
                     static_cast<int>(pid), std::strerror(errno));
        return 1;
    }
    std::printf("perch: asked the broker (pid %d) to reload its configuration; its log tells "
                "what changed\n",
                static_cast<int>(pid));
    return 0;
}

} // namespace

int main(int argc, char** argv) {
    const std::vector<std::string_view> args(argv + 1, argv + argc);
    if (const auto subcommand = find_subcommand(args);
        subcommand && is_admin_command(args[*subcommand])) {
        // `perch user ...` / `perch room ...` (options before or after the subcommand): one
        // change to the database, no listeners.
        admin_io io = standard_admin_io();
        return run_admin_command(args, io);
    }
    std::vector<std::string_view> broker_args = args;
    bool wants_reload = false;
    if (const auto subcommand = find_subcommand(args);
        subcommand && args[*subcommand] == "reload") {
        wants_reload = true;
        broker_args.erase(broker_args.begin() + static_cast<std::ptrdiff_t>(*subcommand));
    }
    const auto parsed = parse_command_line(broker_args);
    if (const auto* error = std::get_if<cli_error>(&parsed)) {
        std::fprintf(stderr, "perch: %s\n", error->message.c_str());
        return 1;
    }
    const auto& options = std::get<cli_options>(parsed);
    if (options.wants_help) {
        std::fputs(usage_text("perch").c_str(), stdout);
        std::fputs(("\n" + admin_usage_text("perch")).c_str(), stdout);
        return 0;
    }
    if (options.wants_version) {
        std::printf("perch version %s\n", PERCH_VERSION);
        return 0;
    }
    try {
        if (wants_reload) {
            return run_reload(options);
        }
        if (options.wants_check) {
            return run_health_check(options);
        }
        if (options.wants_config_test) {
            // Throws config_error naming the file, the line and the key.
            check_tls_files(load_effective_config(options), *options.config_path);
            std::printf("perch: %s: configuration OK\n", options.config_path->c_str());
            return 0;
        }
        return run_broker(options);
    } catch (const config_error& error) {
        std::fprintf(stderr, "perch: %s\n", error.what());
        return 1;
    } catch (const std::exception& error) {
        std::fprintf(stderr, "perch: %s\n", error.what());
        return 1;
    }
}
