// Tests of the conversation the assistant bot sends to the model.
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "gateway/assistant/assistant_context.hpp"

namespace perch::gateway::assistant {
namespace {

store::history_record record(std::uint64_t id, std::string sender, std::string text) {
    store::history_record made;
    made.conversation = "room/lobby";
    made.id = id;
    made.sender = std::move(sender);
    made.topic = "chat/room/lobby/" + made.sender;
    made.payload.assign(text.begin(), text.end());
    return made;
}

TEST(AssistantContext, MapsHistoryToTurnsAfterTheSystemPrompt) {
    const std::vector<store::history_record> history{record(1, "alice", "hello"),
                                                     record(2, "assistant", "hi alice"),
                                                     record(3, "bob", "@assistant and me?")};
    const auto turns =
        build_context("be brief", history, "assistant", {3, "bob", "@assistant and me?"}, 10);
    const std::vector<chat_turn> expected{{chat_role::system, "be brief"},
                                          {chat_role::user, "alice: hello"},
                                          {chat_role::assistant, "hi alice"},
                                          {chat_role::user, "bob: @assistant and me?"}};
    EXPECT_EQ(turns, expected);
}

TEST(AssistantContext, KeepsOnlyTheNewestMessagesUpToTheAnsweredOne) {
    const std::vector<store::history_record> history{
        record(1, "alice", "one"), record(2, "alice", "two"), record(3, "alice", "three"),
        record(4, "alice", "four")};
    const auto turns = build_context("", history, "assistant", {3, "alice", "three"}, 2);
    const std::vector<chat_turn> expected{{chat_role::user, "alice: two"},
                                          {chat_role::user, "alice: three"}};
    EXPECT_EQ(turns, expected);
}

TEST(AssistantContext, AddsTheAnsweredMessageWhenHistoryLacksIt) {
    const std::vector<store::history_record> history{record(1, "alice", "one"),
                                                     record(2, "alice", "two")};
    const auto turns = build_context("sys", history, "assistant", {3, "bob", "three"}, 2);
    const std::vector<chat_turn> expected{{chat_role::system, "sys"},
                                          {chat_role::user, "alice: two"},
                                          {chat_role::user, "bob: three"}};
    EXPECT_EQ(turns, expected);
}

TEST(AssistantContext, LeavesOutDeletedMessagesAndEvents) {
    std::vector<store::history_record> history{record(1, "alice", "one"), record(2, "bob", ""),
                                               record(3, "alice", "edited three"),
                                               record(4, "alice", "")};
    history[1].is_deleted = true;
    history[3].kind = store::history_kind::edit;
    history[3].of_id = 3;
    // Deleted and event rows take no place in the window either.
    const auto turns = build_context("", history, "assistant", {5, "carol", "@assistant?"}, 3);
    const std::vector<chat_turn> expected{{chat_role::user, "alice: one"},
                                          {chat_role::user, "alice: edited three"},
                                          {chat_role::user, "carol: @assistant?"}};
    EXPECT_EQ(turns, expected);
}

TEST(AssistantContext, AlwaysSendsAtLeastTheAnsweredMessage) {
    const auto turns = build_context("sys", {}, "assistant", {7, "carol", "hi"}, 0);
    const std::vector<chat_turn> expected{{chat_role::system, "sys"},
                                          {chat_role::user, "carol: hi"}};
    EXPECT_EQ(turns, expected);
}

} // namespace
} // namespace perch::gateway::assistant
