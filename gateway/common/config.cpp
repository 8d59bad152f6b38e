// Parser for the mosquitto-style config file. One table maps each key to the code that reads its
// value, so an unknown key is found in one place and reported with its file and line.
#include "gateway/common/config.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <fstream>
#include <functional>
#include <limits>
#include <sstream>

#include <fmt/format.h>

#include "gateway/common/bridge_config.hpp"
#include "gateway/common/chat_names.hpp"
#include "gateway/common/config_parsing.hpp"
#include "gateway/common/endpoint_url.hpp"
#include "gateway/common/gateway_name.hpp"
#include "gateway/common/topic_acl.hpp"

namespace perch::gateway {

using namespace config_parsing;

namespace {

void handle_log_level(parse_state& state, const config_line& line) {
    const auto level = parse_log_level(line.single_value());
    if (!level) {
        line.fail(fmt::format("unknown level '{}' (error, warning, notice, info, debug)",
                              line.single_value()));
    }
    state.config.log_threshold = *level;
}

void handle_log_format(parse_state& state, const config_line& line) {
    const auto format = parse_log_format(line.single_value());
    if (!format) {
        line.fail(fmt::format("unknown format '{}' (text, json)", line.single_value()));
    }
    state.config.log_style = *format;
}

void handle_durability(parse_state& state, const config_line& line) {
    const std::string_view text = line.single_value();
    if (text == "full") {
        state.config.durability = durability_mode::full;
    } else if (text == "batched") {
        state.config.durability = durability_mode::batched;
    } else if (text == "none") {
        state.config.durability = durability_mode::none;
    } else {
        line.fail(fmt::format("expected full, batched or none, got '{}'", text));
    }
}

void handle_chat_store(parse_state& state, const config_line& line) {
    const std::string_view text = line.single_value();
    if (text == "sqlite") {
        state.config.chat_store = chat_store_kind::sqlite;
    } else if (text == "postgresql") {
        state.config.chat_store = chat_store_kind::postgresql;
    } else {
        line.fail(fmt::format("expected sqlite or postgresql, got '{}'", text));
    }
}

void handle_gateway_name(parse_state& state, const config_line& line) {
    const std::string_view name = line.single_value();
    if (const auto problem = gateway_name_problem(name)) {
        line.fail(*problem);
    }
    state.config.gateway_name = std::string(name);
}

void handle_data_dir(parse_state& state, const config_line& line) {
    state.config.data_dir = std::string(line.single_value());
}

/// A libpq connection string: the rest of the line, without the double quotes around it.
void handle_postgresql_conninfo(parse_state& state, const config_line& line) {
    std::string conninfo = rest_of_line(line);
    if (conninfo.size() >= 2 && conninfo.front() == '"' && conninfo.back() == '"') {
        conninfo = conninfo.substr(1, conninfo.size() - 2);
    }
    state.config.postgresql_conninfo = std::move(conninfo);
}

const key_rows& key_table() {
    static const key_rows table = [] {
        key_rows rows = {
            {"workers", unsigned_key(&broker_config::workers, 0, 1024)},
            {"max_connections", unsigned_key(&broker_config::max_connections, 0, max_u32)},
            {"max_packet_size", unsigned_key(&broker_config::max_packet_size, 0, 268'435'460)},
            {"max_connect_packet_size",
             unsigned_key(&broker_config::max_connect_packet_size, 128, 268'435'460)},
            {"receive_maximum", unsigned_key(&broker_config::receive_maximum, 1, max_u16)},
            {"max_inflight_messages",
             unsigned_key(&broker_config::max_inflight_messages, 0, max_u16)},
            {"max_queued_messages", unsigned_key(&broker_config::max_queued_messages, 0, max_u32)},
            {"max_queued_bytes", unsigned_key(&broker_config::max_queued_bytes, 0,
                                              std::numeric_limits<std::uint64_t>::max())},
            {"max_output_bytes", unsigned_key(&broker_config::max_output_bytes, 4096,
                                              std::numeric_limits<std::uint64_t>::max())},
            {"topic_alias_maximum", unsigned_key(&broker_config::topic_alias_maximum, 0, max_u16)},
            {"outbound_topic_alias_maximum",
             unsigned_key(&broker_config::outbound_topic_alias_maximum, 0,
                          broker_config::outbound_topic_alias_limit)},
            {"server_keep_alive",
             unsigned_key(&broker_config::server_keep_alive_seconds, 0, max_u16)},
            {"max_qos", unsigned_key(&broker_config::max_qos, 0, 2)},
            {"retain_available", bool_key(&broker_config::retain_available)},
            {"allow_anonymous", optional_bool_key(&broker_config::allow_anonymous)},
            {"acl_file",
             [](parse_state& state, const config_line& line) {
                 state.config.acl_file = std::string(line.single_value());
             }},
            // The web app's files (gateway/web).
            {"web_root",
             [](parse_state& state, const config_line& line) {
                 state.config.web_root = std::string(line.single_value());
             }},
            {"max_session_expiry_seconds",
             unsigned_key(&broker_config::max_session_expiry_seconds, 0, max_u32)},
            {"sys_interval", unsigned_key(&broker_config::sys_interval_seconds, 0, 86'400)},
            {"connect_timeout", unsigned_key(&broker_config::connect_timeout_seconds, 1, 3600)},
            {"log_level", handle_log_level},
            {"persistence", bool_key(&broker_config::persistence)},
            {"data_dir", handle_data_dir},
            {"durability", handle_durability},
            {"chat_store", handle_chat_store},
            {"postgresql_conninfo", handle_postgresql_conninfo},
            {"gateway_name", handle_gateway_name},
            {"commit_interval_ms", unsigned_key(&broker_config::commit_interval_ms, 0, 60'000)},
            {"max_batch_operations",
             unsigned_key(&broker_config::max_batch_operations, 1, 1'000'000)},
            {"max_stored_messages", unsigned_key(&broker_config::max_stored_messages, 0, max_u32)},
            {"max_stored_bytes", unsigned_key(&broker_config::max_stored_bytes, 0,
                                              std::numeric_limits<std::uint64_t>::max())},
            {"max_database_bytes", unsigned_key(&broker_config::max_database_bytes, 0,
                                                std::numeric_limits<std::uint64_t>::max())},
            {"presence", bool_key(&broker_config::presence)},
            {"history_retention_days",
             unsigned_key(&broker_config::history_retention_days, 0, 100'000)},
            {"history_keep_per_conversation",
             unsigned_key(&broker_config::history_keep_per_conversation, 0, max_u32)},
            {"password_iterations", unsigned_key(&broker_config::password_iterations,
                                                 min_password_iterations, max_password_iterations)},
            {"chat_reload_interval_ms",
             unsigned_key(&broker_config::chat_reload_interval_ms, 10, 3'600'000)},
            {"chat_cursor_interval_s",
             unsigned_key(&broker_config::chat_cursor_interval_s, 1, 86'400)},
            // Read state, signals and message events.
            {"signal_expiry_s", unsigned_key(&broker_config::signal_expiry_s, 1, 86'400)},
            {"chat_delete_window_s",
             unsigned_key(&broker_config::chat_delete_window_s, 0, max_u32)},
            // Full-text search of chat history.
            {"chat_search", bool_key(&broker_config::chat_search)},
            // Files in chat.
            {"file_max_bytes", unsigned_key(&broker_config::file_max_bytes, 1, 1ULL << 32)},
            {"file_quota_bytes", unsigned_key(&broker_config::file_quota_bytes, 0,
                                              std::numeric_limits<std::uint64_t>::max())},
            {"file_token_lifetime_s",
             unsigned_key(&broker_config::file_token_lifetime_s, 1, 86'400)},
            {"file_unreferenced_grace_s",
             unsigned_key(&broker_config::file_unreferenced_grace_s, 0, max_u32)},
            {"file_sweep_interval_s",
             unsigned_key(&broker_config::file_sweep_interval_s, 0, 86'400)},
            // Failed-login backoff.
            {"login_backoff_user_failures",
             unsigned_key(&broker_config::login_backoff_user_failures, 0, 1'000'000)},
            {"login_backoff_address_failures",
             unsigned_key(&broker_config::login_backoff_address_failures, 0, 1'000'000)},
            {"login_backoff_initial_ms",
             unsigned_key(&broker_config::login_backoff_initial_ms, 1, 86'400'000)},
            {"login_backoff_max_seconds",
             unsigned_key(&broker_config::login_backoff_max_seconds, 1, 86'400)},
            // Web Push (docs/CHAT.md "Web Push").
            {"push", bool_key(&broker_config::push)},
            {"push_contact",
             [](parse_state& state, const config_line& line) {
                 const std::string_view contact = line.single_value();
                 if (!contact.starts_with("mailto:") && !contact.starts_with("https://")) {
                     line.fail("must be a mailto: or https: URL");
                 }
                 state.config.push_contact = std::string(contact);
             }},
            {"push_ttl_seconds", unsigned_key(&broker_config::push_ttl_seconds, 0, 2'419'200)},
            {"push_allow_insecure_endpoints",
             bool_key(&broker_config::push_allow_insecure_endpoints)},
            {"push_cafile",
             [](parse_state& state, const config_line& line) {
                 state.config.push_cafile = std::string(line.single_value());
             }},
            // Reload and logs.
            {"log_format", handle_log_format},
            {"max_connection_rate",
             unsigned_key(&broker_config::max_connection_rate, 0, max_rate_value)},
            {"max_connection_burst",
             unsigned_key(&broker_config::max_connection_burst, 1, max_rate_value)},
            // Chat history writes (docs/DURABILITY.md "Chat messages").
            {"chat_commit_interval_ms",
             unsigned_key(&broker_config::chat_commit_interval_ms, 0, 60'000)},
        };
        add_listener_keys(rows);
        add_assistant_keys(rows);
        add_quota_keys(rows);
        return rows;
    }();
    return table;
}

bool is_blank(char c) {
    return c == ' ' || c == '\t' || c == '\r';
}

std::vector<std::string_view> split_words(std::string_view text) {
    std::vector<std::string_view> words;
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
            words.push_back(text.substr(start, position - start));
        }
    }
    return words;
}

/// The number of the last line of `text` whose key is `key`; 0 when none is.
std::size_t last_line_of_key(std::string_view text, std::string_view key) {
    std::size_t found = 0;
    std::size_t line_number = 0;
    std::size_t line_start = 0;
    while (line_start <= text.size()) {
        const std::size_t line_end = std::min(text.find('\n', line_start), text.size());
        ++line_number;
        const std::vector<std::string_view> words =
            split_words(text.substr(line_start, line_end - line_start));
        if (!words.empty() && words.front() == key) {
            found = line_number;
        }
        line_start = line_end + 1;
    }
    return found;
}

} // namespace

config_error::config_error(std::string source_name, std::size_t line_number, std::string key,
                           const std::string& problem)
    : std::runtime_error(
          key.empty() ? fmt::format("{}:{}: {}", source_name, line_number, problem)
                      : fmt::format("{}:{}: {}: {}", source_name, line_number, key, problem)),
      source_name_(std::move(source_name)), line_number_(line_number), key_(std::move(key)) {}

broker_config parse_config(std::string_view text, std::string_view source_name) {
    parse_state state;
    std::size_t line_number = 0;
    std::size_t line_start = 0;
    while (line_start <= text.size()) {
        const std::size_t line_end = std::min(text.find('\n', line_start), text.size());
        const std::string_view raw = text.substr(line_start, line_end - line_start);
        line_start = line_end + 1;
        ++line_number;

        std::vector<std::string_view> words = split_words(raw);
        if (words.empty() || words.front().front() == '#') {
            continue;
        }
        config_line line{source_name, line_number, words.front(), {}};
        line.values.assign(words.begin() + 1, words.end());
        if (is_bridge_key(line.key)) {
            continue; // parse_bridges reads the `connection` blocks (checked below).
        }
        const auto& table = key_table();
        const auto entry = std::find_if(table.begin(), table.end(),
                                        [&](const auto& row) { return row.first == line.key; });
        if (entry == table.end()) {
            line.fail("unknown key");
        }
        entry->second(state, line);
    }
    for (const bridge_config& bridge : parse_bridges(text, source_name)) {
        if (bridge.bridge_chat && state.config.chat_store != chat_store_kind::postgresql) {
            // Chat across gateways shares users, rooms and history: each message is recorded
            // once, by its origin, in the store every gateway reads (docs/BRIDGES.md).
            throw config_error(std::string(source_name), bridge.bridge_chat_line, "bridge_chat",
                               "needs chat_store postgresql (the gateways must share users, "
                               "rooms and history)");
        }
    }
    return state.config;
}

broker_config load_config_file(const std::string& path) {
    std::ifstream file(path, std::ios::binary);
    if (!file) {
        throw config_error(path, 0, "", "cannot open the config file");
    }
    std::ostringstream contents;
    contents << file.rdbuf();
    if (file.bad()) {
        throw config_error(path, 0, "", "cannot read the config file");
    }
    const std::string text = contents.str();
    broker_config config = parse_config(text, path);
    if (!config.acl_file.empty()) {
        try {
            config.acl = load_acl_file(config.acl_file);
        } catch (const config_error& error) {
            if (error.line_number() != 0) {
                throw; // A line of the acl file: it names that file, line and key.
            }
            // The acl file itself is missing: the line of the config file that names it.
            throw config_error(path, last_line_of_key(text, "acl_file"), "acl_file", error.what());
        }
    }
    return config;
}

} // namespace perch::gateway
