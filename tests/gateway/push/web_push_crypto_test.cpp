// Web Push encryption against the example of RFC 8291 Appendix A, and VAPID tokens checked with
// the public key.
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "gateway/push/web_push_crypto.hpp"

#include <sys/stat.h>

namespace perch::gateway::push {
namespace {

// RFC 8291 Appendix A.
constexpr std::string_view plaintext = "When I grow up, I want to be a watermelon";
constexpr std::string_view as_private = "yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw";
constexpr std::string_view as_public =
    "BP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWA"
    "mS6TlzAC8wEqKK6PBru3jl7A8";
constexpr std::string_view ua_private = "q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94";
constexpr std::string_view ua_public =
    "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4"
    "bjyPjs7Vd8pZGH6SRpkNtoIAiw4";
constexpr std::string_view salt = "DGv6ra1nlYgDCS1FRnbzlw";
constexpr std::string_view auth_secret = "BTBZMqHH6r4Tts7J_aSIgg";
constexpr std::string_view expected_body =
    "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6"
    "TlzAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulc"
    "y4a-fN";

bytes decoded(std::string_view text) {
    auto out = base64url_decode(text);
    EXPECT_TRUE(out.has_value()) << text;
    return out.value_or(bytes{});
}

p256_key_pair pair_of(std::string_view private_key, std::string_view public_key) {
    p256_key_pair pair;
    const bytes scalar = decoded(private_key);
    const bytes point = decoded(public_key);
    std::copy(scalar.begin(), scalar.end(), pair.private_key.begin());
    std::copy(point.begin(), point.end(), pair.public_key.begin());
    return pair;
}

TEST(WebPushCrypto, Base64urlRoundTrips) {
    EXPECT_EQ(base64url_encode(std::string_view("")), "");
    EXPECT_EQ(base64url_encode(std::string_view("f")), "Zg");
    EXPECT_EQ(base64url_encode(std::string_view("fo")), "Zm8");
    EXPECT_EQ(base64url_encode(std::string_view("foo")), "Zm9v");
    EXPECT_EQ(base64url_encode(bytes{0xfb, 0xff}), "-_8");
    EXPECT_EQ(decoded("-_8="), (bytes{0xfb, 0xff}));
    EXPECT_FALSE(base64url_decode("ab+c").has_value());
    EXPECT_FALSE(base64url_decode("abcde").has_value());
}

TEST(WebPushCrypto, EncryptsTheRfc8291Example) {
    std::array<std::uint8_t, 16> salt_array{};
    const bytes salt_bytes_ = decoded(salt);
    std::copy(salt_bytes_.begin(), salt_bytes_.end(), salt_array.begin());
    const bytes body = encrypt_message(plaintext, decoded(ua_public), decoded(auth_secret),
                                       pair_of(as_private, as_public), salt_array);
    EXPECT_EQ(base64url_encode(body), expected_body);
}

TEST(WebPushCrypto, DecryptsTheRfc8291Example) {
    const auto text = decrypt_message(decoded(expected_body), pair_of(ua_private, ua_public),
                                      decoded(auth_secret));
    ASSERT_TRUE(text.has_value());
    EXPECT_EQ(*text, plaintext);
}

TEST(WebPushCrypto, RefusesATamperedBody) {
    bytes body = decoded(expected_body);
    body[body.size() - 20] ^= 1;
    EXPECT_FALSE(
        decrypt_message(body, pair_of(ua_private, ua_public), decoded(auth_secret)).has_value());
}

TEST(WebPushCrypto, FreshKeysRoundTrip) {
    const p256_key_pair ua = generate_key_pair();
    const bytes ua_point(ua.public_key.begin(), ua.public_key.end());
    EXPECT_TRUE(is_valid_public_key(ua_point));
    const bytes auth(16, 7);
    const bytes body = encrypt_message("New message from alice", ua_point, auth);
    EXPECT_EQ(body.size(), header_bytes + 22 + 1 + 16);
    EXPECT_EQ(decrypt_message(body, ua, auth), "New message from alice");
    EXPECT_FALSE(decrypt_message(body, generate_key_pair(), auth).has_value());
}

TEST(WebPushCrypto, RefusesKeysOfTheWrongShape) {
    EXPECT_FALSE(is_valid_public_key(bytes(65, 4)));
    EXPECT_FALSE(is_valid_public_key(bytes(33, 2)));
    EXPECT_THROW(encrypt_message("x", bytes(64, 4), bytes(16, 1)), std::invalid_argument);
    EXPECT_THROW(encrypt_message("x", decoded(ua_public), bytes(15, 1)), std::invalid_argument);
}

TEST(WebPushCrypto, VapidTokenVerifiesWithThePublicKey) {
    const p256_key_pair key = generate_key_pair();
    const vapid_claims claims{"https://push.example.net", 1700000000, "mailto:ops@example.org"};
    const std::string token = make_vapid_token(claims, key);
    const bytes point(key.public_key.begin(), key.public_key.end());
    const auto verified = verify_vapid_token(token, point);
    ASSERT_TRUE(verified.has_value());
    EXPECT_EQ(verified->audience, claims.audience);
    EXPECT_EQ(verified->expires_unix_s, claims.expires_unix_s);
    EXPECT_EQ(verified->subject, claims.subject);

    // Another key, or a changed claim, fails.
    const p256_key_pair other = generate_key_pair();
    EXPECT_FALSE(
        verify_vapid_token(token, bytes(other.public_key.begin(), other.public_key.end())));
    std::string forged = token;
    forged[forged.find('.') + 2] ^= 1;
    EXPECT_FALSE(verify_vapid_token(forged, point).has_value());

    const std::string header = vapid_authorization(claims, key);
    EXPECT_EQ(header.rfind("vapid t=", 0), 0U);
    EXPECT_NE(header.find(", k=" + base64url_encode(point)), std::string::npos);
}

TEST(WebPushCrypto, VapidKeyIsCreatedOnceWithMode0600) {
    const std::filesystem::path dir =
        std::filesystem::temp_directory_path() /
        ("perch-vapid-" + std::to_string(::getpid()) + "-" + std::to_string(std::rand()));
    std::filesystem::create_directories(dir);
    const auto path = dir / "vapid.key";
    const p256_key_pair first = load_or_create_vapid_key(path);
    struct stat status {};
    ASSERT_EQ(::stat(path.c_str(), &status), 0);
    EXPECT_EQ(status.st_mode & 0777, 0600U);
    const p256_key_pair second = load_or_create_vapid_key(path);
    EXPECT_EQ(first.private_key, second.private_key);
    EXPECT_EQ(first.public_key, second.public_key);

    std::ofstream(path, std::ios::trunc) << "short";
    EXPECT_THROW(load_or_create_vapid_key(path), std::runtime_error);
    std::filesystem::remove_all(dir);
}

} // namespace
} // namespace perch::gateway::push
