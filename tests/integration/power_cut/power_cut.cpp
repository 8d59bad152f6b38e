// Reads the journal of unsynced_writes.cpp and undoes, newest first, every write and truncation
// made after its file's last fsync.
#include "power_cut.hpp"

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <set>
#include <stdexcept>

#include <fcntl.h>
#include <unistd.h>

namespace perch::integration {
namespace {

/// One journal record: an undo entry ('U') or a sync mark ('S').
struct journal_record {
    char kind = 'U';
    std::string path;
    std::uint64_t offset = 0;
    std::uint64_t size_before = 0;
    std::string old_bytes;
};

class journal_reader {
public:
    explicit journal_reader(std::string bytes) : bytes_(std::move(bytes)) {}

    bool at_end() const { return position_ == bytes_.size(); }

    journal_record next() {
        journal_record record;
        record.kind = take(1)[0];
        record.path = take(number<std::uint32_t>());
        if (record.kind == 'U') {
            record.offset = number<std::uint64_t>();
            record.size_before = number<std::uint64_t>();
            record.old_bytes = take(number<std::uint32_t>());
        } else if (record.kind != 'S') {
            throw std::runtime_error("power cut journal: unknown record kind");
        }
        return record;
    }

private:
    std::string take(std::size_t length) {
        if (bytes_.size() - position_ < length) {
            // The broker died in the middle of a record: its write had not started either.
            throw std::out_of_range("power cut journal: truncated record");
        }
        std::string out = bytes_.substr(position_, length);
        position_ += length;
        return out;
    }

    template <typename Value> Value number() {
        const std::string raw = take(sizeof(Value));
        Value value{};
        std::memcpy(&value, raw.data(), sizeof(Value));
        return value;
    }

    std::string bytes_;
    std::size_t position_ = 0;
};

void roll_back(const journal_record& record) {
    const int descriptor = ::open(record.path.c_str(), O_WRONLY | O_CLOEXEC);
    if (descriptor < 0 && errno == ENOENT) {
        // Removed later by the broker itself (SQLite deletes its WAL at a clean close).
        return;
    }
    if (descriptor < 0) {
        throw std::runtime_error("power cut: cannot open " + record.path);
    }
    bool is_done = true;
    std::size_t written = 0;
    while (is_done && written < record.old_bytes.size()) {
        const ssize_t count = ::pwrite(descriptor, record.old_bytes.data() + written,
                                       record.old_bytes.size() - written,
                                       static_cast<off_t>(record.offset + written));
        is_done = count > 0;
        written += count > 0 ? static_cast<std::size_t>(count) : 0;
    }
    is_done = is_done && ::ftruncate(descriptor, static_cast<off_t>(record.size_before)) == 0;
    ::close(descriptor);
    if (!is_done) {
        throw std::runtime_error("power cut: cannot roll back " + record.path);
    }
}

} // namespace

power_cut_journal::power_cut_journal(const std::filesystem::path& data_directory,
                                     const std::filesystem::path& journal_directory)
    : data_directory_(std::filesystem::weakly_canonical(data_directory)),
      journal_path_(std::filesystem::weakly_canonical(journal_directory) / "power-cut.journal") {}

std::vector<std::string> power_cut_journal::environment() const {
    const char* sanitizer_options = std::getenv("ASAN_OPTIONS");
    std::string asan = "ASAN_OPTIONS=";
    if (sanitizer_options != nullptr && *sanitizer_options != '\0') {
        asan += std::string(sanitizer_options) + ":";
    }
    // The preloaded library comes before a sanitized broker's runtime in the load order.
    asan += "verify_asan_link_order=0";
    return {std::string("LD_PRELOAD=") + PERCH_POWER_CUT_LIBRARY,
            "PERCH_POWER_CUT_DIRECTORY=" + data_directory_.string(),
            "PERCH_POWER_CUT_JOURNAL=" + journal_path_.string(), asan};
}

power_cut_result power_cut_journal::cut() {
    std::ifstream in(journal_path_, std::ios::binary);
    journal_reader reader{std::string(std::istreambuf_iterator<char>(in), {})};
    in.close();
    std::vector<journal_record> records;
    std::map<std::string, std::size_t> last_sync;
    power_cut_result result;
    while (!reader.at_end()) {
        try {
            records.push_back(reader.next());
        } catch (const std::out_of_range&) {
            break;
        }
        if (records.back().kind == 'U') {
            ++result.writes_journaled;
        }
        if (records.back().kind == 'S') {
            last_sync[records.back().path] = records.size();
        }
    }
    std::set<std::string> files;
    for (std::size_t index = records.size(); index-- > 0;) {
        const journal_record& record = records[index];
        const auto synced = last_sync.find(record.path);
        const bool is_kept = synced != last_sync.end() && index < synced->second;
        if (record.kind != 'U' || is_kept) {
            continue;
        }
        roll_back(record);
        ++result.writes_undone;
        files.insert(record.path);
    }
    result.files_rolled_back = files.size();
    std::filesystem::remove(journal_path_);
    return result;
}

} // namespace perch::integration
