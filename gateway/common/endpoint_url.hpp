// Where the assistant's chat completions endpoint lives: an http:// or https:// base URL as
// OpenAI-compatible servers document it (`http://pi.local:8080/v1`). Parsing only; no sockets. In
// common because the config checks assistant_endpoint with it and the assistant's client calls it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace perch::gateway {

/// A parsed base URL.
struct endpoint_url {
    bool is_tls = false;
    /// Host name or address as written (an IPv6 address without its brackets).
    std::string host;
    std::uint16_t port = 80;
    /// The path before `/chat/completions`, without a trailing slash ("" or "/v1").
    std::string base_path;

    /// The request target of the chat completions call: base_path + "/chat/completions".
    std::string completions_target() const;
    /// The Host header value: host, with the port when it is not the scheme's default.
    std::string host_header() const;
    bool operator==(const endpoint_url&) const = default;
};

/// Parses `text`. nullopt for another scheme, a missing host, a bad port, user info, a query or
/// a fragment; `problem` then says which.
std::optional<endpoint_url> parse_endpoint_url(std::string_view text, std::string& problem);

} // namespace perch::gateway
