// Tests of mqtt/lazy_deque.hpp: a queue that behaves like std::deque and costs nothing while
// empty.
#include <string>
#include <utility>

#include <gtest/gtest.h>

#include "mqtt/lazy_deque.hpp"

namespace perch::mqtt {
namespace {

TEST(LazyDeque, EmptyQueueIteratesOverNothing) {
    lazy_deque<std::string> queue;
    EXPECT_TRUE(queue.empty());
    EXPECT_EQ(queue.size(), 0u);
    EXPECT_EQ(queue.begin(), queue.end());
    const lazy_deque<std::string>& view = queue;
    EXPECT_EQ(view.begin(), view.end());
}

TEST(LazyDeque, KeepsFirstInFirstOutOrder) {
    lazy_deque<std::string> queue;
    queue.push_back("a");
    queue.emplace_back("b");
    queue.push_back("c");
    ASSERT_EQ(queue.size(), 3u);
    EXPECT_EQ(queue.front(), "a");
    EXPECT_EQ(queue.back(), "c");
    EXPECT_EQ(queue[1], "b");
    queue.pop_front();
    EXPECT_EQ(queue.front(), "b");
    const auto next = queue.erase(queue.begin());
    EXPECT_EQ(*next, "c");
    EXPECT_EQ(queue.size(), 1u);
}

TEST(LazyDeque, CopiesAreDeepAndMovesTransfer) {
    lazy_deque<std::string> queue;
    queue.push_back("x");
    lazy_deque<std::string> copy = queue;
    copy.push_back("y");
    EXPECT_EQ(queue.size(), 1u);
    EXPECT_EQ(copy.size(), 2u);
    EXPECT_FALSE(copy == queue);
    lazy_deque<std::string> moved = std::move(copy);
    EXPECT_EQ(moved.size(), 2u);
    copy = queue;
    EXPECT_TRUE(copy == queue);
}

TEST(LazyDeque, ClearAndReleaseEmptyTheQueue) {
    lazy_deque<int> queue;
    queue.push_back(1);
    queue.release_if_empty();
    EXPECT_EQ(queue.size(), 1u);
    queue.pop_front();
    queue.release_if_empty();
    EXPECT_TRUE(queue.empty());
    queue.push_back(2);
    queue.clear();
    EXPECT_TRUE(queue.empty());
    queue.push_back(3);
    EXPECT_EQ(queue.front(), 3);
}

} // namespace
} // namespace perch::mqtt
