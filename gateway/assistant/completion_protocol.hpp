// The OpenAI-compatible chat completions wire format: the JSON request perch sends, the JSON
// answer of a plain call, and the chunks of a streamed one (server-sent events). Pure functions
// over text; knows nothing about HTTP, sockets or the chat layer. Every input is untrusted: a
// malformed answer is a completion_failure, never an exception.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>

#include "gateway/assistant/sse_parser.hpp"

namespace perch::gateway::assistant {

/// Who said a turn of the conversation sent to the model.
enum class chat_role : std::uint8_t { system, user, assistant };

/// One turn: the system prompt, a person's message, or an earlier answer of the assistant.
struct chat_turn {
    chat_role role = chat_role::user;
    std::string content;
    bool operator==(const chat_turn&) const = default;
};

/// The request's model parameters.
struct completion_settings {
    std::string model;
    /// Upper bound on the answer's tokens; omitted from the request when empty.
    std::optional<std::uint32_t> max_tokens;
    /// Sampling temperature; omitted when empty (the server's default).
    std::optional<double> temperature;
};

/// What kind of failure ended a call, for counters and the reply shown in chat.
enum class failure_kind : std::uint8_t {
    /// The server could not be resolved, connected to, or spoken to (TLS included).
    unreachable,
    /// No complete answer within the call's timeout.
    timeout,
    /// HTTP 429: the server limits our requests.
    rate_limited,
    /// Any other non-2xx HTTP status.
    server_error,
    /// A 2xx answer that is not the expected JSON (or carries no text).
    bad_answer,
    /// The answer stopped before it was complete (connection closed mid-stream).
    incomplete,
    /// The answer is larger than the configured bound.
    too_large,
    /// The caller ended the call (completion_cancel::cancel, at shutdown).
    cancelled,
};

/// Why no answer could be taken from a response. `message` is short and safe to show in chat:
/// it never contains the request, the API key or more than a bounded excerpt of the answer.
struct completion_failure {
    std::string message;
    failure_kind kind = failure_kind::bad_answer;
    bool operator==(const completion_failure&) const = default;
};

/// The assistant's answer text, or why there is none.
using completion_result = std::variant<std::string, completion_failure>;

/// The JSON body of a chat completions request over `turns`, streamed or not.
std::string build_completion_request(const completion_settings& settings,
                                     std::span<const chat_turn> turns, bool is_streamed);

/// Reads the answer of a non-streamed call with HTTP status 2xx: choices[0].message.content.
completion_result parse_completion_response(std::string_view body);

/// A short description of a non-2xx answer: the status, and the server's error.message when the
/// body is the usual `{"error":{"message":...}}` (cut to a bounded length).
completion_failure describe_error_response(unsigned http_status, std::string_view body);

/// Assembles a streamed answer from its events: each `data` is a JSON chunk whose
/// choices[0].delta.content is appended, until `data: [DONE]`.
class completion_stream {
public:
    enum class state : std::uint8_t { streaming, done, failed };

    /// `max_content_bytes` bounds the assembled answer; past it the stream fails.
    explicit completion_stream(std::size_t max_content_bytes)
        : max_content_bytes_(max_content_bytes) {}

    /// Takes one event; returns the state after it. Events after done or failed are ignored.
    state handle_event(const sse_event& event);

    state current_state() const { return state_; }
    /// The answer assembled so far.
    const std::string& content() const { return content_; }
    /// Why the stream failed (state failed).
    const completion_failure& failure() const { return failure_; }

private:
    std::size_t max_content_bytes_;
    state state_ = state::streaming;
    std::string content_;
    completion_failure failure_;
};

} // namespace perch::gateway::assistant
