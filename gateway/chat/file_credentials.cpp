// Who a file request comes from (docs/CHAT.md "Files", "Credentials"): a file token (Bearer) or
// the user's name and password or device token (Basic, http_login.hpp: the chat layer's password
// threads and the failed-login backoff), and the bans; and the file tokens op file_token issues.
#include <algorithm>
#include <memory>
#include <string>

#include <boost/beast/http/field.hpp>

#include "gateway/chat/chat_service.hpp"
#include "gateway/chat/device_token.hpp"
#include "gateway/chat/file_disk.hpp"
#include "gateway/chat/file_http.hpp"
#include "gateway/chat/file_service.hpp"
#include "gateway/chat/http_login.hpp"
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
    const std::string host(host_of_remote_address(remote_address));
    if (authorization.starts_with("Bearer ")) {
        const std::uint64_t now = unix_now_ms();
        const std::optional<std::string> user =
            user_of_token(authorization.substr(std::string_view("Bearer ").size()), now);
        if (!user || !chat_.directory().has_user(*user)) {
            counts_.refused_unauthorized.add();
            refuse(unauthorized(*request, "the file token is unknown or expired"));
            return;
        }
        if (auto refusal = ban_refusal(chat_, *user, host, now)) {
            counts_.refused_unauthorized.add();
            refuse(error_response(*request, http::status::forbidden, "banned", *refusal));
            return;
        }
        then(*user);
        return;
    }
    if (!authorization.starts_with("Basic ")) {
        counts_.refused_unauthorized.add();
        refuse(unauthorized(*request, "send a file token (Bearer) or your user name and password "
                                      "(Basic)"));
        return;
    }
    check_basic_login(chat_, authorization, host, [this, request, then, refuse](http_login login) {
        switch (login.outcome) {
        case http_login_outcome::accepted: then(login.user); return;
        case http_login_outcome::busy:
            refuse(
                error_response(*request, http::status::service_unavailable, "busy", login.detail));
            return;
        case http_login_outcome::banned:
            counts_.refused_unauthorized.add();
            refuse(error_response(*request, http::status::forbidden, "banned", login.detail));
            return;
        case http_login_outcome::unauthorized:
            counts_.refused_unauthorized.add();
            refuse(unauthorized(*request, login.detail));
            return;
        }
    });
}

} // namespace perch::gateway
