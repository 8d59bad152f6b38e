// `perch user|room|ban|acl ...`: the administration commands of the perch binary. They
// open the chat store the gateway uses (same database file, its own connection), apply one
// change and exit; they never start listeners. Safe while the gateway runs: SQLite's busy timeout
// serialises the writes, and the gateway picks the change up through the directory version.
#pragma once

#include <functional>
#include <iosfwd>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace perch::gateway {

/// Where an administration command reads and writes. Tests substitute streams.
struct admin_io {
    /// Standard input: a password when none is given and there is no terminal, or an import.
    std::istream& input;
    /// Results (lists, confirmations).
    std::ostream& output;
    /// Errors and prompts.
    std::ostream& errors;
    /// Reads one line from the terminal with echo off after showing `prompt`; nullopt at end of
    /// input. Empty when standard input is not a terminal: the password is then the first line
    /// of `input`.
    std::function<std::optional<std::string>(std::string_view prompt)> read_hidden_line;
};

/// Exit statuses of an administration command.
inline constexpr int admin_exit_ok = 0;
/// The command was understood but failed: unknown or existing name, invalid name, bad file,
/// store error. The message names what is wrong.
inline constexpr int admin_exit_failure = 1;
/// The command line is wrong: unknown subcommand or option, missing or extra argument.
inline constexpr int admin_exit_usage = 2;

/// True when `word` (the first argument) names an administration command: `user`, `room`, `ban`
/// or `acl`.
bool is_admin_command(std::string_view word);

/// Runs the administration command `args` (the words after the program name, starting with
/// `user`, `room`, `ban` or `acl`). Options anywhere after the subcommand: `-c FILE` /
/// `--config-file FILE` (data_dir, persistence and durability from the gateway's config file),
/// `--data-dir DIR` (overrides the directory), `--password PW` (user add and passwd), `--for
/// DURATION` and
/// `--reason TEXT` (ban add), `--user NAME`, `--anonymous`, `--pattern` (acl add and remove).
/// Without -c and
/// --data-dir the gateway's default data_dir is used. Returns one of the exit statuses above;
/// never throws.
int run_admin_command(std::span<const std::string_view> args, admin_io& io);

/// The usage text of the administration commands, as --help and usage errors show it.
std::string admin_usage_text(std::string_view program_name);

/// The process's standard streams; read_hidden_line is set (echo off, prompts on stderr) only
/// when standard input is a terminal.
admin_io standard_admin_io();

} // namespace perch::gateway
