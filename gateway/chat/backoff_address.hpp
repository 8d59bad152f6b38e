// The key under which the failed-login backoff counts a client's address (docs/ACCESS.md
// "Failed logins").
#pragma once

#include <string>
#include <string_view>

namespace perch::gateway {

/// The address the failed-login backoff counts under for `host` (host_of_remote_address): an
/// IPv4 address as it is (a mapped one unmapped), an IPv6 address as its /64 (`2001:db8:1:2::/64`),
/// since one IPv6 host typically holds a whole /64; `host` unchanged when it is not an address.
std::string backoff_address_key(std::string_view host);

} // namespace perch::gateway
