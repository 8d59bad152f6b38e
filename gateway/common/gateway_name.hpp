// The name of this gateway among those chatting across bridges (docs/BRIDGES.md "Chat across
// gateways"): one topic level, the origin of the relay copies it sends. Knows nothing else.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace perch::gateway {

/// Why `name` cannot be a gateway name (1 to 64 letters, digits, `-`, `_`, `.`); empty when it
/// can.
std::optional<std::string> gateway_name_problem(std::string_view name);

/// The gateway name: `configured` when set, otherwise one derived from what stays the same
/// across restarts and differs between gateways: the host name and the absolute data_dir
/// (`{host}-{8 hex digits of a hash of the path}`, the host name cut to the allowed characters).
std::string effective_gateway_name(std::string_view configured, std::string_view data_dir);

} // namespace perch::gateway
