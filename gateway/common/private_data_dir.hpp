// The data directory kept to its owner: the database holds the password hashes and all chat
// history, so the folder is 0700 and the database with its -wal and -shm files 0600.
// Knows nothing about SQLite beyond the names of its side files.
//
// SQLite creates the -wal and -shm files with the mode of the database file, so a database that
// exists with 0600 before SQLite opens it keeps all three private whatever the umask. Files left
// readable by an older version are tightened, and the caller is told which, to log it.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace perch::gateway {

/// Creates `data_dir` (and its parents) when missing and makes it 0700; creates the database
/// `data_dir / store_file_name` empty with mode 0600 when missing; takes every permission
/// beyond the owner's off the directory, the database and its -wal, -shm and -journal files that
/// exist. Returns a line for each path that was loose, to log: "PATH: 0644 -> 0600", or
/// "PATH: 0755, cannot restrict it: REASON" when it belongs to someone else; empty when nothing
/// was loose. Throws std::runtime_error naming the path when the directory or the database
/// cannot be created or examined.
std::vector<std::string> prepare_private_data_dir(const std::filesystem::path& data_dir,
                                                  std::string_view store_file_name);

} // namespace perch::gateway
