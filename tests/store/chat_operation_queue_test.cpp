// chat_operation_queue: groups end at a standalone job and at the batch size; a failed group's
// retry takes every failed write and new ones behind it, past standalone jobs, in order.
#include <functional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "store/chat_operation_queue.hpp"

namespace perch::store {
namespace {

using queue = chat_operation_queue<std::function<void(int&)>>;

queue::operation write(std::string name) {
    return {[](int&) {}, {}, {}, false, std::move(name)};
}

queue::operation job(std::string name) {
    return {{}, {}, [] {}, false, std::move(name)};
}

std::vector<std::string> names(const std::vector<queue::operation>& group) {
    std::vector<std::string> out;
    for (const auto& pending : group) {
        out.push_back(pending.description);
    }
    return out;
}

std::vector<std::string> names(const queue& pending) {
    std::vector<std::string> out;
    for (const auto& operation : pending) {
        out.push_back(operation.description);
    }
    return out;
}

TEST(ChatOperationQueue, AGroupEndsAtAStandaloneJobAndAtTheBatchSize) {
    queue pending;
    for (const char* name : {"w1", "w2", "w3"}) {
        pending.push_back(write(name));
    }
    pending.push_back(job("read"));
    pending.push_back(write("w4"));
    EXPECT_TRUE(pending.is_group_full(10)) << "a job follows the writes";
    EXPECT_EQ(names(pending.take_group(2)), (std::vector<std::string>{"w1", "w2"}));
    EXPECT_EQ(names(pending.take_group(10)), (std::vector<std::string>{"w3"}));
    EXPECT_EQ(pending.first_standalone(), pending.begin());
    EXPECT_EQ(pending.take(pending.first_standalone()).description, "read");
    EXPECT_FALSE(pending.is_group_full(10));
    EXPECT_TRUE(pending.is_group_full(1));
}

TEST(ChatOperationQueue, OnlyAFirstOperationAStandaloneJobOrAFullGroupWakesTheWriter) {
    queue pending;
    pending.push_back(write("w1"));
    EXPECT_TRUE(pending.wakes_writer(3)) << "the writer waits with no deadline";
    pending.push_back(write("w2"));
    EXPECT_FALSE(pending.wakes_writer(3)) << "it joins the open group";
    pending.push_back(write("w3"));
    EXPECT_TRUE(pending.wakes_writer(3)) << "the group is full";
    pending.push_back(job("read"));
    EXPECT_TRUE(pending.wakes_writer(3)) << "a job runs at once";

    queue retrying;
    retrying.push_back(write("w1"));
    std::vector<queue::operation> failed = retrying.take_group(10);
    failed.front().was_attempted = true;
    retrying.put_back(failed);
    retrying.push_back(write("w2"));
    EXPECT_FALSE(retrying.wakes_writer(10)) << "a write joins the failed group's retry";
    retrying.push_back(job("read"));
    EXPECT_TRUE(retrying.wakes_writer(10)) << "a job runs past the failed group";
}

TEST(ChatOperationQueue, ARetryTakesTheFailedWritesAndNewOnesPastStandaloneJobs) {
    queue pending;
    pending.push_back(write("w1"));
    pending.push_back(write("w2"));
    std::vector<queue::operation> failed = pending.take_group(10);
    for (auto& operation : failed) {
        operation.was_attempted = true;
    }
    pending.push_back(job("login read state"));
    pending.push_back(write("w3"));
    pending.push_back(write("w4"));
    pending.push_back(write("w5"));
    pending.put_back(failed);
    EXPECT_TRUE(pending.is_failed_group_first());
    EXPECT_EQ(names(pending),
              (std::vector<std::string>{"w1", "w2", "login read state", "w3", "w4", "w5"}));
    EXPECT_TRUE(pending.has_unattempted_write());
    // The job runs while the failed group waits; the retry keeps history's order.
    EXPECT_EQ(pending.first_standalone()->description, "login read state");
    EXPECT_EQ(names(pending.take_group(2)), (std::vector<std::string>{"w1", "w2", "w3", "w4"}));
    EXPECT_EQ(names(pending), (std::vector<std::string>{"login read state", "w5"}));
}

TEST(ChatOperationQueue, OnlyWritesNotYetTriedCountAsUnattempted) {
    queue pending;
    pending.push_back(job("search"));
    EXPECT_FALSE(pending.has_unattempted_write());
    pending.push_back(write("w1"));
    EXPECT_TRUE(pending.has_unattempted_write());
    std::vector<queue::operation> group = pending.take_group(10);
    EXPECT_TRUE(group.empty()) << "a job at the head is no group";
}

} // namespace
} // namespace perch::store
