// The store's tables, one migration per schema version. A migration is never edited once
// released: a change is a new migration at the end of the list.
#include "store/sqlite/schema.hpp"

#include <array>
#include <string>
#include <string_view>

#include "store/sqlite/search_index.hpp"

#include <sqlite3.h>

namespace perch::store::sqlite {
namespace {

// Version 1: sessions with their will, subscriptions, messages shared by queue entries, queue
// entries, inbound QoS 2 identifiers and retained messages. Cascades are done by the store, not
// by foreign keys. AUTOINCREMENT keeps the highest message identifier and sequence ever written
// (sqlite_sequence), so identifiers are not reused after their rows are deleted.
constexpr std::string_view version_1 = R"sql(
CREATE TABLE sessions (
    client_id TEXT PRIMARY KEY,
    protocol_level INTEGER NOT NULL,
    session_expiry_interval_s INTEGER NOT NULL,
    expires_at_unix_ms INTEGER NOT NULL,
    will_topic TEXT,
    will_payload BLOB,
    will_qos INTEGER,
    will_retain INTEGER,
    will_properties BLOB,
    will_delay_interval_s INTEGER
) WITHOUT ROWID;
CREATE TABLE subscriptions (
    client_id TEXT NOT NULL,
    topic_filter TEXT NOT NULL,
    options INTEGER NOT NULL,
    subscription_id INTEGER NOT NULL,
    PRIMARY KEY (client_id, topic_filter)
) WITHOUT ROWID;
CREATE TABLE messages (
    message_id INTEGER PRIMARY KEY AUTOINCREMENT,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    qos INTEGER NOT NULL,
    retain INTEGER NOT NULL,
    properties BLOB NOT NULL,
    expiry_unix_ms INTEGER NOT NULL,
    created_unix_ms INTEGER NOT NULL
);
CREATE TABLE queue (
    sequence INTEGER PRIMARY KEY AUTOINCREMENT,
    client_id TEXT NOT NULL,
    message_id INTEGER NOT NULL,
    packet_id INTEGER NOT NULL,
    state INTEGER NOT NULL,
    qos INTEGER NOT NULL,
    retain INTEGER NOT NULL,
    subscription_ids BLOB NOT NULL
);
CREATE INDEX queue_by_client ON queue (client_id, sequence);
CREATE TABLE inbound_qos2 (
    client_id TEXT NOT NULL,
    packet_id INTEGER NOT NULL,
    PRIMARY KEY (client_id, packet_id)
) WITHOUT ROWID;
CREATE TABLE retained (
    topic TEXT PRIMARY KEY,
    message_id INTEGER NOT NULL,
    payload BLOB NOT NULL,
    qos INTEGER NOT NULL,
    properties BLOB NOT NULL,
    expiry_unix_ms INTEGER NOT NULL,
    created_unix_ms INTEGER NOT NULL
) WITHOUT ROWID;
)sql";

// Version 2: the session keeps the next packet identifier of its in-flight window; an index
// finds the queue entries of a message (reference counting on ack) without a scan, and one finds
// expiring messages.
constexpr std::string_view version_2 = R"sql(
ALTER TABLE sessions ADD COLUMN next_packet_id INTEGER NOT NULL DEFAULT 1;
CREATE INDEX queue_by_message ON queue (message_id);
CREATE INDEX messages_by_expiry ON messages (expiry_unix_ms) WHERE expiry_unix_ms != 0;
)sql";

// Version 3: the chat layer. The directory (users, rooms, members) with a one-row counter that
// every directory change increments, so that a process can see that another one changed it; the
// history of each conversation with the highest id it ever reached (kept when retention deletes
// the rows, so ids never go back); each user's read positions. Written so that running it twice
// is harmless: two processes opening an old file at once may both try it.
constexpr std::string_view version_3 = R"sql(
CREATE TABLE IF NOT EXISTS chat_users (
    name TEXT PRIMARY KEY,
    password_hash TEXT NOT NULL,
    created_unix_ms INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS chat_rooms (
    name TEXT PRIMARY KEY,
    created_by TEXT NOT NULL,
    created_unix_ms INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS chat_members (
    room TEXT NOT NULL,
    user TEXT NOT NULL,
    PRIMARY KEY (room, user)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS chat_members_by_user ON chat_members (user);
CREATE TABLE IF NOT EXISTS chat_directory_version (
    row INTEGER PRIMARY KEY CHECK (row = 0),
    version INTEGER NOT NULL
);
INSERT OR IGNORE INTO chat_directory_version VALUES (0, 0);
CREATE TABLE IF NOT EXISTS chat_conversations (
    conversation TEXT PRIMARY KEY,
    last_id INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS chat_history (
    conversation TEXT NOT NULL,
    id INTEGER NOT NULL,
    sender TEXT NOT NULL,
    topic TEXT NOT NULL,
    ts_unix_ms INTEGER NOT NULL,
    payload BLOB NOT NULL,
    PRIMARY KEY (conversation, id)
);
CREATE INDEX IF NOT EXISTS chat_history_by_ts ON chat_history (ts_unix_ms);
CREATE TABLE IF NOT EXISTS chat_read_positions (
    user TEXT NOT NULL,
    conversation TEXT NOT NULL,
    id INTEGER NOT NULL,
    PRIMARY KEY (user, conversation)
) WITHOUT ROWID;
)sql";

// Version 4: fewer pages written per queued message. The queue is keyed by (client_id, sequence)
// WITHOUT ROWID, which makes queue_by_client redundant; queue_by_message goes (the store counts
// each message's queue entries in memory); messages lose AUTOINCREMENT, whose sqlite_sequence
// row was rewritten by every commit (the store assigns identifiers itself, above the highest
// found at open). Sessions record when their connection ended, from which a will's delay counts.
// Each table is copied into a new one that replaces it, so that running this twice is harmless.
constexpr std::string_view version_4 = R"sql(
CREATE TABLE IF NOT EXISTS sessions_v4 (
    client_id TEXT PRIMARY KEY,
    protocol_level INTEGER NOT NULL,
    session_expiry_interval_s INTEGER NOT NULL,
    expires_at_unix_ms INTEGER NOT NULL,
    will_topic TEXT,
    will_payload BLOB,
    will_qos INTEGER,
    will_retain INTEGER,
    will_properties BLOB,
    will_delay_interval_s INTEGER,
    next_packet_id INTEGER NOT NULL DEFAULT 1,
    disconnected_at_unix_ms INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
INSERT OR IGNORE INTO sessions_v4 (client_id, protocol_level, session_expiry_interval_s,
    expires_at_unix_ms, will_topic, will_payload, will_qos, will_retain, will_properties,
    will_delay_interval_s, next_packet_id)
    SELECT client_id, protocol_level, session_expiry_interval_s, expires_at_unix_ms, will_topic,
    will_payload, will_qos, will_retain, will_properties, will_delay_interval_s, next_packet_id
    FROM sessions;
DROP TABLE sessions;
ALTER TABLE sessions_v4 RENAME TO sessions;
CREATE TABLE IF NOT EXISTS messages_v4 (
    message_id INTEGER PRIMARY KEY,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    qos INTEGER NOT NULL,
    retain INTEGER NOT NULL,
    properties BLOB NOT NULL,
    expiry_unix_ms INTEGER NOT NULL,
    created_unix_ms INTEGER NOT NULL
);
INSERT OR IGNORE INTO messages_v4 SELECT message_id, topic, payload, qos, retain, properties,
    expiry_unix_ms, created_unix_ms FROM messages;
DROP TABLE messages;
ALTER TABLE messages_v4 RENAME TO messages;
CREATE INDEX IF NOT EXISTS messages_by_expiry ON messages (expiry_unix_ms)
    WHERE expiry_unix_ms != 0;
CREATE TABLE IF NOT EXISTS queue_v4 (
    client_id TEXT NOT NULL,
    sequence INTEGER NOT NULL,
    message_id INTEGER NOT NULL,
    packet_id INTEGER NOT NULL,
    state INTEGER NOT NULL,
    qos INTEGER NOT NULL,
    retain INTEGER NOT NULL,
    subscription_ids BLOB NOT NULL,
    PRIMARY KEY (client_id, sequence)
) WITHOUT ROWID;
INSERT OR IGNORE INTO queue_v4 SELECT client_id, sequence, message_id, packet_id, state, qos,
    retain, subscription_ids FROM queue;
DROP TABLE queue;
ALTER TABLE queue_v4 RENAME TO queue;
)sql";

// Version 5: a session records its owner (the chat user, or '' outside the chat layer), so that
// a session is never given to another identity, after a restart included. NULL: stored before.
constexpr std::string_view version_5 = R"sql(
ALTER TABLE sessions ADD COLUMN owner TEXT;
)sql";

// Version 6: device tokens, a hash per (user, device) that a device presents instead of the
// password. Written so that running it twice is harmless.
constexpr std::string_view version_6 = R"sql(
CREATE TABLE IF NOT EXISTS chat_device_tokens (
    user TEXT NOT NULL,
    device TEXT NOT NULL,
    token_hash TEXT NOT NULL,
    created_unix_ms INTEGER NOT NULL,
    PRIMARY KEY (user, device)
) WITHOUT ROWID;
)sql";

// Version 7: persistent chat sessions catch up from history instead of holding a queue entry per
// chat message: a cursor per (session, conversation) and a baseline time per session for the
// conversations it has no cursor for (docs/DURABILITY.md "Chat messages"). Sessions stored before
// get the upgrade's time as their baseline: what they were owed is in their queue rows. Written
// so that running it twice is harmless.
constexpr std::string_view version_7 = R"sql(
CREATE TABLE IF NOT EXISTS chat_session_cursors (
    client_id TEXT NOT NULL,
    conversation TEXT NOT NULL,
    id INTEGER NOT NULL,
    PRIMARY KEY (client_id, conversation)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS chat_session_baselines (
    client_id TEXT PRIMARY KEY,
    baseline_unix_ms INTEGER NOT NULL
) WITHOUT ROWID;
INSERT OR IGNORE INTO chat_session_baselines (client_id, baseline_unix_ms)
    SELECT client_id, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER) FROM sessions
    WHERE owner IS NULL OR owner != '';
)sql";

// Version 8: bans (by user name, client id, or address or CIDR block, with an optional expiry)
// and topic access rules held in the store beside the acl_file (docs/ACCESS.md). Both are part of
// the directory: a change moves its version. Written so that running it twice is harmless.
constexpr std::string_view version_8 = R"sql(
CREATE TABLE IF NOT EXISTS bans (
    kind INTEGER NOT NULL,
    value TEXT NOT NULL,
    reason TEXT NOT NULL,
    created_unix_ms INTEGER NOT NULL,
    expires_unix_ms INTEGER NOT NULL,
    PRIMARY KEY (kind, value)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS acl_rules (
    scope INTEGER NOT NULL,
    user TEXT NOT NULL,
    filter TEXT NOT NULL,
    access TEXT NOT NULL,
    created_unix_ms INTEGER NOT NULL,
    PRIMARY KEY (scope, user, filter)
) WITHOUT ROWID;
)sql";

// Version 9: room rules and moderation (docs/CHAT.md "Room rules"). Rooms get a visibility
// (0 public, 1 private), a history visibility for newcomers (0 shared, 1 from their join), a
// display name and a topic; members a role (0 member, 1 admin, 2 owner), a mute and their join
// point. Rooms written before are public with shared history, and their creator is their owner.
// Per-room bans, pending invitations and the audit log are new tables.
constexpr std::string_view version_9 = R"sql(
ALTER TABLE chat_rooms ADD COLUMN visibility INTEGER NOT NULL DEFAULT 0;
ALTER TABLE chat_rooms ADD COLUMN history_visibility INTEGER NOT NULL DEFAULT 0;
ALTER TABLE chat_rooms ADD COLUMN display_name TEXT NOT NULL DEFAULT '';
ALTER TABLE chat_rooms ADD COLUMN topic TEXT NOT NULL DEFAULT '';
ALTER TABLE chat_members ADD COLUMN role INTEGER NOT NULL DEFAULT 0;
ALTER TABLE chat_members ADD COLUMN muted INTEGER NOT NULL DEFAULT 0;
ALTER TABLE chat_members ADD COLUMN joined_after_id INTEGER NOT NULL DEFAULT 0;
UPDATE chat_members SET role = 2 WHERE EXISTS (SELECT 1 FROM chat_rooms
    WHERE chat_rooms.name = chat_members.room AND chat_rooms.created_by = chat_members.user);
CREATE TABLE IF NOT EXISTS chat_room_bans (
    room TEXT NOT NULL,
    user TEXT NOT NULL,
    by_user TEXT NOT NULL,
    created_unix_ms INTEGER NOT NULL,
    PRIMARY KEY (room, user)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS chat_invitations (
    room TEXT NOT NULL,
    user TEXT NOT NULL,
    by_user TEXT NOT NULL,
    created_unix_ms INTEGER NOT NULL,
    PRIMARY KEY (room, user)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS chat_invitations_by_user ON chat_invitations (user);
CREATE TABLE IF NOT EXISTS chat_audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ts_unix_ms INTEGER NOT NULL,
    room TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS chat_audit_by_room ON chat_audit (room, id);
)sql";

// Version 10: history keeps what a message answers (`reply_to`) and the events that change a
// message (docs/CHAT.md "Edits, deletes and reactions"): an event row names its target (`of_id`)
// and its kind (`event`: 1 edit, 2 deletion, 3/4 reaction added/removed; 0 for a message); the
// target row holds the final state (payload, `edited_unix_ms`, `is_deleted`), reactions their own
// table. A message row grows by five zero integers, one header byte each. The partial index finds
// the edits of a deleted message, whose payloads go with it.
constexpr std::string_view version_10 = R"sql(
ALTER TABLE chat_history ADD COLUMN reply_to INTEGER NOT NULL DEFAULT 0;
ALTER TABLE chat_history ADD COLUMN event INTEGER NOT NULL DEFAULT 0;
ALTER TABLE chat_history ADD COLUMN of_id INTEGER NOT NULL DEFAULT 0;
ALTER TABLE chat_history ADD COLUMN edited_unix_ms INTEGER NOT NULL DEFAULT 0;
ALTER TABLE chat_history ADD COLUMN is_deleted INTEGER NOT NULL DEFAULT 0;
CREATE INDEX IF NOT EXISTS chat_history_edits ON chat_history (conversation, of_id)
    WHERE event = 1;
CREATE TABLE IF NOT EXISTS chat_reactions (
    conversation TEXT NOT NULL,
    id INTEGER NOT NULL,
    emoji TEXT NOT NULL,
    user TEXT NOT NULL,
    PRIMARY KEY (conversation, id, emoji, user)
) WITHOUT ROWID;
)sql";

// Version 11: full-text search over history (docs/CHAT.md "Search", docs/DECISIONS.md). An FTS5
// index with external content: chat_history holds the text once, the index only its terms,
// keyed by chat_history's rowid. Filled from the history written before, then kept by the
// triggers of search_triggers (repeated here: a migration stays as released). Running it twice is
// harmless (the fill empties the index first).
constexpr std::string_view version_11 = R"sql(
CREATE VIRTUAL TABLE IF NOT EXISTS chat_search USING fts5 (payload, content = 'chat_history',
    content_rowid = 'rowid', tokenize = 'unicode61 remove_diacritics 2');
CREATE TRIGGER IF NOT EXISTS chat_search_insert AFTER INSERT ON chat_history
    WHEN new.event = 0 AND new.is_deleted = 0 BEGIN
    INSERT INTO chat_search (rowid, payload) VALUES (new.rowid, new.payload);
END;
CREATE TRIGGER IF NOT EXISTS chat_search_delete AFTER DELETE ON chat_history
    WHEN old.event = 0 AND old.is_deleted = 0 BEGIN
    INSERT INTO chat_search (chat_search, rowid, payload) VALUES ('delete', old.rowid, old.payload);
END;
CREATE TRIGGER IF NOT EXISTS chat_search_update AFTER UPDATE OF payload, is_deleted ON chat_history
    WHEN old.event = 0 BEGIN
    INSERT INTO chat_search (chat_search, rowid, payload)
        SELECT 'delete', old.rowid, old.payload WHERE old.is_deleted = 0;
    INSERT INTO chat_search (rowid, payload) SELECT new.rowid, new.payload WHERE new.is_deleted = 0;
END;
INSERT INTO chat_search (chat_search) VALUES ('delete-all');
INSERT INTO chat_search (rowid, payload)
    SELECT rowid, payload FROM chat_history WHERE event = 0 AND is_deleted = 0;
)sql";

// Version 12: uploaded files (docs/CHAT.md "Files"). A file's record, and the messages that
// reference it; a reference leaves with its message, when the message is deleted (op delete marks
// it) or its row goes (retention, a deleted room), by triggers in the same transaction. Self-
// contained: it reads and writes only tables of its own and chat_history's stable columns.
constexpr std::string_view version_12 = R"sql(
CREATE TABLE IF NOT EXISTS chat_files (
    id TEXT PRIMARY KEY NOT NULL,
    owner TEXT NOT NULL,
    size INTEGER NOT NULL,
    content_type TEXT NOT NULL,
    name TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    created_unix_ms INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS chat_files_created ON chat_files (created_unix_ms);
CREATE TABLE IF NOT EXISTS chat_file_refs (
    file_id TEXT NOT NULL,
    conversation TEXT NOT NULL,
    message_id INTEGER NOT NULL,
    PRIMARY KEY (file_id, conversation, message_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS chat_file_refs_message ON chat_file_refs (conversation, message_id);
CREATE TRIGGER IF NOT EXISTS chat_file_refs_pruned AFTER DELETE ON chat_history BEGIN
    DELETE FROM chat_file_refs WHERE conversation = old.conversation AND message_id = old.id;
END;
CREATE TRIGGER IF NOT EXISTS chat_file_refs_deleted AFTER UPDATE OF is_deleted ON chat_history
    WHEN new.is_deleted != 0 BEGIN
    DELETE FROM chat_file_refs WHERE conversation = old.conversation AND message_id = old.id;
END;
)sql";

// Version 13: Web Push (docs/CHAT.md "Web Push"): a subscription per (user, device), found by
// user to send and by endpoint when its push service reports it gone, and each user's preview
// setting. Written so that running it twice is harmless; self-contained, so that it applies after
// any version from 11.
constexpr std::string_view version_13 = R"sql(
CREATE TABLE IF NOT EXISTS chat_push_subscriptions (
    user TEXT NOT NULL,
    device TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    p256dh TEXT NOT NULL,
    auth TEXT NOT NULL,
    created_unix_ms INTEGER NOT NULL,
    last_error TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (user, device)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS chat_push_subscriptions_endpoint
    ON chat_push_subscriptions (endpoint);
CREATE TABLE IF NOT EXISTS chat_push_settings (
    user TEXT PRIMARY KEY,
    is_preview_allowed INTEGER NOT NULL
) WITHOUT ROWID;
)sql";

// Version 14: the admin flag of users (docs/ADMIN.md): who may use the admin page and the HTTP
// admin API, a row per admin; every existing user starts without it. A table of its own rather
// than a column, so that running it twice is harmless.
constexpr std::string_view version_14 = R"sql(
CREATE TABLE IF NOT EXISTS chat_admins (
    user TEXT PRIMARY KEY NOT NULL
) WITHOUT ROWID;
)sql";

// Version 15: the search index in batches (docs/DECISIONS.md "Search index in batches"): the rows
// of chat_history up to `indexed_upto` (a rowid) are indexed, those above it wait for the next
// batch and a search reads them directly. Everything written so far was indexed by version 11's
// triggers, which migrate_schema then replaces (search_index.cpp) when the index is on.
constexpr std::string_view version_15 = R"sql(
CREATE TABLE IF NOT EXISTS chat_search_state (
    row INTEGER PRIMARY KEY CHECK (row = 0),
    indexed_upto INTEGER NOT NULL
);
INSERT OR IGNORE INTO chat_search_state (row, indexed_upto)
    VALUES (0, ifnull((SELECT max(rowid) FROM chat_history), 0));
)sql";

// Version 16: fewer pages written per chat message (docs/DECISIONS.md "History without an index
// by time"). chat_history loses its index by time, whose last leaf every group commit rewrote:
// retention finds its cut by a binary search over rowids instead (history_age_bound.hpp), since
// rows are appended in time order. Running it twice is harmless.
constexpr std::string_view version_16 = R"sql(
DROP INDEX IF EXISTS chat_history_by_ts;
)sql";

constexpr std::array<std::string_view, current_schema_version> migrations = {
    version_1, version_2,  version_3,  version_4,  version_5,  version_6,  version_7,  version_8,
    version_9, version_10, version_11, version_12, version_13, version_14, version_15, version_16};

} // namespace

int schema_version(database& connection) {
    return static_cast<int>(connection.query_integer("PRAGMA user_version"));
}

void migrate_schema(database& connection, int target_version) {
    const int found = schema_version(connection);
    if (found > current_schema_version) {
        throw sqlite_error(connection.path() + ": schema version " + std::to_string(found) +
                               " is newer than this build's " +
                               std::to_string(current_schema_version),
                           SQLITE_ERROR);
    }
    for (int version = found + 1; version <= target_version; ++version) {
        connection.execute("BEGIN IMMEDIATE");
        try {
            // Another process (the gateway, `perch user`) may have migrated while this one
            // waited for the lock: the version read under the lock decides.
            if (schema_version(connection) >= version) {
                connection.execute("COMMIT");
                continue;
            }
            connection.execute(migrations[static_cast<std::size_t>(version - 1)]);
            if (version == 15) {
                // The one step SQL cannot say: new triggers only where the index was on.
                replace_search_triggers(connection);
            }
            connection.execute("PRAGMA user_version = " + std::to_string(version));
            connection.execute("COMMIT");
        } catch (...) {
            sqlite3_exec(connection.handle(), "ROLLBACK", nullptr, nullptr, nullptr);
            throw;
        }
    }
}

} // namespace perch::store::sqlite
