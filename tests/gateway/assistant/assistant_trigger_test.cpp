// Tests of which messages the assistant bot answers and where its answers go.
#include <optional>
#include <string>

#include <gtest/gtest.h>

#include "gateway/assistant/assistant_trigger.hpp"

namespace perch::gateway::assistant {
namespace {

struct mention_case {
    const char* text;
    bool is_mention;
};

TEST(AssistantTrigger, DetectsMentionsAsWords) {
    const mention_case cases[] = {
        {"@assistant what is MQTT?", true},
        {"hey @assistant, what is MQTT?", true},
        {"what is MQTT @assistant", true},
        {"ask @assistant.", true},
        {"(@assistant) hi", true},
        {"@assistant? hi", true},
        {"hi\n@assistant", true},
        {"write to me@assistant please", false},
        {"@assistant_2 is someone else", false},
        {"@assistants are many", false},
        {"@assistant-bot is someone else", false},
        {"see @assistant.example.org", false},
        {"assistant without the at sign", false},
        {"@Assistant differs in case", false},
        {"@@assistant", false},
        {"", false},
        {"@", false},
        {"x @ assistant", false},
        {"first @someone then @assistant", true},
    };
    for (const mention_case& test : cases) {
        EXPECT_EQ(mentions(test.text, "assistant"), test.is_mention) << test.text;
    }
}

TEST(AssistantTrigger, AnEmptyBotNameIsNeverMentioned) {
    EXPECT_FALSE(mentions("@ hello", ""));
}

TEST(AssistantTrigger, AnswersEveryDirectMessageToTheBotInTheSameDirectConversation) {
    const auto trigger = classify_message("chat/dm/assistant/alice", "hello", "assistant");
    ASSERT_TRUE(trigger.has_value());
    EXPECT_EQ(trigger->sender, "alice");
    EXPECT_EQ(trigger->conversation, "dm/alice/assistant");
    EXPECT_EQ(trigger->reply_topic, "chat/dm/alice/assistant");
    EXPECT_EQ(trigger->signal_topic, "chat/signal/dm/alice/assistant");
}

TEST(AssistantTrigger, AnswersARoomMessageOnlyWhenItMentionsTheBot) {
    const auto trigger = classify_message("chat/room/lobby/bob", "@assistant hi", "assistant");
    ASSERT_TRUE(trigger.has_value());
    EXPECT_EQ(trigger->sender, "bob");
    EXPECT_EQ(trigger->conversation, "room/lobby");
    EXPECT_EQ(trigger->reply_topic, "chat/room/lobby/assistant");
    EXPECT_EQ(trigger->signal_topic, "chat/signal/room/lobby/assistant");
    EXPECT_FALSE(classify_message("chat/room/lobby/bob", "no mention", "assistant"));
}

TEST(AssistantTrigger, IgnoresItsOwnMessagesSignalsPresenceAndOthers) {
    const char* ignored[] = {
        "chat/room/lobby/assistant",      // its own room message
        "chat/dm/alice/assistant",        // its own direct message
        "chat/dm/bob/alice",              // a DM between others
        "chat/signal/room/lobby/alice",   // a signal
        "chat/signal/dm/assistant/alice", // a signal to the bot
        "chat/presence/alice",            // presence
        "chat/ctl/assistant/resp",        // a control reply
        "chat/room/lobby",                // malformed
        "sensors/kitchen",                // not chat
        "chat/dm/assistant/assistant",    // a note to itself
    };
    for (const char* topic : ignored) {
        EXPECT_FALSE(classify_message(topic, "@assistant hello", "assistant")) << topic;
    }
}

} // namespace
} // namespace perch::gateway::assistant
