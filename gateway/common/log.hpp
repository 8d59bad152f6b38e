// Process-wide logging to stderr: levels, timestamps, one line per call, as text or JSON. Knows
// nothing about MQTT; callers format their own messages with fmt.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include <fmt/format.h>

namespace perch::gateway {

/// Severity of a log line, most severe first. A line is written when its level is at or above
/// the configured threshold (error < warning < notice < info < debug in verbosity).
enum class log_level : std::uint8_t {
    error = 0,
    warning = 1,
    notice = 2,
    info = 3,
    debug = 4,
};

/// How a line is written: "TIME LEVEL: [cID] text" or one JSON object per line.
enum class log_format : std::uint8_t {
    text = 0,
    json = 1,
};

/// The format named `text` ("text", "json"); empty when unknown.
std::optional<log_format> parse_log_format(std::string_view text);

/// The lower-case name of `format`.
std::string_view to_string(log_format format);

/// Sets the format for every thread. Safe to call while other threads log.
void set_log_format(log_format format);

/// The current format.
log_format current_log_format();

/// What a line is about when it concerns one connection; an empty field (or a connection id of
/// 0) is left out of the line. The views must outlive the call that writes the line.
struct log_subject {
    /// The connection's per-process id, written "c123"; 0 for none.
    std::uint64_t connection_id = 0;
    std::string_view client_id;
    std::string_view user;
    std::string_view remote_address;
};

/// The level named `text` ("error", "warning", "notice", "info", "debug"); empty when unknown.
std::optional<log_level> parse_log_level(std::string_view text);

/// The lower-case name of `level`.
std::string_view to_string(log_level level);

/// Sets the threshold for every thread. Safe to call while other threads log.
void set_log_level(log_level level);

/// The current threshold.
log_level current_log_level();

/// True when a line at `level` would be written.
bool is_log_enabled(log_level level);

/// One complete log line (with its trailing newline) as written to stderr. Text:
/// "2024-05-01T12:00:00.123Z info: text", or "... info: [c12] text" with a subject. JSON:
/// {"time":"2024-05-01T12:00:00.123Z","level":"info","conn":"c12","client_id":"...","user":"...",
/// "remote":"...","message":"text"}, the subject's empty fields left out.
std::string format_log_line(log_level level, std::chrono::system_clock::time_point when,
                            std::string_view text, log_format format = log_format::text,
                            const log_subject* subject = nullptr);

/// Writes one line at `level` with the current time in the current format, if the level is
/// enabled. The line is written with a single call, so lines from different threads never
/// interleave.
void write_log_line(log_level level, std::string_view text, const log_subject* subject = nullptr);

/// Formats with fmt and writes one line; formatting is skipped when the level is disabled.
template <typename... Args>
void log(log_level level, fmt::format_string<Args...> format, Args&&... args) {
    if (is_log_enabled(level)) {
        write_log_line(level, fmt::format(format, std::forward<Args>(args)...));
    }
}

/// As log(), for a line about `subject` (a connection).
template <typename... Args>
void log_about(log_level level, const log_subject& subject, fmt::format_string<Args...> format,
               Args&&... args) {
    if (is_log_enabled(level)) {
        write_log_line(level, fmt::format(format, std::forward<Args>(args)...), &subject);
    }
}

/// log(log_level::error, ...).
template <typename... Args> void log_error(fmt::format_string<Args...> format, Args&&... args) {
    log(log_level::error, format, std::forward<Args>(args)...);
}

/// log(log_level::warning, ...).
template <typename... Args> void log_warning(fmt::format_string<Args...> format, Args&&... args) {
    log(log_level::warning, format, std::forward<Args>(args)...);
}

/// log(log_level::notice, ...).
template <typename... Args> void log_notice(fmt::format_string<Args...> format, Args&&... args) {
    log(log_level::notice, format, std::forward<Args>(args)...);
}

/// log(log_level::info, ...).
template <typename... Args> void log_info(fmt::format_string<Args...> format, Args&&... args) {
    log(log_level::info, format, std::forward<Args>(args)...);
}

/// log(log_level::debug, ...).
template <typename... Args> void log_debug(fmt::format_string<Args...> format, Args&&... args) {
    log(log_level::debug, format, std::forward<Args>(args)...);
}

} // namespace perch::gateway
