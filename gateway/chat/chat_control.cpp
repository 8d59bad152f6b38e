// Control request parsing and reply formatting, with nlohmann::json (Boost 1.74 has no JSON).
#include "gateway/chat/chat_control.hpp"

#include <algorithm>
#include <array>
#include <span>

#include "gateway/chat/chat_push.hpp"
#include "gateway/chat/chat_search.hpp"
#include "gateway/chat/chat_topic.hpp"
#include "gateway/common/chat_names.hpp"
#include "mqtt/utf8.hpp"

#include <nlohmann/json.hpp>

namespace perch::gateway {

namespace {

using json = nlohmann::json;

constexpr std::array<std::pair<control_operation, std::string_view>, 32> operation_names{{
    {control_operation::create, "create"},
    {control_operation::join, "join"},
    {control_operation::leave, "leave"},
    {control_operation::invite, "invite"},
    {control_operation::rooms, "rooms"},
    {control_operation::members, "members"},
    {control_operation::history, "history"},
    {control_operation::read, "read"},
    {control_operation::token, "token"},
    {control_operation::revoke_token, "revoke_token"},
    {control_operation::read_state, "read_state"},
    {control_operation::edit, "edit"},
    {control_operation::remove_message, "delete"},
    {control_operation::react, "react"},
    {control_operation::unreact, "unreact"},
    {control_operation::kick, "kick"},
    {control_operation::ban, "ban"},
    {control_operation::unban, "unban"},
    {control_operation::mute, "mute"},
    {control_operation::unmute, "unmute"},
    {control_operation::role, "role"},
    {control_operation::set_room, "set_room"},
    {control_operation::delete_room, "delete_room"},
    {control_operation::public_rooms, "public_rooms"},
    {control_operation::invitations, "invitations"},
    {control_operation::decline, "decline"},
    {control_operation::search, "search"},
    {control_operation::file_token, "file_token"},
    {control_operation::push_key, "push_key"},
    {control_operation::push_subscribe, "push_subscribe"},
    {control_operation::push_unsubscribe, "push_unsubscribe"},
    {control_operation::push_preview, "push_preview"},
}};

/// The longest display name or topic a room may have, in bytes.
constexpr std::size_t max_room_text = 1024;

/// Reads the optional string member `key` (valid UTF-8, at most max_room_text bytes).
std::optional<std::string> read_text(const json& request, std::string_view key,
                                     std::optional<std::string>& out) {
    const auto found = request.find(key);
    if (found == request.end()) {
        return std::nullopt;
    }
    if (!found->is_string() || found->get_ref<const std::string&>().size() > max_room_text) {
        return "\"" + std::string(key) + "\" must be a string of at most " +
               std::to_string(max_room_text) + " bytes";
    }
    out = found->get<std::string>();
    return std::nullopt;
}

/// Reads the optional member `key`, which must be one of `names` (in enum order), into `out`.
template <typename Enum, std::size_t count>
std::optional<std::string> read_choice(const json& request, std::string_view key,
                                       const std::array<std::string_view, count>& names,
                                       std::optional<Enum>& out) {
    const auto found = request.find(key);
    if (found == request.end()) {
        return std::nullopt;
    }
    if (found->is_string()) {
        for (std::size_t index = 0; index < count; ++index) {
            if (found->get_ref<const std::string&>() == names[index]) {
                out = static_cast<Enum>(index);
                return std::nullopt;
            }
        }
    }
    std::string error = "\"" + std::string(key) + "\" must be one of";
    for (const std::string_view name : names) {
        error += " \"" + std::string(name) + "\"";
    }
    return error;
}

constexpr std::array<std::string_view, 3> role_names{"member", "admin", "owner"};
constexpr std::array<std::string_view, 2> visibility_names{"public", "private"};
constexpr std::array<std::string_view, 2> history_names{"shared", "joined"};

/// The optional room settings of create and set_room.
std::optional<std::string> read_room_settings(const json& request, control_request& parsed) {
    if (auto error = read_text(request, "name", parsed.display_name)) {
        return error;
    }
    if (auto error = read_text(request, "topic", parsed.topic)) {
        return error;
    }
    if (auto error = read_choice(request, "visibility", visibility_names, parsed.visibility)) {
        return error;
    }
    return read_choice(request, "history", history_names, parsed.history_visibility);
}

/// Reads the string member `key` as a chat name into `out`; the error otherwise.
std::optional<std::string> read_name(const json& request, std::string_view key, std::string& out) {
    const auto found = request.find(key);
    if (found == request.end() || !found->is_string()) {
        return "missing \"" + std::string(key) + "\"";
    }
    out = found->get<std::string>();
    if (!is_valid_chat_name(out)) {
        return "invalid \"" + std::string(key) + "\" (1-64 bytes of UTF-8 without / + # $ or " +
               "control characters)";
    }
    return std::nullopt;
}

/// Reads the optional unsigned member `key` into `out`; the error when present and not one.
std::optional<std::string> read_number(const json& request, std::string_view key,
                                       std::uint64_t& out) {
    const auto found = request.find(key);
    if (found == request.end()) {
        return std::nullopt;
    }
    if (!found->is_number_unsigned()) {
        return "\"" + std::string(key) + "\" must be a non-negative integer";
    }
    out = found->get<std::uint64_t>();
    return std::nullopt;
}

std::optional<std::string> read_conversation(const json& request, std::string& out) {
    const auto found = request.find("conversation");
    if (found == request.end() || !found->is_string()) {
        return std::string("missing \"conversation\"");
    }
    out = normalize_conversation(found->get<std::string>());
    if (out.empty()) {
        return std::string("invalid \"conversation\" (room/{room} or dm/{user}/{user})");
    }
    return std::nullopt;
}

/// Reads the required id of the message an event changes.
std::optional<std::string> read_target(const json& request, control_request& parsed) {
    if (auto error = read_conversation(request, parsed.conversation)) {
        return error;
    }
    if (request.find("id") == request.end()) {
        return std::string("missing \"id\"");
    }
    if (auto error = read_number(request, "id", parsed.id)) {
        return error;
    }
    if (parsed.id == 0) {
        return std::string("\"id\" must name a message (ids start at 1)");
    }
    return std::nullopt;
}

/// Reads a reaction's emoji: short UTF-8 without control characters.
std::optional<std::string> read_emoji(const json& request, std::string& out) {
    const auto found = request.find("emoji");
    if (found == request.end() || !found->is_string()) {
        return std::string("missing \"emoji\"");
    }
    out = found->get<std::string>();
    const bool has_control = std::any_of(out.begin(), out.end(), [](char byte) {
        const auto value = static_cast<unsigned char>(byte);
        return value < 0x20 || value == 0x7F;
    });
    const mqtt::byte_view bytes(reinterpret_cast<const std::uint8_t*>(out.data()), out.size());
    if (out.empty() || out.size() > max_emoji_bytes || has_control ||
        !mqtt::is_well_formed_utf8(bytes)) {
        return "invalid \"emoji\" (1-" + std::to_string(max_emoji_bytes) +
               " bytes of UTF-8 without control characters)";
    }
    return std::nullopt;
}

std::optional<std::string> read_fields(const json& request, control_request& parsed) {
    switch (parsed.operation) {
    case control_operation::create:
        if (auto error = read_name(request, "room", parsed.room)) {
            return error;
        }
        return read_room_settings(request, parsed);
    case control_operation::set_room:
        if (auto error = read_name(request, "room", parsed.room)) {
            return error;
        }
        if (auto error = read_room_settings(request, parsed)) {
            return error;
        }
        if (!parsed.display_name && !parsed.topic && !parsed.visibility &&
            !parsed.history_visibility) {
            return std::string(
                "set_room needs at least one of \"name\", \"topic\", \"visibility\", \"history\"");
        }
        return std::nullopt;
    case control_operation::delete_room:
    case control_operation::decline:
    case control_operation::join:
    case control_operation::leave:
    case control_operation::members: return read_name(request, "room", parsed.room);
    case control_operation::kick:
    case control_operation::ban:
    case control_operation::unban:
    case control_operation::mute:
    case control_operation::unmute:
    case control_operation::invite:
        if (auto error = read_name(request, "room", parsed.room)) {
            return error;
        }
        return read_name(request, "user", parsed.user);
    case control_operation::role:
        if (auto error = read_name(request, "room", parsed.room)) {
            return error;
        }
        if (auto error = read_name(request, "user", parsed.user)) {
            return error;
        }
        if (request.find("role") == request.end()) {
            return std::string("missing \"role\"");
        }
        return read_choice(request, "role", role_names, parsed.role);
    case control_operation::public_rooms: {
        std::optional<std::string> text;
        if (auto error = read_text(request, "query", text)) {
            return error;
        }
        parsed.query = text.value_or("");
        text.reset();
        if (auto error = read_text(request, "after", text)) {
            return error;
        }
        parsed.after = text.value_or("");
        std::uint64_t limit = default_history_page;
        if (auto error = read_number(request, "limit", limit)) {
            return error;
        }
        if (limit == 0 || limit > max_history_page) {
            return "\"limit\" must be between 1 and " + std::to_string(max_history_page);
        }
        parsed.limit = static_cast<std::size_t>(limit);
        return std::nullopt;
    }
    case control_operation::invitations:
    case control_operation::file_token:
    case control_operation::rooms: return std::nullopt;
    case control_operation::token:
    case control_operation::revoke_token: return read_name(request, "device", parsed.device);
    case control_operation::history: {
        if (auto error = read_conversation(request, parsed.conversation)) {
            return error;
        }
        if (auto error = read_number(request, "before", parsed.before_id)) {
            return error;
        }
        std::uint64_t limit = default_history_page;
        if (auto error = read_number(request, "limit", limit)) {
            return error;
        }
        if (limit == 0 || limit > max_history_page) {
            return "\"limit\" must be between 1 and " + std::to_string(max_history_page);
        }
        parsed.limit = static_cast<std::size_t>(limit);
        return std::nullopt;
    }
    case control_operation::read: {
        if (auto error = read_conversation(request, parsed.conversation)) {
            return error;
        }
        if (request.find("id") == request.end()) {
            return std::string("missing \"id\"");
        }
        return read_number(request, "id", parsed.id);
    }
    case control_operation::read_state:
        if (request.find("conversation") == request.end()) {
            return std::nullopt;
        }
        return read_conversation(request, parsed.conversation);
    case control_operation::edit: {
        if (auto error = read_target(request, parsed)) {
            return error;
        }
        const auto text = request.find("text");
        if (text == request.end() || !text->is_string()) {
            return std::string("missing \"text\"");
        }
        parsed.text = text->get<std::string>();
        return std::nullopt;
    }
    case control_operation::remove_message: return read_target(request, parsed);
    case control_operation::search: return read_search_fields(request, parsed);
    case control_operation::push_key:
    case control_operation::push_subscribe:
    case control_operation::push_unsubscribe:
    case control_operation::push_preview: return read_push_fields(request, parsed);
    case control_operation::react:
    case control_operation::unreact:
        if (auto error = read_target(request, parsed)) {
            return error;
        }
        return read_emoji(request, parsed.emoji);
    }
    return std::nullopt;
}

std::string encode_base64(const store::byte_vector& bytes) {
    constexpr std::string_view alphabet =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    out.reserve((bytes.size() + 2) / 3 * 4);
    for (std::size_t index = 0; index < bytes.size(); index += 3) {
        const std::size_t left = bytes.size() - index;
        std::uint32_t group = static_cast<std::uint32_t>(bytes[index]) << 16;
        if (left > 1) {
            group |= static_cast<std::uint32_t>(bytes[index + 1]) << 8;
        }
        if (left > 2) {
            group |= static_cast<std::uint32_t>(bytes[index + 2]);
        }
        out += alphabet[(group >> 18) & 0x3F];
        out += alphabet[(group >> 12) & 0x3F];
        out += left > 1 ? alphabet[(group >> 6) & 0x3F] : '=';
        out += left > 2 ? alphabet[group & 0x3F] : '=';
    }
    return out;
}

json history_message(const store::history_record& record) {
    json message = {{"id", record.id},
                    {"sender", record.sender},
                    {"topic", record.topic},
                    {"ts", record.ts_unix_ms}};
    if (record.reply_to != 0) {
        message["reply_to"] = record.reply_to;
    }
    if (record.kind != store::history_kind::message) {
        message["event"] = event_name(record.kind);
        message["of"] = record.of_id;
    }
    if (record.edited_unix_ms != 0) {
        message["edited_ts"] = record.edited_unix_ms;
    }
    if (!record.reactions.empty()) {
        json reactions = json::object();
        for (const store::reaction_record& reaction : record.reactions) {
            reactions[reaction.emoji] = reaction.users;
        }
        message["reactions"] = std::move(reactions);
    }
    if (record.is_deleted) {
        message["deleted"] = true;
        return message;
    }
    const mqtt::byte_view bytes(record.payload.data(), record.payload.size());
    if (mqtt::is_well_formed_utf8(bytes)) {
        message["payload"] = std::string(record.payload.begin(), record.payload.end());
    } else {
        message["payload_base64"] = encode_base64(record.payload);
    }
    return message;
}

} // namespace

std::string normalize_conversation(std::string_view text) {
    const std::vector<std::string_view> levels = split_topic_levels(text);
    for (const std::string_view name : std::span(levels).subspan(1)) {
        if (!is_valid_chat_name(name)) {
            return {};
        }
    }
    if (levels.size() == 2 && levels[0] == "room") {
        return room_conversation(levels[1]);
    }
    if (levels.size() == 3 && levels[0] == "dm") {
        return direct_conversation(levels[1], levels[2]);
    }
    return {};
}

std::string_view to_string(control_operation operation) {
    for (const auto& [known, name] : operation_names) {
        if (known == operation) {
            return name;
        }
    }
    return "unknown";
}

std::variant<control_request, control_parse_error> parse_control_request(std::string_view payload) {
    const json request = json::parse(payload, nullptr, false);
    if (request.is_discarded() || !request.is_object()) {
        return control_parse_error{"the request is not a JSON object", {}};
    }
    const auto op = request.find("op");
    if (op == request.end() || !op->is_string()) {
        return control_parse_error{"missing \"op\"", {}};
    }
    const std::string name = op->get<std::string>();
    control_request parsed;
    bool is_known = false;
    for (const auto& [known, known_name] : operation_names) {
        if (known_name == name) {
            parsed.operation = known;
            is_known = true;
        }
    }
    if (!is_known) {
        return control_parse_error{"unknown op \"" + name + "\"", name};
    }
    if (auto error = read_fields(request, parsed)) {
        return control_parse_error{std::move(*error), name};
    }
    return parsed;
}

std::string format_control_reply(const control_reply& reply) {
    json out = {{"ok", reply.is_ok}};
    if (!reply.operation.empty()) {
        out["op"] = reply.operation;
    }
    if (!reply.is_ok) {
        out["error"] = reply.error;
    }
    if (reply.detail) {
        out["detail"] = *reply.detail;
    }
    if (reply.room) {
        out["room"] = *reply.room;
    }
    if (reply.user) {
        out["user"] = *reply.user;
    }
    if (reply.conversation) {
        out["conversation"] = *reply.conversation;
    }
    if (reply.names) {
        out[reply.operation == "members" ? "members" : "rooms"] = *reply.names;
    }
    if (reply.messages) {
        json messages = json::array();
        for (const store::history_record& record : *reply.messages) {
            messages.push_back(history_message(record));
        }
        out["messages"] = std::move(messages);
    }
    if (reply.id) {
        out["id"] = *reply.id;
    }
    if (reply.device) {
        out["device"] = *reply.device;
    }
    if (reply.token) {
        out["token"] = *reply.token;
    }
    if (reply.of) {
        out["of"] = *reply.of;
    }
    if (reply.read_states) {
        json conversations = json::array();
        for (const store::read_state_record& state : *reply.read_states) {
            conversations.push_back({{"conversation", state.conversation},
                                     {"last_id", state.last_id},
                                     {"read_id", state.read_id},
                                     {"unread", state.unread}});
        }
        out["conversations"] = std::move(conversations);
    }
    if (reply.extra_json) {
        const json extra = json::parse(*reply.extra_json, nullptr, false);
        if (extra.is_object()) {
            out.update(extra);
        }
    }
    return out.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string_view event_name(store::history_kind kind) {
    switch (kind) {
    case store::history_kind::message: return "message";
    case store::history_kind::edit: return "edit";
    case store::history_kind::deletion: return "delete";
    case store::history_kind::reaction_added:
    case store::history_kind::reaction_removed: return "reaction";
    }
    return "message";
}

std::string format_message_event(const control_request& request) {
    json out = {{"of", request.id}};
    switch (request.operation) {
    case control_operation::edit:
        out["type"] = "edit";
        out["text"] = request.text;
        break;
    case control_operation::remove_message: out["type"] = "delete"; break;
    default:
        out["type"] = "reaction";
        out["emoji"] = request.emoji;
        out["on"] = request.operation == control_operation::react;
        break;
    }
    return out.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string_view to_string(store::room_role role) {
    return role_names.at(static_cast<std::size_t>(role));
}

std::string_view to_string(store::room_visibility visibility) {
    return visibility_names.at(static_cast<std::size_t>(visibility));
}

std::string_view to_string(store::history_visibility visibility) {
    return history_names.at(static_cast<std::size_t>(visibility));
}

std::string format_presence(std::string_view user, std::size_t devices, std::uint64_t ts_unix_ms) {
    const json out = {{"user", user},
                      {"status", devices > 0 ? "online" : "offline"},
                      {"devices", devices},
                      {"ts", ts_unix_ms}};
    return out.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string format_read_signal(std::string_view user, std::string_view conversation,
                               std::uint64_t id) {
    const json out = {{"type", "read"}, {"user", user}, {"conversation", conversation}, {"id", id}};
    return out.dump(-1, ' ', false, json::error_handler_t::replace);
}

} // namespace perch::gateway
