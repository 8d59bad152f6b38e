// The assistant bot's failure replies and typing signal.
#include "gateway/assistant/assistant_reply.hpp"

#include <nlohmann/json.hpp>

namespace perch::gateway::assistant {

std::string_view failure_reply_text(failure_kind kind) {
    switch (kind) {
    case failure_kind::unreachable: return "Sorry, I cannot reach the model server right now.";
    case failure_kind::timeout: return "Sorry, the model server did not answer in time.";
    case failure_kind::rate_limited:
        return "Sorry, the model server is rate limiting me; please try again later.";
    case failure_kind::server_error: return "Sorry, the model server reported an error.";
    case failure_kind::bad_answer: return "Sorry, the model server sent an answer I cannot read.";
    case failure_kind::incomplete: return "Sorry, the model server's answer was cut off.";
    case failure_kind::too_large: return "Sorry, the model's answer was too long to send.";
    case failure_kind::cancelled: return "Sorry, I was stopped before I could answer.";
    }
    return "Sorry, something went wrong.";
}

std::string_view refusal_reply_text(refusal_kind kind) {
    switch (kind) {
    case refusal_kind::rate_limited:
        return "Sorry, too many questions right now; please wait a minute and ask again.";
    case refusal_kind::busy: return "Sorry, I am busy with other questions; please ask again soon.";
    }
    return "Sorry, something went wrong.";
}

std::string typing_signal_payload(std::string_view bot) {
    nlohmann::json signal;
    signal["type"] = "typing";
    signal["user"] = bot;
    return signal.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

} // namespace perch::gateway::assistant
