// The chat completions request and answer formats, with nlohmann::json (Debian's
// nlohmann-json3-dev) doing the JSON.
#include "gateway/assistant/completion_protocol.hpp"

#include <nlohmann/json.hpp>

namespace perch::gateway::assistant {
namespace {

using json = nlohmann::json;

/// The longest excerpt of a server's error message shown in chat.
constexpr std::size_t max_error_excerpt = 160;

std::string_view role_name(chat_role role) {
    switch (role) {
    case chat_role::system: return "system";
    case chat_role::assistant: return "assistant";
    case chat_role::user: break;
    }
    return "user";
}

std::string excerpt(std::string_view text) {
    std::string cut(text.substr(0, max_error_excerpt));
    for (char& c : cut) {
        if (static_cast<unsigned char>(c) < 0x20) {
            c = ' ';
        }
    }
    return text.size() > max_error_excerpt ? cut + "..." : cut;
}

/// choices[0].<member>.content as a string, if the document has that shape.
const json* first_choice_content(const json& document, std::string_view member) {
    if (!document.is_object()) {
        return nullptr;
    }
    const auto choices = document.find("choices");
    if (choices == document.end() || !choices->is_array() || choices->empty()) {
        return nullptr;
    }
    const json& choice = choices->front();
    if (!choice.is_object()) {
        return nullptr;
    }
    const auto part = choice.find(member);
    if (part == choice.end() || !part->is_object()) {
        return nullptr;
    }
    const auto content = part->find("content");
    return content == part->end() ? nullptr : &*content;
}

/// The error.message of `document` when it is an error object.
std::optional<std::string> error_message(const json& document) {
    if (!document.is_object()) {
        return std::nullopt;
    }
    const auto error = document.find("error");
    if (error == document.end()) {
        return std::nullopt;
    }
    if (error->is_string()) {
        return error->get<std::string>();
    }
    if (error->is_object()) {
        const auto message = error->find("message");
        if (message != error->end() && message->is_string()) {
            return message->get<std::string>();
        }
    }
    return std::string("unspecified error");
}

} // namespace

std::string build_completion_request(const completion_settings& settings,
                                     std::span<const chat_turn> turns, bool is_streamed) {
    json messages = json::array();
    for (const chat_turn& turn : turns) {
        messages.push_back({{"role", role_name(turn.role)}, {"content", turn.content}});
    }
    json request = {
        {"model", settings.model}, {"messages", std::move(messages)}, {"stream", is_streamed}};
    if (settings.max_tokens) {
        request["max_tokens"] = *settings.max_tokens;
    }
    if (settings.temperature) {
        request["temperature"] = *settings.temperature;
    }
    // Invalid UTF-8 in a chat message is replaced rather than refused: the request still goes.
    return request.dump(-1, ' ', false, json::error_handler_t::replace);
}

completion_result parse_completion_response(std::string_view body) {
    const json document = json::parse(body, nullptr, false);
    if (document.is_discarded()) {
        return completion_failure{"the model server's answer is not JSON"};
    }
    if (const auto message = error_message(document)) {
        return completion_failure{"the model server reported an error: " + excerpt(*message)};
    }
    const json* content = first_choice_content(document, "message");
    if (content == nullptr || !content->is_string()) {
        return completion_failure{"the model server's answer has no message content"};
    }
    std::string text = content->get<std::string>();
    if (text.empty()) {
        return completion_failure{"the model answered with an empty message"};
    }
    return text;
}

completion_failure describe_error_response(unsigned http_status, std::string_view body) {
    std::string text = "the model server answered HTTP " + std::to_string(http_status);
    const json document = json::parse(body, nullptr, false);
    if (!document.is_discarded()) {
        if (const auto message = error_message(document)) {
            text += ": " + excerpt(*message);
        }
    }
    return completion_failure{text, http_status == 429 ? failure_kind::rate_limited
                                                       : failure_kind::server_error};
}

completion_stream::state completion_stream::handle_event(const sse_event& event) {
    if (state_ != state::streaming) {
        return state_;
    }
    if (event.data == "[DONE]") {
        if (content_.empty()) {
            failure_ = {"the model answered with an empty message"};
            state_ = state::failed;
        } else {
            state_ = state::done;
        }
        return state_;
    }
    const json chunk = json::parse(event.data, nullptr, false);
    if (chunk.is_discarded()) {
        failure_ = {"the model server sent a chunk that is not JSON"};
        state_ = state::failed;
        return state_;
    }
    if (const auto message = error_message(chunk)) {
        failure_ = {"the model server reported an error: " + excerpt(*message)};
        state_ = state::failed;
        return state_;
    }
    const json* content = first_choice_content(chunk, "delta");
    if (content == nullptr || content->is_null()) {
        // Role announcements, finish reasons and usage chunks carry no text.
        return state_;
    }
    if (!content->is_string()) {
        failure_ = {"the model server sent a chunk whose content is not text"};
        state_ = state::failed;
        return state_;
    }
    const std::string& piece = content->get_ref<const std::string&>();
    if (content_.size() + piece.size() > max_content_bytes_) {
        failure_ = {"the model's answer is longer than the configured limit",
                    failure_kind::too_large};
        state_ = state::failed;
        return state_;
    }
    content_ += piece;
    return state_;
}

} // namespace perch::gateway::assistant
