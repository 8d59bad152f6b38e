// The Web Push control requests (docs/CHAT.md "Web Push"): reading push_key, push_subscribe,
// push_unsubscribe and push_preview, and the mentions a room message makes. The chat service
// carries them out (chat_push.cpp).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/chat/chat_control.hpp"

#include <nlohmann/json_fwd.hpp>

namespace perch::gateway {

/// The longest push endpoint URL accepted, in bytes.
inline constexpr std::size_t max_push_endpoint_bytes = 2'048;

/// Reads the fields of a push request into `parsed`: push_subscribe takes "device" and the
/// PushSubscription's "endpoint" and "keys" {"p256dh","auth"} (lengths and the point checked
/// here; the URL's scheme by the service), push_unsubscribe "device", push_preview "preview"
/// "on" or "off". The error when one is missing or invalid.
std::optional<std::string> read_push_fields(const nlohmann::json& request, control_request& parsed);

/// The users a message text mentions: every `@name` at the start or after a space, the name
/// running to the next space or one of , . : ; ! ? ) ] } " ' (so "@bob," names bob), each once,
/// in order of first mention.
std::vector<std::string> mentioned_names(std::string_view text);

} // namespace perch::gateway
