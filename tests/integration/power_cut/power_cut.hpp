// A power cut for a broker run in the tests: the broker's writes are journaled by the preloaded
// library unsynced_writes.cpp, and after the broker is killed every file it wrote under its data
// directory is rolled back to its last fsync, as a machine that lost power would find it.
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>
#include <vector>

namespace perch::integration {

/// What a power cut took back.
struct power_cut_result {
    /// Writes and truncations the journal recorded, synced or not.
    std::size_t writes_journaled = 0;
    /// Writes and truncations made after their file's last fsync, undone.
    std::size_t writes_undone = 0;
    /// Files changed by the roll-back.
    std::size_t files_rolled_back = 0;
};

/// Journals the writes a broker makes under `data_directory` into a file under
/// `journal_directory`, and rolls them back on cut().
class power_cut_journal {
public:
    power_cut_journal(const std::filesystem::path& data_directory,
                      const std::filesystem::path& journal_directory);

    /// Environment entries ("NAME=value") for the broker's process: the preloaded library and
    /// where it writes. The broker must be started with them for cut() to mean anything.
    std::vector<std::string> environment() const;

    /// The power cut, once the broker is dead (kill -9): rolls every journaled file back to its
    /// last fsync and empties the journal for the next run. Throws std::runtime_error when the
    /// journal or a file cannot be read or written.
    power_cut_result cut();

private:
    std::filesystem::path data_directory_;
    std::filesystem::path journal_path_;
};

} // namespace perch::integration
