// Tests of mqtt/lazy_map.hpp: an ordered map that behaves like std::map and costs one pointer
// while empty.
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "mqtt/lazy_map.hpp"

namespace perch::mqtt {
namespace {

using table = lazy_map<std::string, int, std::less<>>;

std::vector<std::string> keys_of(const table& map) {
    std::vector<std::string> keys;
    for (const auto& [key, value] : map) {
        keys.push_back(key);
    }
    return keys;
}

TEST(LazyMap, EmptyMapFindsAndIteratesOverNothing) {
    table map;
    EXPECT_TRUE(map.empty());
    EXPECT_EQ(map.size(), 0u);
    EXPECT_EQ(map.begin(), map.end());
    EXPECT_EQ(map.find("a"), map.end());
    EXPECT_EQ(map.count("a"), 0u);
    EXPECT_FALSE(map.contains("a"));
    EXPECT_THROW(map.at("a"), std::out_of_range);
    const table& view = map;
    EXPECT_EQ(view.begin(), view.end());
    EXPECT_EQ(view.find(std::string_view("a")), view.end());
    EXPECT_THROW(view.at("a"), std::out_of_range);
    EXPECT_TRUE(map.empty());
}

TEST(LazyMap, KeepsKeysOrderedAndUnique) {
    table map;
    EXPECT_TRUE(map.emplace("b", 2).second);
    EXPECT_TRUE(map.insert_or_assign("a", 1).second);
    EXPECT_FALSE(map.emplace("b", 20).second);
    EXPECT_EQ(map.at("b"), 2);
    EXPECT_FALSE(map.insert_or_assign(std::string("b"), 3).second);
    EXPECT_EQ(map.at("b"), 3);
    map.at("a") = 4;
    map["c"] = 5;
    EXPECT_EQ(map["c"], 5);
    ++map[std::string("c")];
    EXPECT_EQ(map.at("c"), 6);
    map.erase(map.find("c"));
    EXPECT_EQ(keys_of(map), (std::vector<std::string>{"a", "b"}));
    EXPECT_EQ(map.size(), 2u);
    EXPECT_EQ(map.count(std::string_view("a")), 1u);
    EXPECT_TRUE(map.contains("b"));
    const auto found = map.find(std::string_view("a"));
    ASSERT_NE(found, map.end());
    EXPECT_EQ(found->second, 4);
}

TEST(LazyMap, ErasingTheLastElementReleasesTheStorage) {
    table map;
    map.emplace("a", 1);
    map.emplace("b", 2);
    auto next = map.erase(map.find("a"));
    ASSERT_NE(next, map.end());
    EXPECT_EQ(next->first, "b");
    next = map.erase(next);
    EXPECT_EQ(next, map.end());
    EXPECT_TRUE(map.empty());
    EXPECT_EQ(map.begin(), map.end());
    map.emplace("c", 3);
    EXPECT_EQ(keys_of(map), std::vector<std::string>{"c"});
}

TEST(LazyMap, CopiesAreDeepAndMovesTransfer) {
    table map;
    map.emplace("x", 1);
    table copy = map;
    copy.emplace("y", 2);
    EXPECT_EQ(map.size(), 1u);
    EXPECT_EQ(copy.size(), 2u);
    EXPECT_FALSE(copy == map);
    table moved = std::move(copy);
    EXPECT_EQ(moved.size(), 2u);
    copy = map;
    EXPECT_TRUE(copy == map);
    table empty;
    copy = empty;
    EXPECT_TRUE(copy.empty());
    EXPECT_TRUE(copy == table{});
}

TEST(LazyMap, ClearEmptiesTheMap) {
    table map;
    map.emplace("a", 1);
    map.clear();
    EXPECT_TRUE(map.empty());
    map.emplace("b", 2);
    EXPECT_EQ(map.at("b"), 2);
}

} // namespace
} // namespace perch::mqtt
