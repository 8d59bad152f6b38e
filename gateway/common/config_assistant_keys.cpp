// The assistant's keys of the config file (`assistant_*`, docs/ASSISTANT.md).
#include <algorithm>

#include "gateway/common/chat_names.hpp"
#include "gateway/common/config_parsing.hpp"
#include "gateway/common/endpoint_url.hpp"

namespace perch::gateway::config_parsing {

namespace {

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

} // namespace

void add_assistant_keys(key_rows& rows) {
    rows.insert(
        rows.end(),
        {
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
            {"assistant_max_tokens",
             assistant_unsigned_key(&assistant_config::max_tokens, 0, max_u32)},
            {"assistant_stream",
             [](parse_state& state, const config_line& line) {
                 state.config.assistant.is_streamed = line.bool_value();
             }},
            {"assistant_typing_interval_ms",
             assistant_unsigned_key(&assistant_config::typing_interval_ms, 10, 3'600'000)},
            {"assistant_user_rate", assistant_rate_key(&assistant_config::user_rate_per_minute,
                                                       &assistant_config::user_rate_burst)},
            {"assistant_global_rate", assistant_rate_key(&assistant_config::global_rate_per_minute,
                                                         &assistant_config::global_rate_burst)},
            {"assistant_max_concurrent",
             assistant_unsigned_key(&assistant_config::max_concurrent, 1, 1024)},
            {"assistant_cafile", assistant_text_key(&assistant_config::cafile)},
        });
}

} // namespace perch::gateway::config_parsing
