// docs/DURABILITY.md "Durable cursors": a takeover (a second connection of the same client id,
// as a device back on a new network while its old connection lingers) writes no catch-up
// cursors; the session goes on and its successor writes them at its next interval or when it
// ends. A kill -9 right after the takeover finds the cursors as they were before it.
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "chat_fixture.hpp"

namespace perch::integration {
namespace {

using namespace std::chrono_literals;

class ChatTakeoverCursors : public chat_fixture {};

/// The cursor stored for `client_id` in `conversation`; 0 when there is none.
std::uint64_t stored_cursor(store::chat_store& store, const std::string& client_id,
                            const std::string& conversation) {
    for (const store::session_cursors_record& record : store.load_session_cursors()) {
        if (record.client_id != client_id) {
            continue;
        }
        for (const store::conversation_cursor& cursor : record.cursors) {
            if (cursor.conversation == conversation) {
                return cursor.id;
            }
        }
    }
    return 0;
}

TEST_F(ChatTakeoverCursors, ATakeoverWritesNoCursors) {
    auto phone = connected("alice/phone", 5, true);
    auto bob = connected("bob", 5);
    for (int index = 0; index < 3; ++index) {
        ASSERT_EQ(bob->publish("chat/room/lobby/bob", "m" + std::to_string(index)),
                  mqtt::ReasonCode::SUCCESS);
    }
    for (int index = 0; index < 3; ++index) {
        const auto message = phone->next_on("chat/room/lobby/bob", 5s);
        ASSERT_TRUE(message) << "message " << index << " did not arrive";
    }
    // Acknowledged by the client (the session's cursor moved in memory), then taken over.
    auto back = connected("alice/phone", 5, true);
    ASSERT_TRUE(back->is_connected());
    const process_exit ending = broker_->kill();
    EXPECT_EQ(ending.signal_number, 9) << describe(ending);
    EXPECT_EQ(stored_cursor(*chat_, "alice/phone", "room/lobby"), 0U)
        << "the takeover wrote the session's cursors";
    start_broker();
}

} // namespace
} // namespace perch::integration
