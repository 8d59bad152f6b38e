// The broker's pid file: written and locked at start, removed at a clean stop, checked by
// `perch reload`.
#include "gateway/program/pid_file.hpp"

#include <cerrno>
#include <charconv>
#include <csignal>
#include <cstring>
#include <stdexcept>
#include <string_view>
#include <system_error>

#include <fmt/format.h>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

namespace perch::gateway {

namespace {

/// The process id written in the file open at `descriptor`; 0 when it holds none.
pid_t read_pid(int descriptor) {
    char buffer[32] = {};
    const ssize_t count = ::pread(descriptor, buffer, sizeof(buffer) - 1, 0);
    if (count <= 0) {
        return 0;
    }
    std::string_view text(buffer, static_cast<std::size_t>(count));
    while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) {
        text.remove_suffix(1);
    }
    long value = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc() || end != text.data() + text.size() || value <= 0) {
        return 0;
    }
    return static_cast<pid_t>(value);
}

} // namespace

std::filesystem::path pid_file_path(const std::filesystem::path& data_dir) {
    return data_dir / "perch.pid";
}

pid_file::pid_file(std::filesystem::path path) : path_(std::move(path)) {
    std::error_code ignored;
    if (path_.has_parent_path()) {
        std::filesystem::create_directories(path_.parent_path(), ignored);
    }
    descriptor_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (descriptor_ < 0) {
        throw std::runtime_error(
            fmt::format("cannot write the pid file {}: {}", path_.string(), std::strerror(errno)));
    }
    if (::flock(descriptor_, LOCK_EX | LOCK_NB) != 0) {
        const pid_t holder = read_pid(descriptor_);
        ::close(descriptor_);
        descriptor_ = -1;
        throw std::runtime_error(fmt::format("the pid file {} is held by another running perch "
                                             "(pid {}) using the same data_dir",
                                             path_.string(), holder));
    }
    const std::string text = fmt::format("{}\n", ::getpid());
    if (::ftruncate(descriptor_, 0) != 0 ||
        ::pwrite(descriptor_, text.data(), text.size(), 0) != static_cast<ssize_t>(text.size())) {
        const int error = errno;
        ::close(descriptor_);
        descriptor_ = -1;
        throw std::runtime_error(
            fmt::format("cannot write the pid file {}: {}", path_.string(), std::strerror(error)));
    }
}

pid_file::~pid_file() {
    if (descriptor_ < 0) {
        return;
    }
    // Removed while still locked: a broker starting meanwhile makes a new file, never this one.
    std::error_code ignored;
    std::filesystem::remove(path_, ignored);
    ::close(descriptor_);
}

std::variant<pid_t, no_running_broker> find_running_broker(const std::filesystem::path& path) {
    const int descriptor = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (descriptor < 0) {
        return no_running_broker{
            fmt::format("no running broker found: {} does not exist (is perch running with this "
                        "data_dir?)",
                        path.string())};
    }
    if (::flock(descriptor, LOCK_SH | LOCK_NB) == 0) {
        // Nobody holds the broker's lock: the broker that wrote the file is gone.
        ::close(descriptor);
        return no_running_broker{
            fmt::format("no running broker found: {} is stale (the broker that wrote it has ended)",
                        path.string())};
    }
    const pid_t pid = read_pid(descriptor);
    ::close(descriptor);
    if (pid == 0) {
        return no_running_broker{
            fmt::format("no running broker found: {} holds no process id", path.string())};
    }
    if (::kill(pid, 0) != 0 && errno == ESRCH) {
        return no_running_broker{fmt::format(
            "no running broker found: process {} named in {} does not exist", pid, path.string())};
    }
    return pid;
}

} // namespace perch::gateway
