// The chat tables' SQL: one prepared statement per change or query, prepared once per connection.
#include "store/sqlite/chat_tables.hpp"

#include <algorithm>
#include <limits>

#include <sqlite3.h>

namespace perch::store::sqlite {
namespace {

std::int64_t to_column(std::uint64_t value) {
    return static_cast<std::int64_t>(value);
}

std::uint64_t from_column(std::int64_t value) {
    return static_cast<std::uint64_t>(value);
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
                               "created_unix_ms) VALUES (?1, ?2, ?3)"),
      delete_room_(connection, "DELETE FROM chat_rooms WHERE name = ?1"),
      delete_room_memberships_(connection, "DELETE FROM chat_members WHERE room = ?1"),
      find_room_(connection, "SELECT 1 FROM chat_rooms WHERE name = ?1"),
      insert_member_(connection, "INSERT OR IGNORE INTO chat_members (room, user) VALUES (?1, ?2)"),
      delete_member_(connection, "DELETE FROM chat_members WHERE room = ?1 AND user = ?2"),
      bump_version_(connection, "UPDATE chat_directory_version SET version = version + 1"),
      select_version_(connection, "SELECT version FROM chat_directory_version"),
      select_users_(connection,
                    "SELECT name, password_hash, created_unix_ms FROM chat_users ORDER BY name"),
      select_rooms_(connection,
                    "SELECT name, created_by, created_unix_ms FROM chat_rooms ORDER BY name"),
      select_members_(connection, "SELECT room, user FROM chat_members ORDER BY room, user"),
      insert_history_(connection, "INSERT OR IGNORE INTO chat_history (conversation, id, sender, "
                                  "topic, ts_unix_ms, payload) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"),
      raise_heads_(connection, "INSERT INTO chat_conversations (conversation, last_id) "
                               "SELECT conversation, max(id) FROM chat_history WHERE true "
                               "GROUP BY conversation ON CONFLICT (conversation) "
                               "DO UPDATE SET last_id = max(last_id, excluded.last_id)"),
      upsert_read_position_(connection, "INSERT INTO chat_read_positions (user, conversation, id) "
                                        "VALUES (?1, ?2, ?3) ON CONFLICT (user, conversation) "
                                        "DO UPDATE SET id = max(id, excluded.id)"),
      prune_by_age_(connection, "DELETE FROM chat_history WHERE ts_unix_ms < ?1"),
      // A row goes when it is old enough and at least `keep` newer rows of its conversation
      // exist: the keep-th newest id is then a bound it lies below.
      prune_by_age_keeping_(connection, "DELETE FROM chat_history WHERE ts_unix_ms < ?1 AND id < "
                                        "(SELECT newer.id FROM chat_history AS newer "
                                        "WHERE newer.conversation = chat_history.conversation "
                                        "ORDER BY newer.id DESC LIMIT 1 OFFSET ?2 - 1)"),
      select_history_page_(connection, "SELECT conversation, id, sender, topic, ts_unix_ms, "
                                       "payload FROM chat_history WHERE conversation = ?1 AND "
                                       "id < ?2 ORDER BY id DESC LIMIT ?3"),
      select_read_positions_(connection, "SELECT user, conversation, id FROM chat_read_positions "
                                         "WHERE user = ?1 ORDER BY conversation"),
      select_heads_(connection,
                    "SELECT conversation, max(last_id) FROM (SELECT conversation, last_id "
                    "FROM chat_conversations UNION ALL SELECT conversation, max(id) "
                    "FROM chat_history GROUP BY conversation) "
                    "GROUP BY conversation ORDER BY conversation"),
      select_history_after_(connection, "SELECT conversation, id, sender, topic, ts_unix_ms, "
                                        "payload FROM chat_history WHERE conversation = ?1 AND "
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
    bump_version();
    return directory_result::done;
}

directory_result chat_tables::add_member(const membership_record& membership) {
    if (!room_exists(membership.room) || !user_exists(membership.user)) {
        return directory_result::not_found;
    }
    insert_member_.bind_text(1, membership.room);
    insert_member_.bind_text(2, membership.user);
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
        snapshot.users.push_back(user_record{select_users_.column_text(0),
                                             select_users_.column_text(1),
                                             from_column(select_users_.column_integer(2))});
    }
    select_users_.reset();
    while (select_rooms_.step()) {
        snapshot.rooms.push_back(room_record{select_rooms_.column_text(0),
                                             select_rooms_.column_text(1),
                                             from_column(select_rooms_.column_integer(2))});
    }
    select_rooms_.reset();
    while (select_members_.step()) {
        snapshot.memberships.push_back(
            membership_record{select_members_.column_text(0), select_members_.column_text(1)});
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
    insert_history_.run();
    // The conversation's head is not raised here: start-up seeds it from history's own last id
    // (conversation_heads), and prune_history writes it before rows go. One page less per
    // conversation in every group commit (docs/PERFORMANCE.md round 15).
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
    if (keep_per_conversation == 0) {
        prune_by_age_.bind_integer(1, to_column(before_unix_ms));
        prune_by_age_.run();
        return;
    }
    prune_by_age_keeping_.bind_integer(1, to_column(before_unix_ms));
    prune_by_age_keeping_.bind_integer(2, static_cast<std::int64_t>(keep_per_conversation));
    prune_by_age_keeping_.run();
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
        page.push_back(history_record{select_history_page_.column_text(0),
                                      from_column(select_history_page_.column_integer(1)),
                                      select_history_page_.column_text(2),
                                      select_history_page_.column_text(3),
                                      from_column(select_history_page_.column_integer(4)),
                                      select_history_page_.column_blob(5)});
    }
    select_history_page_.reset();
    std::reverse(page.begin(), page.end());
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
        page.push_back(history_record{select_history_after_.column_text(0),
                                      from_column(select_history_after_.column_integer(1)),
                                      select_history_after_.column_text(2),
                                      select_history_after_.column_text(3),
                                      from_column(select_history_after_.column_integer(4)),
                                      select_history_after_.column_blob(5)});
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
