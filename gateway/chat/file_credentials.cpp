// Who a file request comes from (docs/CHAT.md "Files", "Credentials"): a file token (Bearer) or
// the user's name and password (Basic, checked on the chat layer's password threads with the
// failed-login backoff), and the bans; and the file tokens the control request file_token issues.
#include <algorithm>
#include <memory>
#include <string>

#include <boost/beast/core/detail/base64.hpp>
#include <boost/beast/http/field.hpp>

#include "gateway/chat/backoff_address.hpp"
#include "gateway/chat/chat_service.hpp"
#include "gateway/chat/device_token.hpp"
#include "gateway/chat/file_disk.hpp"
#include "gateway/chat/file_http.hpp"
#include "gateway/chat/file_service.hpp"
#include "gateway/common/stored_message_codec.hpp"

#include <nlohmann/json.hpp>

namespace perch::gateway {

namespace http = boost::beast::http;
using json = nlohmann::json;

namespace {

/// A file token: 256 random bits after its prefix.
constexpr std::size_t token_bytes = 32;
constexpr std::string_view token_prefix = "pft_";
/// Tokens issued and still good, at most; past it the oldest expire early.
constexpr std::size_t max_tokens = 100'000;

} // namespace

control_outcome file_service::issue_token(const control_request& request, const std::string& user,
                                          std::uint64_t now_unix_ms) {
    control_outcome outcome;
    outcome.reply.operation = std::string(to_string(request.operation));
    std::string token;
    try {
        token = std::string(token_prefix) + random_hex(token_bytes);
    } catch (const std::exception& error) {
        outcome.reply.is_ok = false;
        outcome.reply.error = error.what();
        return outcome;
    }
    const std::uint64_t expires = now_unix_ms + settings_.token_lifetime_s * 1000ULL;
    {
        std::lock_guard lock(mutex_);
        std::erase_if(tokens_, [now_unix_ms](const auto& held) {
            return held.second.expires_unix_ms <= now_unix_ms;
        });
        if (tokens_.size() >= max_tokens) {
            tokens_.erase(
                std::min_element(tokens_.begin(), tokens_.end(), [](const auto& a, const auto& b) {
                    return a.second.expires_unix_ms < b.second.expires_unix_ms;
                }));
        }
        tokens_.insert_or_assign(device_token_hash(token), held_token{user, expires});
    }
    outcome.reply.token = std::move(token);
    outcome.reply.extra_json = json{{"expires_at", expires}}.dump();
    return outcome;
}

std::optional<std::string> file_service::user_of_token(std::string_view token,
                                                       std::uint64_t now_unix_ms) {
    if (!token.starts_with(token_prefix)) {
        return std::nullopt;
    }
    const std::string hash = device_token_hash(token);
    std::lock_guard lock(mutex_);
    const auto found = tokens_.find(hash);
    if (found == tokens_.end() || found->second.expires_unix_ms <= now_unix_ms) {
        return std::nullopt;
    }
    return found->second.user;
}

void file_service::handle(file_http_request request, std::string remote_address,
                          std::function<void(file_http_response)> done) {
    auto shared_request = std::make_shared<file_http_request>(std::move(request));
    authenticate(
        shared_request, std::move(remote_address),
        [this, shared_request, done](const std::string& user) {
            serve(std::move(*shared_request), user, done);
        },
        done);
}

void file_service::authenticate(std::shared_ptr<const file_http_request> request,
                                std::string remote_address,
                                std::function<void(const std::string& user)> then,
                                std::function<void(file_http_response)> refuse) {
    const std::string_view authorization = to_view((*request)[http::field::authorization]);
    const std::uint64_t now = unix_now_ms();
    const std::string host(host_of_remote_address(remote_address));
    auto admit = [this, request, host, now, then, refuse](const std::string& user) {
        const std::shared_ptr<const ban_list> bans = chat_.directory().bans();
        if (const store::ban_record* ban = bans->find(ban_subject{user, "", host}, now)) {
            counts_.refused_unauthorized.add();
            refuse(error_response(*request, http::status::forbidden, "banned",
                                  ban->reason.empty() ? "you are banned"
                                                      : "you are banned: " + ban->reason));
            return;
        }
        then(user);
    };
    if (authorization.starts_with("Bearer ")) {
        const std::optional<std::string> user =
            user_of_token(authorization.substr(std::string_view("Bearer ").size()), now);
        if (!user || !chat_.directory().has_user(*user)) {
            counts_.refused_unauthorized.add();
            refuse(unauthorized(*request, "the file token is unknown or expired"));
            return;
        }
        admit(*user);
        return;
    }
    if (!authorization.starts_with("Basic ")) {
        counts_.refused_unauthorized.add();
        refuse(unauthorized(*request, "send a file token (Bearer) or your user name and password "
                                      "(Basic)"));
        return;
    }
    const std::string_view encoded = authorization.substr(std::string_view("Basic ").size());
    std::string decoded(boost::beast::detail::base64::decoded_size(encoded.size()), '\0');
    const auto [written, read] =
        boost::beast::detail::base64::decode(decoded.data(), encoded.data(), encoded.size());
    decoded.resize(written);
    const std::size_t colon = decoded.find(':');
    // The decoder stops at the padding.
    const bool is_whole = encoded.find_first_not_of('=', read) == std::string_view::npos;
    if (!is_whole || colon == std::string::npos || colon == 0) {
        counts_.refused_unauthorized.add();
        refuse(unauthorized(*request, "malformed Basic credentials"));
        return;
    }
    std::string user = decoded.substr(0, colon);
    std::string password = decoded.substr(colon + 1);
    login_backoff& guard = chat_.login_guard();
    const std::string address_key = backoff_address_key(host);
    if (guard.is_refused(user, address_key, login_backoff::clock::now())) {
        counts_.refused_unauthorized.add();
        refuse(unauthorized(*request, "too many failed logins; try again later"));
        return;
    }
    auto checked = [this, request, user, address_key, admit, refuse](chat_login_result result) {
        login_backoff& backoff = chat_.login_guard();
        switch (result) {
        case chat_login_result::chat_user:
            backoff.record_success(user);
            admit(user);
            return;
        case chat_login_result::busy:
            refuse(error_response(*request, http::status::service_unavailable, "busy",
                                  "too many logins wait for their password check"));
            return;
        default:
            backoff.record_failure(user, address_key, login_backoff::clock::now());
            counts_.refused_unauthorized.add();
            refuse(unauthorized(*request, "bad user name or password"));
            return;
        }
    };
    const std::optional<chat_login_result> result =
        chat_.start_login_check(user, std::move(password), user, false, checked);
    if (result) {
        checked(*result);
    }
}

} // namespace perch::gateway
