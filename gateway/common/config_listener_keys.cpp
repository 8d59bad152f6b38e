// The listener keys of the config file (`listener`, `port`, `bind_address`, the TLS files, the
// WebSocket path and window), and what the rest of the gateway asks of a listener's settings.
#include <array>

#include "gateway/common/config_parsing.hpp"

namespace perch::gateway {

namespace config_parsing {

namespace {

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

} // namespace

void add_listener_keys(key_rows& rows) {
    rows.insert(
        rows.end(),
        {
            {"listener", handle_listener},
            {"protocol", handle_protocol},
            {"port", handle_port},
            {"bind_address", handle_bind_address},
            {"certfile", listener_text_key(&listener_config::certfile)},
            {"keyfile", listener_text_key(&listener_config::keyfile)},
            {"cafile", listener_text_key(&listener_config::cafile)},
            {"require_certificate", listener_bool_key(&listener_config::require_certificate)},
            {"use_identity_as_username",
             listener_bool_key(&listener_config::use_identity_as_username)},
            {"websocket_path", listener_text_key(&listener_config::websocket_path)},
            {"websocket_deflate_window_bits", handle_websocket_deflate_window_bits},
        });
}

} // namespace config_parsing

using config_parsing::loopback_address;

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
