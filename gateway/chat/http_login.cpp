// HTTP Basic logins for the chat layer's HTTP services: decoding, the backoff, the password or
// device-token check, and the bans.
#include "gateway/chat/http_login.hpp"

#include <boost/beast/core/detail/base64.hpp>

#include "gateway/chat/backoff_address.hpp"
#include "gateway/chat/ban_list.hpp"
#include "gateway/common/stored_message_codec.hpp"

namespace perch::gateway {

std::optional<std::string> ban_refusal(const chat_service& chat, std::string_view user,
                                       std::string_view host, std::uint64_t now_unix_ms) {
    const std::shared_ptr<const ban_list> bans = chat.directory().bans();
    const store::ban_record* ban = bans->find(ban_subject{user, "", host}, now_unix_ms);
    if (ban == nullptr) {
        return std::nullopt;
    }
    return ban->reason.empty() ? std::string("you are banned") : "you are banned: " + ban->reason;
}

void check_basic_login(chat_service& chat, std::string_view authorization, std::string host,
                       std::function<void(http_login)> done) {
    constexpr std::string_view scheme = "Basic ";
    if (!authorization.starts_with(scheme)) {
        done({http_login_outcome::unauthorized, "", "send your user name and password (Basic)"});
        return;
    }
    const std::string_view encoded = authorization.substr(scheme.size());
    std::string decoded(boost::beast::detail::base64::decoded_size(encoded.size()), '\0');
    const auto [written, read] =
        boost::beast::detail::base64::decode(decoded.data(), encoded.data(), encoded.size());
    decoded.resize(written);
    const std::size_t colon = decoded.find(':');
    // The decoder stops at the padding.
    const bool is_whole = encoded.find_first_not_of('=', read) == std::string_view::npos;
    if (!is_whole || colon == std::string::npos || colon == 0) {
        done({http_login_outcome::unauthorized, "", "malformed Basic credentials"});
        return;
    }
    std::string user = decoded.substr(0, colon);
    std::string password = decoded.substr(colon + 1);
    const std::string address_key = backoff_address_key(host);
    if (chat.login_guard().is_refused(user, address_key, login_backoff::clock::now())) {
        done({http_login_outcome::unauthorized, user, "too many failed logins; try again later"});
        return;
    }
    auto checked = [&chat, user, address_key, host, done](chat_login_result result) {
        login_backoff& backoff = chat.login_guard();
        switch (result) {
        case chat_login_result::chat_user:
            backoff.record_success(user);
            if (auto refusal = ban_refusal(chat, user, host, unix_now_ms())) {
                done({http_login_outcome::banned, user, std::move(*refusal)});
                return;
            }
            done({http_login_outcome::accepted, user, ""});
            return;
        case chat_login_result::busy:
            done({http_login_outcome::busy, user, "too many logins wait for their password check"});
            return;
        default:
            backoff.record_failure(user, address_key, login_backoff::clock::now());
            done({http_login_outcome::unauthorized, user, "bad user name or password"});
            return;
        }
    };
    const std::optional<chat_login_result> result =
        chat.start_login_check(user, std::move(password), user, false, checked);
    if (result) {
        checked(*result);
    }
}

} // namespace perch::gateway
