// Tests of gateway/stream/inline_handler.hpp: calls, moves and releases what it holds, in place or
// not.
#include <array>
#include <functional>
#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "gateway/stream/inline_handler.hpp"

namespace perch::gateway {
namespace {

using handler = inline_handler<int(int)>;

TEST(InlineHandler, StartsEmptyAndCallsWhatItHolds) {
    handler none;
    EXPECT_FALSE(none);
    const handler twice([](int value) { return 2 * value; });
    ASSERT_TRUE(twice);
    EXPECT_EQ(twice(21), 42);
}

TEST(InlineHandler, KeepsACapturedOwnerAliveUntilReleased) {
    auto owner = std::make_shared<int>(7);
    handler held([owner](int value) { return *owner + value; });
    EXPECT_EQ(owner.use_count(), 2);
    EXPECT_EQ(held(1), 8);
    held = nullptr;
    EXPECT_FALSE(held);
    EXPECT_EQ(owner.use_count(), 1);
}

TEST(InlineHandler, MovingTransfersTheCallable) {
    auto owner = std::make_shared<int>(3);
    handler first([owner](int value) { return *owner * value; });
    handler second(std::move(first));
    EXPECT_FALSE(first); // NOLINT(bugprone-use-after-move): a moved-from handler is empty
    ASSERT_TRUE(second);
    EXPECT_EQ(second(5), 15);
    handler third;
    third = std::move(second);
    EXPECT_EQ(third(2), 6);
    EXPECT_EQ(owner.use_count(), 2);
}

TEST(InlineHandler, ACallableLargerThanItsSpaceGoesToTheHeap) {
    std::array<std::int64_t, 8> numbers{1, 2, 3, 4, 5, 6, 7, 8};
    auto owner = std::make_shared<std::string>("sum");
    handler large([numbers, owner](int value) {
        int sum = value;
        for (const auto number : numbers) {
            sum += static_cast<int>(number);
        }
        return sum;
    });
    static_assert(sizeof(numbers) > handler::capacity);
    EXPECT_EQ(large(0), 36);
    handler moved(std::move(large));
    EXPECT_EQ(moved(4), 40);
    EXPECT_EQ(owner.use_count(), 2);
    moved = nullptr;
    EXPECT_EQ(owner.use_count(), 1);
}

TEST(InlineHandler, AMoveOnlyCallableIsAccepted) {
    auto value = std::make_unique<int>(9);
    const handler held([value = std::move(value)](int added) { return *value + added; });
    EXPECT_EQ(held(1), 10);
}

TEST(InlineHandler, IsSmallerThanAStdFunction) {
    EXPECT_LT(sizeof(handler), sizeof(std::function<int(int)>));
}

TEST(InlineHandler, KeepsACapturedSharedPointerInPlace) {
    auto owner = std::make_shared<int>(1);
    auto callable = [owner](int value) { return *owner + value; };
    EXPECT_LE(sizeof(callable), handler::capacity);
    const handler held(std::move(callable));
    EXPECT_EQ(held(1), 2);
}

} // namespace
} // namespace perch::gateway
