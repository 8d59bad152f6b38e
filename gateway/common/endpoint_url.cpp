// Parsing of the assistant's base URL.
#include "gateway/common/endpoint_url.hpp"

#include <charconv>

namespace perch::gateway {

std::string endpoint_url::completions_target() const {
    return base_path + "/chat/completions";
}

std::string endpoint_url::host_header() const {
    const bool is_default_port = port == (is_tls ? 443 : 80);
    const std::string shown = host.find(':') != std::string::npos ? "[" + host + "]" : host;
    return is_default_port ? shown : shown + ":" + std::to_string(port);
}

std::optional<endpoint_url> parse_endpoint_url(std::string_view text, std::string& problem) {
    endpoint_url url;
    if (text.starts_with("http://")) {
        text.remove_prefix(7);
    } else if (text.starts_with("https://")) {
        text.remove_prefix(8);
        url.is_tls = true;
        url.port = 443;
    } else {
        problem = "the URL must start with http:// or https://";
        return std::nullopt;
    }
    if (text.find_first_of("?#") != std::string_view::npos) {
        problem = "a query or fragment is not allowed in the base URL";
        return std::nullopt;
    }
    const std::size_t path_start = text.find('/');
    std::string_view authority = text.substr(0, path_start);
    std::string_view path = path_start == std::string_view::npos ? "" : text.substr(path_start);
    if (authority.find('@') != std::string_view::npos) {
        problem = "user information in the URL is not allowed (use the API key setting)";
        return std::nullopt;
    }
    std::string_view port_text;
    if (authority.starts_with("[")) {
        const std::size_t close = authority.find(']');
        if (close == std::string_view::npos) {
            problem = "an IPv6 address is missing its ']'";
            return std::nullopt;
        }
        url.host = std::string(authority.substr(1, close - 1));
        const std::string_view rest = authority.substr(close + 1);
        if (!rest.empty() && !rest.starts_with(":")) {
            problem = "unexpected text after the IPv6 address";
            return std::nullopt;
        }
        port_text = rest.empty() ? "" : rest.substr(1);
    } else {
        const std::size_t colon = authority.rfind(':');
        url.host = std::string(authority.substr(0, colon));
        port_text = colon == std::string_view::npos ? "" : authority.substr(colon + 1);
        if (colon != std::string_view::npos && port_text.empty()) {
            problem = "the port after ':' is empty";
            return std::nullopt;
        }
    }
    if (url.host.empty()) {
        problem = "the URL names no host";
        return std::nullopt;
    }
    if (!port_text.empty()) {
        unsigned value = 0;
        const auto [end, error] =
            std::from_chars(port_text.data(), port_text.data() + port_text.size(), value);
        if (error != std::errc() || end != port_text.data() + port_text.size() || value == 0 ||
            value > 65535) {
            problem = "the port must be a number from 1 to 65535";
            return std::nullopt;
        }
        url.port = static_cast<std::uint16_t>(value);
    }
    while (path.ends_with("/")) {
        path.remove_suffix(1);
    }
    url.base_path = std::string(path);
    return url;
}

} // namespace perch::gateway
