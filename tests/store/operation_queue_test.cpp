// Tests of the pending-operation queue: FIFO order and the cancellation of queue entries
// acknowledged before they are written.
#include <gtest/gtest.h>

#include "store/operation_queue.hpp"

namespace perch::store {
namespace {

enqueue_operation make_enqueue(std::uint64_t message_id,
                               std::initializer_list<std::pair<const char*, std::uint64_t>> rows) {
    enqueue_operation operation;
    auto message = std::make_shared<stored_message>();
    message->message_id = message_id;
    message->topic = "t";
    operation.message = message;
    for (const auto& [client_id, sequence] : rows) {
        queue_entry entry;
        entry.client_id = client_id;
        entry.sequence = sequence;
        entry.message_id = message_id;
        entry.qos = 1;
        operation.entries.push_back(entry);
    }
    return operation;
}

TEST(OperationQueue, TakesOperationsInSubmissionOrder) {
    operation_queue queue;
    queue.push(clear_retained_operation{"a"}, {});
    queue.push(clear_retained_operation{"b"}, {});
    queue.push(clear_retained_operation{"c"}, {});
    const auto first = queue.take(2);
    ASSERT_EQ(first.size(), 2u);
    EXPECT_EQ(std::get<clear_retained_operation>(first[0].operation).topic, "a");
    EXPECT_EQ(std::get<clear_retained_operation>(first[1].operation).topic, "b");
    EXPECT_EQ(queue.size(), 1u);
    EXPECT_EQ(std::get<clear_retained_operation>(queue.take(10)[0].operation).topic, "c");
    EXPECT_TRUE(queue.empty());
}

TEST(OperationQueue, AckOfAWaitingEntryCancelsIt) {
    operation_queue queue;
    queue.push(make_enqueue(1, {{"alice", 10}, {"bob", 11}}), {});
    bool ack_completed = false;
    queue.push(ack_operation{"alice", 10}, [&](const store_status&) { ack_completed = true; });
    EXPECT_EQ(queue.cancelled_entries(), 1u);
    auto taken = queue.take(10);
    ASSERT_EQ(taken.size(), 2u);
    const auto& enqueue = std::get<enqueue_operation>(taken[0].operation);
    EXPECT_EQ(enqueue.entries[0].sequence, 0u);
    EXPECT_EQ(enqueue.entries[1].sequence, 11u);
    // The ack itself writes nothing but still carries its completion.
    EXPECT_TRUE(std::holds_alternative<no_operation>(taken[1].operation));
    ASSERT_TRUE(taken[1].completion);
    taken[1].completion(store_status{});
    EXPECT_TRUE(ack_completed);
}

TEST(OperationQueue, MarkSentOfAWaitingEntryUpdatesItInPlace) {
    operation_queue queue;
    queue.push(make_enqueue(1, {{"alice", 10}}), {});
    queue.push(mark_sent_operation{"alice", 10, 77, delivery_state::awaiting_pubrec}, {});
    auto taken = queue.take(10);
    const auto& entry = std::get<enqueue_operation>(taken[0].operation).entries[0];
    EXPECT_EQ(entry.packet_id, 77u);
    EXPECT_EQ(entry.state, delivery_state::awaiting_pubrec);
    EXPECT_TRUE(std::holds_alternative<no_operation>(taken[1].operation));
}

TEST(OperationQueue, AckAfterTheEntryWasTakenIsKept) {
    operation_queue queue;
    queue.push(make_enqueue(1, {{"alice", 10}}), {});
    queue.take(1);
    queue.push(ack_operation{"alice", 10}, {});
    const auto taken = queue.take(10);
    ASSERT_EQ(taken.size(), 1u);
    EXPECT_TRUE(std::holds_alternative<ack_operation>(taken[0].operation));
    EXPECT_EQ(queue.cancelled_entries(), 0u);
}

TEST(OperationQueue, AckNamingAnotherClientDoesNotCancel) {
    operation_queue queue;
    queue.push(make_enqueue(1, {{"alice", 10}}), {});
    queue.push(ack_operation{"bob", 10}, {});
    const auto taken = queue.take(10);
    EXPECT_EQ(std::get<enqueue_operation>(taken[0].operation).entries[0].sequence, 10u);
    EXPECT_TRUE(std::holds_alternative<ack_operation>(taken[1].operation));
}

TEST(OperationQueue, SecondAckOfACancelledEntryIsKeptAsAnAck) {
    operation_queue queue;
    queue.push(make_enqueue(1, {{"alice", 10}}), {});
    queue.push(ack_operation{"alice", 10}, {});
    queue.push(ack_operation{"alice", 10}, {});
    const auto taken = queue.take(10);
    ASSERT_EQ(taken.size(), 3u);
    EXPECT_TRUE(std::holds_alternative<ack_operation>(taken[2].operation));
    EXPECT_EQ(queue.cancelled_entries(), 1u);
}

TEST(OperationQueue, ReturnedGroupGoesBackToTheHeadAndCanStillBeCancelled) {
    operation_queue queue;
    queue.push(make_enqueue(1, {{"alice", 10}}), {});
    auto failed = queue.take(10);
    failed[0].was_attempted = true;
    queue.push(clear_retained_operation{"later"}, {});
    queue.return_to_front(std::move(failed));
    EXPECT_TRUE(queue.is_retrying());
    queue.push(ack_operation{"alice", 10}, {});
    const auto taken = queue.take(10);
    ASSERT_EQ(taken.size(), 3u);
    EXPECT_EQ(std::get<enqueue_operation>(taken[0].operation).entries[0].sequence, 0u);
    EXPECT_TRUE(std::holds_alternative<clear_retained_operation>(taken[1].operation));
    EXPECT_TRUE(std::holds_alternative<no_operation>(taken[2].operation));
    EXPECT_FALSE(queue.is_retrying());
}

} // namespace
} // namespace perch::store
