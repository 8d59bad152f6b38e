// packed_strings: a list of strings in one allocation.
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "mqtt/packed_strings.hpp"

namespace perch::mqtt {
namespace {

TEST(PackedStrings, KeepsEntriesInOrder) {
    packed_strings list;
    EXPECT_TRUE(list.empty());
    list.push_back("chat/room/kitchen/+");
    list.push_back("");
    list.push_back("chat/presence/alice");
    EXPECT_EQ(list.size(), 3U);
    EXPECT_EQ(list.to_vector(),
              (std::vector<std::string>{"chat/room/kitchen/+", "", "chat/presence/alice"}));
}

TEST(PackedStrings, ErasesOnlyAnEqualEntry) {
    packed_strings list;
    list.push_back("a/b");
    list.push_back("a/bc");
    list.push_back("a");
    EXPECT_FALSE(list.erase("a/"));
    EXPECT_FALSE(list.erase("b"));
    EXPECT_TRUE(list.erase("a/bc"));
    EXPECT_FALSE(list.contains("a/bc"));
    EXPECT_TRUE(list.contains("a/b"));
    EXPECT_TRUE(list.contains("a"));
    EXPECT_EQ(list.to_vector(), (std::vector<std::string>{"a/b", "a"}));
    EXPECT_TRUE(list.erase("a/b"));
    EXPECT_TRUE(list.erase("a"));
    EXPECT_TRUE(list.empty());
    EXPECT_EQ(list.size(), 0U);
    EXPECT_FALSE(list.erase("a"));
}

TEST(PackedStrings, AnEmptyEntryIsAnEntry) {
    packed_strings list;
    list.push_back("x");
    EXPECT_FALSE(list.contains(""));
    list.push_back("");
    EXPECT_TRUE(list.contains(""));
    EXPECT_TRUE(list.erase(""));
    EXPECT_EQ(list.to_vector(), (std::vector<std::string>{"x"}));
}

TEST(PackedStrings, VisitsEachEntry) {
    packed_strings list;
    list.push_back("one");
    list.push_back("two");
    std::vector<std::string> seen;
    list.for_each([&seen](std::string_view entry) { seen.emplace_back(entry); });
    EXPECT_EQ(seen, (std::vector<std::string>{"one", "two"}));
}

TEST(PackedStrings, ErasesTheFirstEntries) {
    packed_strings list;
    list.push_back("one");
    list.push_back("");
    list.push_back("three");
    list.erase_first(2);
    EXPECT_EQ(list.size(), 1U);
    EXPECT_EQ(list.to_vector(), (std::vector<std::string>{"three"}));
    list.erase_first(0);
    EXPECT_EQ(list.size(), 1U);
    list.erase_first(5);
    EXPECT_TRUE(list.empty());
    EXPECT_EQ(list.size(), 0U);
}

TEST(PackedStrings, KeepsALongListInOrder) {
    // Past a few dozen entries the list grows by half rather than exactly (a client subscribing
    // to its thousand filters one by one); what it holds is the same.
    packed_strings list;
    std::vector<std::string> expected;
    for (int index = 0; index < 2000; ++index) {
        expected.push_back("soak/storm/" + std::to_string(index) + "/+");
        list.push_back(expected.back());
    }
    EXPECT_EQ(list.size(), expected.size());
    EXPECT_EQ(list.to_vector(), expected);
    EXPECT_TRUE(list.erase("soak/storm/1000/+"));
    EXPECT_FALSE(list.contains("soak/storm/1000/+"));
    EXPECT_TRUE(list.contains("soak/storm/1999/+"));
}

} // namespace
} // namespace perch::mqtt
