// Tests of the per-address connection rate limiter: burst and rate per address, the flood rule,
// IPv6 /64 keys, and the bound on the addresses it remembers. Time is a parameter.
#include <chrono>
#include <cstdint>
#include <string>

#include <gtest/gtest.h>

#include "gateway/broker/connection_rate_limiter.hpp"

namespace perch::gateway {
namespace {

using namespace std::chrono_literals;

const connection_rate_limiter::time_point start = connection_rate_limiter::time_point{} + 1000s;

boost::asio::ip::address address(const std::string& text) {
    return boost::asio::ip::make_address(text);
}

TEST(ConnectionRateLimiter, EachAddressHasItsOwnBurstAndRate) {
    connection_rate_limiter limiter;
    limiter.set_limit({2, 3});
    for (int accepted = 0; accepted < 3; ++accepted) {
        ASSERT_EQ(limiter.admit(address("127.0.0.1"), start), connection_admission::accepted);
    }
    EXPECT_EQ(limiter.admit(address("127.0.0.1"), start), connection_admission::refused);
    // Another address is not affected, loopback or not.
    EXPECT_EQ(limiter.admit(address("127.0.0.2"), start), connection_admission::accepted);
    EXPECT_EQ(limiter.admit(address("192.0.2.7"), start), connection_admission::accepted);
    // Two per second.
    EXPECT_EQ(limiter.admit(address("127.0.0.1"), start + 499ms), connection_admission::refused);
    EXPECT_EQ(limiter.admit(address("127.0.0.1"), start + 500ms), connection_admission::accepted);
}

TEST(ConnectionRateLimiter, AnAddressFloodingPastTenSecondsOfItsRateIsDropped) {
    connection_rate_limiter limiter;
    limiter.set_limit({1, 1});
    ASSERT_EQ(limiter.admit(address("198.51.100.1"), start), connection_admission::accepted);
    for (std::uint64_t refused = 0; refused < connection_rate_limiter::flood_seconds; ++refused) {
        ASSERT_EQ(limiter.admit(address("198.51.100.1"), start), connection_admission::refused);
    }
    EXPECT_EQ(limiter.admit(address("198.51.100.1"), start), connection_admission::dropped);
    EXPECT_EQ(limiter.admit(address("198.51.100.1"), start + 1min), connection_admission::accepted);
}

TEST(ConnectionRateLimiter, AnIpv6AddressCountsByItsSlash64AndMappedIpv4AsIpv4) {
    connection_rate_limiter limiter;
    limiter.set_limit({1, 1});
    ASSERT_EQ(limiter.admit(address("2001:db8:1:2::1"), start), connection_admission::accepted);
    EXPECT_EQ(limiter.admit(address("2001:db8:1:2:ffff::9"), start), connection_admission::refused);
    EXPECT_EQ(limiter.admit(address("2001:db8:1:3::1"), start), connection_admission::accepted);
    ASSERT_EQ(limiter.admit(address("203.0.113.5"), start), connection_admission::accepted);
    EXPECT_EQ(limiter.admit(address("::ffff:203.0.113.5"), start), connection_admission::refused);
}

TEST(ConnectionRateLimiter, NoRateAcceptsEverythingAndRemembersNothing) {
    connection_rate_limiter limiter;
    limiter.set_limit({0, 1});
    for (int accepted = 0; accepted < 1000; ++accepted) {
        ASSERT_EQ(limiter.admit(address("127.0.0.1"), start), connection_admission::accepted);
    }
    EXPECT_EQ(limiter.tracked_addresses(), 0U);
}

TEST(ConnectionRateLimiter, ManyAddressesNeverGrowItPastItsBound) {
    constexpr std::size_t bound = 256;
    connection_rate_limiter limiter(bound);
    limiter.set_limit({1, 1});
    // 100,000 distinct IPv6 /64s in the same instant: every one busy.
    for (std::uint32_t index = 0; index < 100'000; ++index) {
        boost::asio::ip::address_v6::bytes_type bytes{0x20, 0x01, 0x0d, 0xb8};
        bytes[4] = static_cast<std::uint8_t>(index >> 24);
        bytes[5] = static_cast<std::uint8_t>(index >> 16);
        bytes[6] = static_cast<std::uint8_t>(index >> 8);
        bytes[7] = static_cast<std::uint8_t>(index);
        bytes[15] = 1;
        EXPECT_EQ(limiter.admit(boost::asio::ip::address_v6(bytes), start),
                  connection_admission::accepted);
        ASSERT_LE(limiter.tracked_addresses(), bound);
    }
    // Idle entries are forgotten: after a rest the map makes room without evicting busy ones.
    EXPECT_EQ(limiter.admit(address("127.0.0.1"), start + 1min), connection_admission::accepted);
    EXPECT_LE(limiter.tracked_addresses(), bound);
}

} // namespace
} // namespace perch::gateway
