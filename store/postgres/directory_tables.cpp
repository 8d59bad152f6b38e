// The directory's SQL in PostgreSQL. Creations use ON CONFLICT, so that two gateways creating the
// same user or room at once get one winner and one already_exists.
#include "store/postgres/directory_tables.hpp"

#include <algorithm>
#include <limits>

#include "store/postgres/connection.hpp"

namespace perch::store::postgres {
namespace {

std::int64_t capped(std::size_t value) {
    return static_cast<std::int64_t>(
        std::min<std::size_t>(value, static_cast<std::size_t>(std::numeric_limits<int>::max())));
}

} // namespace

directory_result directory_tables::counted(directory_result result) {
    if (result == directory_result::done) {
        database_.run("UPDATE chat_directory_version SET version = version + 1");
    }
    return result;
}

directory_result directory_tables::counted(std::uint64_t changed, directory_result otherwise) {
    return counted(changed == 0 ? otherwise : directory_result::done);
}

bool directory_tables::user_exists(const std::string& name) {
    return database_.run("SELECT 1 FROM chat_users WHERE name = $1", parameters().text(name))
               .rows() > 0;
}

bool directory_tables::room_exists(const std::string& name) {
    return database_.run("SELECT 1 FROM chat_rooms WHERE name = $1", parameters().text(name))
               .rows() > 0;
}

directory_result directory_tables::add_user(const user_record& user) {
    const auto changed =
        database_
            .run("INSERT INTO chat_users (name, password_hash, created_unix_ms, is_admin) VALUES "
                 "($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                 parameters()
                     .text(user.name)
                     .text(user.password_hash)
                     .unsigned_integer(user.created_unix_ms)
                     .boolean(user.is_admin))
            .changed();
    return counted(changed, directory_result::already_exists);
}

directory_result directory_tables::remove_user(const std::string& name) {
    const auto arguments = parameters().text(name);
    if (database_.run("DELETE FROM chat_users WHERE name = $1", arguments).changed() == 0) {
        return directory_result::not_found;
    }
    database_.run("DELETE FROM chat_members WHERE user_name = $1", arguments);
    database_.run("DELETE FROM chat_read_positions WHERE user_name = $1", arguments);
    database_.run("DELETE FROM chat_device_tokens WHERE user_name = $1", arguments);
    database_.run("DELETE FROM chat_invitations WHERE user_name = $1", arguments);
    // A deleted user's devices get no more notifications (docs/CHAT.md "Web Push").
    database_.run("DELETE FROM chat_push_subscriptions WHERE user_name = $1", arguments);
    database_.run("DELETE FROM chat_push_settings WHERE user_name = $1", arguments);
    return counted(directory_result::done);
}

directory_result directory_tables::set_admin(const std::string& name, bool is_admin) {
    return counted(database_
                       .run("UPDATE chat_users SET is_admin = $2 WHERE name = $1",
                            parameters().text(name).boolean(is_admin))
                       .changed(),
                   directory_result::not_found);
}

directory_result directory_tables::set_password(const std::string& name,
                                                const std::string& password_hash) {
    if (database_
            .run("UPDATE chat_users SET password_hash = $2 WHERE name = $1",
                 parameters().text(name).text(password_hash))
            .changed() == 0) {
        return directory_result::not_found;
    }
    database_.run("DELETE FROM chat_device_tokens WHERE user_name = $1", parameters().text(name));
    return counted(directory_result::done);
}

directory_result directory_tables::upgrade_password_hash(const std::string& name,
                                                         const std::string& old_hash,
                                                         const std::string& new_hash) {
    return counted(database_
                       .run("UPDATE chat_users SET password_hash = $3 WHERE name = $1 AND "
                            "password_hash = $2",
                            parameters().text(name).text(old_hash).text(new_hash))
                       .changed(),
                   directory_result::not_found);
}

directory_result directory_tables::set_device_token(const device_token_record& token) {
    if (!user_exists(token.user)) {
        return directory_result::not_found;
    }
    database_.run("INSERT INTO chat_device_tokens (user_name, device, token_hash, "
                  "created_unix_ms) VALUES ($1, $2, $3, $4) ON CONFLICT (user_name, device) "
                  "DO UPDATE SET token_hash = excluded.token_hash, "
                  "created_unix_ms = excluded.created_unix_ms",
                  parameters()
                      .text(token.user)
                      .text(token.device)
                      .text(token.token_hash)
                      .unsigned_integer(token.created_unix_ms));
    return counted(directory_result::done);
}

directory_result directory_tables::remove_device_token(const std::string& user,
                                                       const std::string& device) {
    return counted(database_
                       .run("DELETE FROM chat_device_tokens WHERE user_name = $1 AND device = $2",
                            parameters().text(user).text(device))
                       .changed(),
                   directory_result::not_found);
}

directory_result directory_tables::add_room(const room_record& room) {
    const auto changed =
        database_
            .run("INSERT INTO chat_rooms (name, created_by, created_unix_ms, visibility, "
                 "history_visibility, display_name, topic) VALUES ($1, $2, $3, $4, $5, $6, $7) "
                 "ON CONFLICT DO NOTHING",
                 parameters()
                     .text(room.name)
                     .text(room.created_by)
                     .unsigned_integer(room.created_unix_ms)
                     .integer(static_cast<std::int64_t>(room.visibility))
                     .integer(static_cast<std::int64_t>(room.history))
                     .text(room.display_name)
                     .text(room.topic))
            .changed();
    return counted(changed, directory_result::already_exists);
}

directory_result directory_tables::remove_room(const std::string& name) {
    const auto arguments = parameters().text(name);
    if (database_.run("DELETE FROM chat_rooms WHERE name = $1", arguments).changed() == 0) {
        return directory_result::not_found;
    }
    database_.run("DELETE FROM chat_members WHERE room = $1", arguments);
    database_.run("DELETE FROM chat_room_bans WHERE room = $1", arguments);
    database_.run("DELETE FROM chat_invitations WHERE room = $1", arguments);
    return counted(directory_result::done);
}

directory_result directory_tables::add_member(const membership_record& membership) {
    if (!room_exists(membership.room) || !user_exists(membership.user)) {
        return directory_result::not_found;
    }
    const auto changed =
        database_
            .run("INSERT INTO chat_members (room, user_name, role, muted, joined_after_id) "
                 "VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                 parameters()
                     .text(membership.room)
                     .text(membership.user)
                     .integer(static_cast<std::int64_t>(membership.role))
                     .boolean(membership.is_muted)
                     .unsigned_integer(membership.joined_after_id))
            .changed();
    return counted(changed, directory_result::already_exists);
}

directory_result directory_tables::remove_member(const membership_record& membership) {
    return counted(database_
                       .run("DELETE FROM chat_members WHERE room = $1 AND user_name = $2",
                            parameters().text(membership.room).text(membership.user))
                       .changed(),
                   directory_result::not_found);
}

directory_result directory_tables::update_room(const room_record& room) {
    return counted(database_
                       .run("UPDATE chat_rooms SET visibility = $2, history_visibility = $3, "
                            "display_name = $4, topic = $5 WHERE name = $1",
                            parameters()
                                .text(room.name)
                                .integer(static_cast<std::int64_t>(room.visibility))
                                .integer(static_cast<std::int64_t>(room.history))
                                .text(room.display_name)
                                .text(room.topic))
                       .changed(),
                   directory_result::not_found);
}

directory_result directory_tables::update_member(const membership_record& membership) {
    return counted(database_
                       .run("UPDATE chat_members SET role = $3, muted = $4 WHERE room = $1 AND "
                            "user_name = $2",
                            parameters()
                                .text(membership.room)
                                .text(membership.user)
                                .integer(static_cast<std::int64_t>(membership.role))
                                .boolean(membership.is_muted))
                       .changed(),
                   directory_result::not_found);
}

directory_result directory_tables::add_room_ban(const room_ban_record& ban) {
    if (!room_exists(ban.room)) {
        return directory_result::not_found;
    }
    database_.run("INSERT INTO chat_room_bans (room, user_name, by_user, created_unix_ms) VALUES "
                  "($1, $2, $3, $4) ON CONFLICT (room, user_name) DO UPDATE SET by_user = "
                  "excluded.by_user, created_unix_ms = excluded.created_unix_ms",
                  parameters().text(ban.room).text(ban.user).text(ban.by).unsigned_integer(
                      ban.created_unix_ms));
    return counted(directory_result::done);
}

directory_result directory_tables::remove_room_ban(const room_ban_record& ban) {
    return counted(database_
                       .run("DELETE FROM chat_room_bans WHERE room = $1 AND user_name = $2",
                            parameters().text(ban.room).text(ban.user))
                       .changed(),
                   directory_result::not_found);
}

directory_result directory_tables::add_invitation(const invitation_record& invitation) {
    if (!room_exists(invitation.room) || !user_exists(invitation.user)) {
        return directory_result::not_found;
    }
    database_.run("INSERT INTO chat_invitations (room, user_name, by_user, created_unix_ms) "
                  "VALUES ($1, $2, $3, $4) ON CONFLICT (room, user_name) DO UPDATE SET by_user = "
                  "excluded.by_user, created_unix_ms = excluded.created_unix_ms",
                  parameters()
                      .text(invitation.room)
                      .text(invitation.user)
                      .text(invitation.by)
                      .unsigned_integer(invitation.created_unix_ms));
    return counted(directory_result::done);
}

directory_result directory_tables::remove_invitation(const invitation_record& invitation) {
    return counted(database_
                       .run("DELETE FROM chat_invitations WHERE room = $1 AND user_name = $2",
                            parameters().text(invitation.room).text(invitation.user))
                       .changed(),
                   directory_result::not_found);
}

directory_result directory_tables::add_audit(const audit_record& audit) {
    database_.run("INSERT INTO chat_audit (ts_unix_ms, room, actor, action, target, detail) "
                  "VALUES ($1, $2, $3, $4, $5, $6)",
                  parameters()
                      .unsigned_integer(audit.ts_unix_ms)
                      .text(audit.room)
                      .text(audit.actor)
                      .text(audit.action)
                      .text(audit.target)
                      .text(audit.detail));
    return directory_result::done;
}

std::vector<audit_record> directory_tables::audit_log(const std::string& room, std::size_t limit) {
    const result rows =
        database_.run("SELECT id, ts_unix_ms, room, actor, action, target, detail FROM chat_audit "
                      "WHERE $1::text = '' OR room = $1::text ORDER BY id DESC LIMIT $2::bigint",
                      parameters().text(room).integer(capped(limit)));
    std::vector<audit_record> entries;
    for (int row = rows.rows() - 1; row >= 0; --row) {
        entries.push_back(audit_record{rows.unsigned_integer(row, 0), rows.unsigned_integer(row, 1),
                                       rows.text(row, 2), rows.text(row, 3), rows.text(row, 4),
                                       rows.text(row, 5), rows.text(row, 6)});
    }
    return entries;
}

directory_result directory_tables::add_ban(const ban_record& ban) {
    database_.run("DELETE FROM bans WHERE expires_unix_ms <> 0 AND expires_unix_ms < $1",
                  parameters().unsigned_integer(ban.created_unix_ms));
    database_.run("INSERT INTO bans (kind, value, reason, created_unix_ms, expires_unix_ms) "
                  "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (kind, value) DO UPDATE SET reason = "
                  "excluded.reason, created_unix_ms = excluded.created_unix_ms, "
                  "expires_unix_ms = excluded.expires_unix_ms",
                  parameters()
                      .integer(static_cast<std::int64_t>(ban.kind))
                      .text(ban.value)
                      .text(ban.reason)
                      .unsigned_integer(ban.created_unix_ms)
                      .unsigned_integer(ban.expires_unix_ms));
    return counted(directory_result::done);
}

directory_result directory_tables::remove_ban(ban_kind kind, const std::string& value) {
    return counted(database_
                       .run("DELETE FROM bans WHERE kind = $1 AND value = $2",
                            parameters().integer(static_cast<std::int64_t>(kind)).text(value))
                       .changed(),
                   directory_result::not_found);
}

directory_result directory_tables::add_acl_rule(const acl_rule_record& rule) {
    const auto key = parameters()
                         .integer(static_cast<std::int64_t>(rule.scope))
                         .text(rule.user)
                         .text(rule.filter);
    const result found = database_.run(
        "SELECT access FROM acl_rules WHERE scope = $1 AND user_name = $2 AND filter = $3", key);
    if (found.rows() > 0 && found.text(0, 0) == rule.access) {
        return directory_result::already_exists;
    }
    auto arguments = key;
    arguments.text(rule.access).unsigned_integer(rule.created_unix_ms);
    database_.run("INSERT INTO acl_rules (scope, user_name, filter, access, created_unix_ms) "
                  "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (scope, user_name, filter) DO UPDATE "
                  "SET access = excluded.access, created_unix_ms = excluded.created_unix_ms",
                  arguments);
    return counted(directory_result::done);
}

directory_result directory_tables::remove_acl_rule(const acl_rule_record& rule) {
    return counted(database_
                       .run("DELETE FROM acl_rules WHERE scope = $1 AND user_name = $2 AND "
                            "filter = $3",
                            parameters()
                                .integer(static_cast<std::int64_t>(rule.scope))
                                .text(rule.user)
                                .text(rule.filter))
                       .changed(),
                   directory_result::not_found);
}

directory_result directory_tables::apply(const directory_change& change) {
    using action = directory_change::action;
    switch (change.what) {
    case action::add_user: return add_user(change.user);
    case action::set_password: return set_password(change.user.name, change.user.password_hash);
    case action::add_room: return add_room(change.room);
    case action::add_member: return add_member(change.membership);
    case action::update_room: return update_room(change.room);
    case action::remove_room: return remove_room(change.room.name);
    case action::remove_member: return remove_member(change.membership);
    case action::update_member: return update_member(change.membership);
    case action::add_room_ban: return add_room_ban(change.ban);
    case action::remove_room_ban: return remove_room_ban(change.ban);
    case action::add_invitation: return add_invitation(change.invitation);
    case action::remove_invitation: return remove_invitation(change.invitation);
    case action::add_audit: return add_audit(change.audit);
    case action::set_admin: return set_admin(change.user.name, change.user.is_admin);
    case action::remove_user: return remove_user(change.user.name);
    case action::add_ban: return add_ban(change.server_ban);
    case action::remove_ban: return remove_ban(change.server_ban.kind, change.server_ban.value);
    }
    return directory_result::failed;
}

void directory_tables::read_people(chat_directory_snapshot& snapshot) {
    const result users =
        database_.run("SELECT name, password_hash, created_unix_ms, is_admin FROM chat_users "
                      "ORDER BY name");
    for (int row = 0; row < users.rows(); ++row) {
        snapshot.users.push_back(user_record{users.text(row, 0), users.text(row, 1),
                                             users.unsigned_integer(row, 2),
                                             users.boolean(row, 3)});
    }
    const result rooms =
        database_.run("SELECT name, created_by, created_unix_ms, visibility, history_visibility, "
                      "display_name, topic FROM chat_rooms ORDER BY name");
    for (int row = 0; row < rooms.rows(); ++row) {
        snapshot.rooms.push_back(room_record{rooms.text(row, 0), rooms.text(row, 1),
                                             rooms.unsigned_integer(row, 2),
                                             static_cast<room_visibility>(rooms.integer(row, 3)),
                                             static_cast<history_visibility>(rooms.integer(row, 4)),
                                             rooms.text(row, 5), rooms.text(row, 6)});
    }
    const result members = database_.run("SELECT room, user_name, role, muted, joined_after_id "
                                         "FROM chat_members ORDER BY room, user_name");
    for (int row = 0; row < members.rows(); ++row) {
        snapshot.memberships.push_back(
            membership_record{members.text(row, 0), members.text(row, 1),
                              static_cast<room_role>(members.integer(row, 2)),
                              members.boolean(row, 3), members.unsigned_integer(row, 4)});
    }
    const result tokens = database_.run("SELECT user_name, device, token_hash, created_unix_ms "
                                        "FROM chat_device_tokens ORDER BY user_name, device");
    for (int row = 0; row < tokens.rows(); ++row) {
        snapshot.device_tokens.push_back(
            device_token_record{tokens.text(row, 0), tokens.text(row, 1), tokens.text(row, 2),
                                tokens.unsigned_integer(row, 3)});
    }
}

void directory_tables::read_rules(chat_directory_snapshot& snapshot) {
    const result bans = database_.run("SELECT kind, value, reason, created_unix_ms, "
                                      "expires_unix_ms FROM bans ORDER BY kind, value");
    for (int row = 0; row < bans.rows(); ++row) {
        snapshot.bans.push_back(ban_record{
            static_cast<ban_kind>(bans.integer(row, 0)), bans.text(row, 1), bans.text(row, 2),
            bans.unsigned_integer(row, 3), bans.unsigned_integer(row, 4)});
    }
    const result rules = database_.run("SELECT scope, user_name, filter, access, created_unix_ms "
                                       "FROM acl_rules ORDER BY scope, user_name, filter");
    for (int row = 0; row < rules.rows(); ++row) {
        snapshot.acl_rules.push_back(acl_rule_record{
            static_cast<acl_scope>(rules.integer(row, 0)), rules.text(row, 1), rules.text(row, 3),
            rules.text(row, 2), rules.unsigned_integer(row, 4)});
    }
    const result room_bans = database_.run("SELECT room, user_name, by_user, created_unix_ms "
                                           "FROM chat_room_bans ORDER BY room, user_name");
    for (int row = 0; row < room_bans.rows(); ++row) {
        snapshot.room_bans.push_back(room_ban_record{room_bans.text(row, 0), room_bans.text(row, 1),
                                                     room_bans.text(row, 2),
                                                     room_bans.unsigned_integer(row, 3)});
    }
    const result invitations = database_.run("SELECT room, user_name, by_user, created_unix_ms "
                                             "FROM chat_invitations ORDER BY room, user_name");
    for (int row = 0; row < invitations.rows(); ++row) {
        snapshot.invitations.push_back(
            invitation_record{invitations.text(row, 0), invitations.text(row, 1),
                              invitations.text(row, 2), invitations.unsigned_integer(row, 3)});
    }
}

chat_directory_snapshot directory_tables::read_directory() {
    chat_directory_snapshot snapshot;
    read_people(snapshot);
    read_rules(snapshot);
    snapshot.version = directory_version();
    return snapshot;
}

std::uint64_t directory_tables::directory_version() {
    const result rows = database_.run("SELECT version FROM chat_directory_version");
    return rows.rows() > 0 ? rows.unsigned_integer(0, 0) : 0;
}

} // namespace perch::store::postgres
