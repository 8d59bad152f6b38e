// Address and CIDR parsing, the ban lookup and the backoff's address key.
#include "gateway/chat/ban_list.hpp"

#include <algorithm>
#include <charconv>

#include "gateway/chat/backoff_address.hpp"

#include <arpa/inet.h>

namespace perch::gateway {

namespace {

constexpr std::array<std::uint8_t, 12> v4_mapped_prefix = {0, 0, 0, 0, 0,    0,
                                                           0, 0, 0, 0, 0xff, 0xff};

std::optional<address_block> parse_address(const std::string& text) {
    address_block block;
    if (::inet_pton(AF_INET, text.c_str(), block.bytes.data()) == 1) {
        block.prefix_bits = 32;
        return block;
    }
    if (::inet_pton(AF_INET6, text.c_str(), block.bytes.data()) != 1) {
        return std::nullopt;
    }
    if (std::equal(v4_mapped_prefix.begin(), v4_mapped_prefix.end(), block.bytes.begin())) {
        std::copy_n(block.bytes.begin() + 12, 4, block.bytes.begin());
        std::fill(block.bytes.begin() + 4, block.bytes.end(), std::uint8_t{0});
        block.prefix_bits = 32;
        return block;
    }
    block.is_v6 = true;
    block.prefix_bits = 128;
    return block;
}

} // namespace

bool address_block::contains(const address_block& address) const {
    if (is_v6 != address.is_v6) {
        return false;
    }
    const unsigned whole_bytes = prefix_bits / 8;
    if (!std::equal(bytes.begin(), bytes.begin() + whole_bytes, address.bytes.begin())) {
        return false;
    }
    const unsigned rest_bits = prefix_bits % 8;
    if (rest_bits == 0) {
        return true;
    }
    const auto mask = static_cast<std::uint8_t>(0xff << (8 - rest_bits));
    return (bytes[whole_bytes] & mask) == (address.bytes[whole_bytes] & mask);
}

std::optional<address_block> parse_address_block(std::string_view text) {
    const std::size_t slash = text.find('/');
    std::optional<address_block> block = parse_address(std::string(text.substr(0, slash)));
    if (!block || slash == std::string_view::npos) {
        return block;
    }
    const std::string_view bits = text.substr(slash + 1);
    unsigned prefix = 0;
    const auto [end, error] = std::from_chars(bits.data(), bits.data() + bits.size(), prefix);
    if (bits.empty() || error != std::errc() || end != bits.data() + bits.size() ||
        prefix > block->prefix_bits) {
        return std::nullopt;
    }
    block->prefix_bits = prefix;
    return block;
}

std::string_view host_of_remote_address(std::string_view remote_address) {
    const std::size_t colon = remote_address.rfind(':');
    return colon == std::string_view::npos ? std::string_view() : remote_address.substr(0, colon);
}

std::string backoff_address_key(std::string_view host) {
    std::optional<address_block> address = parse_address_block(host);
    if (!address) {
        return std::string(host);
    }
    std::array<char, INET6_ADDRSTRLEN> text{};
    if (!address->is_v6) {
        ::inet_ntop(AF_INET, address->bytes.data(), text.data(), text.size());
        return std::string(text.data());
    }
    std::fill(address->bytes.begin() + 8, address->bytes.end(), std::uint8_t{0});
    ::inet_ntop(AF_INET6, address->bytes.data(), text.data(), text.size());
    return std::string(text.data()) + "/64";
}

ban_list::ban_list(const std::vector<store::ban_record>& records) {
    entries_.reserve(records.size());
    for (const store::ban_record& record : records) {
        entry held{record, std::nullopt};
        if (record.kind == store::ban_kind::address) {
            held.block = parse_address_block(record.value);
        }
        entries_.push_back(std::move(held));
    }
}

const store::ban_record* ban_list::find(const ban_subject& subject,
                                        std::uint64_t now_unix_ms) const {
    if (entries_.empty()) {
        return nullptr;
    }
    std::optional<address_block> address;
    if (!subject.address.empty()) {
        address = parse_address_block(subject.address);
    }
    for (const entry& held : entries_) {
        const store::ban_record& ban = held.record;
        if (ban.expires_unix_ms != 0 && ban.expires_unix_ms <= now_unix_ms) {
            continue;
        }
        bool is_match = false;
        switch (ban.kind) {
        case store::ban_kind::user:
            is_match = !subject.user.empty() && subject.user == ban.value;
            break;
        case store::ban_kind::client:
            is_match = !subject.client_id.empty() && subject.client_id == ban.value;
            break;
        case store::ban_kind::address:
            is_match = held.block && address && held.block->contains(*address);
            break;
        }
        if (is_match) {
            return &ban;
        }
    }
    return nullptr;
}

std::string_view to_string(store::ban_kind kind) {
    switch (kind) {
    case store::ban_kind::user: return "user";
    case store::ban_kind::client: return "client";
    case store::ban_kind::address: return "address";
    }
    return "unknown";
}

} // namespace perch::gateway
