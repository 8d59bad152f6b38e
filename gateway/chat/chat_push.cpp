// The Web Push requests and notices of the chat service (docs/CHAT.md "Web Push"): the fields,
// who a message notifies, and the subscription and preview changes in the store.
#include "gateway/chat/chat_push.hpp"

#include <algorithm>

#include "gateway/chat/chat_service.hpp"
#include "gateway/common/chat_names.hpp"
#include "gateway/common/endpoint_url.hpp"
#include "gateway/common/stored_message_codec.hpp"
#include "gateway/common/topic_levels.hpp"
#include "gateway/push/web_push_crypto.hpp"

#include <nlohmann/json.hpp>

namespace perch::gateway {
namespace {

using json = nlohmann::json;

bool ends_mention(char character) {
    return std::string_view(" \t\r\n,.:;!?)]}\"'").find(character) != std::string_view::npos;
}

bool is_loopback_host(std::string_view host) {
    return host == "localhost" || host == "::1" || host.starts_with("127.");
}

control_outcome push_reply(const control_request& request, std::string error = {}) {
    control_outcome outcome;
    outcome.reply.operation = std::string(to_string(request.operation));
    outcome.reply.is_ok = error.empty();
    outcome.reply.error = std::move(error);
    return outcome;
}

std::optional<std::string> read_string(const json& object, std::string_view key, std::string& out) {
    const auto found = object.find(key);
    if (found == object.end() || !found->is_string()) {
        return "missing \"" + std::string(key) + "\"";
    }
    out = found->get<std::string>();
    return std::nullopt;
}

std::optional<std::string> read_device(const json& request, control_request& parsed) {
    if (auto error = read_string(request, "device", parsed.device)) {
        return error;
    }
    if (!is_valid_chat_name(parsed.device)) {
        return std::string("invalid \"device\" (1-64 bytes of UTF-8 without / + # $ or control "
                           "characters)");
    }
    return std::nullopt;
}

/// The completion of a push request's store change: the reply, and the in-memory record of
/// who has a subscription changed to match the store.
store::directory_completion push_change_done(push::push_subscribers& subscribers,
                                             const control_request& request,
                                             const std::string& user,
                                             std::function<void(control_outcome)> done) {
    return [&subscribers, request, user, done = std::move(done)](
               store::directory_result result, const store::store_status& status) {
        const bool is_unsubscribe = request.operation == control_operation::push_unsubscribe;
        switch (result) {
        case store::directory_result::done:
            if (request.operation == control_operation::push_subscribe) {
                subscribers.add(user, request.device);
            } else if (is_unsubscribe) {
                subscribers.remove(user, request.device);
            }
            done(push_reply(request));
            return;
        case store::directory_result::not_found:
            if (is_unsubscribe) {
                subscribers.remove(user, request.device);
            }
            done(push_reply(request,
                            is_unsubscribe ? "no subscription for this device" : "no such user"));
            return;
        default:
            done(push_reply(request, status.detail.empty() ? "the store failed" : status.detail));
            return;
        }
    };
}

} // namespace

std::optional<std::string> read_push_fields(const json& request, control_request& parsed) {
    switch (parsed.operation) {
    case control_operation::push_subscribe: {
        if (auto error = read_device(request, parsed)) {
            return error;
        }
        if (auto error = read_string(request, "endpoint", parsed.push_endpoint)) {
            return error;
        }
        if (parsed.push_endpoint.size() > max_push_endpoint_bytes) {
            return std::string("\"endpoint\" is too long");
        }
        const auto keys = request.find("keys");
        if (keys == request.end() || !keys->is_object()) {
            return std::string("missing \"keys\"");
        }
        if (auto error = read_string(*keys, "p256dh", parsed.push_p256dh)) {
            return error;
        }
        if (auto error = read_string(*keys, "auth", parsed.push_auth)) {
            return error;
        }
        const auto point = push::base64url_decode(parsed.push_p256dh);
        if (!point || !push::is_valid_public_key(*point)) {
            return std::string("\"keys.p256dh\" is not a P-256 public key (65 bytes, base64url)");
        }
        const auto auth = push::base64url_decode(parsed.push_auth);
        if (!auth || auth->size() != push::auth_secret_bytes) {
            return std::string("\"keys.auth\" is not 16 bytes of base64url");
        }
        return std::nullopt;
    }
    case control_operation::push_unsubscribe: return read_device(request, parsed);
    case control_operation::push_preview: {
        std::string value;
        if (auto error = read_string(request, "preview", value)) {
            return error;
        }
        if (value != "on" && value != "off") {
            return std::string("\"preview\" must be \"on\" or \"off\"");
        }
        parsed.is_push_preview_allowed = value == "on";
        return std::nullopt;
    }
    default: return std::nullopt;
    }
}

std::vector<std::string> mentioned_names(std::string_view text) {
    std::vector<std::string> names;
    for (std::size_t at = 0; at < text.size(); ++at) {
        if (text[at] != '@' ||
            (at > 0 && text[at - 1] != ' ' && text[at - 1] != '\n' && text[at - 1] != '\t')) {
            continue;
        }
        std::size_t end = at + 1;
        while (end < text.size() && !ends_mention(text[end])) {
            ++end;
        }
        std::string name(text.substr(at + 1, end - at - 1));
        if (is_valid_chat_name(name) &&
            std::find(names.begin(), names.end(), name) == names.end()) {
            names.push_back(std::move(name));
        }
        at = end;
    }
    return names;
}

void chat_service::offer_push(std::string_view conversation, std::string_view sender,
                              std::string_view text) const {
    if (!push_notifier_) {
        return;
    }
    const std::vector<std::string_view> levels = split_topic_levels(conversation);
    std::vector<std::string> recipients;
    std::string room;
    if (levels.size() == 3 && levels[0] == "dm") {
        recipients.emplace_back(levels[1] == sender ? levels[2] : levels[1]);
    } else if (levels.size() == 2 && levels[0] == "room") {
        room = std::string(levels[1]);
        for (std::string& name : mentioned_names(text)) {
            if (name != sender && directory_.is_member(room, name)) {
                recipients.push_back(std::move(name));
            }
        }
    }
    for (std::string& recipient : recipients) {
        // Most users have no subscription: their messages cost no store read.
        if (!push_subscribers_.has_any(recipient)) {
            continue;
        }
        {
            // A connected device sees the message live: no notification.
            std::shared_lock lock(presence_mutex_);
            if (devices_.contains(recipient)) {
                continue;
            }
        }
        if (relay_.remote_device_count(recipient) > 0) {
            // Connected at another gateway (docs/BRIDGES.md "Chat across gateways").
            continue;
        }
        push_notifier_(push::push_notice{std::move(recipient), std::string(sender), room,
                                         std::string(conversation), std::string(text)});
    }
}

void chat_service::handle_push(control_request request, std::string user,
                               std::function<void(control_outcome)> done) {
    if (!settings_.is_push_enabled) {
        done(push_reply(request, "push is off on this server (push false)"));
        return;
    }
    auto finish = push_change_done(push_subscribers_, request, user, done);
    switch (request.operation) {
    case control_operation::push_key: {
        control_outcome outcome = push_reply(request);
        outcome.reply.extra_json = json{{"public_key", settings_.push_public_key}}.dump();
        done(std::move(outcome));
        return;
    }
    case control_operation::push_subscribe: {
        std::string problem;
        const auto url = parse_endpoint_url(request.push_endpoint, problem);
        if (!url) {
            done(push_reply(request, "invalid \"endpoint\": " + problem));
            return;
        }
        if (!url->is_tls &&
            !(settings_.push_allow_insecure_endpoints && is_loopback_host(url->host))) {
            done(push_reply(request, "\"endpoint\" must be an https URL"));
            return;
        }
        store_->set_push_subscription(
            store::push_subscription_record{user, request.device, request.push_endpoint,
                                            request.push_p256dh, request.push_auth, unix_now_ms(),
                                            ""},
            finish);
        return;
    }
    case control_operation::push_unsubscribe:
        store_->remove_push_subscription(user, request.device, finish);
        return;
    case control_operation::push_preview:
        store_->set_push_preview(user, request.is_push_preview_allowed, finish);
        return;
    default: done(push_reply(request, "unknown op")); return;
    }
}

} // namespace perch::gateway
