// Tests of the user and room name rule.
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "gateway/common/chat_names.hpp"

namespace perch::gateway {
namespace {

TEST(ChatNames, AcceptsOrdinaryNames) {
    const std::vector<std::string> names = {
        "alice",  "Bob_2",      "kitchen-talk",       "a", "with space", "émile",
        "日本語", "🦜parrot", std::string(64, 'x'),
    };
    for (const auto& name : names) {
        EXPECT_TRUE(is_valid_chat_name(name)) << name;
    }
}

TEST(ChatNames, RefusesEmptyAndTooLongNames) {
    EXPECT_FALSE(is_valid_chat_name(""));
    EXPECT_FALSE(is_valid_chat_name(std::string(65, 'x')));
    // 22 three-byte characters are 66 bytes: the limit counts bytes, not characters.
    std::string long_utf8;
    for (int i = 0; i < 22; ++i) {
        long_utf8 += "語";
    }
    EXPECT_FALSE(is_valid_chat_name(long_utf8));
}

TEST(ChatNames, RefusesTopicCharacters) {
    for (const std::string_view name : {"a/b", "a+", "#", "$SYS", "room#1"}) {
        EXPECT_FALSE(is_valid_chat_name(name)) << name;
    }
}

TEST(ChatNames, RefusesControlCharacters) {
    const std::vector<std::string> names = {
        std::string("a\0b", 3), "tab\there", "new\nline", "del\x7f", "c1\xc2\x85",
    };
    for (const auto& name : names) {
        EXPECT_FALSE(is_valid_chat_name(name));
    }
}

TEST(ChatNames, RefusesMalformedUtf8) {
    const std::vector<std::string> names = {
        "\xff",             // never a UTF-8 byte
        "a\x80",            // continuation without a lead
        "\xc3",             // truncated sequence
        "\xc0\xaf",         // overlong '/'
        "\xe0\x80\xaf",     // overlong '/'
        "\xed\xa0\x80",     // surrogate U+D800
        "\xf4\x90\x80\x80", // above U+10FFFF
        "\xe2\x82",         // truncated three-byte sequence
    };
    for (const auto& name : names) {
        EXPECT_FALSE(is_valid_chat_name(name));
    }
}

} // namespace
} // namespace perch::gateway
