// What the config parser's key handlers share (config.cpp and the config_*_keys.cpp files that
// hold the keys of one concern each): the line being parsed, the state across lines, and the
// handlers every kind of value uses. Internal to gateway/common.
#pragma once

#include <charconv>
#include <cstdint>
#include <functional>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "gateway/common/config.hpp"

namespace perch::gateway::config_parsing {

/// The line being parsed: where it is and its words after the key.
struct config_line {
    std::string_view source_name;
    std::size_t line_number = 0;
    std::string_view key;
    std::vector<std::string_view> values;

    [[noreturn]] void fail(const std::string& problem) const {
        throw config_error(std::string(source_name), line_number, std::string(key), problem);
    }

    std::string_view single_value() const {
        if (values.size() != 1) {
            fail(fmt::format("expected one value, got {}", values.size()));
        }
        return values.front();
    }

    std::uint64_t unsigned_value(std::uint64_t minimum, std::uint64_t maximum) const {
        const std::string_view text = single_value();
        std::uint64_t value = 0;
        const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
        if (error != std::errc() || end != text.data() + text.size()) {
            fail(fmt::format("expected a whole number, got '{}'", text));
        }
        if (value < minimum || value > maximum) {
            fail(fmt::format("{} is out of range {}..{}", value, minimum, maximum));
        }
        return value;
    }

    bool bool_value() const {
        const std::string_view text = single_value();
        if (text == "true") {
            return true;
        }
        if (text == "false") {
            return false;
        }
        fail(fmt::format("expected true or false, got '{}'", text));
    }
};

/// What the parser tracks across lines besides the config itself.
struct parse_state {
    broker_config config;
    /// True once a `listener` line replaced the implicit default listener.
    bool has_listener_lines = false;
    /// True once `port` or `bind_address` configured the default listener.
    bool is_default_listener_set = false;
};

using key_handler = std::function<void(parse_state&, const config_line&)>;

template <typename Field>
key_handler unsigned_key(Field broker_config::*field, std::uint64_t minimum,
                         std::uint64_t maximum) {
    return [field, minimum, maximum](parse_state& state, const config_line& line) {
        state.config.*field = static_cast<Field>(line.unsigned_value(minimum, maximum));
    };
}

inline key_handler bool_key(bool broker_config::*field) {
    return [field](parse_state& state, const config_line& line) {
        state.config.*field = line.bool_value();
    };
}

inline key_handler optional_bool_key(std::optional<bool> broker_config::*field) {
    return [field](parse_state& state, const config_line& line) {
        state.config.*field = line.bool_value();
    };
}

/// Where the listeners of a configuration that names none are bound.
inline constexpr std::string_view loopback_address = "127.0.0.1";

inline constexpr std::uint64_t max_u16 = std::numeric_limits<std::uint16_t>::max();
inline constexpr std::uint64_t max_u32 = std::numeric_limits<std::uint32_t>::max();

/// The words of the line after the key as written, inner spaces kept (for free text).
inline std::string rest_of_line(const config_line& line) {
    if (line.values.empty()) {
        line.fail("expected a value");
    }
    const char* begin = line.values.front().data();
    const char* end = line.values.back().data() + line.values.back().size();
    return std::string(begin, static_cast<std::size_t>(end - begin));
}

/// The keys the parser knows, each with the code that reads its value.
using key_rows = std::vector<std::pair<std::string_view, key_handler>>;

/// The listener keys (`listener`, `port`, `certfile`, ...): config_listener_keys.cpp.
void add_listener_keys(key_rows& rows);
/// The assistant's keys (`assistant_*`): config_assistant_keys.cpp.
void add_assistant_keys(key_rows& rows);
/// The quota keys (`max_publish_rate`, ..., `user_quota`): config_quota_keys.cpp.
void add_quota_keys(key_rows& rows);

} // namespace perch::gateway::config_parsing
