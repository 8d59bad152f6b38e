// Bans by user name, client id, and address or CIDR block (docs/ACCESS.md "Bans"), built from the
// store's ban records and asked at every CONNECT and after every ban change.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "store/chat_store.hpp"

namespace perch::gateway {

/// An IPv4 or IPv6 address with a prefix length: a single address has the full length (32, 128).
/// IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) are read as the IPv4 address.
struct address_block {
    bool is_v6 = false;
    /// The address bytes; IPv4 uses the first 4.
    std::array<std::uint8_t, 16> bytes{};
    unsigned prefix_bits = 0;

    /// True when `address` (a single address) lies in this block.
    bool contains(const address_block& address) const;
};

/// Parses `1.2.3.4`, `10.0.0.0/8`, `::1`, `fd00::/8`; empty when it is not one, or the prefix is
/// longer than the address.
std::optional<address_block> parse_address_block(std::string_view text);

/// The host part of a transport's remote_address() (`1.2.3.4:5678`, `::1:5678`): everything
/// before the last colon; empty when there is none.
std::string_view host_of_remote_address(std::string_view remote_address);

/// Who is connecting, as the ban checks see it.
struct ban_subject {
    /// The user name (or certificate identity); empty for an anonymous client.
    std::string_view user;
    std::string_view client_id;
    /// The remote host (host_of_remote_address); may be empty or not an address.
    std::string_view address;
};

/// An immutable set of bans; a change builds a new one.
class ban_list {
public:
    ban_list() = default;
    /// Keeps every record; an address ban whose value does not parse never matches.
    explicit ban_list(const std::vector<store::ban_record>& records);

    /// The ban that matches `subject` at `now_unix_ms` (expired ones do not), or nullptr.
    const store::ban_record* find(const ban_subject& subject, std::uint64_t now_unix_ms) const;

    bool is_empty() const { return entries_.empty(); }

private:
    struct entry {
        store::ban_record record;
        std::optional<address_block> block;
    };
    std::vector<entry> entries_;
};

/// The word of a ban kind: `user`, `client`, `address`.
std::string_view to_string(store::ban_kind kind);

} // namespace perch::gateway
