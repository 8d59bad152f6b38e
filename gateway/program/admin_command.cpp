// The administration commands: argument parsing, opening the gateway's chat store, the table of
// subcommands, usage, and messages that name what went wrong. Each noun's commands are in
// admin_user.cpp, admin_room.cpp and admin_access.cpp.
#include "gateway/program/admin_command.hpp"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <exception>
#include <filesystem>
#include <iostream>
#include <memory>
#include <stdexcept>
#include <utility>
#include <variant>
#include <vector>

#include <fmt/format.h>

#include "gateway/common/chat_names.hpp"
#include "gateway/common/config.hpp"
#include "gateway/common/private_data_dir.hpp"
#include "gateway/program/admin_session.hpp"

#include <termios.h>
#include <unistd.h>

namespace perch::gateway {
namespace {

std::variant<admin_arguments, std::string> parse_arguments(std::span<const std::string_view> args) {
    admin_arguments parsed;
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string_view arg = args[i];
        const auto value = [&](std::optional<std::string>& target) -> bool {
            if (i + 1 >= args.size()) {
                return false;
            }
            target = std::string(args[++i]);
            return true;
        };
        if (arg == "-c" || arg == "--config-file") {
            if (!value(parsed.config_path)) {
                return fmt::format("option '{}' needs a file name", arg);
            }
        } else if (arg == "--data-dir") {
            if (!value(parsed.data_dir)) {
                return std::string("option '--data-dir' needs a directory");
            }
        } else if (arg == "--password") {
            if (!value(parsed.password)) {
                return std::string("option '--password' needs a value");
            }
        } else if (arg == "--for") {
            if (!value(parsed.ban_duration)) {
                return std::string("option '--for' needs a duration (30s, 10m, 2h, 7d)");
            }
        } else if (arg == "--reason") {
            if (!value(parsed.ban_reason)) {
                return std::string("option '--reason' needs a text");
            }
        } else if (arg == "--user") {
            if (!value(parsed.acl_user)) {
                return std::string("option '--user' needs a user name");
            }
        } else if (arg == "--owner") {
            if (!value(parsed.room_owner)) {
                return std::string("option '--owner' needs a user name");
            }
        } else if (arg == "--anonymous") {
            parsed.is_acl_anonymous = true;
        } else if (arg == "--pattern") {
            parsed.is_acl_pattern = true;
        } else if (arg == "-h" || arg == "--help") {
            parsed.wants_help = true;
        } else if (arg.size() > 1 && arg.starts_with('-')) {
            return fmt::format("unknown option '{}'", arg);
        } else {
            parsed.words.emplace_back(arg);
        }
    }
    return parsed;
}

} // namespace

/// The store options of the gateway this command administers; its data directory made private
/// (what was loose is reported on `errors`).
store::store_options store_options_for(const admin_arguments& arguments,
                                       const broker_config& config, std::ostream& errors) {
    if (!config.persistence || config.durability == durability_mode::none) {
        throw admin_failure(
            "the configuration keeps no store (persistence false or durability none): users and "
            "rooms would not outlive this command");
    }
    const std::string data_dir = arguments.data_dir.value_or(config.data_dir);
    std::vector<std::string> tightened;
    try {
        tightened = prepare_private_data_dir(data_dir, store_file_name);
    } catch (const std::runtime_error& error) {
        throw admin_failure(error.what());
    }
    for (const std::string& line : tightened) {
        errors << fmt::format("perch: data_dir permissions: readable by others: {}\n", line);
    }
    store::store_options options;
    options.durability = config.durability == durability_mode::full
                             ? store::durability_level::full
                             : store::durability_level::batched;
    options.path = (std::filesystem::path(data_dir) / store_file_name).string();
    options.commit_interval_ms = 1;
    // As the gateway: a command opening the file with the index in the other state would turn
    // it off or on under the gateway.
    options.is_search_enabled = config.chat_search;
    if (config.chat_store == chat_store_kind::postgresql) {
        if (config.postgresql_conninfo.empty()) {
            throw admin_failure("chat_store postgresql needs postgresql_conninfo");
        }
        options.chat = store::chat_backend::postgresql;
        options.postgresql_conninfo = config.postgresql_conninfo;
    }
    return options;
}

/// `unix_ms` as UTC, to the second: 2026-12-06T03:47:13Z.
std::string format_unix_ms(std::uint64_t unix_ms) {
    const auto seconds = static_cast<std::time_t>(unix_ms / 1000);
    std::tm utc{};
    ::gmtime_r(&seconds, &utc);
    return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z", utc.tm_year + 1900, utc.tm_mon + 1,
                       utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec);
}

void require_valid_name(std::string_view kind, const std::string& name) {
    if (!is_valid_chat_name(name)) {
        throw admin_failure(fmt::format("invalid {} name '{}': names are 1 to {} bytes of UTF-8 "
                                        "without / + # $ or control characters",
                                        kind, name, max_chat_name_bytes));
    }
}

bool admin_session::has_user(const std::string& name) {
    const auto users = store_->load_directory().users;
    return std::any_of(users.begin(), users.end(),
                       [&](const store::user_record& user) { return user.name == name; });
}

namespace {

/// One subcommand: its words, how many names follow, and what it does.
struct admin_subcommand {
    std::string_view group;
    std::string_view verb;
    std::size_t operand_count;
    std::function<void(admin_session&, const std::vector<std::string>&)> run;
};

const std::vector<admin_subcommand>& subcommands() {
    static const std::vector<admin_subcommand> table = {
        {"user", "add", 1, [](admin_session& s, const auto& w) { s.user_add(w[0]); }},
        {"user", "del", 1, [](admin_session& s, const auto& w) { s.user_del(w[0]); }},
        {"user", "passwd", 1, [](admin_session& s, const auto& w) { s.user_passwd(w[0]); }},
        {"user", "list", 0, [](admin_session& s, const auto&) { s.user_list(); }},
        {"user", "admin", 2, [](admin_session& s, const auto& w) { s.user_admin(w[0], w[1]); }},
        {"user", "tokens", 1, [](admin_session& s, const auto& w) { s.user_tokens(w[0]); }},
        {"user", "revoke-token", 2,
         [](admin_session& s, const auto& w) { s.user_revoke_token(w[0], w[1]); }},
        {"user", "import", 1, [](admin_session& s, const auto& w) { s.user_import(w[0]); }},
        {"room", "import", 1, [](admin_session& s, const auto& w) { s.room_import(w[0]); }},
        {"room", "create", 1, [](admin_session& s, const auto& w) { s.room_create(w[0]); }},
        {"room", "del", 1, [](admin_session& s, const auto& w) { s.room_del(w[0]); }},
        {"room", "list", 0, [](admin_session& s, const auto&) { s.room_list(); }},
        {"room", "members", 1, [](admin_session& s, const auto& w) { s.room_members(w[0]); }},
        {"room", "join", 2, [](admin_session& s, const auto& w) { s.room_join(w[0], w[1]); }},
        {"room", "leave", 2, [](admin_session& s, const auto& w) { s.room_leave(w[0], w[1]); }},
        {"room", "invite", 2, [](admin_session& s, const auto& w) { s.room_invite(w[0], w[1]); }},
        {"room", "kick", 2, [](admin_session& s, const auto& w) { s.room_kick(w[0], w[1]); }},
        {"room", "ban", 2, [](admin_session& s, const auto& w) { s.room_ban(w[0], w[1]); }},
        {"room", "unban", 2, [](admin_session& s, const auto& w) { s.room_unban(w[0], w[1]); }},
        {"room", "mute", 2, [](admin_session& s, const auto& w) { s.room_mute(w[0], w[1], true); }},
        {"room", "unmute", 2,
         [](admin_session& s, const auto& w) { s.room_mute(w[0], w[1], false); }},
        {"room", "role", 3, [](admin_session& s, const auto& w) { s.room_role(w[0], w[1], w[2]); }},
        {"room", "set", 3, [](admin_session& s, const auto& w) { s.room_set(w[0], w[1], w[2]); }},
        {"room", "show", 1, [](admin_session& s, const auto& w) { s.room_show(w[0]); }},
        {"room", "audit", 1, [](admin_session& s, const auto& w) { s.room_audit(w[0]); }},
        {"ban", "add", 2, [](admin_session& s, const auto& w) { s.ban_add(w[0], w[1]); }},
        {"ban", "remove", 2, [](admin_session& s, const auto& w) { s.ban_remove(w[0], w[1]); }},
        {"ban", "list", 0, [](admin_session& s, const auto&) { s.ban_list(); }},
        {"acl", "add", 2, [](admin_session& s, const auto& w) { s.acl_add(w[0], w[1]); }},
        {"acl", "remove", 1, [](admin_session& s, const auto& w) { s.acl_remove(w[0]); }},
        {"acl", "list", 0, [](admin_session& s, const auto&) { s.acl_list(); }},
    };
    return table;
}

/// Reads one line from the terminal with echo off, prompting on stderr.
std::optional<std::string> read_hidden_terminal_line(std::string_view prompt) {
    std::cerr << prompt << std::flush;
    termios saved{};
    const bool can_hide = ::tcgetattr(STDIN_FILENO, &saved) == 0;
    if (can_hide) {
        termios hidden = saved;
        hidden.c_lflag &= ~static_cast<tcflag_t>(ECHO);
        ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &hidden);
    }
    std::string line;
    const bool has_line = static_cast<bool>(std::getline(std::cin, line));
    if (can_hide) {
        ::tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved);
    }
    std::cerr << '\n';
    if (!has_line) {
        return std::nullopt;
    }
    return line;
}

int usage_error(admin_io& io, const std::string& message) {
    io.errors << "perch: " << message << " (try 'perch user --help')\n";
    return admin_exit_usage;
}

} // namespace

bool is_admin_command(std::string_view word) {
    return word == "user" || word == "room" || word == "ban" || word == "acl";
}

std::string admin_usage_text(std::string_view program_name) {
    return fmt::format(
        "Administration (on the gateway's database; safe while it runs):\n"
        "  {0} user add NAME [--password PW]   without --password: asked twice on the terminal,\n"
        "                                        or one line of standard input\n"
        "  {0} user del NAME\n"
        "  {0} user passwd NAME [--password PW]\n"
        "  {0} user list                       the users; an admin is followed by 'admin'\n"
        "  {0} user admin NAME on|off          may NAME use the admin page and API\n"
        "  {0} user tokens NAME                the devices holding a token, with its date\n"
        "  {0} user revoke-token NAME DEVICE   that device must log in with the password again\n"
        "  {0} user import FILE                a mosquitto_passwd file ($7$ hashes)\n"
        "  {0} room import FILE                lines 'ROOM USER USER ...': creates the rooms,\n"
        "                                        adds the members\n"
        "  {0} room create ROOM [--owner USER] with --owner: USER is its creator, first\n"
        "                                        member and owner\n"
        "  {0} room del ROOM\n"
        "  {0} room list\n"
        "  {0} room members ROOM\n"
        "  {0} room join ROOM USER\n"
        "  {0} room leave ROOM USER\n"
        "  {0} room invite|kick|ban|unban|mute|unmute ROOM USER\n"
        "  {0} room role ROOM USER owner|admin|member\n"
        "  {0} room set ROOM name|topic TEXT, visibility public|private, history shared|joined\n"
        "  {0} room show ROOM                  rules, members with roles, bans, invitations\n"
        "  {0} room audit ROOM                 who did what to whom, oldest first\n"
        "  {0} ban add user|client|address VALUE [--for DURATION] [--reason TEXT]\n"
        "                                        address: an IPv4 or IPv6 address or CIDR block;\n"
        "                                        DURATION: 30s, 10m, 2h, 7d (default: forever)\n"
        "  {0} ban remove user|client|address VALUE\n"
        "  {0} ban list\n"
        "  {0} acl add --user NAME|--anonymous|--pattern read|write|readwrite|deny FILTER\n"
        "                                        topics outside chat/, beside the acl_file\n"
        "  {0} acl remove --user NAME|--anonymous|--pattern FILTER\n"
        "  {0} acl list\n"
        "  options: -c FILE (data_dir from the config file), --data-dir DIR; default ./data\n",
        program_name);
}

int run_admin_command(std::span<const std::string_view> args, admin_io& io) {
    const auto parsed = parse_arguments(args);
    if (const auto* message = std::get_if<std::string>(&parsed)) {
        return usage_error(io, *message);
    }
    const auto& arguments = std::get<admin_arguments>(parsed);
    if (arguments.wants_help) {
        io.output << admin_usage_text("perch");
        return admin_exit_ok;
    }
    const auto& words = arguments.words;
    if (words.size() < 2 || !is_admin_command(words[0])) {
        return usage_error(io, words.empty() ? "missing command" : "missing subcommand");
    }
    const auto& table = subcommands();
    const auto found = std::find_if(table.begin(), table.end(), [&](const auto& subcommand) {
        return subcommand.group == words[0] && subcommand.verb == words[1];
    });
    if (found == table.end()) {
        return usage_error(io, fmt::format("unknown command '{} {}'", words[0], words[1]));
    }
    const std::vector<std::string> operands(words.begin() + 2, words.end());
    if (operands.size() != found->operand_count) {
        return usage_error(io, fmt::format("'{} {}' takes {} argument(s), {} given", words[0],
                                           words[1], found->operand_count, operands.size()));
    }
    try {
        admin_session session(arguments, io);
        found->run(session, operands);
        return admin_exit_ok;
    } catch (const std::exception& error) {
        io.errors << "perch: " << error.what() << '\n';
        return admin_exit_failure;
    }
}

admin_io standard_admin_io() {
    admin_io io{std::cin, std::cout, std::cerr, {}};
    if (::isatty(STDIN_FILENO) != 0) {
        io.read_hidden_line = read_hidden_terminal_line;
    }
    return io;
}

} // namespace perch::gateway
