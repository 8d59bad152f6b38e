// parse_file_range: the single byte ranges of RFC 9110 section 14, what is unsatisfiable (416),
// and what is ignored (the whole file).
#include <gtest/gtest.h>

#include "gateway/chat/file_range.hpp"

namespace perch::gateway {
namespace {

using kind = file_range::kind;

void expect_part(std::string_view header, std::uint64_t size, std::uint64_t first,
                 std::uint64_t last) {
    const file_range range = parse_file_range(header, size);
    EXPECT_EQ(range.answer, kind::part) << header;
    EXPECT_EQ(range.first, first) << header;
    EXPECT_EQ(range.last, last) << header;
}

TEST(FileRange, ServesTheThreeFormsOfASingleRange) {
    expect_part("bytes=0-499", 10'000, 0, 499);
    expect_part("bytes=500-999", 10'000, 500, 999);
    expect_part("bytes=9500-", 10'000, 9500, 9999);
    expect_part("bytes=-500", 10'000, 9500, 9999);
    EXPECT_EQ(parse_file_range("bytes=500-999", 10'000).length(), 500U);
}

TEST(FileRange, CutsARangePastTheEndToTheEnd) {
    expect_part("bytes=9000-20000", 10'000, 9000, 9999);
    expect_part("bytes=-20000", 10'000, 0, 9999);
    expect_part("bytes=0-0", 1, 0, 0);
}

TEST(FileRange, IsUnsatisfiableWhenNoByteIsInIt) {
    EXPECT_EQ(parse_file_range("bytes=10000-", 10'000).answer, kind::unsatisfiable);
    EXPECT_EQ(parse_file_range("bytes=10000-10005", 10'000).answer, kind::unsatisfiable);
    EXPECT_EQ(parse_file_range("bytes=-0", 10'000).answer, kind::unsatisfiable);
}

TEST(FileRange, AnswersTheWholeFileForWhatItIgnores) {
    for (const std::string_view ignored :
         {"", "bytes=0-1,5-6", "items=0-5", "bytes=5-1", "bytes=a-b", "bytes=-", "bytes 0-5",
          "bytes=0-99999999999999999999999", "bytes=-x", "bytes=1-2-3"}) {
        EXPECT_EQ(parse_file_range(ignored, 10'000).answer, kind::whole) << ignored;
    }
}

TEST(FileRange, TakesTheUnitInAnyCaseAndSpacesAroundTheNumbers) {
    expect_part("Bytes= 2 - 4 ", 10, 2, 4);
}

} // namespace
} // namespace perch::gateway
