// The catch-up rules of persistent chat sessions: watermarks, arrivals, reads of history (from a
// cursor or from the baseline, with gaps, a full queue and drops while reading) and cursor writes.
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "gateway/broker/chat_cursors.hpp"

namespace perch::gateway {
namespace {

store::history_record row(std::uint64_t id, std::uint64_t ts_unix_ms = 1000) {
    const std::string text = "message " + std::to_string(id);
    return {"room/lobby", id,
            "alice",      "chat/room/lobby/alice",
            ts_unix_ms,   store::byte_vector(text.begin(), text.end())};
}

std::vector<store::history_record> rows(std::initializer_list<std::uint64_t> ids) {
    std::vector<store::history_record> result;
    for (const std::uint64_t id : ids) {
        result.push_back(row(id));
    }
    return result;
}

/// Accepts a read, recording what was offered; the session takes `room` rows.
std::vector<std::uint64_t> accept(conversation_position& position,
                                  std::vector<store::history_record> read, std::size_t requested,
                                  std::size_t room = 1000) {
    std::vector<std::uint64_t> offered;
    accept_history_read(position, std::move(read), requested,
                        [&](const store::history_record& record) {
                            if (offered.size() == room) {
                                return false;
                            }
                            offered.push_back(record.id);
                            mark_seen(position, record.id);
                            return true;
                        });
    return offered;
}

TEST(ChatCursors, TheDoneWatermarkMovesOnlyOverIdsWithoutAGap) {
    conversation_position position;
    start_known(position, 4);
    mark_done(position, 6);
    mark_seen(position, 7);
    EXPECT_EQ(position.through, 4U);
    EXPECT_EQ(position.seen_through, 4U);
    EXPECT_TRUE(is_seen(position, 6));
    EXPECT_TRUE(is_seen(position, 7));
    EXPECT_FALSE(is_seen(position, 5));
    mark_done(position, 5);
    // 7 was handed to the session but not acknowledged: the cursor stops before it.
    EXPECT_EQ(position.through, 6U);
    EXPECT_EQ(position.seen_through, 7U);
    mark_done(position, 7);
    EXPECT_EQ(position.through, 7U);
}

TEST(ChatCursors, IdsOutOfOrderAreHeldOnlyUntilTheGapCloses) {
    // Nearly every id follows the watermark: it costs no storage. One past a gap is held (in
    // order, once) until the gap closes, and then the storage goes.
    conversation_position position;
    start_known(position, 10);
    mark_seen(position, 11);
    EXPECT_EQ(position.seen_through, 11U);
    EXPECT_FALSE(position.seen_above.has_storage());
    mark_seen(position, 14);
    mark_seen(position, 13);
    mark_seen(position, 14);
    EXPECT_EQ(position.seen_above.size(), 2U);
    EXPECT_TRUE(is_seen(position, 13));
    EXPECT_FALSE(is_seen(position, 12));
    mark_seen(position, 12);
    EXPECT_EQ(position.seen_through, 14U);
    EXPECT_FALSE(position.seen_above.has_storage());
    mark_done(position, 16);
    start_known(position, 15);
    EXPECT_EQ(position.through, 16U);
    EXPECT_FALSE(position.done_above.has_storage());
}

TEST(ChatCursors, ArrivalsAreDeliveredDroppedAsDuplicatesOrLeftInHistory) {
    conversation_position unknown;
    EXPECT_EQ(classify_history_arrival(unknown, 3), history_arrival::left_in_history);
    EXPECT_TRUE(unknown.is_behind);

    conversation_position position;
    start_known(position, 2);
    EXPECT_EQ(classify_history_arrival(position, 2), history_arrival::duplicate);
    EXPECT_EQ(classify_history_arrival(position, 3), history_arrival::deliver);
    mark_seen(position, 3);
    EXPECT_EQ(classify_history_arrival(position, 3), history_arrival::duplicate);
    note_dropped(position);
    EXPECT_EQ(classify_history_arrival(position, 4), history_arrival::left_in_history);
    EXPECT_EQ(position.drops, 2U);
}

TEST(ChatCursors, AReadFromTheBaselineFindsTheFloorAndSettlesGaps) {
    chat_cursors cursors;
    cursors.baseline_unix_ms = 900;
    conversation_position& position = position_of(cursors, "room/lobby");
    note_dropped(position);
    const history_read read = start_history_read(position, cursors, 9);
    EXPECT_EQ(read.after_id, 0U);
    EXPECT_EQ(read.since_unix_ms, 900U);
    // Ids 1..3 are older than the baseline; 6 never reached history; 9 was stamped before the
    // read and is missing too.
    EXPECT_EQ(accept(position, rows({4, 5, 7, 8}), 64), (std::vector<std::uint64_t>{4, 5, 7, 8}));
    EXPECT_TRUE(position.is_known);
    EXPECT_FALSE(position.is_behind);
    EXPECT_EQ(position.seen_through, 9U);
    // 4, 5, 7, 8 are only handed out; 1..3, 6 and 9 are owed nothing.
    EXPECT_EQ(position.through, 3U);
    for (const std::uint64_t id : {4, 5, 7, 8}) {
        mark_done(position, id);
    }
    EXPECT_EQ(position.through, 9U);
}

TEST(ChatCursors, AReadStopsAtAFullQueueAndTheNextStartsWhereItStopped) {
    chat_cursors cursors;
    conversation_position& position = position_of(cursors, "room/lobby");
    start_known(position, 10);
    note_dropped(position);
    start_history_read(position, cursors, 20);
    EXPECT_EQ(accept(position, rows({11, 12, 13, 14}), 4, 2), (std::vector<std::uint64_t>{11, 12}));
    EXPECT_TRUE(position.is_behind);
    const history_read next = start_history_read(position, cursors, 20);
    EXPECT_EQ(next.after_id, 12U);
    EXPECT_EQ(next.since_unix_ms, 0U);
}

TEST(ChatCursors, ADropWhileAReadIsOnItsWayReadsAgain) {
    chat_cursors cursors;
    conversation_position& position = position_of(cursors, "room/lobby");
    start_known(position, 10);
    note_dropped(position);
    start_history_read(position, cursors, 11);
    // 12 arrives (and is dropped) after the read was asked for: it may not be in the rows.
    EXPECT_EQ(classify_history_arrival(position, 12), history_arrival::left_in_history);
    EXPECT_EQ(accept(position, rows({11}), 64), (std::vector<std::uint64_t>{11}));
    EXPECT_TRUE(position.is_behind);
    start_history_read(position, cursors, 12);
    EXPECT_EQ(accept(position, rows({12}), 64), (std::vector<std::uint64_t>{12}));
    EXPECT_FALSE(position.is_behind);
}

TEST(ChatCursors, WritesOnlyMovedKnownCursorsAndAdvancesTheBaselineWhenAllAreKnown) {
    chat_cursors cursors;
    cursors.baseline_unix_ms = 1000;
    start_known(position_of(cursors, "room/lobby"), 5);
    position_of(cursors, "dm/alice/bob");
    const std::uint64_t now = 10 * baseline_margin_ms;
    auto first = cursors_to_write(cursors, "bob", now, true);
    ASSERT_TRUE(first);
    EXPECT_EQ(first->cursors, (std::vector<store::conversation_cursor>{{"room/lobby", 5}}));
    // An unknown conversation holds the baseline back; it was never written, so it is now.
    EXPECT_EQ(first->baseline_unix_ms, 1000U);
    EXPECT_FALSE(cursors_to_write(cursors, "bob", now, true));
    start_known(position_of(cursors, "dm/alice/bob"), 0);
    mark_done(position_of(cursors, "dm/alice/bob"), 1);
    auto second = cursors_to_write(cursors, "bob", now, true);
    ASSERT_TRUE(second);
    EXPECT_EQ(second->cursors, (std::vector<store::conversation_cursor>{{"dm/alice/bob", 1}}));
    EXPECT_EQ(second->baseline_unix_ms, now - baseline_margin_ms);
}

TEST(ChatCursors, RestoredCursorsAreKnownAndWritten) {
    const chat_cursors cursors =
        restored_cursors(store::session_cursors_record{"bob", 700, {{"room/lobby", 9}}});
    EXPECT_EQ(cursors.baseline_unix_ms, 700U);
    const conversation_position& position = cursors.conversations.at("room/lobby");
    EXPECT_TRUE(position.is_known);
    EXPECT_EQ(position.through, 9U);
    EXPECT_EQ(position.written, 9U);
}

TEST(ChatCursors, AHistoryRowIsDeliveredAsStampMadeItAndMatchesSubscriptions) {
    const mqtt::message_ptr content = message_from_history(row(42, 1234));
    EXPECT_EQ(content->topic_name, "chat/room/lobby/alice");
    EXPECT_EQ(content->payload.as_string(), "message 42");
    EXPECT_EQ(content->qos_level, mqtt::qos::at_least_once);
    const auto ref = history_ref_of(*content);
    ASSERT_TRUE(ref);
    EXPECT_EQ(ref->conversation, "room/lobby");
    EXPECT_EQ(ref->id, 42U);
    ASSERT_EQ(content->props.user_properties.size(), 2U);
    EXPECT_EQ(content->props.user_properties[1].value, "1234");

    auto plain = std::make_shared<mqtt::message>();
    plain->topic_name = "news/today";
    plain->props.user_properties.push_back({"id", "3"});
    EXPECT_FALSE(history_ref_of(*plain));

    std::vector<held_filter> filters(2);
    filters[0].topic_filter = "chat/room/lobby/+";
    filters[0].held.options.maximum_qos = mqtt::qos::at_least_once;
    filters[1].topic_filter = "chat/#";
    filters[1].held.options.maximum_qos = mqtt::qos::at_most_once;
    filters[1].held.options.is_retain_as_published = true;
    filters[1].held.subscription_id = 7;
    std::vector<std::uint32_t> ids;
    const auto options = matching_options(filters, "chat/room/lobby/alice", ids);
    ASSERT_TRUE(options);
    EXPECT_EQ(options->granted_qos, mqtt::qos::at_least_once);
    EXPECT_TRUE(options->is_retain_as_published);
    EXPECT_EQ(ids, (std::vector<std::uint32_t>{7}));
    EXPECT_FALSE(matching_options(filters, "news/today", ids));
}

} // namespace
} // namespace perch::gateway
