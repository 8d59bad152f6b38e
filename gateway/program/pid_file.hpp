// The pid file that lets `perch reload` find the running broker: data_dir/perch.pid, locked
// while the broker runs so that a file left by a killed broker is known to be stale.
#pragma once

#include <filesystem>
#include <string>
#include <variant>

#include <sys/types.h>

namespace perch::gateway {

/// The pid file of the running broker: "PID\n", held under an exclusive flock() from creation to
/// destruction, and removed at destruction (a clean stop). A broker killed with SIGKILL leaves
/// the file, but the kernel drops its lock, so find_running_broker tells it is stale.
class pid_file {
public:
    /// Creates `path` (and its directory), locks it and writes this process's id. Throws
    /// std::runtime_error naming the file when it cannot be written, or when another live
    /// process holds its lock (another broker uses the same data_dir).
    explicit pid_file(std::filesystem::path path);
    /// Removes the file, then releases the lock.
    ~pid_file();
    pid_file(const pid_file&) = delete;
    pid_file& operator=(const pid_file&) = delete;

    const std::filesystem::path& path() const { return path_; }

private:
    std::filesystem::path path_;
    int descriptor_ = -1;
};

/// The pid file in `data_dir`.
std::filesystem::path pid_file_path(const std::filesystem::path& data_dir);

/// Why no running broker was found; `message` is one line for stderr.
struct no_running_broker {
    std::string message;
};

/// The process id of the broker whose pid file is `path`: the file exists, its lock is held (by
/// the broker that wrote it), it holds a process id, and that process exists. Otherwise why not:
/// no file, a stale file (nobody holds the lock), or a process that is gone.
std::variant<pid_t, no_running_broker> find_running_broker(const std::filesystem::path& path);

} // namespace perch::gateway
