// Tests of deferred_record_writer: the end's record of a session waits, a session back before
// then takes it back unwritten, a newer write or a deletion drops it, and nothing held is lost
// when the writer stops.
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "gateway/broker/deferred_record_writer.hpp"

namespace perch::gateway {
namespace {

using namespace std::chrono_literals;

/// The records a writer submitted, in order.
struct submissions {
    std::mutex mutex;
    std::vector<store::stored_session> records;

    deferred_submit sink() {
        return [this](store::stored_session record) {
            std::lock_guard lock(mutex);
            records.push_back(std::move(record));
        };
    }
    std::vector<store::stored_session> taken() {
        std::lock_guard lock(mutex);
        return records;
    }
};

store::stored_session record_of(const std::string& client_id, std::uint64_t disconnected_at) {
    store::stored_session record;
    record.client_id = client_id;
    record.session_expiry_interval_s = 600;
    record.disconnected_at_unix_ms = disconnected_at;
    record.expires_at_unix_ms = disconnected_at == 0 ? 0 : disconnected_at + 600'000;
    return record;
}

TEST(DeferredRecordWriter, ASessionBackInTimeTakesItsRecordBackUnwritten) {
    submissions sink;
    {
        deferred_record_writer writer(sink.sink(), 1h);
        writer.defer(record_of("phone", 1000), record_of("phone", 0));
        EXPECT_EQ(writer.held(), 1U);
        const auto stored = writer.take("phone");
        ASSERT_TRUE(stored);
        // What the store holds meanwhile: the connected record.
        EXPECT_EQ(stored->disconnected_at_unix_ms, 0U);
        EXPECT_FALSE(writer.take("phone")) << "taken twice";
        EXPECT_EQ(writer.held(), 0U);
    }
    EXPECT_TRUE(sink.taken().empty());
}

TEST(DeferredRecordWriter, WhatIsHeldIsSubmittedWhenTheWriterStops) {
    submissions sink;
    {
        deferred_record_writer writer(sink.sink(), 1h);
        writer.defer(record_of("phone", 1000), record_of("phone", 0));
        // A second end before the first was written replaces it.
        writer.defer(record_of("phone", 2000), record_of("phone", 1000));
        writer.defer(record_of("laptop", 1500), record_of("laptop", 0));
        EXPECT_EQ(writer.held(), 2U);
    }
    const auto records = sink.taken();
    ASSERT_EQ(records.size(), 2U);
    EXPECT_EQ(records[0].client_id, "phone");
    EXPECT_EQ(records[0].disconnected_at_unix_ms, 2000U);
    EXPECT_EQ(records[1].client_id, "laptop");
}

TEST(DeferredRecordWriter, ARecordIsSubmittedOnceItsDelayHasPassed) {
    submissions sink;
    deferred_record_writer writer(sink.sink(), 0ms);
    writer.defer(record_of("phone", 1000), record_of("phone", 0));
    // Bounded wait for the writer's thread; the delay itself is not measured.
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (writer.held() > 0 && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(10ms);
    }
    EXPECT_EQ(writer.held(), 0U);
    ASSERT_EQ(sink.taken().size(), 1U);
    EXPECT_FALSE(writer.take("phone")) << "a submitted record cannot be taken back";
}

TEST(DeferredRecordWriter, ANewerWriteOrADeletionDropsTheHeldRecord) {
    submissions sink;
    std::vector<std::string> writes;
    {
        deferred_record_writer writer(sink.sink(), 1h);
        writer.defer(record_of("phone", 1000), record_of("phone", 0));
        writer.erase_then("phone", [&] { writes.push_back("delete phone"); });
        EXPECT_EQ(writer.held(), 0U);
        EXPECT_FALSE(writer.take("phone"));
    }
    EXPECT_EQ(writes, std::vector<std::string>{"delete phone"});
    EXPECT_TRUE(sink.taken().empty()) << "a deleted session's record came back";
}

} // namespace
} // namespace perch::gateway
