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
#include "gateway/common/endpoint_url.hpp"
#include "gateway/common/gateway_name.hpp"
#include "gateway/common/topic_acl.hpp"

namespace perch::gateway {

namespace {

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

key_handler bool_key(bool broker_config::*field) {
    return [field](parse_state& state, const config_line& line) {
        state.config.*field = line.bool_value();
    };
}

key_handler optional_bool_key(std::optional<bool> broker_config::*field) {
    return [field](parse_state& state, const config_line& line) {
        state.config.*field = line.bool_value();
    };
}

/// Where the listeners of a configuration that names none are bound.
constexpr std::string_view loopback_address = "127.0.0.1";

constexpr std::uint64_t max_u16 = std::numeric_limits<std::uint16_t>::max();
constexpr std::uint64_t max_u32 = std::numeric_limits<std::uint32_t>::max();

std::optional<listener_kind> parse_listener_kind(std::string_view text) {
    constexpr std::array kinds = {listener_kind::mqtt, listener_kind::mqtt_tls,
                                  listener_kind::websocket, listener_kind::websocket_tls,
                                  listener_kind::http};
    for (const listener_kind kind : kinds) {
        if (to_string(kind) == text) {
            return kind;
        }
    }
    // The word mosquitto users write for WebSocket listeners.
    if (text == "websockets") {
        return listener_kind::websocket;
    }
    return std::nullopt;
}

void handle_listener(parse_state& state, const config_line& line) {
    if (line.values.empty() || line.values.size() > 2) {
        line.fail("expected PORT [BIND_ADDRESS]");
    }
    config_line port_line = line;
    port_line.values = {line.values[0]};
    listener_config listener;
    listener.port = static_cast<std::uint16_t>(port_line.unsigned_value(0, max_u16));
    if (line.values.size() == 2) {
        listener.bind_address = std::string(line.values[1]);
    }
    if (!state.has_listener_lines) {
        // The first `listener` line replaces the defaults (keeping the one `port` configured).
        state.config.listeners.resize(state.is_default_listener_set ? 1 : 0);
    }
    state.has_listener_lines = true;
    // Every worker binds each listener with SO_REUSEPORT, so the kernel would let two listeners
    // share a port and split its connections between them: refused here instead.
    const auto overlaps = [&](const listener_config& other) {
        const auto is_any = [](const std::string& address) {
            return address.empty() || address == "0.0.0.0" || address == "::";
        };
        return listener.port != 0 && other.port == listener.port &&
               (other.bind_address == listener.bind_address || is_any(other.bind_address) ||
                is_any(listener.bind_address));
    };
    if (std::any_of(state.config.listeners.begin(), state.config.listeners.end(), overlaps)) {
        line.fail(fmt::format("port {} is already taken by another listener", listener.port));
    }
    state.config.listeners.push_back(std::move(listener));
}

void handle_protocol(parse_state& state, const config_line& line) {
    const auto kind = parse_listener_kind(line.single_value());
    if (!kind) {
        line.fail(fmt::format("unknown listener kind '{}' (mqtt, mqtt_tls, websocket, "
                              "websocket_tls, http)",
                              line.single_value()));
    }
    state.config.listeners.back().kind = *kind;
}

void handle_port(parse_state& state, const config_line& line) {
    state.config.listeners.front().port =
        static_cast<std::uint16_t>(line.unsigned_value(0, max_u16));
    state.is_default_listener_set = true;
}

void handle_bind_address(parse_state& state, const config_line& line) {
    state.config.listeners.front().bind_address = std::string(line.single_value());
    state.is_default_listener_set = true;
}

/// Keys of the latest listener, or of every default listener before any `listener` line.
key_handler listener_text_key(std::string listener_config::*field) {
    return [field](parse_state& state, const config_line& line) {
        const std::string value(line.single_value());
        const auto apply = [&](listener_config& listener) { listener.*field = value; };
        if (state.has_listener_lines) {
            apply(state.config.listeners.back());
            return;
        }
        std::for_each(state.config.listeners.begin(), state.config.listeners.end(), apply);
    };
}

key_handler listener_bool_key(bool listener_config::*field) {
    return [field](parse_state& state, const config_line& line) {
        const bool value = line.bool_value();
        const auto apply = [&](listener_config& listener) { listener.*field = value; };
        if (state.has_listener_lines) {
            apply(state.config.listeners.back());
            return;
        }
        std::for_each(state.config.listeners.begin(), state.config.listeners.end(), apply);
    };
}

void handle_websocket_deflate_window_bits(parse_state& state, const config_line& line) {
    const auto bits = static_cast<unsigned>(line.unsigned_value(0, 15));
    if (bits != 0 && bits < 9) {
        line.fail("must be 0 (no history) or 9 to 15");
    }
    const auto apply = [&](listener_config& listener) {
        listener.websocket_deflate_window_bits = bits;
    };
    if (state.has_listener_lines) {
        apply(state.config.listeners.back());
        return;
    }
    std::for_each(state.config.listeners.begin(), state.config.listeners.end(), apply);
}

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

/// The words of the line after the key as written, inner spaces kept (for free text).
std::string rest_of_line(const config_line& line) {
    if (line.values.empty()) {
        line.fail("expected a value");
    }
    const char* begin = line.values.front().data();
    const char* end = line.values.back().data() + line.values.back().size();
    return std::string(begin, static_cast<std::size_t>(end - begin));
}

key_handler assistant_text_key(std::string assistant_config::*field) {
    return [field](parse_state& state, const config_line& line) {
        state.config.assistant.*field = std::string(line.single_value());
    };
}

key_handler assistant_unsigned_key(std::uint32_t assistant_config::*field, std::uint64_t minimum,
                                   std::uint64_t maximum) {
    return [field, minimum, maximum](parse_state& state, const config_line& line) {
        state.config.assistant.*field =
            static_cast<std::uint32_t>(line.unsigned_value(minimum, maximum));
    };
}

/// `KEY PER_MINUTE [BURST]`: a request rate and the burst allowed above it (default 1).
key_handler assistant_rate_key(std::uint32_t assistant_config::*per_minute,
                               std::uint32_t assistant_config::*burst) {
    return [per_minute, burst](parse_state& state, const config_line& line) {
        if (line.values.empty() || line.values.size() > 2) {
            line.fail("expected PER_MINUTE [BURST]");
        }
        config_line part = line;
        part.values = {line.values[0]};
        state.config.assistant.*per_minute =
            static_cast<std::uint32_t>(part.unsigned_value(0, 1'000'000));
        std::uint32_t burst_value = 1;
        if (line.values.size() == 2) {
            part.values = {line.values[1]};
            burst_value = static_cast<std::uint32_t>(part.unsigned_value(1, 1'000'000));
        }
        state.config.assistant.*burst = burst_value;
    };
}

void handle_assistant_endpoint(parse_state& state, const config_line& line) {
    const std::string text(line.single_value());
    std::string problem;
    if (!parse_endpoint_url(text, problem)) {
        line.fail(fmt::format("not a usable base URL: {}", problem));
    }
    state.config.assistant.endpoint = text;
}

void handle_assistant_user(parse_state& state, const config_line& line) {
    const std::string name(line.single_value());
    if (!is_valid_chat_name(name)) {
        line.fail(fmt::format("'{}' is not a valid chat user name", name));
    }
    state.config.assistant.user = name;
}

void handle_assistant_system_prompt(parse_state& state, const config_line& line) {
    state.config.assistant.system_prompt = rest_of_line(line);
}

/// A libpq connection string: the rest of the line, without the double quotes around it.
void handle_postgresql_conninfo(parse_state& state, const config_line& line) {
    std::string conninfo = rest_of_line(line);
    if (conninfo.size() >= 2 && conninfo.front() == '"' && conninfo.back() == '"') {
        conninfo = conninfo.substr(1, conninfo.size() - 2);
    }
    state.config.postgresql_conninfo = std::move(conninfo);
}

void handle_assistant_rooms(parse_state& state, const config_line& line) {
    std::vector<std::string> rooms;
    for (const std::string_view word : line.values) {
        std::size_t start = 0;
        while (start <= word.size()) {
            const std::size_t comma = std::min(word.find(',', start), word.size());
            const std::string_view room = word.substr(start, comma - start);
            start = comma + 1;
            if (room.empty()) {
                continue;
            }
            if (!is_valid_chat_name(room)) {
                line.fail(fmt::format("'{}' is not a valid room name", room));
            }
            if (std::find(rooms.begin(), rooms.end(), room) == rooms.end()) {
                rooms.emplace_back(room);
            }
        }
    }
    state.config.assistant.rooms = std::move(rooms);
}

/// The keys of client_quota, as written in the file and after `user_quota NAME`.
constexpr std::array<std::pair<std::string_view, std::uint64_t client_quota::*>, 7> quota_keys = {{
    {"max_publish_rate", &client_quota::max_publish_rate},
    {"max_publish_burst", &client_quota::max_publish_burst},
    {"max_publish_bytes_rate", &client_quota::max_publish_bytes_rate},
    {"max_publish_bytes_burst", &client_quota::max_publish_bytes_burst},
    {"max_subscriptions_per_client", &client_quota::max_subscriptions_per_client},
    {"max_subscribe_rate", &client_quota::max_subscribe_rate},
    {"max_subscribe_burst", &client_quota::max_subscribe_burst},
}};

/// A burst of 0 would never let anything through: bursts start at 1.
std::uint64_t quota_minimum(std::string_view key) {
    return key.ends_with("_burst") ? 1 : 0;
}

std::uint64_t client_quota::*find_quota_key(std::string_view key) {
    for (const auto& [name, field] : quota_keys) {
        if (name == key) {
            return field;
        }
    }
    return nullptr;
}

key_handler quota_key(std::uint64_t client_quota::*field, std::string_view key) {
    return [field, key](parse_state& state, const config_line& line) {
        state.config.quota.*field = line.unsigned_value(quota_minimum(key), max_rate_value);
    };
}

/// `user_quota NAME KEY VALUE`: one quota of one user.
void handle_user_quota(parse_state& state, const config_line& line) {
    if (line.values.size() != 3) {
        line.fail("expected NAME KEY VALUE");
    }
    const std::string_view key = line.values[1];
    if (find_quota_key(key) == nullptr) {
        line.fail(
            fmt::format("'{}' is not a quota key (max_publish_rate, max_publish_burst, "
                        "max_publish_bytes_rate, max_publish_bytes_burst, "
                        "max_subscriptions_per_client, max_subscribe_rate, max_subscribe_burst)",
                        key));
    }
    config_line value_line = line;
    value_line.values = {line.values[2]};
    state.config.user_quotas.push_back(
        {std::string(line.values[0]), std::string(key),
         value_line.unsigned_value(quota_minimum(key), max_rate_value)});
}

const std::vector<std::pair<std::string_view, key_handler>>& key_table() {
    static const std::vector<std::pair<std::string_view, key_handler>> table = {
        {"listener", handle_listener},
        {"protocol", handle_protocol},
        {"port", handle_port},
        {"bind_address", handle_bind_address},
        {"certfile", listener_text_key(&listener_config::certfile)},
        {"keyfile", listener_text_key(&listener_config::keyfile)},
        {"cafile", listener_text_key(&listener_config::cafile)},
        {"require_certificate", listener_bool_key(&listener_config::require_certificate)},
        {"use_identity_as_username", listener_bool_key(&listener_config::use_identity_as_username)},
        {"websocket_path", listener_text_key(&listener_config::websocket_path)},
        {"websocket_deflate_window_bits", handle_websocket_deflate_window_bits},
        {"workers", unsigned_key(&broker_config::workers, 0, 1024)},
        {"max_connections", unsigned_key(&broker_config::max_connections, 0, max_u32)},
        {"max_packet_size", unsigned_key(&broker_config::max_packet_size, 0, 268'435'460)},
        {"max_connect_packet_size",
         unsigned_key(&broker_config::max_connect_packet_size, 128, 268'435'460)},
        {"receive_maximum", unsigned_key(&broker_config::receive_maximum, 1, max_u16)},
        {"max_inflight_messages", unsigned_key(&broker_config::max_inflight_messages, 0, max_u16)},
        {"max_queued_messages", unsigned_key(&broker_config::max_queued_messages, 0, max_u32)},
        {"max_queued_bytes", unsigned_key(&broker_config::max_queued_bytes, 0,
                                          std::numeric_limits<std::uint64_t>::max())},
        {"max_output_bytes", unsigned_key(&broker_config::max_output_bytes, 4096,
                                          std::numeric_limits<std::uint64_t>::max())},
        {"topic_alias_maximum", unsigned_key(&broker_config::topic_alias_maximum, 0, max_u16)},
        {"outbound_topic_alias_maximum",
         unsigned_key(&broker_config::outbound_topic_alias_maximum, 0,
                      broker_config::outbound_topic_alias_limit)},
        {"server_keep_alive", unsigned_key(&broker_config::server_keep_alive_seconds, 0, max_u16)},
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
        {"max_batch_operations", unsigned_key(&broker_config::max_batch_operations, 1, 1'000'000)},
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
        {"chat_cursor_interval_s", unsigned_key(&broker_config::chat_cursor_interval_s, 1, 86'400)},
        // Read state, signals and message events.
        {"signal_expiry_s", unsigned_key(&broker_config::signal_expiry_s, 1, 86'400)},
        {"chat_delete_window_s", unsigned_key(&broker_config::chat_delete_window_s, 0, max_u32)},
        // Full-text search of chat history.
        {"chat_search", bool_key(&broker_config::chat_search)},
        // Files in chat.
        {"file_max_bytes", unsigned_key(&broker_config::file_max_bytes, 1, 1ULL << 32)},
        {"file_quota_bytes", unsigned_key(&broker_config::file_quota_bytes, 0,
                                          std::numeric_limits<std::uint64_t>::max())},
        {"file_token_lifetime_s", unsigned_key(&broker_config::file_token_lifetime_s, 1, 86'400)},
        {"file_unreferenced_grace_s",
         unsigned_key(&broker_config::file_unreferenced_grace_s, 0, max_u32)},
        {"file_sweep_interval_s", unsigned_key(&broker_config::file_sweep_interval_s, 0, 86'400)},
        // Failed-login backoff.
        {"login_backoff_user_failures",
         unsigned_key(&broker_config::login_backoff_user_failures, 0, 1'000'000)},
        {"login_backoff_address_failures",
         unsigned_key(&broker_config::login_backoff_address_failures, 0, 1'000'000)},
        {"login_backoff_initial_ms",
         unsigned_key(&broker_config::login_backoff_initial_ms, 1, 86'400'000)},
        {"login_backoff_max_seconds",
         unsigned_key(&broker_config::login_backoff_max_seconds, 1, 86'400)},
        {"assistant_endpoint", handle_assistant_endpoint},
        {"assistant_model", assistant_text_key(&assistant_config::model)},
        {"assistant_api_key_env", assistant_text_key(&assistant_config::api_key_env)},
        {"assistant_api_key_file", assistant_text_key(&assistant_config::api_key_file)},
        {"assistant_user", handle_assistant_user},
        {"assistant_system_prompt", handle_assistant_system_prompt},
        {"assistant_rooms", handle_assistant_rooms},
        {"assistant_context_messages",
         assistant_unsigned_key(&assistant_config::context_messages, 0, 200)},
        {"assistant_timeout_ms",
         assistant_unsigned_key(&assistant_config::timeout_ms, 100, 3'600'000)},
        {"assistant_max_tokens", assistant_unsigned_key(&assistant_config::max_tokens, 0, max_u32)},
        {"assistant_stream",
         [](parse_state& state,
            const config_line& line) { state.config.assistant.is_streamed = line.bool_value(); }},
        {"assistant_typing_interval_ms",
         assistant_unsigned_key(&assistant_config::typing_interval_ms, 10, 3'600'000)},
        {"assistant_user_rate", assistant_rate_key(&assistant_config::user_rate_per_minute,
                                                   &assistant_config::user_rate_burst)},
        {"assistant_global_rate", assistant_rate_key(&assistant_config::global_rate_per_minute,
                                                     &assistant_config::global_rate_burst)},
        {"assistant_max_concurrent",
         assistant_unsigned_key(&assistant_config::max_concurrent, 1, 1024)},
        {"assistant_cafile", assistant_text_key(&assistant_config::cafile)},
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
        {"push_allow_insecure_endpoints", bool_key(&broker_config::push_allow_insecure_endpoints)},
        {"push_cafile",
         [](parse_state& state,
            const config_line&
                line) { state.config.push_cafile = std::string(line.single_value()); }},
        // Reload and logs.
        {"log_format", handle_log_format},
        // Quotas (docs/LIMITS.md).
        {"max_publish_rate", quota_key(&client_quota::max_publish_rate, "max_publish_rate")},
        {"max_publish_burst", quota_key(&client_quota::max_publish_burst, "max_publish_burst")},
        {"max_publish_bytes_rate",
         quota_key(&client_quota::max_publish_bytes_rate, "max_publish_bytes_rate")},
        {"max_publish_bytes_burst",
         quota_key(&client_quota::max_publish_bytes_burst, "max_publish_bytes_burst")},
        {"max_subscriptions_per_client",
         quota_key(&client_quota::max_subscriptions_per_client, "max_subscriptions_per_client")},
        {"user_quota", handle_user_quota},
        {"max_connection_rate",
         unsigned_key(&broker_config::max_connection_rate, 0, max_rate_value)},
        {"max_connection_burst",
         unsigned_key(&broker_config::max_connection_burst, 1, max_rate_value)},
        // Subscribe rate quota (docs/LIMITS.md).
        {"max_subscribe_rate", quota_key(&client_quota::max_subscribe_rate, "max_subscribe_rate")},
        {"max_subscribe_burst",
         quota_key(&client_quota::max_subscribe_burst, "max_subscribe_burst")},
        // Chat history writes (docs/DURABILITY.md "Chat messages").
        {"chat_commit_interval_ms",
         unsigned_key(&broker_config::chat_commit_interval_ms, 0, 60'000)},
    };
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

std::vector<listener_config> default_listeners() {
    const auto make = [](listener_kind kind, std::uint16_t port) {
        listener_config listener;
        listener.kind = kind;
        listener.port = port;
        listener.bind_address = loopback_address;
        return listener;
    };
    return {make(listener_kind::mqtt, 1883), make(listener_kind::mqtt_tls, 8883),
            make(listener_kind::websocket, 8083), make(listener_kind::websocket_tls, 8084)};
}

client_quota quota_for_user(const broker_config& config, std::string_view user) {
    client_quota quota = config.quota;
    if (user.empty()) {
        return quota;
    }
    for (const user_quota_setting& setting : config.user_quotas) {
        if (setting.user == user) {
            quota.*find_quota_key(setting.key) = setting.value;
        }
    }
    return quota;
}

bool is_loopback_only(const listener_config& listener) {
    const std::string_view address = listener.bind_address;
    return address.starts_with("127.") || address == "::1" || address == "localhost";
}

bool allows_anonymous(const broker_config& config, const listener_config& listener) {
    return config.allow_anonymous.value_or(is_loopback_only(listener));
}

bool is_tls(listener_kind kind) {
    return kind == listener_kind::mqtt_tls || kind == listener_kind::websocket_tls;
}

bool is_websocket(listener_kind kind) {
    return kind == listener_kind::websocket || kind == listener_kind::websocket_tls;
}

std::string_view to_string(listener_kind kind) {
    switch (kind) {
    case listener_kind::mqtt: return "mqtt";
    case listener_kind::mqtt_tls: return "mqtt_tls";
    case listener_kind::websocket: return "websocket";
    case listener_kind::websocket_tls: return "websocket_tls";
    case listener_kind::http: return "http";
    }
    return "unknown";
}

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

namespace {

/// `listener` without what a reload applies to it in place (its TLS context's inputs).
listener_config without_tls_files(listener_config listener) {
    listener.certfile.clear();
    listener.keyfile.clear();
    listener.cafile.clear();
    listener.require_certificate = false;
    listener.use_identity_as_username = false;
    return listener;
}

} // namespace

std::vector<std::string> keys_needing_restart(const broker_config& running,
                                              const broker_config& wanted) {
    std::vector<std::string> keys;
    const auto check = [&keys](std::string_view key, bool is_changed) {
        if (is_changed) {
            keys.emplace_back(key);
        }
    };
    const bool same_sockets =
        running.listeners.size() == wanted.listeners.size() &&
        std::equal(running.listeners.begin(), running.listeners.end(), wanted.listeners.begin(),
                   [](const listener_config& left, const listener_config& right) {
                       return without_tls_files(left) == without_tls_files(right);
                   });
    check("listener", !same_sockets);
    check("workers", running.workers != wanted.workers);
    check("persistence", running.persistence != wanted.persistence);
    check("data_dir", running.data_dir != wanted.data_dir);
    check("durability", running.durability != wanted.durability);
    check("chat_store", running.chat_store != wanted.chat_store);
    check("postgresql_conninfo", running.postgresql_conninfo != wanted.postgresql_conninfo);
    check("gateway_name", running.gateway_name != wanted.gateway_name);
    check("commit_interval_ms", running.commit_interval_ms != wanted.commit_interval_ms);
    check("max_batch_operations", running.max_batch_operations != wanted.max_batch_operations);
    check("chat_commit_interval_ms",
          running.chat_commit_interval_ms != wanted.chat_commit_interval_ms);
    check("max_stored_messages", running.max_stored_messages != wanted.max_stored_messages);
    check("max_stored_bytes", running.max_stored_bytes != wanted.max_stored_bytes);
    check("max_database_bytes", running.max_database_bytes != wanted.max_database_bytes);
    check("presence", running.presence != wanted.presence);
    check("chat_reload_interval_ms",
          running.chat_reload_interval_ms != wanted.chat_reload_interval_ms);
    check("chat_cursor_interval_s",
          running.chat_cursor_interval_s != wanted.chat_cursor_interval_s);
    check("signal_expiry_s", running.signal_expiry_s != wanted.signal_expiry_s);
    check("chat_delete_window_s", running.chat_delete_window_s != wanted.chat_delete_window_s);
    check("chat_search", running.chat_search != wanted.chat_search);
    check("file_token_lifetime_s", running.file_token_lifetime_s != wanted.file_token_lifetime_s);
    check("file_unreferenced_grace_s",
          running.file_unreferenced_grace_s != wanted.file_unreferenced_grace_s);
    check("file_sweep_interval_s", running.file_sweep_interval_s != wanted.file_sweep_interval_s);
    check("push", running.push != wanted.push);
    check("push_contact", running.push_contact != wanted.push_contact);
    check("push_ttl_seconds", running.push_ttl_seconds != wanted.push_ttl_seconds);
    check("push_allow_insecure_endpoints",
          running.push_allow_insecure_endpoints != wanted.push_allow_insecure_endpoints);
    check("push_cafile", running.push_cafile != wanted.push_cafile);
    const assistant_config& was = running.assistant;
    const assistant_config& now = wanted.assistant;
    check("assistant_endpoint", was.endpoint != now.endpoint);
    check("assistant_model", was.model != now.model);
    check("assistant_api_key_env", was.api_key_env != now.api_key_env);
    check("assistant_api_key_file", was.api_key_file != now.api_key_file);
    check("assistant_user", was.user != now.user);
    check("assistant_system_prompt", was.system_prompt != now.system_prompt);
    check("assistant_rooms", was.rooms != now.rooms);
    check("assistant_context_messages", was.context_messages != now.context_messages);
    check("assistant_timeout_ms", was.timeout_ms != now.timeout_ms);
    check("assistant_max_tokens", was.max_tokens != now.max_tokens);
    check("assistant_stream", was.is_streamed != now.is_streamed);
    check("assistant_typing_interval_ms", was.typing_interval_ms != now.typing_interval_ms);
    check("assistant_user_rate", was.user_rate_per_minute != now.user_rate_per_minute ||
                                     was.user_rate_burst != now.user_rate_burst);
    check("assistant_global_rate", was.global_rate_per_minute != now.global_rate_per_minute ||
                                       was.global_rate_burst != now.global_rate_burst);
    check("assistant_max_concurrent", was.max_concurrent != now.max_concurrent);
    check("assistant_cafile", was.cafile != now.cafile);
    return keys;
}

void override_mqtt_port(broker_config& config, std::uint16_t port) {
    for (listener_config& listener : config.listeners) {
        if (listener.kind == listener_kind::mqtt) {
            listener.port = port;
            return;
        }
    }
    listener_config listener;
    listener.port = port;
    listener.bind_address = loopback_address;
    config.listeners.insert(config.listeners.begin(), listener);
}

void use_only_mqtt_port(broker_config& config, std::uint16_t port) {
    listener_config listener;
    listener.port = port;
    listener.bind_address = loopback_address;
    config.listeners = {listener};
}

} // namespace perch::gateway
