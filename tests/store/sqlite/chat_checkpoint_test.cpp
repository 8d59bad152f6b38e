// The chat store's checkpoints (store/sqlite/sqlite_chat_store.cpp, docs/DECISIONS.md "History
// without an index by time"): its writer lets the write-ahead log grow past SQLite's default of
// 1,000 frames before it copies the pages back, so that a page many groups rewrite is copied
// once per checkpoint.
#include <cstdint>
#include <filesystem>
#include <string>

#include <gtest/gtest.h>

#include "store/chat_store.hpp"

#include "store_test_support.hpp"

namespace perch::store {
namespace {

using namespace testing_support;

TEST(ChatCheckpoint, WriteAheadLogGrowsPastAThousandFramesBeforeACheckpoint) {
    temporary_database file;
    store_options options;
    options.path = file.path();
    options.durability = durability_level::batched;
    options.commit_interval_ms = 1;
    const auto store = open_chat_store(options);
    // One group per message, each rewriting at least the history's leaf and its key's leaf:
    // more than 2,000 frames, which SQLite's default would have checkpointed twice, the log
    // starting again from its beginning each time (its file no longer growing).
    for (std::uint64_t id = 1; id <= 1'100; ++id) {
        store->append_history(history_record{"room/kitchen", id, "alice", "chat/room/kitchen/alice",
                                             id, bytes_of("hello")});
        store->flush();
    }
    const auto wal_bytes = std::filesystem::file_size(file.path() + "-wal");
    const std::uintmax_t frame_bytes = 4'096 + 24;
    EXPECT_GT(wal_bytes / frame_bytes, 2'000U);
}

} // namespace
} // namespace perch::store
