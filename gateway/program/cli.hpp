// The `perch` command line, in the style mosquitto users know (-c FILE, -p PORT, -v). Parses words
// into options; knows nothing about config files or sockets.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>

namespace perch::gateway {

/// What the command line asked for.
struct cli_options {
    /// -c FILE / --config-file FILE.
    std::optional<std::string> config_path;
    /// -p PORT / --port PORT: overrides the port of the MQTT listener.
    std::optional<std::uint16_t> port;
    /// -v / --verbose: log at debug level.
    bool is_verbose = false;
    /// -h / --help.
    bool wants_help = false;
    /// --version.
    bool wants_version = false;
    /// --check: ask the running broker (the first plain MQTT listener of the configuration)
    /// whether it serves, instead of starting one.
    bool wants_check = false;
    /// --test-config: read and check the configuration file (-c), report, and exit.
    bool wants_config_test = false;
    bool operator==(const cli_options&) const = default;
};

/// A command line that cannot be obeyed; `message` is one line for stderr.
struct cli_error {
    std::string message;
};

/// Parses the arguments after the program name. Returns cli_error for an unknown option, a missing
/// value or a port outside 1..65535 (0 is accepted too: the system then picks a free port).
std::variant<cli_options, cli_error> parse_command_line(std::span<const std::string_view> args);

/// The position in `args` of the first word that is neither an option nor the value of one (the
/// subcommand: `room` in `-c perch.conf room create lobby`), or nullopt when every word is an
/// option. The options that take a value are the broker's (-c, --config-file, -p, --port) and
/// the administration commands' (--data-dir, --password), so that options may come before the
/// subcommand as well as after it.
std::optional<std::size_t> find_subcommand(std::span<const std::string_view> args);

/// The text --help prints.
std::string usage_text(std::string_view program_name);

} // namespace perch::gateway
