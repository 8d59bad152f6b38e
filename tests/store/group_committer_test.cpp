// Tests of the writer thread with a fake backend: grouping, completion after the write, failure
// and retry, shutdown. No timing assertions: groups are closed by flush() or by batch size.
#include <algorithm>
#include <atomic>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "store/group_committer.hpp"

namespace perch::store {
namespace {

/// A backend that records each group's topics and can be told to fail.
class fake_backend {
public:
    store_status write(const std::vector<pending_operation>& group) {
        std::lock_guard lock(mutex_);
        ++attempts_;
        if (failures_left_ > 0) {
            --failures_left_;
            return store_status{store_errc::write_failed, "disk full"};
        }
        std::vector<std::string> topics;
        for (const auto& pending : group) {
            topics.push_back(std::get<clear_retained_operation>(pending.operation).topic);
        }
        groups_.push_back(std::move(topics));
        written_ += group.size();
        return store_status{};
    }
    void fail_next(int count) {
        std::lock_guard lock(mutex_);
        failures_left_ = count;
    }
    std::vector<std::vector<std::string>> groups() const {
        std::lock_guard lock(mutex_);
        return groups_;
    }
    std::size_t written() const {
        std::lock_guard lock(mutex_);
        return written_;
    }
    int attempts() const {
        std::lock_guard lock(mutex_);
        return attempts_;
    }

private:
    mutable std::mutex mutex_;
    std::vector<std::vector<std::string>> groups_;
    std::size_t written_ = 0;
    int failures_left_ = 0;
    int attempts_ = 0;
};

store_options slow_groups() {
    store_options options;
    // Long enough that only batch size, flush() or shutdown close a group in these tests.
    options.commit_interval_ms = 60'000;
    options.retry_interval_ms = 0;
    return options;
}

group_writer writer_for(fake_backend& backend) {
    return [&backend](const std::vector<pending_operation>& group) { return backend.write(group); };
}

TEST(GroupCommitter, ManySubmitsShareOneCommit) {
    fake_backend backend;
    group_committer committer(writer_for(backend), slow_groups());
    for (int index = 0; index < 500; ++index) {
        committer.submit(clear_retained_operation{std::to_string(index)}, {});
    }
    committer.flush();
    EXPECT_EQ(backend.groups().size(), 1u);
    EXPECT_EQ(backend.written(), 500u);
    EXPECT_EQ(committer.counters().commits, 1u);
    EXPECT_EQ(committer.counters().largest_group, 500u);
}

TEST(GroupCommitter, GroupsNeverExceedTheBatchSize) {
    fake_backend backend;
    store_options options = slow_groups();
    options.max_batch_operations = 8;
    group_committer committer(writer_for(backend), options);
    for (int index = 0; index < 100; ++index) {
        committer.submit(clear_retained_operation{std::to_string(index)}, {});
    }
    committer.flush();
    EXPECT_EQ(backend.written(), 100u);
    std::vector<std::string> in_order;
    for (const auto& group : backend.groups()) {
        EXPECT_LE(group.size(), 8u);
        in_order.insert(in_order.end(), group.begin(), group.end());
    }
    for (int index = 0; index < 100; ++index) {
        EXPECT_EQ(in_order[static_cast<std::size_t>(index)], std::to_string(index));
    }
}

TEST(GroupCommitter, CompletionFiresAfterItsGroupIsWritten) {
    fake_backend backend;
    group_committer committer(writer_for(backend), slow_groups());
    std::atomic<std::size_t> written_when_completed{0};
    std::atomic<bool> was_ok{false};
    committer.submit(clear_retained_operation{"a"}, {});
    committer.submit(clear_retained_operation{"b"}, [&](const store_status& status) {
        written_when_completed = backend.written();
        was_ok = status.is_ok();
    });
    committer.flush();
    EXPECT_EQ(written_when_completed.load(), 2u);
    EXPECT_TRUE(was_ok.load());
}

TEST(GroupCommitter, CompletionsFireInSubmissionOrder) {
    fake_backend backend;
    store_options options = slow_groups();
    options.max_batch_operations = 3;
    group_committer committer(writer_for(backend), options);
    std::mutex mutex;
    std::vector<int> order;
    for (int index = 0; index < 20; ++index) {
        committer.submit(clear_retained_operation{std::to_string(index)},
                         [&, index](const store_status&) {
                             std::lock_guard lock(mutex);
                             order.push_back(index);
                         });
    }
    committer.flush();
    std::lock_guard lock(mutex);
    ASSERT_EQ(order.size(), 20u);
    for (int index = 0; index < 20; ++index) {
        EXPECT_EQ(order[static_cast<std::size_t>(index)], index);
    }
}

TEST(GroupCommitter, FailedGroupCompletesWithFailureOnceAndIsRetriedFirst) {
    fake_backend backend;
    group_committer committer(writer_for(backend), slow_groups());
    backend.fail_next(1);
    std::atomic<int> calls{0};
    std::atomic<bool> saw_failure{false};
    committer.submit(clear_retained_operation{"a"}, [&](const store_status& status) {
        ++calls;
        saw_failure = status.code == store_errc::write_failed && status.detail == "disk full";
        // Submitted while the failed group is still held by the writer: the retry carries both.
        committer.submit(clear_retained_operation{"b"}, {});
    });
    committer.flush();
    committer.flush();
    EXPECT_EQ(calls.load(), 1);
    EXPECT_TRUE(saw_failure.load());
    const auto groups = backend.groups();
    ASSERT_EQ(groups.size(), 1u);
    EXPECT_EQ(groups[0], (std::vector<std::string>{"a", "b"}));
    EXPECT_EQ(backend.attempts(), 2);
    EXPECT_EQ(committer.counters().failed_commits, 1u);
    EXPECT_EQ(committer.counters().commits, 1u);
    EXPECT_EQ(committer.counters().pending_operations, 0u);
}

TEST(GroupCommitter, EachCommitIsMeasuredInTheLatencyAndBatchHistograms) {
    fake_backend backend;
    group_committer committer(writer_for(backend), slow_groups());
    for (const char* topic : {"a", "b", "c"}) {
        committer.submit(clear_retained_operation{topic}, {});
    }
    committer.flush();

    const group_commit_counters counters = committer.counters();
    EXPECT_EQ(counters.commit_seconds.count, 1u);
    EXPECT_EQ(counters.commit_operations.count, 1u);
    EXPECT_EQ(counters.commit_operations.sum, 3.0);
    // Bounds 1, 2, 4, ...: three operations fall in the bucket of 4.
    EXPECT_EQ(counters.commit_operations.bucket_counts[2], 1u);
}

TEST(GroupCommitter, FailedCommitMarksTheStoreRefusingWritesUntilARetrySucceeds) {
    fake_backend backend;
    group_committer committer(writer_for(backend), slow_groups());
    // Every attempt fails (retried at once) until told otherwise: the state is stable to read.
    backend.fail_next(1'000'000'000);
    committer.submit(clear_retained_operation{"a"}, {});
    committer.flush();

    EXPECT_TRUE(committer.counters().is_refusing_writes);
    EXPECT_EQ(committer.counters().write_failure, "disk full");
    EXPECT_EQ(committer.counters().commit_seconds.count, 0u);

    backend.fail_next(0);
    committer.submit(clear_retained_operation{"b"}, {});
    committer.flush();

    EXPECT_FALSE(committer.counters().is_refusing_writes);
    EXPECT_EQ(committer.counters().write_failure, "");
}

TEST(GroupCommitter, ThrowingBackendCountsAsAFailedWrite) {
    std::atomic<int> attempts{0};
    group_committer committer(
        [&](const std::vector<pending_operation>&) -> store_status {
            if (attempts++ == 0) {
                throw std::runtime_error("I/O error");
            }
            return store_status{};
        },
        slow_groups());
    store_status seen;
    committer.submit(no_operation{}, [&](const store_status& status) { seen = status; });
    committer.flush();
    EXPECT_EQ(seen.code, store_errc::write_failed);
    EXPECT_EQ(seen.detail, "I/O error");
}

TEST(GroupCommitter, ShutdownWritesWhatIsPending) {
    fake_backend backend;
    std::atomic<int> completed{0};
    {
        group_committer committer(writer_for(backend), slow_groups());
        for (int index = 0; index < 10; ++index) {
            committer.submit(clear_retained_operation{std::to_string(index)},
                             [&](const store_status& status) { completed += status.is_ok(); });
        }
    }
    EXPECT_EQ(backend.written(), 10u);
    EXPECT_EQ(completed.load(), 10);
}

TEST(GroupCommitter, ShutdownCountsOperationsThatStillCannotBeWritten) {
    fake_backend backend;
    backend.fail_next(1000);
    std::vector<std::string> log;
    store_options options = slow_groups();
    options.retry_interval_ms = 60'000;
    options.log_error = [&](std::string_view line) { log.emplace_back(line); };
    auto committer = std::make_unique<group_committer>(writer_for(backend), options);
    committer->submit(clear_retained_operation{"a"}, {});
    committer->flush();
    committer.reset();
    EXPECT_EQ(backend.written(), 0u);
    ASSERT_FALSE(log.empty());
    EXPECT_NE(log.back().find("operations lost"), std::string::npos);
    EXPECT_NE(std::find(log.begin(), log.end(),
                        "store: lost at shutdown: removal of the retained message on a"),
              log.end())
        << "each lost operation is named";
}

// A backlog of failed operations longer than a batch does not starve the operations submitted
// after it: each retry carries them, so they complete (refused) and a flush returns.
TEST(GroupCommitter, OperationsBehindALongFailedBacklogCompleteOnce) {
    fake_backend backend;
    backend.fail_next(1000);
    store_options options = slow_groups();
    options.max_batch_operations = 2;
    options.retry_interval_ms = 60'000;
    group_committer committer(writer_for(backend), options);
    std::atomic<int> failed{0};
    const auto count_failure = [&](const store_status& status) {
        failed += status.is_ok() ? 0 : 1;
    };
    for (int index = 0; index < 7; ++index) {
        committer.submit(clear_retained_operation{"t" + std::to_string(index)}, count_failure);
        committer.flush();
    }
    EXPECT_EQ(failed.load(), 7);
    committer.flush();
    EXPECT_EQ(failed.load(), 7) << "a completion fires once";
    EXPECT_EQ(committer.counters().pending_operations, 7u);
}

TEST(GroupCommitter, RunOnWriterRethrowsTheJobsException) {
    fake_backend backend;
    group_committer committer(writer_for(backend), slow_groups());
    EXPECT_THROW(committer.run_on_writer([] { throw std::runtime_error("unreadable"); }),
                 std::runtime_error);
    bool ran = false;
    committer.run_on_writer([&] { ran = true; });
    EXPECT_TRUE(ran);
}

} // namespace
} // namespace perch::store
