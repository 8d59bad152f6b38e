// Tests of the queue ledger: identifier allocation and the per-session queue caps.
#include <gtest/gtest.h>

#include "store/queue_ledger.hpp"

namespace perch::store {
namespace {

std::vector<queue_target> targets(std::initializer_list<const char*> client_ids) {
    std::vector<queue_target> result;
    for (const char* client_id : client_ids) {
        result.push_back(queue_target{client_id, 1, false, {}});
    }
    return result;
}

TEST(QueueLedger, AssignsOneMessageIdAndIncreasingSequences) {
    queue_ledger ledger(0, 0);
    const auto first = ledger.plan_enqueue(targets({"alice", "bob"}), 10);
    const auto second = ledger.plan_enqueue(targets({"alice"}), 10);
    EXPECT_NE(first.receipt.message_id, 0u);
    EXPECT_GT(second.receipt.message_id, first.receipt.message_id);
    ASSERT_EQ(first.entries.size(), 2u);
    EXPECT_EQ(first.entries[0].message_id, first.receipt.message_id);
    EXPECT_EQ(first.entries[1].message_id, first.receipt.message_id);
    EXPECT_LT(first.receipt.sequences[0], first.receipt.sequences[1]);
    EXPECT_LT(first.receipt.sequences[1], second.receipt.sequences[0]);
}

TEST(QueueLedger, RefusesTheEntryThatWouldPassTheMessageCap) {
    queue_ledger ledger(2, 0);
    ledger.plan_enqueue(targets({"alice"}), 1);
    ledger.plan_enqueue(targets({"alice"}), 1);
    const auto third = ledger.plan_enqueue(targets({"alice", "bob"}), 1);
    EXPECT_EQ(third.receipt.sequences[0], 0u);
    EXPECT_NE(third.receipt.sequences[1], 0u);
    EXPECT_EQ(third.receipt.refused_for_quota, 1u);
    ASSERT_EQ(third.entries.size(), 1u);
    EXPECT_EQ(third.entries[0].client_id, "bob");
    EXPECT_EQ(ledger.queued_messages("alice"), 2u);
}

TEST(QueueLedger, RefusesTheEntryThatWouldPassTheByteCap) {
    queue_ledger ledger(0, 100);
    EXPECT_NE(ledger.plan_enqueue(targets({"alice"}), 60).receipt.sequences[0], 0u);
    EXPECT_EQ(ledger.plan_enqueue(targets({"alice"}), 41).receipt.sequences[0], 0u);
    EXPECT_NE(ledger.plan_enqueue(targets({"alice"}), 40).receipt.sequences[0], 0u);
    EXPECT_EQ(ledger.queued_bytes("alice"), 100u);
}

TEST(QueueLedger, RefusesAMessageLargerThanTheByteCapEvenWhenEmpty) {
    queue_ledger ledger(0, 100);
    const auto plan = ledger.plan_enqueue(targets({"alice"}), 101);
    EXPECT_EQ(plan.receipt.message_id, 0u);
    EXPECT_TRUE(plan.entries.empty());
    EXPECT_EQ(ledger.queued_messages("alice"), 0u);
}

TEST(QueueLedger, ReleaseMakesRoomAgain) {
    queue_ledger ledger(1, 0);
    const auto first = ledger.plan_enqueue(targets({"alice"}), 5);
    EXPECT_EQ(ledger.plan_enqueue(targets({"alice"}), 5).receipt.refused_for_quota, 1u);
    EXPECT_TRUE(ledger.release("alice", first.receipt.sequences[0]));
    EXPECT_FALSE(ledger.release("alice", first.receipt.sequences[0]));
    EXPECT_EQ(ledger.plan_enqueue(targets({"alice"}), 5).receipt.refused_for_quota, 0u);
}

TEST(QueueLedger, ReleaseOfAnotherClientsSequenceDoesNothing) {
    queue_ledger ledger(0, 0);
    const auto plan = ledger.plan_enqueue(targets({"alice"}), 5);
    EXPECT_FALSE(ledger.release("bob", plan.receipt.sequences[0]));
    EXPECT_EQ(ledger.queued_messages("alice"), 1u);
}

TEST(QueueLedger, ReleaseSessionForgetsEveryEntry) {
    queue_ledger ledger(0, 0);
    ledger.plan_enqueue(targets({"alice", "bob"}), 5);
    ledger.plan_enqueue(targets({"alice"}), 5);
    ledger.release_session("alice");
    EXPECT_EQ(ledger.queued_messages("alice"), 0u);
    EXPECT_EQ(ledger.queued_bytes("alice"), 0u);
    EXPECT_EQ(ledger.queued_messages("bob"), 1u);
}

TEST(QueueLedger, RestoredEntriesCountAndPushIdentifiersUp) {
    queue_ledger ledger(2, 0);
    ledger.restore("alice", 40, 7, 3);
    ledger.restore("alice", 41, 8, 3);
    EXPECT_EQ(ledger.queued_bytes("alice"), 6u);
    const auto plan = ledger.plan_enqueue(targets({"alice", "bob"}), 1);
    EXPECT_EQ(plan.receipt.sequences[0], 0u);
    EXPECT_GT(plan.receipt.sequences[1], 41u);
    EXPECT_GT(plan.receipt.message_id, 8u);
}

TEST(QueueLedger, ReserveAboveSkipsIdentifiersOfDeletedRows) {
    queue_ledger ledger(0, 0);
    ledger.reserve_above(100, 200);
    const auto plan = ledger.plan_enqueue(targets({"alice"}), 1);
    EXPECT_EQ(plan.receipt.message_id, 101u);
    EXPECT_EQ(plan.receipt.sequences[0], 201u);
}

} // namespace
} // namespace perch::store
