// Tests of the ban list: address and CIDR parsing (IPv4, IPv6, mapped IPv4), matching by user,
// client id and address, and expiry.
#include <gtest/gtest.h>

#include "gateway/chat/backoff_address.hpp"
#include "gateway/chat/ban_list.hpp"

namespace perch::gateway {
namespace {

bool in_block(std::string_view block, std::string_view address) {
    const auto parsed_block = parse_address_block(block);
    const auto parsed_address = parse_address_block(address);
    EXPECT_TRUE(parsed_block.has_value()) << block;
    EXPECT_TRUE(parsed_address.has_value()) << address;
    return parsed_block && parsed_address && parsed_block->contains(*parsed_address);
}

TEST(AddressBlock, ParsesAddressesAndPrefixes) {
    EXPECT_TRUE(parse_address_block("192.0.2.7"));
    EXPECT_TRUE(parse_address_block("10.0.0.0/8"));
    EXPECT_TRUE(parse_address_block("0.0.0.0/0"));
    EXPECT_TRUE(parse_address_block("::1"));
    EXPECT_TRUE(parse_address_block("2001:db8::/32"));
    EXPECT_FALSE(parse_address_block(""));
    EXPECT_FALSE(parse_address_block("alice"));
    EXPECT_FALSE(parse_address_block("10.0.0.0/33"));
    EXPECT_FALSE(parse_address_block("10.0.0.0/"));
    EXPECT_FALSE(parse_address_block("10.0.0.0/8x"));
    EXPECT_FALSE(parse_address_block("2001:db8::/129"));
    EXPECT_FALSE(parse_address_block("300.1.1.1"));
}

TEST(AddressBlock, MatchesIpv4Blocks) {
    EXPECT_TRUE(in_block("10.0.0.0/8", "10.200.3.4"));
    EXPECT_FALSE(in_block("10.0.0.0/8", "11.0.0.1"));
    EXPECT_TRUE(in_block("192.168.1.128/25", "192.168.1.200"));
    EXPECT_FALSE(in_block("192.168.1.128/25", "192.168.1.127"));
    EXPECT_TRUE(in_block("192.0.2.7", "192.0.2.7"));
    EXPECT_FALSE(in_block("192.0.2.7", "192.0.2.8"));
    EXPECT_TRUE(in_block("0.0.0.0/0", "203.0.113.9"));
    // Bits past the prefix do not matter.
    EXPECT_TRUE(in_block("10.1.2.3/8", "10.9.9.9"));
}

TEST(AddressBlock, MatchesIpv6BlocksAndMappedIpv4) {
    EXPECT_TRUE(in_block("2001:db8::/32", "2001:db8:1::5"));
    EXPECT_FALSE(in_block("2001:db8::/32", "2001:db9::5"));
    EXPECT_TRUE(in_block("fe80::/10", "febf::1"));
    EXPECT_FALSE(in_block("fe80::/10", "fec0::1"));
    EXPECT_TRUE(in_block("::1", "::1"));
    // A client on a dual-stack socket appears as ::ffff:a.b.c.d: an IPv4 ban still holds.
    EXPECT_TRUE(in_block("127.0.0.0/8", "::ffff:127.0.0.1"));
    // Families never match each other.
    EXPECT_FALSE(in_block("::/0", "127.0.0.1"));
    EXPECT_FALSE(in_block("0.0.0.0/0", "::1"));
}

TEST(AddressBlock, TakesTheHostOfARemoteAddress) {
    EXPECT_EQ(host_of_remote_address("127.0.0.1:5678"), "127.0.0.1");
    EXPECT_EQ(host_of_remote_address("::1:5678"), "::1");
    EXPECT_EQ(host_of_remote_address("unknown"), "");
}

TEST(AddressBlock, BackoffCountsAnIpv6HostByItsSlash64) {
    EXPECT_EQ(backoff_address_key("192.0.2.7"), "192.0.2.7");
    EXPECT_EQ(backoff_address_key("::ffff:192.0.2.7"), "192.0.2.7");
    EXPECT_EQ(backoff_address_key("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
    EXPECT_EQ(backoff_address_key("2001:db8:1:2:bbbb::9"), "2001:db8:1:2::/64");
    EXPECT_EQ(backoff_address_key("::1"), "::/64");
    EXPECT_EQ(backoff_address_key("in-process"), "in-process");
}

TEST(BanList, MatchesByKindAndSkipsExpiredBans) {
    const ban_list bans({
        {store::ban_kind::user, "mallory", "guessing", 0, 0},
        {store::ban_kind::client, "sensor-7", "", 0, 5'000},
        {store::ban_kind::address, "10.0.0.0/8", "", 0, 0},
        {store::ban_kind::address, "not an address", "", 0, 0},
    });
    const store::ban_record* found = bans.find({"mallory", "c", "192.0.2.1"}, 1'000);
    ASSERT_NE(found, nullptr);
    EXPECT_EQ(found->reason, "guessing");
    EXPECT_EQ(bans.find({"alice", "c", "192.0.2.1"}, 1'000), nullptr);
    // A user ban is on the user name, not on a client id spelled the same.
    EXPECT_EQ(bans.find({"", "mallory", "192.0.2.1"}, 1'000), nullptr);
    ASSERT_NE(bans.find({"", "sensor-7", "192.0.2.1"}, 4'999), nullptr);
    EXPECT_EQ(bans.find({"", "sensor-7", "192.0.2.1"}, 5'000), nullptr);
    ASSERT_NE(bans.find({"alice", "c", "10.1.1.1"}, 1'000), nullptr);
    EXPECT_EQ(bans.find({"alice", "c", "in-process"}, 1'000), nullptr);
    EXPECT_EQ(bans.find({"alice", "c", ""}, 1'000), nullptr);
    EXPECT_TRUE(ban_list().is_empty());
}

} // namespace
} // namespace perch::gateway
