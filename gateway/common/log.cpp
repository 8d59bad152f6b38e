// Process-wide logging to stderr. The threshold and the format are atomics; each line is one
// fwrite.
#include "gateway/common/log.hpp"

#include <array>
#include <atomic>
#include <cstdio>
#include <ctime>

namespace perch::gateway {

namespace {

constexpr std::array<std::string_view, 5> level_names = {"error", "warning", "notice", "info",
                                                         "debug"};

constexpr std::array<std::string_view, 2> format_names = {"text", "json"};

// Shared by every thread; relaxed is enough because they only shape output.
std::atomic<std::uint8_t> threshold{static_cast<std::uint8_t>(log_level::info)};
std::atomic<std::uint8_t> format_in_use{static_cast<std::uint8_t>(log_format::text)};

/// Appends `text` as a JSON string (quoted; quotes, backslashes and control bytes escaped).
/// Bytes above 0x7F pass through: messages are UTF-8 or the client's bytes as they came.
void append_json_string(std::string& out, std::string_view text) {
    out.push_back('"');
    for (const char c : text) {
        switch (c) {
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        case '\n': out += "\\n"; break;
        case '\r': out += "\\r"; break;
        case '\t': out += "\\t"; break;
        default:
            if (static_cast<unsigned char>(c) < 0x20) {
                out += fmt::format("\\u{:04x}", static_cast<unsigned>(c));
            } else {
                out.push_back(c);
            }
        }
    }
    out.push_back('"');
}

void append_json_field(std::string& out, std::string_view name, std::string_view value) {
    out += ",\"";
    out += name;
    out += "\":";
    append_json_string(out, value);
}

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

std::optional<log_format> parse_log_format(std::string_view text) {
    for (std::size_t index = 0; index < format_names.size(); ++index) {
        if (format_names[index] == text) {
            return static_cast<log_format>(index);
        }
    }
    return std::nullopt;
}

std::string_view to_string(log_format format) {
    const auto index = static_cast<std::size_t>(format);
    return index < format_names.size() ? format_names[index] : std::string_view("unknown");
}

void set_log_format(log_format format) {
    format_in_use.store(static_cast<std::uint8_t>(format), std::memory_order_relaxed);
}

log_format current_log_format() {
    return static_cast<log_format>(format_in_use.load(std::memory_order_relaxed));
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
                            std::string_view text, log_format format, const log_subject* subject) {
    using namespace std::chrono;
    const auto since_epoch = when.time_since_epoch();
    const auto seconds = duration_cast<std::chrono::seconds>(since_epoch);
    const auto millis = duration_cast<milliseconds>(since_epoch - seconds).count();
    const std::time_t whole = static_cast<std::time_t>(seconds.count());
    std::tm utc{};
    gmtime_r(&whole, &utc);
    const std::string time =
        fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", utc.tm_year + 1900,
                    utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec, millis);
    const bool has_connection = subject != nullptr && subject->connection_id != 0;
    if (format == log_format::text) {
        return has_connection ? fmt::format("{} {}: [c{}] {}\n", time, to_string(level),
                                            subject->connection_id, text)
                              : fmt::format("{} {}: {}\n", time, to_string(level), text);
    }
    std::string line = fmt::format("{{\"time\":\"{}\",\"level\":\"{}\"", time, to_string(level));
    if (has_connection) {
        append_json_field(line, "conn", fmt::format("c{}", subject->connection_id));
    }
    if (subject != nullptr) {
        if (!subject->client_id.empty()) {
            append_json_field(line, "client_id", subject->client_id);
        }
        if (!subject->user.empty()) {
            append_json_field(line, "user", subject->user);
        }
        if (!subject->remote_address.empty()) {
            append_json_field(line, "remote", subject->remote_address);
        }
    }
    append_json_field(line, "message", text);
    line += "}\n";
    return line;
}

void write_log_line(log_level level, std::string_view text, const log_subject* subject) {
    if (!is_log_enabled(level)) {
        return;
    }
    const std::string line = format_log_line(level, std::chrono::system_clock::now(), text,
                                             current_log_format(), subject);
    std::fwrite(line.data(), 1, line.size(), stderr);
}

} // namespace perch::gateway
