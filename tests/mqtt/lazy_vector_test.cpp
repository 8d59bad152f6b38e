// Tests of mqtt/lazy_vector.hpp: a vector that behaves like std::vector and costs one pointer
// while empty.
#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "mqtt/lazy_vector.hpp"

namespace perch::mqtt {
namespace {

std::vector<int> items_of(const lazy_vector<int>& list) {
    return std::vector<int>(list.begin(), list.end());
}

TEST(LazyVector, EmptyVectorIteratesOverNothing) {
    lazy_vector<std::string> list;
    EXPECT_TRUE(list.empty());
    EXPECT_EQ(list.size(), 0u);
    EXPECT_EQ(list.begin(), list.end());
    const lazy_vector<std::string>& view = list;
    EXPECT_EQ(view.begin(), view.end());
    EXPECT_EQ(std::lower_bound(view.begin(), view.end(), std::string("a")), view.end());
}

TEST(LazyVector, InsertsKeepASortedList) {
    lazy_vector<int> list;
    for (const int value : {5, 1, 3, 9, 7}) {
        const auto position = std::lower_bound(list.begin(), list.end(), value);
        EXPECT_EQ(*list.insert(position, value), value);
    }
    EXPECT_EQ(items_of(list), (std::vector<int>{1, 3, 5, 7, 9}));
    const auto next = list.erase(std::lower_bound(list.begin(), list.end(), 5));
    EXPECT_EQ(*next, 7);
    list.push_back(11);
    EXPECT_EQ(items_of(list), (std::vector<int>{1, 3, 7, 9, 11}));
    EXPECT_EQ(list[2], 7);
    for (auto& value : list) {
        value *= 2;
    }
    EXPECT_EQ(items_of(list), (std::vector<int>{2, 6, 14, 18, 22}));
}

TEST(LazyVector, CopiesAreDeepAndMovesTransfer) {
    lazy_vector<int> list;
    list.push_back(1);
    lazy_vector<int> copy = list;
    copy.push_back(2);
    EXPECT_EQ(list.size(), 1u);
    EXPECT_EQ(copy.size(), 2u);
    EXPECT_FALSE(copy == list);
    lazy_vector<int> moved = std::move(copy);
    EXPECT_EQ(moved.size(), 2u);
    copy = list;
    EXPECT_TRUE(copy == list);
}

TEST(LazyVector, EmptiedVectorStaysUsableAndClearReleases) {
    lazy_vector<int> list;
    list.push_back(1);
    list.erase(list.begin());
    EXPECT_TRUE(list.empty());
    list.insert(list.end(), 2);
    EXPECT_EQ(items_of(list), std::vector<int>{2});
    list.clear();
    EXPECT_TRUE(list.empty());
    list.insert(list.begin(), 3);
    EXPECT_EQ(items_of(list), std::vector<int>{3});
}

} // namespace
} // namespace perch::mqtt
