// Tests of mqtt/utf8.cpp: the UTF-8 Encoded String rules of both protocol levels.
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "mqtt/utf8.hpp"

namespace perch::mqtt {
namespace {

struct utf8_case {
    const char* name;
    std::vector<std::uint8_t> bytes;
    utf8_status expected;
};

byte_view view_of(const std::vector<std::uint8_t>& bytes) {
    return {bytes.data(), bytes.size()};
}

TEST(Utf8, ClassifiesStringsByTheSpecificationRules) {
    // 5.0 [MQTT-1.5.4-1] / 3.1.1 [MQTT-1.5.3-1] well-formed, no surrogates;
    // 5.0 [MQTT-1.5.4-2] / 3.1.1 [MQTT-1.5.3-2] no U+0000.
    const std::vector<utf8_case> cases = {
        {"empty", {}, utf8_status::valid},
        {"ascii", {'a', '/', 'b'}, utf8_status::valid},
        {"two byte", {0xC3, 0xA9}, utf8_status::valid},
        {"three byte", {0xE2, 0x82, 0xAC}, utf8_status::valid},
        {"four byte", {0xF0, 0x9F, 0x98, 0x80}, utf8_status::valid},
        {"last scalar", {0xF4, 0x8F, 0xBF, 0xBF}, utf8_status::valid},
        {"before surrogates", {0xED, 0x9F, 0xBF}, utf8_status::valid},
        {"after surrogates", {0xEE, 0x80, 0x80}, utf8_status::valid},
        {"noncharacter U+FFFF is well-formed", {0xEF, 0xBF, 0xBF}, utf8_status::valid},
        {"control U+0001 is well-formed", {0x01}, utf8_status::valid},
        {"null", {'a', 0x00, 'b'}, utf8_status::contains_null},
        {"null in long ascii run",
         {'a', 'b', 'c', 'd', 'e', 'f', 'g', 0x00, 'h'},
         utf8_status::contains_null},
        {"high surrogate", {0xED, 0xA0, 0x80}, utf8_status::ill_formed},
        {"low surrogate", {0xED, 0xBF, 0xBF}, utf8_status::ill_formed},
        {"overlong null", {0xC0, 0x80}, utf8_status::ill_formed},
        {"overlong two byte", {0xC1, 0xBF}, utf8_status::ill_formed},
        {"overlong three byte", {0xE0, 0x80, 0xAF}, utf8_status::ill_formed},
        {"overlong four byte", {0xF0, 0x80, 0x80, 0xAF}, utf8_status::ill_formed},
        {"above U+10FFFF", {0xF4, 0x90, 0x80, 0x80}, utf8_status::ill_formed},
        {"lead F5", {0xF5, 0x80, 0x80, 0x80}, utf8_status::ill_formed},
        {"lead FF", {0xFF}, utf8_status::ill_formed},
        {"stray continuation", {'a', 0x80}, utf8_status::ill_formed},
        {"truncated two byte", {0xC3}, utf8_status::ill_formed},
        {"truncated four byte", {0xF0, 0x9F, 0x98}, utf8_status::ill_formed},
        {"bad third byte", {0xE2, 0x82, 0x41}, utf8_status::ill_formed},
        {"bad byte after ascii run",
         {'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 0xC0, 0x80},
         utf8_status::ill_formed},
    };
    for (const auto& entry : cases) {
        SCOPED_TRACE(entry.name);
        EXPECT_EQ(check_utf8_string(view_of(entry.bytes)), entry.expected);
    }
}

TEST(Utf8, KeepsTheByteOrderMark) {
    // 5.0 [MQTT-1.5.4-3] / 3.1.1 [MQTT-1.5.3-3] 0xEF 0xBB 0xBF is U+FEFF, a valid character.
    const std::vector<std::uint8_t> with_mark = {0xEF, 0xBB, 0xBF, 'a'};
    EXPECT_EQ(check_utf8_string(view_of(with_mark)), utf8_status::valid);
}

TEST(Utf8, LimitsStringsTo65535Bytes) {
    // [MQTT-4.7.3-3] (both levels) and 1.5.4: the length prefix is two bytes.
    const std::string longest(max_string_size, 'a');
    EXPECT_EQ(check_utf8_string(longest), utf8_status::valid);
    const std::string too_long(max_string_size + 1, 'a');
    EXPECT_EQ(check_utf8_string(too_long), utf8_status::too_long);
}

TEST(Utf8, PayloadCheckAllowsNullAndAnyLength) {
    // 5.0 3.3.2.3.2: a UTF-8 payload must be well-formed; U+0000 is a well-formed character.
    std::vector<std::uint8_t> payload(70'000, 'x');
    payload[5] = 0x00;
    EXPECT_TRUE(is_well_formed_utf8(view_of(payload)));
    payload[69'999] = 0xC0;
    EXPECT_FALSE(is_well_formed_utf8(view_of(payload)));
}

} // namespace
} // namespace perch::mqtt
