// Tests of mqtt/reason_code.cpp: names and the 3.1.1 CONNACK return code mapping.
#include <gtest/gtest.h>

#include "mqtt/reason_code.hpp"

namespace perch::mqtt {
namespace {

TEST(ReasonCode, FailuresStartAt0x80) {
    // [MQTT-2.4] reason codes of 0x80 or greater indicate failure.
    EXPECT_FALSE(is_failure(reason_code::success));
    EXPECT_FALSE(is_failure(reason_code::re_authenticate));
    EXPECT_TRUE(is_failure(reason_code::unspecified_error));
    EXPECT_TRUE(is_failure(reason_code::wildcard_subscriptions_not_supported));
}

TEST(ReasonCode, NamesFollowTheSpecification) {
    EXPECT_EQ(to_string(reason_code::malformed_packet), "Malformed Packet");
    EXPECT_EQ(to_string(reason_code::quota_exceeded), "Quota exceeded");
    EXPECT_EQ(to_string(static_cast<reason_code>(0x03)), "Unknown");
    EXPECT_TRUE(is_defined_reason_code(0xA2));
    EXPECT_FALSE(is_defined_reason_code(0xA3));
    EXPECT_FALSE(is_defined_reason_code(0x05));
}

TEST(ReasonCode, ConnectReturnCodesRoundTrip) {
    // 3.1.1 section 3.2.2.3: return codes 0..5; 6..255 are reserved.
    for (std::uint8_t value = 0; value <= 5; ++value) {
        const auto code = from_connect_return_code(value);
        ASSERT_TRUE(code.has_value());
        EXPECT_EQ(static_cast<std::uint8_t>(to_connect_return_code(*code)), value);
    }
    EXPECT_FALSE(from_connect_return_code(6).has_value());
    EXPECT_EQ(to_connect_return_code(reason_code::server_busy),
              connect_return_code::server_unavailable);
    EXPECT_EQ(to_connect_return_code(reason_code::banned), connect_return_code::not_authorized);
}

} // namespace
} // namespace perch::mqtt
