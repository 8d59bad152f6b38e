// The store's tables, one migration per schema version. A migration is never edited once
// released: a change is a new migration at the end of the list.
#include "store/sqlite/schema.hpp"

#include <array>
#include <string>
#include <string_view>

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

constexpr std::array<std::string_view, current_schema_version> migrations = {version_1, version_2};

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
            connection.execute(migrations[static_cast<std::size_t>(version - 1)]);
            connection.execute("PRAGMA user_version = " + std::to_string(version));
            connection.execute("COMMIT");
        } catch (...) {
            sqlite3_exec(connection.handle(), "ROLLBACK", nullptr, nullptr, nullptr);
            throw;
        }
    }
}

} // namespace perch::store::sqlite
