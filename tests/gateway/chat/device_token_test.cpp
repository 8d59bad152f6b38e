// Tests of device tokens: their form, their randomness and the hash the store keeps.
#include <string>

#include <gtest/gtest.h>

#include "gateway/chat/device_token.hpp"

namespace perch::gateway {
namespace {

TEST(DeviceToken, IsThePrefixAnd256RandomBitsInHex) {
    const std::string token = make_device_token();
    EXPECT_EQ(token.size(), 4U + 64U);
    EXPECT_TRUE(token.starts_with("tok:")) << token;
    EXPECT_TRUE(is_device_token(token)) << token;
    EXPECT_NE(make_device_token(), token);
}

TEST(DeviceToken, RecognisesOnlyTheExactForm) {
    const std::string digits(64, 'a');
    EXPECT_TRUE(is_device_token("tok:" + digits));
    EXPECT_FALSE(is_device_token("tok:" + digits.substr(1)));
    EXPECT_FALSE(is_device_token("tok:" + digits + "a"));
    EXPECT_FALSE(is_device_token("tok:" + std::string(63, 'a') + "A"));
    EXPECT_FALSE(is_device_token("tok:" + std::string(63, 'a') + "g"));
    EXPECT_FALSE(is_device_token("TOK:" + digits));
    EXPECT_FALSE(is_device_token("correct horse battery staple"));
}

TEST(DeviceToken, HashIsTheSha256InHex) {
    // SHA-256("abc"), FIPS 180-2 appendix B.1.
    EXPECT_EQ(device_token_hash("abc"),
              "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    const std::string token = make_device_token();
    EXPECT_EQ(device_token_hash(token), device_token_hash(token));
    EXPECT_NE(device_token_hash(token), device_token_hash(make_device_token()));
}

TEST(DeviceToken, ComparesWholeStrings) {
    EXPECT_TRUE(equal_in_constant_time("abc", "abc"));
    EXPECT_FALSE(equal_in_constant_time("abc", "abd"));
    EXPECT_FALSE(equal_in_constant_time("abc", "abcd"));
    EXPECT_TRUE(equal_in_constant_time("", ""));
}

} // namespace
} // namespace perch::gateway
