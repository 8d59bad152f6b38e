// Creating and tightening the data directory and the database files in it.
#include "gateway/common/private_data_dir.hpp"

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <system_error>

#include <fmt/format.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace perch::gateway {
namespace {

constexpr mode_t private_directory_mode = S_IRWXU;
constexpr mode_t private_file_mode = S_IRUSR | S_IWUSR;

[[noreturn]] void fail(const std::filesystem::path& path, std::string_view what, int error) {
    throw std::runtime_error(
        fmt::format("{}: cannot {}: {}", path.string(), what, std::strerror(error)));
}

/// Takes from `path` every permission outside `allowed`; appends a line to `tightened` when some
/// were there. A path that does not exist is left alone.
void tighten(const std::filesystem::path& path, mode_t allowed,
             std::vector<std::string>& tightened) {
    struct stat status {};
    if (::stat(path.c_str(), &status) != 0) {
        if (errno == ENOENT) {
            return;
        }
        fail(path, "read its permissions", errno);
    }
    const mode_t mode = status.st_mode & 07777;
    if ((mode & ~allowed) == 0) {
        return;
    }
    const mode_t wanted = mode & allowed;
    if (::chmod(path.c_str(), wanted) != 0) {
        // Another owner (a folder an administrator made): reported, not fatal; the files this
        // process creates inside are private all the same.
        tightened.push_back(fmt::format("{}: {:04o}, cannot restrict it: {}", path.string(), mode,
                                        std::strerror(errno)));
        return;
    }
    tightened.push_back(fmt::format("{}: {:04o} -> {:04o}", path.string(), mode, wanted));
}

} // namespace

std::vector<std::string> prepare_private_data_dir(const std::filesystem::path& data_dir,
                                                  std::string_view store_file_name) {
    std::error_code error;
    if (!std::filesystem::is_directory(data_dir, error)) {
        std::filesystem::create_directories(data_dir, error);
        if (error) {
            throw std::runtime_error(
                fmt::format("cannot create data_dir '{}': {}", data_dir.string(), error.message()));
        }
        // Created now: private from the start, not reported as tightened.
        if (::chmod(data_dir.c_str(), private_directory_mode) != 0) {
            fail(data_dir, "restrict its permissions", errno);
        }
    }
    std::vector<std::string> tightened;
    tighten(data_dir, private_directory_mode, tightened);

    const std::filesystem::path database = data_dir / store_file_name;
    // O_EXCL: an existing database is never truncated; its mode is tightened below.
    const int created =
        ::open(database.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, private_file_mode);
    if (created >= 0) {
        ::close(created);
    } else if (errno != EEXIST) {
        fail(database, "create it", errno);
    }
    for (const char* suffix : {"", "-wal", "-shm", "-journal"}) {
        tighten(database.string() + suffix, private_file_mode, tightened);
    }
    return tightened;
}

} // namespace perch::gateway
