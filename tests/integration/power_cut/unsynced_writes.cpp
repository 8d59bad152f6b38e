// A library preloaded into the broker (LD_PRELOAD) that keeps what a power cut would take back:
// before each write or truncation of a file under PERCH_POWER_CUT_DIRECTORY, the bytes and size it
// replaces are appended to the journal PERCH_POWER_CUT_JOURNAL; an fsync or fdatasync of the file
// marks everything before it as kept. After a kill -9, power_cut.hpp rolls every file back to its
// last sync from that journal: the disk as the kernel's lost page cache would leave it.
//
// Journal records, in the order the writes happened (native byte order):
//   'U' u32 path_length, path, u64 offset, u64 size_before, u32 old_length, old bytes
//   'S' u32 path_length, path
// SQLite's shared-memory index (`-shm`) is not tracked: SQLite rebuilds it from the WAL.
#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

namespace {

using pwrite_function = ssize_t (*)(int, const void*, size_t, off_t);
using write_function = ssize_t (*)(int, const void*, size_t);
using writev_function = ssize_t (*)(int, const struct iovec*, int);
using truncate_function = int (*)(int, off_t);
using sync_function = int (*)(int);

pthread_mutex_t journal_mutex = PTHREAD_MUTEX_INITIALIZER;
int journal_descriptor = -1;

template <typename Function> Function next_symbol(const char* name) {
    return reinterpret_cast<Function>(dlsym(RTLD_NEXT, name));
}

/// The watched directory with a trailing slash, or empty when tracking is off.
const std::string& watched_directory() {
    static const std::string directory = [] {
        const char* text = std::getenv("PERCH_POWER_CUT_DIRECTORY");
        std::string value = text != nullptr ? text : "";
        if (!value.empty() && value.back() != '/') {
            value.push_back('/');
        }
        return value;
    }();
    return directory;
}

/// The path of `descriptor` when it is a regular file the journal tracks; empty otherwise.
std::string tracked_path(int descriptor) {
    const std::string& directory = watched_directory();
    if (directory.empty()) {
        return {};
    }
    char link[64];
    std::snprintf(link, sizeof(link), "/proc/self/fd/%d", descriptor);
    char target[4096];
    const ssize_t length = ::readlink(link, target, sizeof(target));
    if (length <= 0 || static_cast<std::size_t>(length) >= sizeof(target)) {
        return {};
    }
    const std::string_view path(target, static_cast<std::size_t>(length));
    if (!path.starts_with(directory) || path.ends_with("-shm")) {
        return {};
    }
    struct stat status {};
    if (::fstat(descriptor, &status) != 0 || !S_ISREG(status.st_mode)) {
        return {};
    }
    return std::string(path);
}

/// Writes `bytes` to the journal whole (through the system call, never through this library).
void append_to_journal(const std::vector<char>& bytes) {
    if (journal_descriptor < 0) {
        const char* path = std::getenv("PERCH_POWER_CUT_JOURNAL");
        if (path == nullptr) {
            return;
        }
        journal_descriptor = static_cast<int>(
            ::syscall(SYS_openat, AT_FDCWD, path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
        if (journal_descriptor < 0) {
            std::abort();
        }
    }
    std::size_t done = 0;
    while (done < bytes.size()) {
        const auto written = static_cast<ssize_t>(
            ::syscall(SYS_write, journal_descriptor, bytes.data() + done, bytes.size() - done));
        if (written <= 0) {
            if (written < 0 && errno == EINTR) {
                continue;
            }
            // A journal that misses a record would make the cut keep what it should take back.
            std::abort();
        }
        done += static_cast<std::size_t>(written);
    }
}

template <typename Value> void put(std::vector<char>& out, Value value) {
    const auto* bytes = reinterpret_cast<const char*>(&value);
    out.insert(out.end(), bytes, bytes + sizeof(value));
}

void put_path(std::vector<char>& out, char kind, const std::string& path) {
    out.push_back(kind);
    put(out, static_cast<std::uint32_t>(path.size()));
    out.insert(out.end(), path.begin(), path.end());
}

/// Journals what a change of [offset, offset + length) or a truncation to `offset` (length 0,
/// is_truncation) replaces in the file behind `descriptor`. Call with journal_mutex held.
void record_undo(int descriptor, const std::string& path, std::uint64_t offset,
                 std::uint64_t length, bool is_truncation) {
    struct stat status {};
    if (::fstat(descriptor, &status) != 0) {
        return;
    }
    const auto size_before = static_cast<std::uint64_t>(status.st_size);
    const std::uint64_t end = is_truncation ? size_before : offset + length;
    std::vector<char> old_bytes;
    if (offset < size_before && end > offset) {
        old_bytes.resize(static_cast<std::size_t>(std::min(end, size_before) - offset));
        // Read through the path: the descriptor may be write-only.
        const int reader = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
        if (reader < 0) {
            std::abort();
        }
        std::size_t done = 0;
        while (done < old_bytes.size()) {
            const ssize_t got = ::pread(reader, old_bytes.data() + done, old_bytes.size() - done,
                                        static_cast<off_t>(offset + done));
            if (got <= 0) {
                break;
            }
            done += static_cast<std::size_t>(got);
        }
        old_bytes.resize(done);
        ::close(reader);
    }
    std::vector<char> record;
    put_path(record, 'U', path);
    put(record, offset);
    put(record, size_before);
    put(record, static_cast<std::uint32_t>(old_bytes.size()));
    record.insert(record.end(), old_bytes.begin(), old_bytes.end());
    append_to_journal(record);
}

class journal_lock {
public:
    journal_lock() { pthread_mutex_lock(&journal_mutex); }
    ~journal_lock() { pthread_mutex_unlock(&journal_mutex); }
    journal_lock(const journal_lock&) = delete;
    journal_lock& operator=(const journal_lock&) = delete;
};

ssize_t positioned_write(pwrite_function next, int descriptor, const void* buffer, size_t length,
                         off_t offset) {
    const std::string path = tracked_path(descriptor);
    if (path.empty()) {
        return next(descriptor, buffer, length, offset);
    }
    const journal_lock lock;
    record_undo(descriptor, path, static_cast<std::uint64_t>(offset), length, false);
    return next(descriptor, buffer, length, offset);
}

int synchronize(sync_function next, int descriptor) {
    const std::string path = tracked_path(descriptor);
    if (path.empty()) {
        return next(descriptor);
    }
    const journal_lock lock;
    const int result = next(descriptor);
    if (result == 0) {
        std::vector<char> record;
        put_path(record, 'S', path);
        append_to_journal(record);
    }
    return result;
}

int truncate_descriptor(truncate_function next, int descriptor, off_t size) {
    const std::string path = tracked_path(descriptor);
    if (path.empty()) {
        return next(descriptor, size);
    }
    const journal_lock lock;
    record_undo(descriptor, path, static_cast<std::uint64_t>(size), 0, true);
    return next(descriptor, size);
}

} // namespace

// Each definition repeats the exception specification of the C library's declaration, which
// differs from one function to the next.
#define PERCH_AS_DECLARED(call) noexcept(noexcept(call))

extern "C" {

ssize_t pwrite(int descriptor, const void* buffer, size_t length, off_t offset)
    PERCH_AS_DECLARED(::pwrite(0, nullptr, 0, 0)) {
    static const auto next = next_symbol<pwrite_function>("pwrite");
    return positioned_write(next, descriptor, buffer, length, offset);
}

ssize_t pwrite64(int descriptor, const void* buffer, size_t length, off_t offset)
    PERCH_AS_DECLARED(::pwrite64(0, nullptr, 0, 0)) {
    static const auto next = next_symbol<pwrite_function>("pwrite64");
    return positioned_write(next, descriptor, buffer, length, offset);
}

ssize_t write(int descriptor, const void* buffer, size_t length)
    PERCH_AS_DECLARED(::write(0, nullptr, 0)) {
    static const auto next = next_symbol<write_function>("write");
    const std::string path = tracked_path(descriptor);
    if (path.empty()) {
        return next(descriptor, buffer, length);
    }
    const journal_lock lock;
    const off_t offset = ::lseek(descriptor, 0, SEEK_CUR);
    if (offset >= 0) {
        record_undo(descriptor, path, static_cast<std::uint64_t>(offset), length, false);
    }
    return next(descriptor, buffer, length);
}

ssize_t writev(int descriptor, const struct iovec* vectors, int count)
    PERCH_AS_DECLARED(::writev(0, nullptr, 0)) {
    static const auto next = next_symbol<writev_function>("writev");
    const std::string path = tracked_path(descriptor);
    if (path.empty()) {
        return next(descriptor, vectors, count);
    }
    const journal_lock lock;
    std::uint64_t length = 0;
    for (int index = 0; index < count; ++index) {
        length += vectors[index].iov_len;
    }
    const off_t offset = ::lseek(descriptor, 0, SEEK_CUR);
    if (offset >= 0) {
        record_undo(descriptor, path, static_cast<std::uint64_t>(offset), length, false);
    }
    return next(descriptor, vectors, count);
}

int ftruncate(int descriptor, off_t size) PERCH_AS_DECLARED(::ftruncate(0, 0)) {
    static const auto next = next_symbol<truncate_function>("ftruncate");
    return truncate_descriptor(next, descriptor, size);
}

int ftruncate64(int descriptor, off_t size) PERCH_AS_DECLARED(::ftruncate64(0, 0)) {
    static const auto next = next_symbol<truncate_function>("ftruncate64");
    return truncate_descriptor(next, descriptor, size);
}

int fsync(int descriptor) PERCH_AS_DECLARED(::fsync(0)) {
    static const auto next = next_symbol<sync_function>("fsync");
    return synchronize(next, descriptor);
}

int fdatasync(int descriptor) PERCH_AS_DECLARED(::fdatasync(0)) {
    static const auto next = next_symbol<sync_function>("fdatasync");
    return synchronize(next, descriptor);
}

} // extern "C"
