// The versioned SQLite schema of the store and its migrations. The version is PRAGMA
// user_version; migrations run in order at open, each in its own transaction.
#pragma once

#include "store/sqlite/database.hpp"

namespace perch::store::sqlite {

/// The schema version this build reads and writes.
inline constexpr int current_schema_version = 16;

/// The schema version of the open database (0 for a new, empty file).
int schema_version(database& connection);

/// Applies the migrations from the database's version up to `target_version`, each in one
/// transaction that also sets user_version. Throws sqlite_error when the file's version is newer
/// than this build knows (naming both versions) or a migration fails.
void migrate_schema(database& connection, int target_version = current_schema_version);

} // namespace perch::store::sqlite
