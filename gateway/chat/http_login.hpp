// The login of an HTTP request to the chat layer's services (the file API, the admin API): HTTP
// Basic with the user name and the password or a device token, checked off the caller's thread,
// counted in the failed-login backoff, bans refused. Knows no socket.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "gateway/chat/chat_service.hpp"

namespace perch::gateway {

/// What a login of an HTTP request came to.
enum class http_login_outcome {
    /// The credentials are good and the user is not banned: `user` names them.
    accepted,
    /// Missing, malformed or wrong credentials, or too many failed logins: 401.
    unauthorized,
    /// Too many password checks wait already: 503, try again later.
    busy,
    /// A ban holds the user or the address: 403.
    banned,
};

/// The result of check_basic_login.
struct http_login {
    http_login_outcome outcome = http_login_outcome::unauthorized;
    /// The user logged in (accepted, banned); may be empty otherwise.
    std::string user;
    /// Why not, for the response body; empty when accepted.
    std::string detail;
};

/// Why a ban refuses `user` connecting from `host` at `now_unix_ms` (`you are banned: reason`);
/// empty when no ban matches.
std::optional<std::string> ban_refusal(const chat_service& chat, std::string_view user,
                                       std::string_view host, std::uint64_t now_unix_ms);

/// Checks the `Authorization` header value `authorization` (`Basic base64(user:secret)`, the
/// secret a password or a device token) of a request from `host` (host_of_remote_address). A
/// failure is recorded in the login backoff and a success clears it; a user or address the
/// backoff refuses is refused unchecked. `done` runs once: on the caller's thread when no password
/// hash is checked (malformed, refused by the backoff, a device token), otherwise on a password
/// thread.
void check_basic_login(chat_service& chat, std::string_view authorization, std::string host,
                       std::function<void(http_login)> done);

} // namespace perch::gateway
