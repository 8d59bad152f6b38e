// Tests of the assistant's base URL parsing.
#include <string>

#include <gtest/gtest.h>

#include "gateway/common/endpoint_url.hpp"

namespace perch::gateway {
namespace {

std::optional<endpoint_url> parse(std::string_view text) {
    std::string problem;
    return parse_endpoint_url(text, problem);
}

TEST(EndpointUrl, PlainHttpWithPortAndVersionPath) {
    const auto url = parse("http://pi.local:8080/v1/");
    ASSERT_TRUE(url);
    EXPECT_FALSE(url->is_tls);
    EXPECT_EQ(url->host, "pi.local");
    EXPECT_EQ(url->port, 8080);
    EXPECT_EQ(url->base_path, "/v1");
    EXPECT_EQ(url->completions_target(), "/v1/chat/completions");
    EXPECT_EQ(url->host_header(), "pi.local:8080");
}

TEST(EndpointUrl, HttpsDefaultsToPort443AndOmitsItFromHost) {
    const auto url = parse("https://api.example.com/v1");
    ASSERT_TRUE(url);
    EXPECT_TRUE(url->is_tls);
    EXPECT_EQ(url->port, 443);
    EXPECT_EQ(url->host_header(), "api.example.com");
}

TEST(EndpointUrl, NoPathMeansTheRoot) {
    const auto url = parse("http://127.0.0.1");
    ASSERT_TRUE(url);
    EXPECT_EQ(url->port, 80);
    EXPECT_EQ(url->completions_target(), "/chat/completions");
}

TEST(EndpointUrl, IpV6AddressInBrackets) {
    const auto url = parse("http://[::1]:11434/v1");
    ASSERT_TRUE(url);
    EXPECT_EQ(url->host, "::1");
    EXPECT_EQ(url->port, 11434);
    EXPECT_EQ(url->host_header(), "[::1]:11434");
}

TEST(EndpointUrl, RefusesWhatItCannotUse) {
    for (const std::string_view bad :
         {"ftp://host/v1", "host:8080/v1", "http://", "http://:80/v1", "http://host:0/",
          "http://host:65536/", "http://host:/v1", "http://host:8o/", "http://user:pw@host/",
          "http://host/v1?key=1", "http://[::1/v1", "http://[::1]x/v1"}) {
        std::string problem;
        EXPECT_FALSE(parse_endpoint_url(bad, problem)) << bad;
        EXPECT_FALSE(problem.empty()) << bad;
    }
}

} // namespace
} // namespace perch::gateway
