// Parser of Mosquitto's bridge keys, and the topic mapping of a bridge's `topic` lines.
#include "gateway/common/bridge_config.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <fstream>
#include <functional>
#include <sstream>
#include <utility>

#include <fmt/format.h>

#include "gateway/common/config.hpp"
#include "mqtt/topic.hpp"

namespace perch::gateway {

namespace {

using problem = std::optional<std::string>;
using words = std::vector<std::string_view>;
using bridge_handler = std::function<problem(bridge_config&, const words&)>;

/// The word `""` stands for an empty prefix, as in Mosquitto.
std::string unquoted(std::string_view word) {
    return word == "\"\"" ? std::string() : std::string(word);
}

problem expect_one(const words& values) {
    if (values.size() != 1) {
        return fmt::format("expected one value, got {}", values.size());
    }
    return std::nullopt;
}

problem parse_bool(const words& values, bool& out) {
    if (auto bad = expect_one(values)) {
        return bad;
    }
    if (values[0] == "true") {
        out = true;
    } else if (values[0] == "false") {
        out = false;
    } else {
        return fmt::format("expected true or false, got '{}'", values[0]);
    }
    return std::nullopt;
}

problem parse_number(std::string_view text, std::uint64_t maximum, std::uint64_t& out) {
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), out);
    if (error != std::errc() || end != text.data() + text.size()) {
        return fmt::format("expected a whole number, got '{}'", text);
    }
    if (out > maximum) {
        return fmt::format("{} is out of range 0..{}", out, maximum);
    }
    return std::nullopt;
}

problem parse_address(bridge_config& bridge, const words& values) {
    if (auto bad = expect_one(values)) {
        return bad;
    }
    std::string_view text = values[0];
    std::string_view host = text;
    std::uint64_t port = 1883;
    const std::size_t colon = text.rfind(':');
    if (colon != std::string_view::npos && text.find(':') == colon) {
        host = text.substr(0, colon);
        if (auto bad = parse_number(text.substr(colon + 1), 65'535, port)) {
            return bad;
        }
        if (port == 0) {
            return std::string("the port must not be 0");
        }
    }
    if (host.empty()) {
        return std::string("expected HOST[:PORT]");
    }
    bridge.host = std::string(host);
    bridge.port = static_cast<std::uint16_t>(port);
    return std::nullopt;
}

problem check_prefix(std::string_view prefix, std::string_view which) {
    if (prefix.empty()) {
        return std::nullopt;
    }
    if (!prefix.ends_with('/')) {
        return fmt::format("the {} prefix '{}' must end with '/'", which, prefix);
    }
    if (prefix.find_first_of("+#") != std::string_view::npos) {
        return fmt::format("the {} prefix '{}' must not hold a wildcard", which, prefix);
    }
    return std::nullopt;
}

problem parse_direction(std::string_view word, bridge_direction& out) {
    if (word == "out") {
        out = bridge_direction::out;
    } else if (word == "in") {
        out = bridge_direction::in;
    } else if (word == "both") {
        out = bridge_direction::both;
    } else {
        return fmt::format("expected in, out or both, got '{}'", word);
    }
    return std::nullopt;
}

problem parse_topic(bridge_config& bridge, const words& values) {
    if (values.empty() || values.size() > 5) {
        return std::string("expected PATTERN [in|out|both] [QOS] [LOCAL_PREFIX] [REMOTE_PREFIX]");
    }
    bridge_topic topic;
    topic.pattern = unquoted(values[0]);
    if (values.size() > 1) {
        if (auto bad = parse_direction(values[1], topic.direction)) {
            return bad;
        }
    }
    if (values.size() > 2) {
        std::uint64_t qos = 0;
        if (parse_number(values[2], 2, qos)) {
            return fmt::format("the QoS must be 0, 1 or 2, got '{}'", values[2]);
        }
        topic.qos = static_cast<std::uint8_t>(qos);
    }
    topic.local_prefix = values.size() > 3 ? unquoted(values[3]) : std::string();
    topic.remote_prefix = values.size() > 4 ? unquoted(values[4]) : std::string();
    if (topic.pattern.empty()) {
        return std::string("an empty pattern (a whole topic in the prefixes) is not supported");
    }
    if (auto bad = check_prefix(topic.local_prefix, "local")) {
        return bad;
    }
    if (auto bad = check_prefix(topic.remote_prefix, "remote")) {
        return bad;
    }
    if (mqtt::validate_topic_filter(topic.pattern, mqtt::protocol_version::v5) ||
        mqtt::parse_filter(topic.pattern).shared) {
        return fmt::format("'{}' is not a valid topic filter", topic.pattern);
    }
    bridge.topics.push_back(std::move(topic));
    return std::nullopt;
}

problem parse_protocol(bridge_config& bridge, const words& values) {
    if (auto bad = expect_one(values)) {
        return bad;
    }
    if (values[0] == "mqttv311") {
        bridge.protocol = bridge_protocol::mqtt311;
    } else if (values[0] == "mqttv50") {
        bridge.protocol = bridge_protocol::mqtt50;
    } else {
        return fmt::format("expected mqttv311 or mqttv50, got '{}'", values[0]);
    }
    return std::nullopt;
}

bridge_handler string_key(std::string bridge_config::*field) {
    return [field](bridge_config& bridge, const words& values) -> problem {
        if (auto bad = expect_one(values)) {
            return bad;
        }
        bridge.*field = std::string(values[0]);
        return std::nullopt;
    };
}

bridge_handler bool_key(bool bridge_config::*field) {
    return [field](bridge_config& bridge, const words& values) {
        return parse_bool(values, bridge.*field);
    };
}

problem parse_keep_alive(bridge_config& bridge, const words& values) {
    if (auto bad = expect_one(values)) {
        return bad;
    }
    std::uint64_t seconds = 0;
    if (auto bad = parse_number(values[0], 65'535, seconds)) {
        return bad;
    }
    if (seconds < 5) {
        return std::string("keepalive_interval must be at least 5 seconds");
    }
    bridge.keep_alive_seconds = static_cast<std::uint16_t>(seconds);
    return std::nullopt;
}

problem parse_password(bridge_config& bridge, const words& values) {
    if (auto bad = expect_one(values)) {
        return bad;
    }
    bridge.remote_password = std::string(values[0]);
    bridge.has_remote_password = true;
    return std::nullopt;
}

const std::vector<std::pair<std::string_view, bridge_handler>>& bridge_key_table() {
    static const std::vector<std::pair<std::string_view, bridge_handler>> table = {
        {"address", parse_address},
        {"topic", parse_topic},
        {"remote_username", string_key(&bridge_config::remote_username)},
        {"remote_password", parse_password},
        {"remote_clientid", string_key(&bridge_config::remote_clientid)},
        {"cleansession", bool_key(&bridge_config::clean_session)},
        {"keepalive_interval", parse_keep_alive},
        {"bridge_protocol_version", parse_protocol},
        {"bridge_cafile", string_key(&bridge_config::cafile)},
        {"bridge_insecure", bool_key(&bridge_config::is_insecure)},
        {"try_private", bool_key(&bridge_config::try_private)},
        {"notifications", bool_key(&bridge_config::notifications)},
        {"notifications_local_only", bool_key(&bridge_config::notifications_local_only)},
        {"local_username", string_key(&bridge_config::local_username)},
        {"bridge_chat", bool_key(&bridge_config::bridge_chat)},
    };
    return table;
}

problem start_connection(std::vector<bridge_config>& bridges, const words& values) {
    if (auto bad = expect_one(values)) {
        return bad;
    }
    const std::string_view name = values[0];
    const bool is_plain = std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '-' || c == '_' || c == '.';
    });
    if (!is_plain || name.size() > 64) {
        return fmt::format("the name '{}' must be 1 to 64 letters, digits, '-', '_' or '.'", name);
    }
    for (const bridge_config& existing : bridges) {
        if (existing.name == name) {
            return fmt::format("a connection named '{}' already exists", name);
        }
    }
    bridge_config bridge;
    bridge.name = std::string(name);
    bridges.push_back(std::move(bridge));
    return std::nullopt;
}

/// `topic` minus `prefix` when it starts with it and the rest matches `pattern`.
std::optional<std::string_view> strip_and_match(std::string_view topic, std::string_view prefix,
                                                std::string_view pattern) {
    if (!topic.starts_with(prefix)) {
        return std::nullopt;
    }
    const std::string_view rest = topic.substr(prefix.size());
    if (rest.empty() || !mqtt::topic_matches(pattern, rest)) {
        return std::nullopt;
    }
    return rest;
}

bool is_blank(char c) {
    return c == ' ' || c == '\t' || c == '\r';
}

words split_line(std::string_view text) {
    words found;
    std::size_t position = 0;
    while (position < text.size()) {
        while (position < text.size() && is_blank(text[position])) {
            ++position;
        }
        const std::size_t start = position;
        while (position < text.size() && !is_blank(text[position])) {
            ++position;
        }
        if (position > start) {
            found.push_back(text.substr(start, position - start));
        }
    }
    return found;
}

} // namespace

std::vector<bridge_config> parse_bridges(std::string_view text, std::string_view source_name) {
    std::vector<bridge_config> bridges;
    std::vector<std::size_t> connection_lines;
    std::size_t line_number = 0;
    std::size_t line_start = 0;
    while (line_start <= text.size()) {
        const std::size_t line_end = std::min(text.find('\n', line_start), text.size());
        const words line = split_line(text.substr(line_start, line_end - line_start));
        line_start = line_end + 1;
        ++line_number;
        if (line.empty() || line.front().front() == '#' || !is_bridge_key(line.front())) {
            continue;
        }
        const words values(line.begin() + 1, line.end());
        if (const auto bad = apply_bridge_line(bridges, line.front(), values)) {
            throw config_error(std::string(source_name), line_number, std::string(line.front()),
                               *bad);
        }
        if (line.front() == "connection") {
            connection_lines.push_back(line_number);
        } else if (line.front() == "bridge_chat") {
            bridges.back().bridge_chat_line = line_number;
        }
    }
    for (bridge_config& bridge : bridges) {
        if (bridge.bridge_chat && std::find(bridge.topics.begin(), bridge.topics.end(),
                                            relay_mapping()) == bridge.topics.end()) {
            bridge.topics.push_back(relay_mapping());
        }
    }
    for (std::size_t index = 0; index < bridges.size(); ++index) {
        if (const auto bad = check_bridge(bridges[index])) {
            throw config_error(std::string(source_name), connection_lines[index], "connection",
                               *bad);
        }
    }
    return bridges;
}

std::vector<bridge_config> load_bridges_file(const std::string& path) {
    std::ifstream file(path, std::ios::binary);
    if (!file) {
        throw config_error(path, 0, "", "cannot open the config file");
    }
    std::ostringstream contents;
    contents << file.rdbuf();
    return parse_bridges(contents.str(), path);
}

bool is_bridge_key(std::string_view key) {
    if (key == "connection") {
        return true;
    }
    const auto& table = bridge_key_table();
    return std::any_of(table.begin(), table.end(),
                       [key](const auto& row) { return row.first == key; });
}

std::optional<std::string> apply_bridge_line(std::vector<bridge_config>& bridges,
                                             std::string_view key, const words& values) {
    if (key == "connection") {
        return start_connection(bridges, values);
    }
    const auto& table = bridge_key_table();
    const auto entry = std::find_if(table.begin(), table.end(),
                                    [key](const auto& row) { return row.first == key; });
    if (entry == table.end()) {
        return std::string("unknown key");
    }
    if (bridges.empty()) {
        return std::string("a bridge key must follow a `connection NAME` line");
    }
    return entry->second(bridges.back(), values);
}

std::optional<std::string> check_bridge(const bridge_config& bridge) {
    if (bridge.host.empty()) {
        return fmt::format("connection {}: no address", bridge.name);
    }
    if (bridge.topics.empty()) {
        return fmt::format("connection {}: no topic", bridge.name);
    }
    if (bridge.is_insecure && bridge.cafile.empty()) {
        return fmt::format("connection {}: bridge_insecure needs bridge_cafile (TLS)", bridge.name);
    }
    return std::nullopt;
}

bridge_topic relay_mapping() {
    bridge_topic mapping;
    mapping.pattern = "chat/relay/#";
    mapping.direction = bridge_direction::both;
    mapping.qos = 1;
    return mapping;
}

std::optional<std::string> to_remote_topic(const bridge_topic& mapping,
                                           std::string_view local_topic) {
    const auto rest = strip_and_match(local_topic, mapping.local_prefix, mapping.pattern);
    if (!rest) {
        return std::nullopt;
    }
    return mapping.remote_prefix + std::string(*rest);
}

std::optional<std::string> to_local_topic(const bridge_topic& mapping,
                                          std::string_view remote_topic) {
    const auto rest = strip_and_match(remote_topic, mapping.remote_prefix, mapping.pattern);
    if (!rest) {
        return std::nullopt;
    }
    return mapping.local_prefix + std::string(*rest);
}

} // namespace perch::gateway
