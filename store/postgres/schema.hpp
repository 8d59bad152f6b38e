// The chat store's tables in PostgreSQL, created at open and migrated by version.
#pragma once

namespace perch::store::postgres {

class connection;

/// The schema version this build writes.
inline constexpr int current_schema_version = 2;

/// Creates the tables, or migrates them from an older version, in one transaction under an
/// advisory lock, so that gateways opening the same database at once apply it once. Throws
/// postgres_error when it fails, or when the database is at a version newer than this build's.
void migrate_schema(connection& database);

} // namespace perch::store::postgres
