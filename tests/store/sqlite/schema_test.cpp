// Tests of the versioned schema: new files start at the current version, older files are
// migrated at open with their rows kept, newer files are refused.
#include <gtest/gtest.h>

#include "store/sqlite/schema.hpp"
#include "store/sqlite/sqlite_message_store.hpp"

#include "store_test_support.hpp"
#include <sqlite3.h>

namespace perch::store::sqlite {
namespace {

using namespace testing_support;

constexpr int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;

store_options options_for(const temporary_database& file) {
    store_options options;
    options.path = file.path();
    options.commit_interval_ms = 1;
    return options;
}

TEST(Schema, NewDatabaseIsCreatedAtTheCurrentVersion) {
    temporary_database file;
    { sqlite_message_store store(options_for(file)); }
    database connection(file.path(), flags);
    EXPECT_EQ(schema_version(connection), current_schema_version);
}

TEST(Schema, MigrationStopsAtTheTargetVersion) {
    temporary_database file;
    database connection(file.path(), flags);
    migrate_schema(connection, 1);
    EXPECT_EQ(schema_version(connection), 1);
    EXPECT_EQ(
        connection.query_integer(
            "SELECT count(*) FROM pragma_table_info('sessions') WHERE name = 'next_packet_id'"),
        0);
    migrate_schema(connection);
    EXPECT_EQ(schema_version(connection), current_schema_version);
    EXPECT_EQ(
        connection.query_integer(
            "SELECT count(*) FROM pragma_table_info('sessions') WHERE name = 'next_packet_id'"),
        1);
}

TEST(Schema, VersionOneDatabaseIsMigratedAtOpenKeepingItsRows) {
    temporary_database file;
    {
        database connection(file.path(), flags);
        migrate_schema(connection, 1);
        connection.execute(
            "INSERT INTO sessions (client_id, protocol_level, session_expiry_interval_s, "
            "expires_at_unix_ms) VALUES ('alice', 5, 600, 0);"
            "INSERT INTO subscriptions VALUES ('alice', 'chat/dm/alice/+', 1, 0);"
            "INSERT INTO messages VALUES (3, 'chat/dm/alice/bob', x'6869', 1, 0, x'', 0, 17);"
            "INSERT INTO queue VALUES (9, 'alice', 3, 0, 0, 1, 0, x'');"
            "INSERT INTO retained VALUES ('r', 0, x'31', 0, x'', 0, 0);");
    }
    sqlite_message_store store(options_for(file));
    const loaded_state state = store.load(0);
    ASSERT_EQ(state.sessions.size(), 1u);
    EXPECT_EQ(state.sessions[0].session.session_expiry_interval_s, 600u);
    EXPECT_EQ(state.sessions[0].session.next_packet_id, 1u);
    ASSERT_EQ(state.sessions[0].subscriptions.size(), 1u);
    ASSERT_EQ(state.sessions[0].queue.size(), 1u);
    EXPECT_EQ(state.sessions[0].queue[0].entry.sequence, 9u);
    EXPECT_EQ(state.sessions[0].queue[0].message->payload, bytes_of("hi"));
    ASSERT_EQ(state.retained.size(), 1u);
    // Identifiers continue above the migrated rows.
    message_store& as_interface = store;
    const auto receipt = as_interface.enqueue({target("alice")}, make_message("t", "next"));
    EXPECT_GT(receipt.message_id, 3u);
    EXPECT_GT(receipt.sequences[0], 9u);
}

TEST(Schema, NewerSchemaIsRefusedNamingBothVersions) {
    temporary_database file;
    {
        database connection(file.path(), flags);
        connection.execute("PRAGMA user_version = 99");
    }
    try {
        sqlite_message_store store(options_for(file));
        FAIL() << "opened a database with a newer schema";
    } catch (const store_open_error& error) {
        const std::string what = error.what();
        EXPECT_NE(what.find(file.path()), std::string::npos) << what;
        EXPECT_NE(what.find("99"), std::string::npos) << what;
        EXPECT_NE(what.find(std::to_string(current_schema_version)), std::string::npos) << what;
    }
}

} // namespace
} // namespace perch::store::sqlite
