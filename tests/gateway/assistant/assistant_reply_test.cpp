// Tests of the assistant bot's failure replies and typing signal.
#include <set>
#include <string>

#include <gtest/gtest.h>

#include "gateway/assistant/assistant_reply.hpp"

#include <nlohmann/json.hpp>

namespace perch::gateway::assistant {
namespace {

TEST(AssistantReply, EveryFailureHasItsOwnShortApology) {
    const failure_kind kinds[] = {failure_kind::unreachable,  failure_kind::timeout,
                                  failure_kind::rate_limited, failure_kind::server_error,
                                  failure_kind::bad_answer,   failure_kind::incomplete,
                                  failure_kind::too_large,    failure_kind::cancelled};
    std::set<std::string> texts;
    for (const failure_kind kind : kinds) {
        const std::string text(failure_reply_text(kind));
        EXPECT_TRUE(text.starts_with("Sorry")) << text;
        EXPECT_LT(text.size(), 100U);
        texts.insert(text);
    }
    EXPECT_EQ(texts.size(), std::size(kinds));
    EXPECT_EQ(failure_reply_text(failure_kind::timeout),
              "Sorry, the model server did not answer in time.");
    EXPECT_NE(refusal_reply_text(refusal_kind::busy),
              refusal_reply_text(refusal_kind::rate_limited));
}

TEST(AssistantReply, TypingSignalNamesTheBot) {
    const auto signal = nlohmann::json::parse(typing_signal_payload("assistant"));
    EXPECT_EQ(signal, nlohmann::json({{"type", "typing"}, {"user", "assistant"}}));
}

} // namespace
} // namespace perch::gateway::assistant
