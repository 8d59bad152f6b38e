// The PostgreSQL schema of the chat store: the same tables as the SQLite chat store (schema.cpp
// in store/sqlite/, versions 3 to 13), written at once as version 1. Column `user` is
// `user_name` (a reserved word in PostgreSQL); flags are BOOLEAN; ids and times are BIGINT holding
// the unsigned values the chat layer gives, bit for bit. History rows get `seq`, the order they
// were recorded in (the SQLite rowid), which search walks newest first. Text compares and sorts
// byte by byte (COLLATE "C"), as SQLite does, whatever the database's locale.
#include "store/postgres/schema.hpp"

#include <array>
#include <cstdint>
#include <random>
#include <string>
#include <string_view>

#include "store/postgres/connection.hpp"

namespace perch::store::postgres {
namespace {

/// The advisory lock key of migrations ("perch" in ASCII).
constexpr std::string_view migration_lock = "SELECT pg_advisory_xact_lock(482131093608)";

constexpr std::string_view version_table = R"sql(
CREATE TABLE IF NOT EXISTS perch_schema_version (
    row SMALLINT PRIMARY KEY CHECK (row = 0),
    version INTEGER NOT NULL
);
INSERT INTO perch_schema_version VALUES (0, 0) ON CONFLICT DO NOTHING;
)sql";

// Version 1: the directory (users with an administrator flag, rooms, members, device tokens,
// bans, access rules, room bans, invitations, audit), history with its events and reactions, read
// positions, session cursors, files and Web Push.
constexpr std::string_view version_1 = R"sql(
CREATE TABLE chat_users (
    name TEXT COLLATE "C" PRIMARY KEY,
    password_hash TEXT COLLATE "C" NOT NULL,
    created_unix_ms BIGINT NOT NULL,
    is_admin BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE TABLE chat_rooms (
    name TEXT COLLATE "C" PRIMARY KEY,
    created_by TEXT COLLATE "C" NOT NULL,
    created_unix_ms BIGINT NOT NULL,
    visibility SMALLINT NOT NULL DEFAULT 0,
    history_visibility SMALLINT NOT NULL DEFAULT 0,
    display_name TEXT COLLATE "C" NOT NULL DEFAULT '',
    topic TEXT COLLATE "C" NOT NULL DEFAULT ''
);
CREATE TABLE chat_members (
    room TEXT COLLATE "C" NOT NULL,
    user_name TEXT COLLATE "C" NOT NULL,
    role SMALLINT NOT NULL DEFAULT 0,
    muted BOOLEAN NOT NULL DEFAULT FALSE,
    joined_after_id BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (room, user_name)
);
CREATE INDEX chat_members_by_user ON chat_members (user_name);
CREATE TABLE chat_directory_version (
    row SMALLINT PRIMARY KEY CHECK (row = 0),
    version BIGINT NOT NULL
);
INSERT INTO chat_directory_version VALUES (0, 0);
CREATE TABLE chat_conversations (
    conversation TEXT COLLATE "C" PRIMARY KEY,
    last_id BIGINT NOT NULL
);
CREATE TABLE chat_history (
    seq BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
    conversation TEXT COLLATE "C" NOT NULL,
    id BIGINT NOT NULL,
    sender TEXT COLLATE "C" NOT NULL,
    topic TEXT COLLATE "C" NOT NULL,
    ts_unix_ms BIGINT NOT NULL,
    payload BYTEA NOT NULL,
    reply_to BIGINT NOT NULL DEFAULT 0,
    event SMALLINT NOT NULL DEFAULT 0,
    of_id BIGINT NOT NULL DEFAULT 0,
    edited_unix_ms BIGINT NOT NULL DEFAULT 0,
    is_deleted BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (conversation, id)
);
CREATE INDEX chat_history_by_ts ON chat_history (ts_unix_ms);
CREATE INDEX chat_history_edits ON chat_history (conversation, of_id) WHERE event = 1;
CREATE TABLE chat_reactions (
    conversation TEXT COLLATE "C" NOT NULL,
    id BIGINT NOT NULL,
    emoji TEXT COLLATE "C" NOT NULL,
    user_name TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (conversation, id, emoji, user_name)
);
CREATE TABLE chat_read_positions (
    user_name TEXT COLLATE "C" NOT NULL,
    conversation TEXT COLLATE "C" NOT NULL,
    id BIGINT NOT NULL,
    PRIMARY KEY (user_name, conversation)
);
CREATE TABLE chat_device_tokens (
    user_name TEXT COLLATE "C" NOT NULL,
    device TEXT COLLATE "C" NOT NULL,
    token_hash TEXT COLLATE "C" NOT NULL,
    created_unix_ms BIGINT NOT NULL,
    PRIMARY KEY (user_name, device)
);
CREATE TABLE chat_session_cursors (
    client_id TEXT COLLATE "C" NOT NULL,
    conversation TEXT COLLATE "C" NOT NULL,
    id BIGINT NOT NULL,
    PRIMARY KEY (client_id, conversation)
);
CREATE TABLE chat_session_baselines (
    client_id TEXT COLLATE "C" PRIMARY KEY,
    baseline_unix_ms BIGINT NOT NULL
);
CREATE TABLE bans (
    kind SMALLINT NOT NULL,
    value TEXT COLLATE "C" NOT NULL,
    reason TEXT COLLATE "C" NOT NULL,
    created_unix_ms BIGINT NOT NULL,
    expires_unix_ms BIGINT NOT NULL,
    PRIMARY KEY (kind, value)
);
CREATE TABLE acl_rules (
    scope SMALLINT NOT NULL,
    user_name TEXT COLLATE "C" NOT NULL,
    filter TEXT COLLATE "C" NOT NULL,
    access TEXT COLLATE "C" NOT NULL,
    created_unix_ms BIGINT NOT NULL,
    PRIMARY KEY (scope, user_name, filter)
);
CREATE TABLE chat_room_bans (
    room TEXT COLLATE "C" NOT NULL,
    user_name TEXT COLLATE "C" NOT NULL,
    by_user TEXT COLLATE "C" NOT NULL,
    created_unix_ms BIGINT NOT NULL,
    PRIMARY KEY (room, user_name)
);
CREATE TABLE chat_invitations (
    room TEXT COLLATE "C" NOT NULL,
    user_name TEXT COLLATE "C" NOT NULL,
    by_user TEXT COLLATE "C" NOT NULL,
    created_unix_ms BIGINT NOT NULL,
    PRIMARY KEY (room, user_name)
);
CREATE INDEX chat_invitations_by_user ON chat_invitations (user_name);
CREATE TABLE chat_audit (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ts_unix_ms BIGINT NOT NULL,
    room TEXT COLLATE "C" NOT NULL,
    actor TEXT COLLATE "C" NOT NULL,
    action TEXT COLLATE "C" NOT NULL,
    target TEXT COLLATE "C" NOT NULL,
    detail TEXT COLLATE "C" NOT NULL
);
CREATE INDEX chat_audit_by_room ON chat_audit (room, id);
CREATE TABLE chat_files (
    id TEXT COLLATE "C" PRIMARY KEY,
    owner TEXT COLLATE "C" NOT NULL,
    size BIGINT NOT NULL,
    content_type TEXT COLLATE "C" NOT NULL,
    name TEXT COLLATE "C" NOT NULL,
    sha256 TEXT COLLATE "C" NOT NULL,
    created_unix_ms BIGINT NOT NULL
);
CREATE INDEX chat_files_created ON chat_files (created_unix_ms);
CREATE TABLE chat_file_refs (
    file_id TEXT COLLATE "C" NOT NULL,
    conversation TEXT COLLATE "C" NOT NULL,
    message_id BIGINT NOT NULL,
    PRIMARY KEY (file_id, conversation, message_id)
);
CREATE INDEX chat_file_refs_message ON chat_file_refs (conversation, message_id);
CREATE TABLE chat_push_subscriptions (
    user_name TEXT COLLATE "C" NOT NULL,
    device TEXT COLLATE "C" NOT NULL,
    endpoint TEXT COLLATE "C" NOT NULL,
    p256dh TEXT COLLATE "C" NOT NULL,
    auth TEXT COLLATE "C" NOT NULL,
    created_unix_ms BIGINT NOT NULL,
    last_error TEXT COLLATE "C" NOT NULL DEFAULT '',
    PRIMARY KEY (user_name, device)
);
CREATE INDEX chat_push_subscriptions_endpoint ON chat_push_subscriptions (endpoint);
CREATE TABLE chat_push_settings (
    user_name TEXT COLLATE "C" PRIMARY KEY,
    is_preview_allowed BOOLEAN NOT NULL
);
)sql";

// Version 2: chat_conversations is the heads table history ids are allocated from
// (postgres_id_allocator.hpp); every conversation in history gets its head, so that the first
// allocation after the upgrade continues above what gateways stamped themselves before.
constexpr std::string_view version_2 = R"sql(
INSERT INTO chat_conversations (conversation, last_id)
SELECT conversation, max(id) FROM chat_history GROUP BY conversation
ON CONFLICT (conversation) DO UPDATE
SET last_id = GREATEST(chat_conversations.last_id, excluded.last_id);
)sql";

constexpr std::array<std::string_view, current_schema_version> migrations = {version_1, version_2};

// The key of chat across gateways (docs/BRIDGES.md): made once, by the first gateway to open the
// database, under the migration lock; every gateway reads the same. Not versioned: it stands
// beside the chat tables and a database of any version gets it.
constexpr std::string_view relay_key_table = R"sql(
CREATE TABLE IF NOT EXISTS perch_relay_key (
    row SMALLINT PRIMARY KEY CHECK (row = 0),
    key BYTEA NOT NULL
);
)sql";

/// 32 bytes from the system's random source (getrandom on Linux).
std::array<std::uint8_t, 32> random_key() {
    std::random_device source;
    std::array<std::uint8_t, 32> key{};
    for (std::uint8_t& byte : key) {
        byte = static_cast<std::uint8_t>(source());
    }
    return key;
}

} // namespace

void migrate_schema(connection& database) {
    try {
        database.begin();
        database.run(migration_lock);
        database.execute(version_table);
        const int version = static_cast<int>(
            database.run("SELECT version FROM perch_schema_version").integer(0, 0));
        if (version > current_schema_version) {
            throw postgres_error("the database is at schema version " + std::to_string(version) +
                                 ", newer than this build's " +
                                 std::to_string(current_schema_version));
        }
        for (int next = version; next < current_schema_version; ++next) {
            database.execute(migrations[static_cast<std::size_t>(next)]);
        }
        database.run("UPDATE perch_schema_version SET version = $1",
                     parameters().integer(current_schema_version));
        database.execute(relay_key_table);
        const auto key = random_key();
        database.run("INSERT INTO perch_relay_key VALUES (0, $1) ON CONFLICT DO NOTHING",
                     parameters().bytes(key));
        database.commit();
    } catch (...) {
        database.rollback();
        throw;
    }
}

} // namespace perch::store::postgres
