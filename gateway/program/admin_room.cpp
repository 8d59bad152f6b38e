// `perch room ...`: rooms, their members and the moderation actions an operator takes on them.
#include <algorithm>
#include <iostream>
#include <map>

#include <fmt/format.h>

#include "gateway/common/chat_names.hpp"
#include "gateway/common/stored_message_codec.hpp"
#include "gateway/program/admin_import.hpp"
#include "gateway/program/admin_session.hpp"

namespace perch::gateway {

void admin_session::apply_room_batch(std::vector<store::directory_change> changes,
                                     const std::string& room, const std::string& action,
                                     const std::string& user, const std::string& detail) {
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

store::membership_record
admin_session::require_member(const store::chat_directory_snapshot& directory,
                              const std::string& room, const std::string& user) {
    require_room(directory, room);
    for (const auto& membership : directory.memberships) {
        if (membership.room == room && membership.user == user) {
            return membership;
        }
    }
    throw admin_failure(fmt::format("user '{}' is not a member of room '{}'", user, room));
}

const store::room_record& admin_session::find_room(const store::chat_directory_snapshot& directory,
                                                   const std::string& room) {
    for (const auto& held : directory.rooms) {
        if (held.name == room) {
            return held;
        }
    }
    throw admin_failure(fmt::format("unknown room '{}'", room));
}

bool admin_session::has_user(const store::chat_directory_snapshot& directory,
                             const std::string& name) {
    return std::any_of(directory.users.begin(), directory.users.end(),
                       [&](const store::user_record& user) { return user.name == name; });
}

std::uint64_t admin_session::join_point(const std::string& room) {
    const std::string conversation = "room/" + room;
    for (const auto& head : store_->conversation_heads()) {
        if (head.conversation == conversation) {
            return head.last_id;
        }
    }
    return 0;
}

void admin_session::room_invite(const std::string& room, const std::string& user) {
    const auto directory = store_->load_directory();
    const store::room_record& held = find_room(directory, room);
    if (!has_user(directory, user)) {
        throw admin_failure(fmt::format("unknown user '{}'", user));
    }
    if (held.visibility == store::room_visibility::open) {
        throw admin_failure(fmt::format(
            "room '{}' is public: add the user with 'perch room join {} {}'", room, room, user));
    }
    apply_room_batch(
        {store::directory_change::of_invitation(store::directory_change::action::add_invitation,
                                                {room, user, "", unix_now_ms()})},
        room, "invite", user);
    io_.output << fmt::format("user '{}' invited to room '{}'\n", user, room);
}

void admin_session::room_kick(const std::string& room, const std::string& user) {
    const auto directory = store_->load_directory();
    require_member(directory, room, user);
    apply_room_batch({store::directory_change::of_member(
                         store::directory_change::action::remove_member, {room, user})},
                     room, "kick", user);
    io_.output << fmt::format("user '{}' kicked from room '{}'\n", user, room);
}

void admin_session::room_ban(const std::string& room, const std::string& user) {
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
            changes.push_back(
                store::directory_change::of_invitation(action::remove_invitation, {room, user}));
        }
    }
    changes.push_back(
        store::directory_change::of_ban(action::add_room_ban, {room, user, "", unix_now_ms()}));
    apply_room_batch(std::move(changes), room, "ban", user);
    io_.output << fmt::format("user '{}' banned from room '{}'\n", user, room);
}

void admin_session::room_unban(const std::string& room, const std::string& user) {
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

void admin_session::room_mute(const std::string& room, const std::string& user, bool is_muted) {
    const auto directory = store_->load_directory();
    store::membership_record changed = require_member(directory, room, user);
    changed.is_muted = is_muted;
    apply_room_batch({store::directory_change::of_member(
                         store::directory_change::action::update_member, changed)},
                     room, is_muted ? "mute" : "unmute", user);
    io_.output << fmt::format("user '{}' {} in room '{}'\n", user, is_muted ? "muted" : "unmuted",
                              room);
}

void admin_session::room_role(const std::string& room, const std::string& user,
                              const std::string& role) {
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

void admin_session::room_set(const std::string& room, const std::string& key,
                             const std::string& value) {
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
    apply_room_batch(
        {store::directory_change::of_room(store::directory_change::action::update_room, changed)},
        room, "set_room", "", key + "=" + value);
    io_.output << fmt::format("room '{}': {} set\n", room, key);
}

void admin_session::room_show(const std::string& room) {
    const auto directory = store_->load_directory();
    const store::room_record& held = find_room(directory, room);
    io_.output << fmt::format(
        "room: {}\nname: {}\ntopic: {}\nvisibility: {}\nhistory: {}\ncreated_by: {}\n", room,
        held.display_name, held.topic,
        held.visibility == store::room_visibility::open ? "public" : "private",
        held.history == store::history_visibility::shared ? "shared" : "joined", held.created_by);
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

void admin_session::room_audit(const std::string& room) {
    for (const auto& entry : store_->audit_log(room, 1000)) {
        io_.output << fmt::format("{} {} {} {} {} {}\n", format_unix_ms(entry.ts_unix_ms),
                                  entry.room, entry.actor.empty() ? "-" : entry.actor, entry.action,
                                  entry.target.empty() ? "-" : entry.target, entry.detail);
    }
}

void admin_session::room_create(const std::string& name) {
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

void admin_session::room_del(const std::string& name) {
    const auto result = change_directory(
        [&](store::directory_completion done) { store_->remove_room(name, std::move(done)); });
    if (result == store::directory_result::not_found) {
        throw admin_failure(fmt::format("unknown room '{}'", name));
    }
    io_.output << fmt::format("room '{}' deleted\n", name);
}

void admin_session::room_list() {
    for (const auto& room : store_->load_directory().rooms) {
        io_.output << room.name << '\n';
    }
}

void admin_session::room_members(const std::string& name) {
    const auto directory = store_->load_directory();
    require_room(directory, name);
    for (const auto& membership : directory.memberships) {
        if (membership.room == name) {
            io_.output << membership.user << '\n';
        }
    }
}

void admin_session::room_join(const std::string& room, const std::string& user) {
    const auto result = change_directory([&](store::directory_completion done) {
        store_->add_member(
            store::membership_record{room, user, store::room_role::member, false, join_point(room)},
            std::move(done));
    });
    if (result == store::directory_result::not_found) {
        const auto directory = store_->load_directory();
        require_room(directory, room);
        throw admin_failure(fmt::format("unknown user '{}'", user));
    }
    if (result == store::directory_result::already_exists) {
        throw admin_failure(fmt::format("user '{}' is already a member of room '{}'", user, room));
    }
    io_.output << fmt::format("user '{}' joined room '{}'\n", user, room);
}

void admin_session::room_leave(const std::string& room, const std::string& user) {
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

void admin_session::require_room(const store::chat_directory_snapshot& directory,
                                 const std::string& name) {
    const bool found =
        std::any_of(directory.rooms.begin(), directory.rooms.end(),
                    [&](const store::room_record& room) { return room.name == name; });
    if (!found) {
        throw admin_failure(fmt::format("unknown room '{}'", name));
    }
}

void admin_session::room_import(const std::string& file_name) {
    const auto summary = import_room_file(*store_, file_name, io_.errors);
    io_.output << fmt::format("{}: {} room(s) created, {} member(s) added, {} already member(s)\n",
                              file_name, summary.rooms_created, summary.members_added,
                              summary.already_members);
}

} // namespace perch::gateway
