// Process-wide logging to stderr. The threshold is one atomic; each line is one fwrite.
#include "gateway/common/log.hpp"

#include <array>
#include <atomic>
#include <cstdio>
#include <ctime>

namespace perch::gateway {

namespace {

constexpr std::array<std::string_view, 5> level_names = {"error", "warning", "notice", "info",
                                                         "debug"};

// Shared by every thread; relaxed is enough because it only filters output.
std::atomic<std::uint8_t> threshold{static_cast<std::uint8_t>(log_level::info)};

} // namespace

std::optional<log_level> parse_log_level(std::string_view text) {
    for (std::size_t index = 0; index < level_names.size(); ++index) {
        if (level_names[index] == text) {
            return static_cast<log_level>(index);
        }
    }
    return std::nullopt;
}

std::string_view to_string(log_level level) {
    const auto index = static_cast<std::size_t>(level);
    return index < level_names.size() ? level_names[index] : std::string_view("unknown");
}

void set_log_level(log_level level) {
    threshold.store(static_cast<std::uint8_t>(level), std::memory_order_relaxed);
}

log_level current_log_level() {
    return static_cast<log_level>(threshold.load(std::memory_order_relaxed));
}

bool is_log_enabled(log_level level) {
    return static_cast<std::uint8_t>(level) <= threshold.load(std::memory_order_relaxed);
}

std::string format_log_line(log_level level, std::chrono::system_clock::time_point when,
                            std::string_view text) {
    using namespace std::chrono;
    const auto since_epoch = when.time_since_epoch();
    const auto seconds = duration_cast<std::chrono::seconds>(since_epoch);
    const auto millis = duration_cast<milliseconds>(since_epoch - seconds).count();
    const std::time_t whole = static_cast<std::time_t>(seconds.count());
    std::tm utc{};
    gmtime_r(&whole, &utc);
    return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z {}: {}\n", utc.tm_year + 1900,
                       utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec, millis,
                       to_string(level), text);
}

void write_log_line(log_level level, std::string_view text) {
    if (!is_log_enabled(level)) {
        return;
    }
    const std::string line = format_log_line(level, std::chrono::system_clock::now(), text);
    std::fwrite(line.data(), 1, line.size(), stderr);
}

} // namespace perch::gateway
