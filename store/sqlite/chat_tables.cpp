// The chat tables' SQL: one prepared statement per change or query, prepared once per connection.
#include "store/sqlite/chat_tables.hpp"

#include <algorithm>
#include <limits>

#include "store/sqlite/history_age_bound.hpp"

#include <sqlite3.h>

namespace perch::store::sqlite {
namespace {

std::int64_t to_column(std::uint64_t value) {
    return static_cast<std::int64_t>(value);
}

std::uint64_t from_column(std::int64_t value) {
    return static_cast<std::uint64_t>(value);
}

/// The history row `rows` stands on: conversation, id, sender, topic, ts_unix_ms, payload,
/// reply_to, event, of_id, edited_unix_ms, is_deleted.
history_record history_row(const statement& rows) {
    history_record record{
        rows.column_text(0), from_column(rows.column_integer(1)), rows.column_text(2),
        rows.column_text(3), from_column(rows.column_integer(4)), rows.column_blob(5)};
    record.reply_to = from_column(rows.column_integer(6));
    record.kind = static_cast<history_kind>(rows.column_integer(7));
    record.of_id = from_column(rows.column_integer(8));
    record.edited_unix_ms = from_column(rows.column_integer(9));
    record.is_deleted = rows.column_integer(10) != 0;
    return record;
}

} // namespace

chat_tables::chat_tables(database& connection)
    : connection_(connection), begin_write_(connection, "BEGIN IMMEDIATE"),
      begin_read_(connection, "BEGIN"), commit_(connection, "COMMIT"),
      insert_user_(connection, "INSERT OR IGNORE INTO chat_users (name, password_hash, "
                               "created_unix_ms) VALUES (?1, ?2, ?3)"),
      delete_user_(connection, "DELETE FROM chat_users WHERE name = ?1"),
      delete_user_memberships_(connection, "DELETE FROM chat_members WHERE user = ?1"),
      delete_user_read_positions_(connection, "DELETE FROM chat_read_positions WHERE user = ?1"),
      update_password_(connection, "UPDATE chat_users SET password_hash = ?2 WHERE name = ?1"),
      insert_admin_(connection, "INSERT OR IGNORE INTO chat_admins (user) VALUES (?1)"),
      delete_admin_(connection, "DELETE FROM chat_admins WHERE user = ?1"),
      upgrade_password_(connection, "UPDATE chat_users SET password_hash = ?3 WHERE name = ?1 "
                                    "AND password_hash = ?2"),
      upsert_device_token_(connection,
                           "INSERT INTO chat_device_tokens (user, device, token_hash, "
                           "created_unix_ms) VALUES (?1, ?2, ?3, ?4) ON CONFLICT (user, device) "
                           "DO UPDATE SET token_hash = excluded.token_hash, "
                           "created_unix_ms = excluded.created_unix_ms"),
      delete_device_token_(connection,
                           "DELETE FROM chat_device_tokens WHERE user = ?1 AND device = ?2"),
      delete_user_device_tokens_(connection, "DELETE FROM chat_device_tokens WHERE user = ?1"),
      select_device_tokens_(connection, "SELECT user, device, token_hash, created_unix_ms FROM "
                                        "chat_device_tokens ORDER BY user, device"),
      find_user_(connection, "SELECT 1 FROM chat_users WHERE name = ?1"),
      insert_room_(connection, "INSERT OR IGNORE INTO chat_rooms (name, created_by, "
                               "created_unix_ms, visibility, history_visibility, display_name, "
                               "topic) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"),
      delete_room_(connection, "DELETE FROM chat_rooms WHERE name = ?1"),
      delete_room_memberships_(connection, "DELETE FROM chat_members WHERE room = ?1"),
      delete_room_bans_(connection, "DELETE FROM chat_room_bans WHERE room = ?1"),
      delete_room_invitations_(connection, "DELETE FROM chat_invitations WHERE room = ?1"),
      update_room_(connection, "UPDATE chat_rooms SET visibility = ?2, history_visibility = ?3, "
                               "display_name = ?4, topic = ?5 WHERE name = ?1"),
      update_member_(connection,
                     "UPDATE chat_members SET role = ?3, muted = ?4 WHERE room = ?1 AND user = ?2"),
      upsert_room_ban_(connection, "INSERT OR REPLACE INTO chat_room_bans (room, user, by_user, "
                                   "created_unix_ms) VALUES (?1, ?2, ?3, ?4)"),
      delete_room_ban_(connection, "DELETE FROM chat_room_bans WHERE room = ?1 AND user = ?2"),
      select_room_bans_(connection, "SELECT room, user, by_user, created_unix_ms FROM "
                                    "chat_room_bans ORDER BY room, user"),
      upsert_invitation_(connection, "INSERT OR REPLACE INTO chat_invitations (room, user, "
                                     "by_user, created_unix_ms) VALUES (?1, ?2, ?3, ?4)"),
      delete_invitation_(connection, "DELETE FROM chat_invitations WHERE room = ?1 AND user = ?2"),
      delete_user_invitations_(connection, "DELETE FROM chat_invitations WHERE user = ?1"),
      select_invitations_(connection, "SELECT room, user, by_user, created_unix_ms FROM "
                                      "chat_invitations ORDER BY room, user"),
      insert_audit_(connection, "INSERT INTO chat_audit (ts_unix_ms, room, actor, action, target, "
                                "detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"),
      select_audit_(connection, "SELECT id, ts_unix_ms, room, actor, action, target, detail FROM "
                                "chat_audit WHERE ?1 = '' OR room = ?1 ORDER BY id DESC LIMIT ?2"),
      find_room_(connection, "SELECT 1 FROM chat_rooms WHERE name = ?1"),
      insert_member_(connection, "INSERT OR IGNORE INTO chat_members (room, user, role, muted, "
                                 "joined_after_id) VALUES (?1, ?2, ?3, ?4, ?5)"),
      delete_member_(connection, "DELETE FROM chat_members WHERE room = ?1 AND user = ?2"),
      bump_version_(connection, "UPDATE chat_directory_version SET version = version + 1"),
      select_version_(connection, "SELECT version FROM chat_directory_version"),
      select_users_(connection,
                    "SELECT name, password_hash, created_unix_ms, EXISTS (SELECT 1 FROM "
                    "chat_admins WHERE chat_admins.user = chat_users.name) FROM chat_users "
                    "ORDER BY name"),
      select_rooms_(connection,
                    "SELECT name, created_by, created_unix_ms, visibility, history_visibility, "
                    "display_name, topic FROM chat_rooms ORDER BY name"),
      select_members_(connection, "SELECT room, user, role, muted, joined_after_id FROM "
                                  "chat_members ORDER BY room, user"),
      insert_history_(connection, "INSERT OR IGNORE INTO chat_history (conversation, id, sender, "
                                  "topic, ts_unix_ms, payload, reply_to, event, of_id) VALUES "
                                  "(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"),
      apply_edit_(connection,
                  "UPDATE chat_history SET payload = ?3, edited_unix_ms = ?4 "
                  "WHERE conversation = ?1 AND id = ?2 AND event = 0 AND is_deleted = 0"),
      apply_deletion_(connection, "UPDATE chat_history SET payload = x'', is_deleted = 1 "
                                  "WHERE conversation = ?1 AND id = ?2 AND event = 0 AND "
                                  "is_deleted = 0"),
      blank_edits_(connection, "UPDATE chat_history SET payload = x'' WHERE conversation = ?1 AND "
                               "of_id = ?2 AND event = 1"),
      delete_reactions_of_(connection,
                           "DELETE FROM chat_reactions WHERE conversation = ?1 AND id = ?2"),
      add_reaction_(connection,
                    "INSERT OR IGNORE INTO chat_reactions (conversation, id, emoji, user) "
                    "SELECT ?1, ?2, ?3, ?4 WHERE EXISTS (SELECT 1 FROM chat_history "
                    "WHERE conversation = ?1 AND id = ?2 AND event = 0 AND "
                    "is_deleted = 0)"),
      remove_reaction_(connection, "DELETE FROM chat_reactions WHERE conversation = ?1 AND id = ?2 "
                                   "AND emoji = ?3 AND user = ?4"),
      delete_orphan_reactions_(connection,
                               "DELETE FROM chat_reactions WHERE NOT EXISTS (SELECT 1 FROM "
                               "chat_history AS row WHERE row.conversation = "
                               "chat_reactions.conversation AND row.id = chat_reactions.id)"),
      select_history_row_(connection,
                          "SELECT conversation, id, sender, topic, ts_unix_ms, payload, "
                          "reply_to, event, of_id, edited_unix_ms, is_deleted FROM "
                          "chat_history WHERE conversation = ?1 AND id = ?2"),
      select_reactions_(connection, "SELECT id, emoji, user FROM chat_reactions WHERE "
                                    "conversation = ?1 AND id >= ?2 AND id <= ?3 "
                                    "ORDER BY id, emoji, user"),
      raise_heads_(connection, "INSERT INTO chat_conversations (conversation, last_id) "
                               "SELECT conversation, max(id) FROM chat_history WHERE true "
                               "GROUP BY conversation ON CONFLICT (conversation) "
                               "DO UPDATE SET last_id = max(last_id, excluded.last_id)"),
      upsert_read_position_(connection, "INSERT INTO chat_read_positions (user, conversation, id) "
                                        "VALUES (?1, ?2, ?3) ON CONFLICT (user, conversation) "
                                        "DO UPDATE SET id = max(id, excluded.id)"),
      // Rows older than ?1 in the prefix below rowid ?3 (history_age_bound.hpp): a range of
      // the table, with no index by time to keep.
      prune_by_age_(connection, "DELETE FROM chat_history WHERE rowid < ?3 AND ts_unix_ms < ?1"),
      // A row goes when it is old enough and at least `keep` newer rows of its conversation
      // exist: the keep-th newest id is then a bound it lies below.
      prune_by_age_keeping_(connection, "DELETE FROM chat_history WHERE rowid < ?3 AND "
                                        "ts_unix_ms < ?1 AND id < "
                                        "(SELECT newer.id FROM chat_history AS newer "
                                        "WHERE newer.conversation = chat_history.conversation "
                                        "ORDER BY newer.id DESC LIMIT 1 OFFSET ?2 - 1)"),
      select_history_page_(connection, "SELECT conversation, id, sender, topic, ts_unix_ms, "
                                       "payload, reply_to, event, of_id, edited_unix_ms, "
                                       "is_deleted FROM chat_history WHERE conversation = ?1 AND "
                                       "id < ?2 AND event = 0 ORDER BY id DESC LIMIT ?3"),
      select_read_positions_(connection, "SELECT user, conversation, id FROM chat_read_positions "
                                         "WHERE user = ?1 ORDER BY conversation"),
      // Bounded: the inner LIMIT stops the walk of the (conversation, id) key at the cap.
      count_unread_(connection, "SELECT count(*) FROM (SELECT 1 FROM chat_history "
                                "WHERE conversation = ?1 AND id > ?2 AND id <= ?3 AND sender <> ?4 "
                                "AND event = 0 AND is_deleted = 0 LIMIT ?5)"),
      select_heads_(connection,
                    "SELECT conversation, max(last_id) FROM (SELECT conversation, last_id "
                    "FROM chat_conversations UNION ALL SELECT conversation, max(id) "
                    "FROM chat_history GROUP BY conversation) "
                    "GROUP BY conversation ORDER BY conversation"),
      select_history_after_(connection, "SELECT conversation, id, sender, topic, ts_unix_ms, "
                                        "payload, reply_to, event, of_id, edited_unix_ms, "
                                        "is_deleted FROM chat_history WHERE conversation = ?1 AND "
                                        "id > ?2 AND ts_unix_ms >= ?3 ORDER BY id LIMIT ?4"),
      upsert_session_cursor_(connection,
                             "INSERT INTO chat_session_cursors (client_id, conversation, id) "
                             "VALUES (?1, ?2, ?3) ON CONFLICT (client_id, conversation) "
                             "DO UPDATE SET id = max(id, excluded.id)"),
      upsert_session_baseline_(connection, "INSERT OR REPLACE INTO chat_session_baselines "
                                           "(client_id, baseline_unix_ms) VALUES (?1, ?2)"),
      delete_session_cursors_(connection, "DELETE FROM chat_session_cursors WHERE client_id = ?1"),
      delete_session_baseline_(connection,
                               "DELETE FROM chat_session_baselines WHERE client_id = ?1"),
      select_session_cursors_(connection, "SELECT client_id, conversation, id FROM "
                                          "chat_session_cursors ORDER BY client_id, conversation"),
      select_session_baselines_(connection, "SELECT client_id, baseline_unix_ms FROM "
                                            "chat_session_baselines ORDER BY client_id"),
      upsert_ban_(connection, "INSERT OR REPLACE INTO bans (kind, value, reason, created_unix_ms, "
                              "expires_unix_ms) VALUES (?1, ?2, ?3, ?4, ?5)"),
      delete_expired_bans_(connection,
                           "DELETE FROM bans WHERE expires_unix_ms != 0 AND expires_unix_ms < ?1"),
      delete_ban_(connection, "DELETE FROM bans WHERE kind = ?1 AND value = ?2"),
      select_bans_(connection, "SELECT kind, value, reason, created_unix_ms, expires_unix_ms FROM "
                               "bans ORDER BY kind, value"),
      find_acl_rule_(connection,
                     "SELECT access FROM acl_rules WHERE scope = ?1 AND user = ?2 AND filter = ?3"),
      upsert_acl_rule_(connection, "INSERT OR REPLACE INTO acl_rules (scope, user, filter, access, "
                                   "created_unix_ms) VALUES (?1, ?2, ?3, ?4, ?5)"),
      delete_acl_rule_(connection,
                       "DELETE FROM acl_rules WHERE scope = ?1 AND user = ?2 AND filter = ?3"),
      select_acl_rules_(connection, "SELECT scope, user, filter, access, created_unix_ms FROM "
                                    "acl_rules ORDER BY scope, user, filter") {}

void chat_tables::begin_write() {
    begin_write_.run();
}

void chat_tables::begin_read() {
    begin_read_.run();
}

void chat_tables::commit() {
    commit_.run();
}

void chat_tables::rollback() noexcept {
    if (sqlite3_get_autocommit(connection_.handle()) == 0) {
        // A failed rollback leaves SQLite to roll back on the next statement; nothing to add.
        sqlite3_exec(connection_.handle(), "ROLLBACK", nullptr, nullptr, nullptr);
    }
}

int chat_tables::changes() const {
    return sqlite3_changes(connection_.handle());
}

void chat_tables::bump_version() {
    bump_version_.run();
}

bool chat_tables::user_exists(const std::string& name) {
    find_user_.bind_text(1, name);
    const bool found = find_user_.step();
    find_user_.reset();
    return found;
}

bool chat_tables::room_exists(const std::string& name) {
    find_room_.bind_text(1, name);
    const bool found = find_room_.step();
    find_room_.reset();
    return found;
}

directory_result chat_tables::add_user(const user_record& user) {
    insert_user_.bind_text(1, user.name);
    insert_user_.bind_text(2, user.password_hash);
    insert_user_.bind_integer(3, to_column(user.created_unix_ms));
    insert_user_.run();
    if (changes() == 0) {
        return directory_result::already_exists;
    }
    if (user.is_admin) {
        insert_admin_.bind_text(1, user.name);
        insert_admin_.run();
    }
    bump_version();
    return directory_result::done;
}

directory_result chat_tables::remove_user(const std::string& name) {
    delete_user_.bind_text(1, name);
    delete_user_.run();
    if (changes() == 0) {
        return directory_result::not_found;
    }
    delete_user_memberships_.bind_text(1, name);
    delete_user_memberships_.run();
    delete_user_read_positions_.bind_text(1, name);
    delete_user_read_positions_.run();
    delete_user_device_tokens_.bind_text(1, name);
    delete_user_device_tokens_.run();
    delete_user_invitations_.bind_text(1, name);
    delete_user_invitations_.run();
    delete_admin_.bind_text(1, name);
    delete_admin_.run();
    bump_version();
    return directory_result::done;
}

directory_result chat_tables::set_password(const std::string& name,
                                           const std::string& password_hash) {
    update_password_.bind_text(1, name);
    update_password_.bind_text(2, password_hash);
    update_password_.run();
    if (changes() == 0) {
        return directory_result::not_found;
    }
    delete_user_device_tokens_.bind_text(1, name);
    delete_user_device_tokens_.run();
    bump_version();
    return directory_result::done;
}

directory_result chat_tables::set_admin(const std::string& name, bool is_admin) {
    if (!user_exists(name)) {
        return directory_result::not_found;
    }
    statement& change = is_admin ? insert_admin_ : delete_admin_;
    change.bind_text(1, name);
    change.run();
    bump_version();
    return directory_result::done;
}

directory_result chat_tables::upgrade_password_hash(const std::string& name,
                                                    const std::string& old_hash,
                                                    const std::string& new_hash) {
    upgrade_password_.bind_text(1, name);
    upgrade_password_.bind_text(2, old_hash);
    upgrade_password_.bind_text(3, new_hash);
    upgrade_password_.run();
    if (changes() == 0) {
        return directory_result::not_found;
    }
    bump_version();
    return directory_result::done;
}

directory_result chat_tables::set_device_token(const device_token_record& token) {
    if (!user_exists(token.user)) {
        return directory_result::not_found;
    }
    upsert_device_token_.bind_text(1, token.user);
    upsert_device_token_.bind_text(2, token.device);
    upsert_device_token_.bind_text(3, token.token_hash);
    upsert_device_token_.bind_integer(4, to_column(token.created_unix_ms));
    upsert_device_token_.run();
    bump_version();
    return directory_result::done;
}

directory_result chat_tables::remove_device_token(const std::string& user,
                                                  const std::string& device) {
    delete_device_token_.bind_text(1, user);
    delete_device_token_.bind_text(2, device);
    delete_device_token_.run();
    if (changes() == 0) {
        return directory_result::not_found;
    }
    bump_version();
    return directory_result::done;
}

directory_result chat_tables::add_room(const room_record& room) {
    insert_room_.bind_text(1, room.name);
    insert_room_.bind_text(2, room.created_by);
    insert_room_.bind_integer(3, to_column(room.created_unix_ms));
    insert_room_.bind_integer(4, static_cast<std::int64_t>(room.visibility));
    insert_room_.bind_integer(5, static_cast<std::int64_t>(room.history));
    insert_room_.bind_text(6, room.display_name);
    insert_room_.bind_text(7, room.topic);
    insert_room_.run();
    if (changes() == 0) {
        return directory_result::already_exists;
    }
    bump_version();
    return directory_result::done;
}

directory_result chat_tables::remove_room(const std::string& name) {
    delete_room_.bind_text(1, name);
    delete_room_.run();
    if (changes() == 0) {
        return directory_result::not_found;
    }
    delete_room_memberships_.bind_text(1, name);
    delete_room_memberships_.run();
    delete_room_bans_.bind_text(1, name);
    delete_room_bans_.run();
    delete_room_invitations_.bind_text(1, name);
    delete_room_invitations_.run();
    bump_version();
    return directory_result::done;
}

directory_result chat_tables::add_member(const membership_record& membership) {
    if (!room_exists(membership.room) || !user_exists(membership.user)) {
        return directory_result::not_found;
    }
    insert_member_.bind_text(1, membership.room);
    insert_member_.bind_text(2, membership.user);
    insert_member_.bind_integer(3, static_cast<std::int64_t>(membership.role));
    insert_member_.bind_integer(4, membership.is_muted ? 1 : 0);
    insert_member_.bind_integer(5, to_column(membership.joined_after_id));
    insert_member_.run();
    if (changes() == 0) {
        return directory_result::already_exists;
    }
    bump_version();
    return directory_result::done;
}

directory_result chat_tables::remove_member(const membership_record& membership) {
    delete_member_.bind_text(1, membership.room);
    delete_member_.bind_text(2, membership.user);
    delete_member_.run();
    if (changes() == 0) {
        return directory_result::not_found;
    }
    bump_version();
    return directory_result::done;
}

directory_result chat_tables::update_room(const room_record& room) {
    update_room_.bind_text(1, room.name);
    update_room_.bind_integer(2, static_cast<std::int64_t>(room.visibility));
    update_room_.bind_integer(3, static_cast<std::int64_t>(room.history));
    update_room_.bind_text(4, room.display_name);
    update_room_.bind_text(5, room.topic);
    update_room_.run();
    if (changes() == 0) {
        return directory_result::not_found;
    }
    bump_version();
    return directory_result::done;
}

directory_result chat_tables::update_member(const membership_record& membership) {
    update_member_.bind_text(1, membership.room);
    update_member_.bind_text(2, membership.user);
    update_member_.bind_integer(3, static_cast<std::int64_t>(membership.role));
    update_member_.bind_integer(4, membership.is_muted ? 1 : 0);
    update_member_.run();
    if (changes() == 0) {
        return directory_result::not_found;
    }
    bump_version();
    return directory_result::done;
}

directory_result chat_tables::add_room_ban(const room_ban_record& ban) {
    if (!room_exists(ban.room)) {
        return directory_result::not_found;
    }
    upsert_room_ban_.bind_text(1, ban.room);
    upsert_room_ban_.bind_text(2, ban.user);
    upsert_room_ban_.bind_text(3, ban.by);
    upsert_room_ban_.bind_integer(4, to_column(ban.created_unix_ms));
    upsert_room_ban_.run();
    bump_version();
    return directory_result::done;
}

directory_result chat_tables::remove_room_ban(const room_ban_record& ban) {
    delete_room_ban_.bind_text(1, ban.room);
    delete_room_ban_.bind_text(2, ban.user);
    delete_room_ban_.run();
    if (changes() == 0) {
        return directory_result::not_found;
    }
    bump_version();
    return directory_result::done;
}

directory_result chat_tables::add_invitation(const invitation_record& invitation) {
    if (!room_exists(invitation.room) || !user_exists(invitation.user)) {
        return directory_result::not_found;
    }
    upsert_invitation_.bind_text(1, invitation.room);
    upsert_invitation_.bind_text(2, invitation.user);
    upsert_invitation_.bind_text(3, invitation.by);
    upsert_invitation_.bind_integer(4, to_column(invitation.created_unix_ms));
    upsert_invitation_.run();
    bump_version();
    return directory_result::done;
}

directory_result chat_tables::remove_invitation(const invitation_record& invitation) {
    delete_invitation_.bind_text(1, invitation.room);
    delete_invitation_.bind_text(2, invitation.user);
    delete_invitation_.run();
    if (changes() == 0) {
        return directory_result::not_found;
    }
    bump_version();
    return directory_result::done;
}

directory_result chat_tables::add_audit(const audit_record& audit) {
    insert_audit_.bind_integer(1, to_column(audit.ts_unix_ms));
    insert_audit_.bind_text(2, audit.room);
    insert_audit_.bind_text(3, audit.actor);
    insert_audit_.bind_text(4, audit.action);
    insert_audit_.bind_text(5, audit.target);
    insert_audit_.bind_text(6, audit.detail);
    insert_audit_.run();
    return directory_result::done;
}

std::vector<audit_record> chat_tables::audit_log(const std::string& room, std::size_t limit) {
    std::vector<audit_record> entries;
    select_audit_.bind_text(1, room);
    select_audit_.bind_integer(2, static_cast<std::int64_t>(std::min<std::size_t>(
                                      limit, std::numeric_limits<int>::max())));
    while (select_audit_.step()) {
        entries.push_back(audit_record{from_column(select_audit_.column_integer(0)),
                                       from_column(select_audit_.column_integer(1)),
                                       select_audit_.column_text(2), select_audit_.column_text(3),
                                       select_audit_.column_text(4), select_audit_.column_text(5),
                                       select_audit_.column_text(6)});
    }
    select_audit_.reset();
    std::reverse(entries.begin(), entries.end());
    return entries;
}

directory_result chat_tables::add_ban(const ban_record& ban) {
    delete_expired_bans_.bind_integer(1, to_column(ban.created_unix_ms));
    delete_expired_bans_.run();
    upsert_ban_.bind_integer(1, static_cast<std::int64_t>(ban.kind));
    upsert_ban_.bind_text(2, ban.value);
    upsert_ban_.bind_text(3, ban.reason);
    upsert_ban_.bind_integer(4, to_column(ban.created_unix_ms));
    upsert_ban_.bind_integer(5, to_column(ban.expires_unix_ms));
    upsert_ban_.run();
    bump_version();
    return directory_result::done;
}

directory_result chat_tables::remove_ban(ban_kind kind, const std::string& value) {
    delete_ban_.bind_integer(1, static_cast<std::int64_t>(kind));
    delete_ban_.bind_text(2, value);
    delete_ban_.run();
    if (changes() == 0) {
        return directory_result::not_found;
    }
    bump_version();
    return directory_result::done;
}

directory_result chat_tables::add_acl_rule(const acl_rule_record& rule) {
    find_acl_rule_.bind_integer(1, static_cast<std::int64_t>(rule.scope));
    find_acl_rule_.bind_text(2, rule.user);
    find_acl_rule_.bind_text(3, rule.filter);
    const bool is_same = find_acl_rule_.step() && find_acl_rule_.column_text(0) == rule.access;
    find_acl_rule_.reset();
    if (is_same) {
        return directory_result::already_exists;
    }
    upsert_acl_rule_.bind_integer(1, static_cast<std::int64_t>(rule.scope));
    upsert_acl_rule_.bind_text(2, rule.user);
    upsert_acl_rule_.bind_text(3, rule.filter);
    upsert_acl_rule_.bind_text(4, rule.access);
    upsert_acl_rule_.bind_integer(5, to_column(rule.created_unix_ms));
    upsert_acl_rule_.run();
    bump_version();
    return directory_result::done;
}

directory_result chat_tables::remove_acl_rule(const acl_rule_record& rule) {
    delete_acl_rule_.bind_integer(1, static_cast<std::int64_t>(rule.scope));
    delete_acl_rule_.bind_text(2, rule.user);
    delete_acl_rule_.bind_text(3, rule.filter);
    delete_acl_rule_.run();
    if (changes() == 0) {
        return directory_result::not_found;
    }
    bump_version();
    return directory_result::done;
}

chat_directory_snapshot chat_tables::read_directory() {
    chat_directory_snapshot snapshot;
    while (select_users_.step()) {
        snapshot.users.push_back(user_record{
            select_users_.column_text(0), select_users_.column_text(1),
            from_column(select_users_.column_integer(2)), select_users_.column_integer(3) != 0});
    }
    select_users_.reset();
    while (select_rooms_.step()) {
        snapshot.rooms.push_back(
            room_record{select_rooms_.column_text(0), select_rooms_.column_text(1),
                        from_column(select_rooms_.column_integer(2)),
                        static_cast<room_visibility>(select_rooms_.column_integer(3)),
                        static_cast<history_visibility>(select_rooms_.column_integer(4)),
                        select_rooms_.column_text(5), select_rooms_.column_text(6)});
    }
    select_rooms_.reset();
    while (select_members_.step()) {
        snapshot.memberships.push_back(
            membership_record{select_members_.column_text(0), select_members_.column_text(1),
                              static_cast<room_role>(select_members_.column_integer(2)),
                              select_members_.column_integer(3) != 0,
                              from_column(select_members_.column_integer(4))});
    }
    select_members_.reset();
    while (select_device_tokens_.step()) {
        snapshot.device_tokens.push_back(device_token_record{
            select_device_tokens_.column_text(0), select_device_tokens_.column_text(1),
            select_device_tokens_.column_text(2),
            from_column(select_device_tokens_.column_integer(3))});
    }
    select_device_tokens_.reset();
    while (select_bans_.step()) {
        snapshot.bans.push_back(ban_record{static_cast<ban_kind>(select_bans_.column_integer(0)),
                                           select_bans_.column_text(1), select_bans_.column_text(2),
                                           from_column(select_bans_.column_integer(3)),
                                           from_column(select_bans_.column_integer(4))});
    }
    select_bans_.reset();
    while (select_acl_rules_.step()) {
        snapshot.acl_rules.push_back(acl_rule_record{
            static_cast<acl_scope>(select_acl_rules_.column_integer(0)),
            select_acl_rules_.column_text(1), select_acl_rules_.column_text(3),
            select_acl_rules_.column_text(2), from_column(select_acl_rules_.column_integer(4))});
    }
    select_acl_rules_.reset();
    while (select_room_bans_.step()) {
        snapshot.room_bans.push_back(room_ban_record{
            select_room_bans_.column_text(0), select_room_bans_.column_text(1),
            select_room_bans_.column_text(2), from_column(select_room_bans_.column_integer(3))});
    }
    select_room_bans_.reset();
    while (select_invitations_.step()) {
        snapshot.invitations.push_back(invitation_record{
            select_invitations_.column_text(0), select_invitations_.column_text(1),
            select_invitations_.column_text(2),
            from_column(select_invitations_.column_integer(3))});
    }
    select_invitations_.reset();
    snapshot.version = directory_version();
    return snapshot;
}

std::uint64_t chat_tables::directory_version() {
    std::uint64_t version = 0;
    if (select_version_.step()) {
        version = from_column(select_version_.column_integer(0));
    }
    select_version_.reset();
    return version;
}

void chat_tables::append_history(const history_record& record) {
    insert_history_.bind_text(1, record.conversation);
    insert_history_.bind_integer(2, to_column(record.id));
    insert_history_.bind_text(3, record.sender);
    insert_history_.bind_text(4, record.topic);
    insert_history_.bind_integer(5, to_column(record.ts_unix_ms));
    insert_history_.bind_blob(6, record.payload);
    insert_history_.bind_integer(7, to_column(record.reply_to));
    insert_history_.bind_integer(8, static_cast<std::int64_t>(record.kind));
    insert_history_.bind_integer(9, to_column(record.of_id));
    insert_history_.run();
    if (record.kind != history_kind::message && changes() > 0) {
        apply_event(record);
    }
    // The conversation's head is not raised here: start-up seeds it from history's own last id
    // (conversation_heads), and prune_history writes it before rows go. One page less per
    // conversation in every group commit (docs/PERFORMANCE.md round 15).
}

void chat_tables::apply_event(const history_record& event) {
    const auto bind_target = [&event](statement& change) {
        change.bind_text(1, event.conversation);
        change.bind_integer(2, to_column(event.of_id));
    };
    switch (event.kind) {
    case history_kind::message: return;
    case history_kind::edit:
        bind_target(apply_edit_);
        apply_edit_.bind_blob(3,
                              std::span(reinterpret_cast<const std::uint8_t*>(event.change.data()),
                                        event.change.size()));
        apply_edit_.bind_integer(4, to_column(event.ts_unix_ms));
        apply_edit_.run();
        return;
    case history_kind::deletion:
        bind_target(apply_deletion_);
        apply_deletion_.run();
        if (changes() == 0) {
            return;
        }
        bind_target(blank_edits_);
        blank_edits_.run();
        bind_target(delete_reactions_of_);
        delete_reactions_of_.run();
        return;
    case history_kind::reaction_added:
    case history_kind::reaction_removed: {
        statement& change =
            event.kind == history_kind::reaction_added ? add_reaction_ : remove_reaction_;
        bind_target(change);
        change.bind_text(3, event.change);
        change.bind_text(4, event.sender);
        change.run();
        return;
    }
    }
}

std::optional<history_record> chat_tables::find_history(const std::string& conversation,
                                                        std::uint64_t id) {
    std::optional<history_record> row;
    select_history_row_.bind_text(1, conversation);
    select_history_row_.bind_integer(2, to_column(id));
    if (select_history_row_.step()) {
        row = history_row(select_history_row_);
    }
    select_history_row_.reset();
    return row;
}

void chat_tables::add_reactions(std::vector<history_record>& page) {
    if (page.empty()) {
        return;
    }
    select_reactions_.bind_text(1, page.front().conversation);
    select_reactions_.bind_integer(2, to_column(page.front().id));
    select_reactions_.bind_integer(3, to_column(page.back().id));
    auto message = page.begin();
    while (select_reactions_.step()) {
        const std::uint64_t id = from_column(select_reactions_.column_integer(0));
        while (message != page.end() && message->id < id) {
            ++message;
        }
        if (message == page.end()) {
            break;
        }
        if (message->id != id) {
            continue;
        }
        std::string emoji = select_reactions_.column_text(1);
        if (message->reactions.empty() || message->reactions.back().emoji != emoji) {
            message->reactions.push_back({std::move(emoji), {}});
        }
        message->reactions.back().users.push_back(select_reactions_.column_text(2));
    }
    select_reactions_.reset();
}

void chat_tables::set_read_position(const read_position_record& record) {
    upsert_read_position_.bind_text(1, record.user);
    upsert_read_position_.bind_text(2, record.conversation);
    upsert_read_position_.bind_integer(3, to_column(record.id));
    upsert_read_position_.run();
}

void chat_tables::save_session_cursors(const session_cursors_record& record) {
    if (record.baseline_unix_ms != 0) {
        upsert_session_baseline_.bind_text(1, record.client_id);
        upsert_session_baseline_.bind_integer(2, to_column(record.baseline_unix_ms));
        upsert_session_baseline_.run();
    }
    for (const conversation_cursor& cursor : record.cursors) {
        upsert_session_cursor_.bind_text(1, record.client_id);
        upsert_session_cursor_.bind_text(2, cursor.conversation);
        upsert_session_cursor_.bind_integer(3, to_column(cursor.id));
        upsert_session_cursor_.run();
    }
}

void chat_tables::remove_session_cursors(const std::string& client_id) {
    delete_session_cursors_.bind_text(1, client_id);
    delete_session_cursors_.run();
    delete_session_baseline_.bind_text(1, client_id);
    delete_session_baseline_.run();
}

void chat_tables::prune_history(std::uint64_t before_unix_ms, std::size_t keep_per_conversation) {
    // Heads first, in the same transaction: ids keep increasing after a conversation's last rows
    // are pruned.
    raise_heads_.run();
    const std::int64_t cut = first_row_stamped_at_or_after(connection_, before_unix_ms);
    if (keep_per_conversation == 0) {
        prune_by_age_.bind_integer(1, to_column(before_unix_ms));
        prune_by_age_.bind_integer(3, cut);
        prune_by_age_.run();
    } else {
        prune_by_age_keeping_.bind_integer(1, to_column(before_unix_ms));
        prune_by_age_keeping_.bind_integer(2, static_cast<std::int64_t>(keep_per_conversation));
        prune_by_age_keeping_.bind_integer(3, cut);
        prune_by_age_keeping_.run();
    }
    // The reactions of the messages pruned go with them.
    delete_orphan_reactions_.run();
}

std::vector<history_record> chat_tables::history_page(const std::string& conversation,
                                                      std::uint64_t before_id, std::size_t limit) {
    std::vector<history_record> page;
    if (limit == 0) {
        return page;
    }
    constexpr auto no_bound = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
    const std::int64_t bound = to_column(before_id == 0 ? no_bound : std::min(before_id, no_bound));
    const auto capped_limit =
        static_cast<std::int64_t>(std::min<std::size_t>(limit, std::numeric_limits<int>::max()));
    select_history_page_.bind_text(1, conversation);
    select_history_page_.bind_integer(2, bound);
    select_history_page_.bind_integer(3, capped_limit);
    while (select_history_page_.step()) {
        page.push_back(history_row(select_history_page_));
    }
    select_history_page_.reset();
    std::reverse(page.begin(), page.end());
    add_reactions(page);
    return page;
}

std::vector<history_record> chat_tables::history_after(const std::string& conversation,
                                                       std::uint64_t after_id,
                                                       std::uint64_t since_unix_ms,
                                                       std::size_t limit) {
    std::vector<history_record> page;
    if (limit == 0) {
        return page;
    }
    constexpr auto no_bound = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
    select_history_after_.bind_text(1, conversation);
    select_history_after_.bind_integer(2, to_column(std::min(after_id, no_bound)));
    select_history_after_.bind_integer(3, to_column(std::min(since_unix_ms, no_bound)));
    select_history_after_.bind_integer(4, static_cast<std::int64_t>(std::min<std::size_t>(
                                              limit, std::numeric_limits<int>::max())));
    while (select_history_after_.step()) {
        page.push_back(history_row(select_history_after_));
    }
    select_history_after_.reset();
    return page;
}

std::vector<session_cursors_record> chat_tables::session_cursors() {
    std::vector<session_cursors_record> records;
    const auto record_of = [&records](const std::string& client_id) -> session_cursors_record& {
        if (records.empty() || records.back().client_id != client_id) {
            records.push_back({client_id, 0, {}});
        }
        return records.back();
    };
    // Both queries are ordered by client id: merge them.
    std::vector<std::pair<std::string, std::uint64_t>> baselines;
    while (select_session_baselines_.step()) {
        baselines.emplace_back(select_session_baselines_.column_text(0),
                               from_column(select_session_baselines_.column_integer(1)));
    }
    select_session_baselines_.reset();
    std::size_t next_baseline = 0;
    while (select_session_cursors_.step()) {
        const std::string client_id = select_session_cursors_.column_text(0);
        while (next_baseline < baselines.size() && baselines[next_baseline].first <= client_id) {
            record_of(baselines[next_baseline].first).baseline_unix_ms =
                baselines[next_baseline].second;
            ++next_baseline;
        }
        record_of(client_id).cursors.push_back(
            {select_session_cursors_.column_text(1),
             from_column(select_session_cursors_.column_integer(2))});
    }
    select_session_cursors_.reset();
    for (; next_baseline < baselines.size(); ++next_baseline) {
        record_of(baselines[next_baseline].first).baseline_unix_ms =
            baselines[next_baseline].second;
    }
    return records;
}

std::vector<read_state_record> chat_tables::read_state(const std::string& user,
                                                       std::vector<conversation_head> heads,
                                                       std::uint64_t unread_cap) {
    std::vector<read_position_record> positions = read_positions(user);
    std::vector<read_state_record> states;
    states.reserve(heads.size());
    for (conversation_head& head : heads) {
        read_state_record state{std::move(head.conversation), head.last_id, 0, 0};
        const std::uint64_t hidden_through = head.hidden_through_id;
        // Positions come ordered by conversation.
        const auto position =
            std::lower_bound(positions.begin(), positions.end(), state.conversation,
                             [](const read_position_record& held, const std::string& conversation) {
                                 return held.conversation < conversation;
                             });
        if (position != positions.end() && position->conversation == state.conversation) {
            state.read_id = position->id;
        }
        state.read_id = std::max(state.read_id, std::min(hidden_through, state.last_id));
        if (state.read_id < state.last_id && unread_cap > 0) {
            count_unread_.bind_text(1, state.conversation);
            count_unread_.bind_integer(2, to_column(state.read_id));
            count_unread_.bind_integer(3, to_column(state.last_id));
            count_unread_.bind_text(4, user);
            count_unread_.bind_integer(5, to_column(unread_cap));
            if (count_unread_.step()) {
                state.unread = from_column(count_unread_.column_integer(0));
            }
            count_unread_.reset();
        }
        states.push_back(std::move(state));
    }
    return states;
}

std::vector<read_position_record> chat_tables::read_positions(const std::string& user) {
    std::vector<read_position_record> positions;
    select_read_positions_.bind_text(1, user);
    while (select_read_positions_.step()) {
        positions.push_back(read_position_record{
            select_read_positions_.column_text(0), select_read_positions_.column_text(1),
            from_column(select_read_positions_.column_integer(2))});
    }
    select_read_positions_.reset();
    return positions;
}

std::vector<conversation_head> chat_tables::conversation_heads() {
    std::vector<conversation_head> heads;
    while (select_heads_.step()) {
        heads.push_back(conversation_head{select_heads_.column_text(0),
                                          from_column(select_heads_.column_integer(1))});
    }
    select_heads_.reset();
    return heads;
}

} // namespace perch::store::sqlite
