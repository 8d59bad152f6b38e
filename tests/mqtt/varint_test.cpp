// Tests of mqtt/varint.cpp: Variable Byte Integer boundaries, limits and the minimal-encoding rule.
#include <array>
#include <cstdint>
#include <vector>

#include <gtest/gtest.h>

#include "mqtt/varint.hpp"

namespace perch::mqtt {
namespace {

struct boundary_case {
    std::uint32_t value;
    std::vector<std::uint8_t> bytes;
};

// Spec table 1.5.5 (3.1.1 table 2.4): the first and last value of each encoded length.
const std::vector<boundary_case> boundaries = {
    {0, {0x00}},
    {127, {0x7F}},
    {128, {0x80, 0x01}},
    {16'383, {0xFF, 0x7F}},
    {16'384, {0x80, 0x80, 0x01}},
    {2'097'151, {0xFF, 0xFF, 0x7F}},
    {2'097'152, {0x80, 0x80, 0x80, 0x01}},
    {268'435'455, {0xFF, 0xFF, 0xFF, 0x7F}},
};

TEST(Varint, WritesEveryBoundaryInTheMinimumNumberOfBytes) {
    // [MQTT-1.5.5-1] the encoded value uses the minimum number of bytes.
    for (const auto& entry : boundaries) {
        SCOPED_TRACE(entry.value);
        std::array<std::uint8_t, max_varint_size> out{};
        ASSERT_EQ(varint_size(entry.value), entry.bytes.size());
        const std::size_t written = write_varint(entry.value, out);
        ASSERT_EQ(written, entry.bytes.size());
        EXPECT_EQ(std::vector<std::uint8_t>(out.begin(), out.begin() + written), entry.bytes);
    }
}

TEST(Varint, ReadsEveryBoundary) {
    for (const auto& entry : boundaries) {
        SCOPED_TRACE(entry.value);
        const varint_read result = read_varint(entry.bytes);
        ASSERT_EQ(result.status, varint_status::ok);
        EXPECT_EQ(result.value, entry.value);
        EXPECT_EQ(result.size, entry.bytes.size());
    }
}

TEST(Varint, StopsAtTheFirstByteWithoutContinuation) {
    const std::vector<std::uint8_t> bytes = {0x80, 0x01, 0xFF, 0xFF};
    const varint_read result = read_varint(bytes);
    ASSERT_EQ(result.status, varint_status::ok);
    EXPECT_EQ(result.value, 128U);
    EXPECT_EQ(result.size, 2U);
}

TEST(Varint, ReportsIncompleteInputAtEveryTruncation) {
    for (const auto& entry : boundaries) {
        for (std::size_t length = 0; length < entry.bytes.size(); ++length) {
            SCOPED_TRACE(entry.value);
            const byte_view prefix(entry.bytes.data(), length);
            EXPECT_EQ(read_varint(prefix).status, varint_status::incomplete);
        }
    }
}

TEST(Varint, RejectsAFifthByte) {
    // 1.5.5 (3.1.1 2.2.3): at most four bytes; a fourth byte with its continuation bit set is
    // malformed whether or not a fifth byte has arrived.
    const std::vector<std::uint8_t> five = {0xFF, 0xFF, 0xFF, 0xFF, 0x7F};
    EXPECT_EQ(read_varint(five).status, varint_status::malformed);
    const std::vector<std::uint8_t> four_continuing = {0x80, 0x80, 0x80, 0x80};
    EXPECT_EQ(read_varint(four_continuing).status, varint_status::malformed);
}

TEST(Varint, AcceptsLongerThanNecessaryEncodingsOnRead) {
    // [MQTT-1.5.5-1] binds the sender; as documented in varint.hpp the reader is liberal.
    const std::vector<std::uint8_t> zero_in_two = {0x80, 0x00};
    const varint_read result = read_varint(zero_in_two);
    ASSERT_EQ(result.status, varint_status::ok);
    EXPECT_EQ(result.value, 0U);
    EXPECT_EQ(result.size, 2U);
    const std::vector<std::uint8_t> one_in_four = {0x81, 0x80, 0x80, 0x00};
    EXPECT_EQ(read_varint(one_in_four).value, 1U);
}

TEST(Varint, RoundTripsSampledValues) {
    for (std::uint32_t value = 0; value < max_varint_value; value = value * 3 + 1) {
        std::array<std::uint8_t, max_varint_size> out{};
        const std::size_t written = write_varint(value, out);
        const varint_read result = read_varint(byte_view(out.data(), written));
        ASSERT_EQ(result.status, varint_status::ok);
        EXPECT_EQ(result.value, value);
    }
}

} // namespace
} // namespace perch::mqtt
