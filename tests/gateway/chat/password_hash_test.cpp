// Tests of `$7$` password hashes: interchangeable with mosquitto_passwd, wrong passwords and
// malformed strings refused.
#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <string_view>

#include <gtest/gtest.h>

#include "gateway/chat/password_hash.hpp"

#include <unistd.h>

namespace perch::gateway {
namespace {

// Written by `mosquitto_passwd -c -b FILE alice secret` (Mosquitto 2.0.11).
constexpr std::string_view mosquitto_alice_secret =
    "$7$101$0m5QIjmsxysUFMWB$QJwrlNzaqYX5gAhdkc+fTy6hIoDc4uYONl0F+FUKGCTOJP1MHbBhnpXONBFOrbGi1N/"
    "PacPgqVaUrYcN7gQYRA==";

TEST(PasswordHash, AcceptsAHashWrittenByMosquittoPasswd) {
    EXPECT_TRUE(verify_password("secret", mosquitto_alice_secret));
    EXPECT_FALSE(verify_password("Secret", mosquitto_alice_secret));
    EXPECT_FALSE(verify_password("", mosquitto_alice_secret));
}

TEST(PasswordHash, AcceptsAHashTheMosquittoPasswdBinaryWritesNow) {
    const auto file = std::filesystem::path(::testing::TempDir()) /
                      ("perch-passwd-" + std::to_string(::getpid()));
    std::filesystem::remove(file);
    const std::string command =
        "mosquitto_passwd -c -b '" + file.string() + "' carol 'pässwörd with spaces' 2>&1";
    const int status = std::system(command.c_str());
    if (status != 0) {
        GTEST_SKIP() << "mosquitto_passwd is not available";
    }
    std::ifstream input(file);
    std::string line;
    ASSERT_TRUE(std::getline(input, line));
    std::filesystem::remove(file);
    ASSERT_TRUE(line.starts_with("carol:$7$")) << line;
    const std::string encoded = line.substr(6);
    EXPECT_TRUE(verify_password("pässwörd with spaces", encoded));
    EXPECT_FALSE(verify_password("pässwörd with space", encoded));
}

TEST(PasswordHash, RoundTripsWithMosquittoLayout) {
    const std::string encoded = hash_password("correct horse", 101);
    // $7$101$ + 16 Base64 characters of salt + $ + 88 of key.
    ASSERT_TRUE(encoded.starts_with("$7$101$")) << encoded;
    EXPECT_EQ(encoded.size(), 7u + 16u + 1u + 88u);
    EXPECT_EQ(encoded[7 + 16], '$');
    EXPECT_TRUE(verify_password("correct horse", encoded));
    EXPECT_FALSE(verify_password("correct horsf", encoded));
}

TEST(PasswordHash, NewHashesUseACurrentWorkFactor) {
    // Not Mosquitto's 101: OWASP's figure for PBKDF2-HMAC-SHA512.
    const std::string encoded = hash_password("correct horse");
    EXPECT_TRUE(encoded.starts_with("$7$210000$")) << encoded;
    EXPECT_EQ(password_hash_iterations(encoded), 210'000U);
    EXPECT_TRUE(verify_password("correct horse", encoded));
}

TEST(PasswordHash, ReadsTheIterationCountOfAHash) {
    EXPECT_EQ(password_hash_iterations(hash_password("pw", 101)), 101U);
    EXPECT_EQ(password_hash_iterations("$7$abc$c2FsdA==$aGFzaA=="), std::nullopt);
    EXPECT_EQ(password_hash_iterations("$6$salt$hash"), std::nullopt);
}

TEST(PasswordHash, UsesAFreshSaltEachTime) {
    EXPECT_NE(hash_password("same", 1), hash_password("same", 1));
}

TEST(PasswordHash, HonoursTheIterationCount) {
    const std::string encoded = hash_password("pw", 1000);
    EXPECT_TRUE(encoded.starts_with("$7$1000$")) << encoded;
    EXPECT_TRUE(verify_password("pw", encoded));
    // The count is part of the hash: the same salt and key under another count do not verify.
    std::string altered = encoded;
    altered.replace(3, 4, "1001");
    EXPECT_FALSE(verify_password("pw", altered));
}

TEST(PasswordHash, RefusesIterationCountsOutOfRange) {
    EXPECT_THROW(hash_password("pw", 0), std::invalid_argument);
    EXPECT_THROW(hash_password("pw", 0x8000'0000u), std::invalid_argument);
}

TEST(PasswordHash, MalformedStringsNeverVerify) {
    const std::string good(mosquitto_alice_secret);
    const std::string salt = "0m5QIjmsxysUFMWB";
    const std::string key = good.substr(good.rfind('$') + 1);
    const std::array<std::string, 17> malformed = {
        "",
        "secret",
        "$6$" + salt + "$" + key,
        "$7$",
        "$7$101$" + salt,
        "$7$101$" + salt + "$",
        "$7$$" + salt + "$" + key,
        "$7$0$" + salt + "$" + key,
        "$7$-1$" + salt + "$" + key,
        "$7$1x$" + salt + "$" + key,
        "$7$99999999999$" + salt + "$" + key,
        "$7$101$$" + key,
        "$7$101$0m5QIjmsxysUFMW$" + key,
        "$7$101$0m5QIjmsxysUFMW!$" + key,
        "$7$101$" + salt + "$" + key.substr(0, key.size() - 4),
        "$7$101$" + salt + "$" + key + "$",
        "$7$101$" + salt + "$" + key.substr(0, key.size() - 2) + "=A",
    };
    for (const auto& encoded : malformed) {
        EXPECT_FALSE(verify_password("secret", encoded)) << encoded;
        EXPECT_FALSE(is_valid_password_hash(encoded)) << encoded;
    }
    EXPECT_TRUE(is_valid_password_hash(good));
}

} // namespace
} // namespace perch::gateway
