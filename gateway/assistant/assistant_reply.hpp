// What the assistant bot says besides the model's answers: the short replies that tell a user
// why there is no answer, and the typing signal. Pure; no I/O.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "gateway/assistant/completion_protocol.hpp"

namespace perch::gateway::assistant {

/// Why the bot refused a request before asking the model.
enum class refusal_kind : std::uint8_t {
    /// The sender's or the global request rate is used up.
    rate_limited,
    /// assistant_max_concurrent requests are already in flight.
    busy,
};

/// The reply in chat when a call failed: one short sentence per kind, never the server's text
/// (which could hold anything) and never the API key.
std::string_view failure_reply_text(failure_kind kind);

/// The reply in chat when the bot refused a request.
std::string_view refusal_reply_text(refusal_kind kind);

/// The payload of a typing signal of `bot`: `{"type":"typing","user":BOT}`.
std::string typing_signal_payload(std::string_view bot);

} // namespace perch::gateway::assistant
