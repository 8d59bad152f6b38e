// The administration commands: argument parsing, opening the gateway's chat store, one
// synchronous change or listing per command, and messages that name what went wrong.
#include "gateway/program/admin_command.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdio>
#include <ctime>
#include <exception>
#include <filesystem>
#include <future>
#include <iostream>
#include <map>
#include <memory>
#include <stdexcept>
#include <utility>
#include <variant>
#include <vector>

#include <fmt/format.h>

#include "gateway/chat/ban_list.hpp"
#include "gateway/chat/device_token.hpp"
#include "gateway/chat/password_hash.hpp"
#include "gateway/common/chat_names.hpp"
#include "gateway/common/config.hpp"
#include "gateway/common/private_data_dir.hpp"
#include "gateway/common/stored_message_codec.hpp"
#include "gateway/common/topic_acl.hpp"
#include "gateway/program/admin_import.hpp"
#include "store/chat_store.hpp"

#include <termios.h>
#include <unistd.h>

namespace perch::gateway {
namespace {

/// A command that was understood but cannot be done; what() is the message for stderr.
class admin_failure : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// The command line of an administration command, split into words and options.
struct admin_arguments {
    /// `user add alice` -> {"user", "add", "alice"}.
    std::vector<std::string> words;
    std::optional<std::string> config_path;
    std::optional<std::string> data_dir;
    std::optional<std::string> password;
    /// `ban add`: --for DURATION and --reason TEXT.
    std::optional<std::string> ban_duration;
    std::optional<std::string> ban_reason;
    /// `acl add|remove`: --user NAME, --anonymous or --pattern.
    std::optional<std::string> acl_user;
    bool is_acl_anonymous = false;
    bool is_acl_pattern = false;
    /// `room create`: --owner NAME, the room's first member and owner.
    std::optional<std::string> room_owner;
    bool wants_help = false;
};

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
    return options;
}

/// Runs one directory change and waits for its result; a failed write becomes admin_failure.
template <typename Call> store::directory_result change_directory(Call call) {
    std::promise<std::pair<store::directory_result, store::store_status>> outcome;
    call([&](store::directory_result result, const store::store_status& status) {
        outcome.set_value({result, status});
    });
    auto [result, status] = outcome.get_future().get();
    if (result == store::directory_result::failed) {
        throw admin_failure("store write failed: " + status.detail);
    }
    return result;
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

/// The new password: --password, else twice from the terminal, else one line of input.
std::string read_new_password(const admin_arguments& arguments, admin_io& io) {
    std::string password;
    if (arguments.password) {
        password = *arguments.password;
    } else if (io.read_hidden_line) {
        const auto first = io.read_hidden_line("Password: ");
        if (!first) {
            throw admin_failure("no password given");
        }
        const auto second = io.read_hidden_line("Reenter password: ");
        if (!second || *second != *first) {
            throw admin_failure("the passwords do not match");
        }
        password = *first;
    } else {
        if (!std::getline(io.input, password)) {
            throw admin_failure("no password on standard input");
        }
        if (password.ends_with('\r')) {
            password.pop_back();
        }
    }
    if (password.empty()) {
        throw admin_failure("the password is empty");
    }
    if (is_device_token(password)) {
        // A login with it would be checked against the device tokens only.
        throw admin_failure("the password has the form of a device token (tok:...)");
    }
    return password;
}

/// `30s`, `10m`, `2h`, `7d` or a number of seconds, in milliseconds; empty when not one.
std::optional<std::uint64_t> parse_duration_ms(std::string_view text) {
    std::uint64_t unit_ms = 1000;
    if (!text.empty()) {
        switch (text.back()) {
        case 's': unit_ms = 1000; break;
        case 'm': unit_ms = 60'000; break;
        case 'h': unit_ms = 3'600'000; break;
        case 'd': unit_ms = 86'400'000; break;
        default: unit_ms = 0; break;
        }
        if (unit_ms != 0) {
            text.remove_suffix(1);
        } else {
            unit_ms = 1000;
        }
    }
    std::uint64_t count = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), count);
    if (text.empty() || error != std::errc() || end != text.data() + text.size() || count == 0 ||
        count > 100ULL * 365 * 86'400'000 / unit_ms) {
        return std::nullopt;
    }
    return count * unit_ms;
}

store::ban_kind ban_kind_of(const std::string& word) {
    if (word == "user") {
        return store::ban_kind::user;
    }
    if (word == "client") {
        return store::ban_kind::client;
    }
    if (word == "address") {
        return store::ban_kind::address;
    }
    throw admin_failure(
        fmt::format("unknown ban kind '{}': expected user, client or address", word));
}

/// A ban value as the gateway compares it: an address block written canonically is kept as
/// given; anything that does not parse is refused.
void require_valid_ban_value(store::ban_kind kind, const std::string& value) {
    if (value.empty()) {
        throw admin_failure("the ban value is empty");
    }
    if (kind == store::ban_kind::address && !parse_address_block(value)) {
        throw admin_failure(fmt::format(
            "invalid address '{}': expected an IPv4 or IPv6 address, optionally with /BITS",
            value));
    }
}

/// One administration command with the store open.
class admin_session {
public:
    admin_session(const admin_arguments& arguments, admin_io& io)
        : arguments_(arguments), io_(io),
          config_(arguments.config_path ? load_config_file(*arguments.config_path)
                                        : broker_config{}),
          store_(store::open_chat_store(store_options_for(arguments, config_, io.errors))) {}

    void user_add(const std::string& name) {
        require_valid_name("user", name);
        const std::string hash =
            hash_password(read_new_password(arguments_, io_), config_.password_iterations);
        const auto result = change_directory([&](store::directory_completion done) {
            store_->add_user(store::user_record{name, hash, unix_now_ms()}, std::move(done));
        });
        if (result == store::directory_result::already_exists) {
            throw admin_failure(fmt::format("user '{}' exists", name));
        }
        io_.output << fmt::format("user '{}' added\n", name);
    }

    void user_del(const std::string& name) {
        const auto result = change_directory(
            [&](store::directory_completion done) { store_->remove_user(name, std::move(done)); });
        if (result == store::directory_result::not_found) {
            throw admin_failure(fmt::format("unknown user '{}'", name));
        }
        io_.output << fmt::format("user '{}' deleted\n", name);
    }

    void user_passwd(const std::string& name) {
        if (!has_user(name)) {
            throw admin_failure(fmt::format("unknown user '{}'", name));
        }
        const std::string hash =
            hash_password(read_new_password(arguments_, io_), config_.password_iterations);
        const auto result = change_directory([&](store::directory_completion done) {
            store_->set_password(name, hash, std::move(done));
        });
        if (result == store::directory_result::not_found) {
            throw admin_failure(fmt::format("unknown user '{}'", name));
        }
        io_.output << fmt::format("password of '{}' changed\n", name);
    }

    void user_tokens(const std::string& name) {
        const auto directory = store_->load_directory();
        if (!std::any_of(directory.users.begin(), directory.users.end(),
                         [&](const store::user_record& user) { return user.name == name; })) {
            throw admin_failure(fmt::format("unknown user '{}'", name));
        }
        for (const auto& token : directory.device_tokens) {
            if (token.user == name) {
                io_.output << fmt::format("{} {}\n", token.device,
                                          format_unix_ms(token.created_unix_ms));
            }
        }
    }

    void user_revoke_token(const std::string& name, const std::string& device) {
        const auto result = change_directory([&](store::directory_completion done) {
            store_->remove_device_token(name, device, std::move(done));
        });
        if (result == store::directory_result::not_found) {
            throw admin_failure(
                fmt::format("user '{}' has no token for device '{}'", name, device));
        }
        io_.output << fmt::format("token of '{}' on device '{}' revoked\n", name, device);
    }

    void user_list() {
        for (const auto& user : store_->load_directory().users) {
            io_.output << user.name << '\n';
        }
    }

    void user_import(const std::string& file_name);

    void room_import(const std::string& file_name);

    // Room rules and moderation (docs/CHAT.md "Room rules"). An administrator acts as nobody
    // in particular: the audit log shows an empty actor, and no event is published in the room
    // (no gateway runs here); live sessions follow at the gateway's next directory reload.

    /// Applies `changes` as one batch with an audit entry of `action` in `room` on `user`.
    void apply_room_batch(std::vector<store::directory_change> changes, const std::string& room,
                          const std::string& action, const std::string& user,
                          const std::string& detail = "") {
        changes.push_back(
            store::directory_change::auditing({0, unix_now_ms(), room, "", action, user, detail}));
        std::promise<std::pair<store::directory_result, store::store_status>> outcome;
        store_->apply_directory_changes(
            std::move(changes),
            [&](store::directory_result result, std::size_t, const store::store_status& status) {
                outcome.set_value({result, status});
            });
        auto [result, status] = outcome.get_future().get();
        if (result == store::directory_result::failed) {
            throw admin_failure("store write failed: " + status.detail);
        }
        if (result != store::directory_result::done) {
            throw admin_failure(
                fmt::format("room '{}' changed meanwhile: run the command again", room));
        }
    }

    /// The membership of `user` in `room`; admin_failure naming what is missing otherwise.
    static store::membership_record require_member(const store::chat_directory_snapshot& directory,
                                                   const std::string& room,
                                                   const std::string& user) {
        require_room(directory, room);
        for (const auto& membership : directory.memberships) {
            if (membership.room == room && membership.user == user) {
                return membership;
            }
        }
        throw admin_failure(fmt::format("user '{}' is not a member of room '{}'", user, room));
    }

    static const store::room_record& find_room(const store::chat_directory_snapshot& directory,
                                               const std::string& room) {
        for (const auto& held : directory.rooms) {
            if (held.name == room) {
                return held;
            }
        }
        throw admin_failure(fmt::format("unknown room '{}'", room));
    }

    static bool has_user(const store::chat_directory_snapshot& directory, const std::string& name) {
        return std::any_of(directory.users.begin(), directory.users.end(),
                           [&](const store::user_record& user) { return user.name == name; });
    }

    /// The last message id of `room`: a member joining now reads history from after it when
    /// the room shows newcomers only what follows their join.
    std::uint64_t join_point(const std::string& room) {
        const std::string conversation = "room/" + room;
        for (const auto& head : store_->conversation_heads()) {
            if (head.conversation == conversation) {
                return head.last_id;
            }
        }
        return 0;
    }

    void room_invite(const std::string& room, const std::string& user) {
        const auto directory = store_->load_directory();
        const store::room_record& held = find_room(directory, room);
        if (!has_user(directory, user)) {
            throw admin_failure(fmt::format("unknown user '{}'", user));
        }
        if (held.visibility == store::room_visibility::open) {
            throw admin_failure(
                fmt::format("room '{}' is public: add the user with 'perch room join {} {}'", room,
                            room, user));
        }
        apply_room_batch(
            {store::directory_change::of_invitation(store::directory_change::action::add_invitation,
                                                    {room, user, "", unix_now_ms()})},
            room, "invite", user);
        io_.output << fmt::format("user '{}' invited to room '{}'\n", user, room);
    }

    void room_kick(const std::string& room, const std::string& user) {
        const auto directory = store_->load_directory();
        require_member(directory, room, user);
        apply_room_batch({store::directory_change::of_member(
                             store::directory_change::action::remove_member, {room, user})},
                         room, "kick", user);
        io_.output << fmt::format("user '{}' kicked from room '{}'\n", user, room);
    }

    void room_ban(const std::string& room, const std::string& user) {
        using action = store::directory_change::action;
        const auto directory = store_->load_directory();
        require_room(directory, room);
        if (!has_user(directory, user)) {
            throw admin_failure(fmt::format("unknown user '{}'", user));
        }
        std::vector<store::directory_change> changes;
        for (const auto& membership : directory.memberships) {
            if (membership.room == room && membership.user == user) {
                changes.push_back(
                    store::directory_change::of_member(action::remove_member, {room, user}));
            }
        }
        for (const auto& invitation : directory.invitations) {
            if (invitation.room == room && invitation.user == user) {
                changes.push_back(store::directory_change::of_invitation(action::remove_invitation,
                                                                         {room, user}));
            }
        }
        changes.push_back(
            store::directory_change::of_ban(action::add_room_ban, {room, user, "", unix_now_ms()}));
        apply_room_batch(std::move(changes), room, "ban", user);
        io_.output << fmt::format("user '{}' banned from room '{}'\n", user, room);
    }

    void room_unban(const std::string& room, const std::string& user) {
        const auto directory = store_->load_directory();
        require_room(directory, room);
        if (!std::any_of(directory.room_bans.begin(), directory.room_bans.end(),
                         [&](const auto& ban) { return ban.room == room && ban.user == user; })) {
            throw admin_failure(fmt::format("user '{}' is not banned from room '{}'", user, room));
        }
        apply_room_batch({store::directory_change::of_ban(
                             store::directory_change::action::remove_room_ban, {room, user})},
                         room, "unban", user);
        io_.output << fmt::format("user '{}' unbanned from room '{}'\n", user, room);
    }

    void room_mute(const std::string& room, const std::string& user, bool is_muted) {
        const auto directory = store_->load_directory();
        store::membership_record changed = require_member(directory, room, user);
        changed.is_muted = is_muted;
        apply_room_batch({store::directory_change::of_member(
                             store::directory_change::action::update_member, changed)},
                         room, is_muted ? "mute" : "unmute", user);
        io_.output << fmt::format("user '{}' {} in room '{}'\n", user,
                                  is_muted ? "muted" : "unmuted", room);
    }

    void room_role(const std::string& room, const std::string& user, const std::string& role) {
        const auto directory = store_->load_directory();
        store::membership_record changed = require_member(directory, room, user);
        if (role == "owner") {
            changed.role = store::room_role::owner;
        } else if (role == "admin") {
            changed.role = store::room_role::admin;
        } else if (role == "member") {
            changed.role = store::room_role::member;
        } else {
            throw admin_failure(fmt::format("unknown role '{}' (owner, admin or member)", role));
        }
        apply_room_batch({store::directory_change::of_member(
                             store::directory_change::action::update_member, changed)},
                         room, "role", user, role);
        io_.output << fmt::format("user '{}' is now {} of room '{}'\n", user, role, room);
    }

    void room_set(const std::string& room, const std::string& key, const std::string& value) {
        const auto directory = store_->load_directory();
        store::room_record changed = find_room(directory, room);
        if (key == "name") {
            changed.display_name = value;
        } else if (key == "topic") {
            changed.topic = value;
        } else if (key == "visibility" && (value == "public" || value == "private")) {
            changed.visibility =
                value == "public" ? store::room_visibility::open : store::room_visibility::invited;
        } else if (key == "history" && (value == "shared" || value == "joined")) {
            changed.history = value == "shared" ? store::history_visibility::shared
                                                : store::history_visibility::joined;
        } else {
            throw admin_failure(fmt::format("cannot set '{}' to '{}' (name TEXT, topic TEXT, "
                                            "visibility public|private, history shared|joined)",
                                            key, value));
        }
        apply_room_batch({store::directory_change::of_room(
                             store::directory_change::action::update_room, changed)},
                         room, "set_room", "", key + "=" + value);
        io_.output << fmt::format("room '{}': {} set\n", room, key);
    }

    void room_show(const std::string& room) {
        const auto directory = store_->load_directory();
        const store::room_record& held = find_room(directory, room);
        io_.output << fmt::format(
            "room: {}\nname: {}\ntopic: {}\nvisibility: {}\nhistory: {}\ncreated_by: {}\n", room,
            held.display_name, held.topic,
            held.visibility == store::room_visibility::open ? "public" : "private",
            held.history == store::history_visibility::shared ? "shared" : "joined",
            held.created_by);
        constexpr std::array<std::string_view, 3> roles{"member", "admin", "owner"};
        for (const auto& membership : directory.memberships) {
            if (membership.room == room) {
                io_.output << fmt::format("member: {} {}{}\n", membership.user,
                                          roles.at(static_cast<std::size_t>(membership.role)),
                                          membership.is_muted ? " muted" : "");
            }
        }
        for (const auto& ban : directory.room_bans) {
            if (ban.room == room) {
                io_.output << fmt::format("banned: {}\n", ban.user);
            }
        }
        for (const auto& invitation : directory.invitations) {
            if (invitation.room == room) {
                io_.output << fmt::format("invited: {}\n", invitation.user);
            }
        }
    }

    void room_audit(const std::string& room) {
        for (const auto& entry : store_->audit_log(room, 1000)) {
            io_.output << fmt::format("{} {} {} {} {} {}\n", format_unix_ms(entry.ts_unix_ms),
                                      entry.room, entry.actor.empty() ? "-" : entry.actor,
                                      entry.action, entry.target.empty() ? "-" : entry.target,
                                      entry.detail);
        }
    }

    void room_create(const std::string& name) {
        require_valid_name("room", name);
        if (!arguments_.room_owner) {
            const auto result = change_directory([&](store::directory_completion done) {
                store_->add_room(store::room_record{name, "", unix_now_ms()}, std::move(done));
            });
            if (result == store::directory_result::already_exists) {
                throw admin_failure(fmt::format("room '{}' exists", name));
            }
            io_.output << fmt::format("room '{}' created\n", name);
            return;
        }
        // With an owner, as if that user had created it: creator, first member, owner, in one
        // write with its audit entry.
        const std::string& owner = *arguments_.room_owner;
        const auto directory = store_->load_directory();
        if (!has_user(directory, owner)) {
            throw admin_failure(fmt::format("unknown user '{}'", owner));
        }
        if (std::any_of(directory.rooms.begin(), directory.rooms.end(),
                        [&](const store::room_record& room) { return room.name == name; })) {
            throw admin_failure(fmt::format("room '{}' exists", name));
        }
        apply_room_batch(
            {store::directory_change::adding_room(store::room_record{name, owner, unix_now_ms()}),
             store::directory_change::adding_member(
                 store::membership_record{name, owner, store::room_role::owner})},
            name, "create", owner);
        io_.output << fmt::format("room '{}' created, owned by '{}'\n", name, owner);
    }

    void room_del(const std::string& name) {
        const auto result = change_directory(
            [&](store::directory_completion done) { store_->remove_room(name, std::move(done)); });
        if (result == store::directory_result::not_found) {
            throw admin_failure(fmt::format("unknown room '{}'", name));
        }
        io_.output << fmt::format("room '{}' deleted\n", name);
    }

    void room_list() {
        for (const auto& room : store_->load_directory().rooms) {
            io_.output << room.name << '\n';
        }
    }

    void room_members(const std::string& name) {
        const auto directory = store_->load_directory();
        require_room(directory, name);
        for (const auto& membership : directory.memberships) {
            if (membership.room == name) {
                io_.output << membership.user << '\n';
            }
        }
    }

    void room_join(const std::string& room, const std::string& user) {
        const auto result = change_directory([&](store::directory_completion done) {
            store_->add_member(store::membership_record{room, user, store::room_role::member, false,
                                                        join_point(room)},
                               std::move(done));
        });
        if (result == store::directory_result::not_found) {
            const auto directory = store_->load_directory();
            require_room(directory, room);
            throw admin_failure(fmt::format("unknown user '{}'", user));
        }
        if (result == store::directory_result::already_exists) {
            throw admin_failure(
                fmt::format("user '{}' is already a member of room '{}'", user, room));
        }
        io_.output << fmt::format("user '{}' joined room '{}'\n", user, room);
    }

    void room_leave(const std::string& room, const std::string& user) {
        const auto result = change_directory([&](store::directory_completion done) {
            store_->remove_member(store::membership_record{room, user}, std::move(done));
        });
        if (result == store::directory_result::not_found) {
            const auto directory = store_->load_directory();
            require_room(directory, room);
            throw admin_failure(fmt::format("user '{}' is not a member of room '{}'", user, room));
        }
        io_.output << fmt::format("user '{}' left room '{}'\n", user, room);
    }

    void ban_add(const std::string& kind_word, const std::string& value) {
        const store::ban_kind kind = ban_kind_of(kind_word);
        require_valid_ban_value(kind, value);
        const std::uint64_t now = unix_now_ms();
        std::uint64_t expires = 0;
        if (arguments_.ban_duration) {
            const auto duration = parse_duration_ms(*arguments_.ban_duration);
            if (!duration) {
                throw admin_failure(fmt::format("invalid duration '{}': expected e.g. 30s, 10m, "
                                                "2h or 7d",
                                                *arguments_.ban_duration));
            }
            expires = now + *duration;
        }
        change_directory([&](store::directory_completion done) {
            store_->add_ban(
                store::ban_record{kind, value, arguments_.ban_reason.value_or(""), now, expires},
                std::move(done));
        });
        io_.output << fmt::format("ban of {} '{}' added{}\n", kind_word, value,
                                  expires == 0 ? std::string()
                                               : " until " + format_unix_ms(expires));
    }

    void ban_remove(const std::string& kind_word, const std::string& value) {
        const store::ban_kind kind = ban_kind_of(kind_word);
        const auto result = change_directory([&](store::directory_completion done) {
            store_->remove_ban(kind, value, std::move(done));
        });
        if (result == store::directory_result::not_found) {
            throw admin_failure(fmt::format("no ban of {} '{}'", kind_word, value));
        }
        io_.output << fmt::format("ban of {} '{}' removed\n", kind_word, value);
    }

    void ban_list() {
        const std::uint64_t now = unix_now_ms();
        for (const auto& ban : store_->load_directory().bans) {
            if (ban.expires_unix_ms != 0 && ban.expires_unix_ms <= now) {
                continue;
            }
            io_.output << fmt::format(
                "{} {} since {} {}{}\n", to_string(ban.kind), ban.value,
                format_unix_ms(ban.created_unix_ms),
                ban.expires_unix_ms == 0 ? std::string("forever")
                                         : "until " + format_unix_ms(ban.expires_unix_ms),
                ban.reason.empty() ? std::string() : " reason: " + ban.reason);
        }
    }

    void acl_add(const std::string& access_word, const std::string& filter) {
        store::acl_rule_record rule = acl_rule_of_options(filter);
        if (!parse_acl_access(access_word)) {
            throw admin_failure(fmt::format(
                "unknown access '{}': expected read, write, readwrite or deny", access_word));
        }
        if (const auto problem = acl_filter_problem(filter)) {
            throw admin_failure(*problem);
        }
        rule.access = access_word;
        rule.created_unix_ms = unix_now_ms();
        const auto result = change_directory(
            [&](store::directory_completion done) { store_->add_acl_rule(rule, std::move(done)); });
        if (result == store::directory_result::already_exists) {
            throw admin_failure(
                fmt::format("the rule '{}' exists already", describe_acl_rule(rule)));
        }
        io_.output << fmt::format("rule '{}' added\n", describe_acl_rule(rule));
    }

    void acl_remove(const std::string& filter) {
        const store::acl_rule_record rule = acl_rule_of_options(filter);
        const auto result = change_directory([&](store::directory_completion done) {
            store_->remove_acl_rule(rule, std::move(done));
        });
        if (result == store::directory_result::not_found) {
            throw admin_failure(fmt::format("no rule for '{}'", describe_acl_rule(rule)));
        }
        io_.output << fmt::format("rule for '{}' removed\n", describe_acl_rule(rule));
    }

    void acl_list() {
        for (const auto& rule : store_->load_directory().acl_rules) {
            io_.output << describe_acl_rule(rule) << '\n';
        }
    }

private:
    /// The rule's scope and user from --user, --anonymous or --pattern (exactly one), with
    /// `filter`.
    store::acl_rule_record acl_rule_of_options(const std::string& filter) const {
        const int scopes = (arguments_.acl_user ? 1 : 0) + (arguments_.is_acl_anonymous ? 1 : 0) +
                           (arguments_.is_acl_pattern ? 1 : 0);
        if (scopes != 1) {
            throw admin_failure("name whom the rule is for: one of --user NAME, --anonymous or "
                                "--pattern");
        }
        store::acl_rule_record rule;
        rule.filter = filter;
        if (arguments_.acl_user) {
            if (arguments_.acl_user->empty()) {
                throw admin_failure("the user name is empty");
            }
            rule.scope = store::acl_scope::user;
            rule.user = *arguments_.acl_user;
        } else if (arguments_.is_acl_pattern) {
            rule.scope = store::acl_scope::pattern;
        }
        return rule;
    }

    /// `--user alice read home/#`, as `acl list` shows it and `acl add` takes it.
    static std::string describe_acl_rule(const store::acl_rule_record& rule) {
        std::string scope;
        switch (rule.scope) {
        case store::acl_scope::anonymous: scope = "--anonymous"; break;
        case store::acl_scope::user: scope = "--user " + rule.user; break;
        case store::acl_scope::pattern: scope = "--pattern"; break;
        }
        return rule.access.empty() ? fmt::format("{} {}", scope, rule.filter)
                                   : fmt::format("{} {} {}", scope, rule.access, rule.filter);
    }

    bool has_user(const std::string& name) {
        const auto users = store_->load_directory().users;
        return std::any_of(users.begin(), users.end(),
                           [&](const store::user_record& user) { return user.name == name; });
    }

    static void require_room(const store::chat_directory_snapshot& directory,
                             const std::string& name) {
        const bool found =
            std::any_of(directory.rooms.begin(), directory.rooms.end(),
                        [&](const store::room_record& room) { return room.name == name; });
        if (!found) {
            throw admin_failure(fmt::format("unknown room '{}'", name));
        }
    }

    const admin_arguments& arguments_;
    admin_io& io_;
    broker_config config_;
    std::unique_ptr<store::chat_store> store_;
};

void admin_session::user_import(const std::string& file_name) {
    const auto summary = import_password_file(*store_, file_name, io_.errors);
    io_.output << fmt::format("{}: {} user(s) added, {} updated\n", file_name, summary.added,
                              summary.updated);
}

void admin_session::room_import(const std::string& file_name) {
    const auto summary = import_room_file(*store_, file_name, io_.errors);
    io_.output << fmt::format("{}: {} room(s) created, {} member(s) added, {} already member(s)\n",
                              file_name, summary.rooms_created, summary.members_added,
                              summary.already_members);
}

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
        "  {0} user list\n"
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
