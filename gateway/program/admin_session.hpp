// The administration commands' shared parts: the parsed command line, the session that holds
// the gateway's chat store open, and the helpers that the commands of each noun use (users in
// admin_user.cpp, rooms in admin_room.cpp, bans and ACL rules in admin_access.cpp).
#pragma once

#include <cstdint>
#include <future>
#include <memory>
#include <optional>
#include <ostream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "gateway/common/config.hpp"
#include "gateway/program/admin_command.hpp"
#include "store/chat_store.hpp"

namespace perch::gateway {

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

/// The store options of the gateway this command administers; its data directory made private
/// (what was loose is reported on `errors`).
store::store_options store_options_for(const admin_arguments& arguments,
                                       const broker_config& config, std::ostream& errors);

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
std::string format_unix_ms(std::uint64_t unix_ms);

/// Throws admin_failure naming `kind` when `name` is not a valid user or room name.
void require_valid_name(std::string_view kind, const std::string& name);

/// One administration command with the store open.
class admin_session {
public:
    admin_session(const admin_arguments& arguments, admin_io& io)
        : arguments_(arguments), io_(io),
          config_(arguments.config_path ? load_config_file(*arguments.config_path)
                                        : broker_config{}),
          store_(store::open_chat_store(store_options_for(arguments, config_, io.errors))) {}
    void user_add(const std::string& name);
    void user_del(const std::string& name);
    void user_passwd(const std::string& name);
    void user_tokens(const std::string& name);
    void user_revoke_token(const std::string& name, const std::string& device);
    void user_list();
    /// `perch user admin NAME on|off`: sets the admin flag, with an audit entry (no room, no
    /// actor).
    void user_admin(const std::string& name, const std::string& state);
    void user_import(const std::string& file_name);
    void room_import(const std::string& file_name);

    // Room rules and moderation (docs/CHAT.md "Room rules"). An administrator acts as nobody
    // in particular: the audit log shows an empty actor, and no event is published in the room
    // (no gateway runs here); live sessions follow at the gateway's next directory reload.
    /// Applies `changes` as one batch with an audit entry of `action` in `room` on `user`.
    void apply_room_batch(std::vector<store::directory_change> changes, const std::string& room,
                          const std::string& action, const std::string& user,
                          const std::string& detail = "");

    /// The membership of `user` in `room`; admin_failure naming what is missing otherwise.
    static store::membership_record require_member(const store::chat_directory_snapshot& directory,
                                                   const std::string& room,
                                                   const std::string& user);
    static const store::room_record& find_room(const store::chat_directory_snapshot& directory,
                                               const std::string& room);
    static bool has_user(const store::chat_directory_snapshot& directory, const std::string& name);

    /// The last message id of `room`: a member joining now reads history from after it when
    /// the room shows newcomers only what follows their join.
    std::uint64_t join_point(const std::string& room);
    void room_invite(const std::string& room, const std::string& user);
    void room_kick(const std::string& room, const std::string& user);
    void room_ban(const std::string& room, const std::string& user);
    void room_unban(const std::string& room, const std::string& user);
    void room_mute(const std::string& room, const std::string& user, bool is_muted);
    void room_role(const std::string& room, const std::string& user, const std::string& role);
    void room_set(const std::string& room, const std::string& key, const std::string& value);
    void room_show(const std::string& room);
    void room_audit(const std::string& room);
    void room_create(const std::string& name);
    void room_del(const std::string& name);
    void room_list();
    void room_members(const std::string& name);
    void room_join(const std::string& room, const std::string& user);
    void room_leave(const std::string& room, const std::string& user);
    void ban_add(const std::string& kind_word, const std::string& value);
    void ban_remove(const std::string& kind_word, const std::string& value);
    void ban_list();
    void acl_add(const std::string& access_word, const std::string& filter);
    void acl_remove(const std::string& filter);
    void acl_list();

private:
    /// The rule's scope and user from --user, --anonymous or --pattern (exactly one), with
    /// `filter`.
    store::acl_rule_record acl_rule_of_options(const std::string& filter) const;

    /// `--user alice read home/#`, as `acl list` shows it and `acl add` takes it.
    static std::string describe_acl_rule(const store::acl_rule_record& rule);
    bool has_user(const std::string& name);
    static void require_room(const store::chat_directory_snapshot& directory,
                             const std::string& name);
    const admin_arguments& arguments_;
    admin_io& io_;
    broker_config config_;
    std::unique_ptr<store::chat_store> store_;
};

} // namespace perch::gateway
