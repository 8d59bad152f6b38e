// Tests of the chat completions request and answer formats.
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "gateway/assistant/completion_protocol.hpp"

#include <nlohmann/json.hpp>

namespace perch::gateway::assistant {
namespace {

using json = nlohmann::json;

TEST(CompletionProtocol, RequestCarriesModelTurnsAndOptions) {
    const std::vector<chat_turn> turns{{chat_role::system, "You are helpful."},
                                       {chat_role::user, "alice: hi \"bot\""},
                                       {chat_role::assistant, "Hello!"}};
    completion_settings settings{"llama-3.2-1b", 256, 0.5};
    const json request = json::parse(build_completion_request(settings, turns, true));
    EXPECT_EQ(request["model"], "llama-3.2-1b");
    EXPECT_EQ(request["stream"], true);
    EXPECT_EQ(request["max_tokens"], 256);
    EXPECT_DOUBLE_EQ(request["temperature"].get<double>(), 0.5);
    ASSERT_EQ(request["messages"].size(), 3U);
    EXPECT_EQ(request["messages"][0]["role"], "system");
    EXPECT_EQ(request["messages"][1]["role"], "user");
    EXPECT_EQ(request["messages"][1]["content"], "alice: hi \"bot\"");
    EXPECT_EQ(request["messages"][2]["role"], "assistant");
}

TEST(CompletionProtocol, RequestOmitsUnsetOptionsAndSurvivesBadUtf8) {
    const std::vector<chat_turn> turns{{chat_role::user, std::string("caf\xC3", 4)}};
    const json request = json::parse(build_completion_request(
        completion_settings{"m", std::nullopt, std::nullopt}, turns, false));
    EXPECT_FALSE(request.contains("max_tokens"));
    EXPECT_FALSE(request.contains("temperature"));
    EXPECT_EQ(request["stream"], false);
    EXPECT_EQ(request["messages"][0]["content"].get<std::string>().substr(0, 3), "caf");
}

TEST(CompletionProtocol, ReadsThePlainAnswer) {
    const auto result = parse_completion_response(
        R"({"id":"x","choices":[{"index":0,"message":{"role":"assistant","content":"42"}}]})");
    ASSERT_TRUE(std::holds_alternative<std::string>(result));
    EXPECT_EQ(std::get<std::string>(result), "42");
}

TEST(CompletionProtocol, MalformedAnswersAreFailuresNotExceptions) {
    for (const std::string_view body :
         {"", "not json", "{\"choices\":[]}", "{\"choices\":[{\"message\":{}}]}",
          "{\"choices\":[{\"message\":{\"content\":7}}]}", "[1,2]", "{\"choices\":\"x\"}",
          "{\"choices\":[{\"message\":{\"content\":\"\"}}]}", "{\"choices\":[null]}"}) {
        const auto result = parse_completion_response(body);
        ASSERT_TRUE(std::holds_alternative<completion_failure>(result)) << body;
        EXPECT_FALSE(std::get<completion_failure>(result).message.empty());
    }
}

TEST(CompletionProtocol, ErrorObjectsAreReportedShortly) {
    const auto result = parse_completion_response(
        R"({"error":{"message":")" + std::string(500, 'x') + R"(","type":"server_error"}})");
    ASSERT_TRUE(std::holds_alternative<completion_failure>(result));
    EXPECT_LT(std::get<completion_failure>(result).message.size(), 250U);
    const completion_failure failure =
        describe_error_response(429, R"({"error":{"message":"Rate limit reached"}})");
    EXPECT_EQ(failure.message, "the model server answered HTTP 429: Rate limit reached");
    EXPECT_EQ(describe_error_response(502, "<html>bad gateway</html>").message,
              "the model server answered HTTP 502");
}

TEST(CompletionProtocol, StreamAssemblesDeltasUntilDone) {
    completion_stream stream(1024);
    EXPECT_EQ(stream.handle_event({"message", R"({"choices":[{"delta":{"role":"assistant"}}]})"}),
              completion_stream::state::streaming);
    stream.handle_event({"message", R"({"choices":[{"delta":{"content":"Hel"}}]})"});
    stream.handle_event({"message", R"({"choices":[{"delta":{"content":"lo"}}]})"});
    stream.handle_event({"message", R"({"choices":[{"delta":{},"finish_reason":"stop"}]})"});
    EXPECT_EQ(stream.handle_event({"message", "[DONE]"}), completion_stream::state::done);
    EXPECT_EQ(stream.content(), "Hello");
    // Nothing after [DONE] changes the answer.
    stream.handle_event({"message", R"({"choices":[{"delta":{"content":"!"}}]})"});
    EXPECT_EQ(stream.content(), "Hello");
}

TEST(CompletionProtocol, StreamFailsOnGarbageErrorsAndOversizedAnswers) {
    completion_stream garbage(1024);
    EXPECT_EQ(garbage.handle_event({"message", "{not json"}), completion_stream::state::failed);
    EXPECT_FALSE(garbage.failure().message.empty());

    completion_stream error(1024);
    EXPECT_EQ(error.handle_event({"message", R"({"error":{"message":"model overloaded"}})"}),
              completion_stream::state::failed);
    EXPECT_NE(error.failure().message.find("model overloaded"), std::string::npos);

    completion_stream small(4);
    EXPECT_EQ(small.handle_event({"message", R"({"choices":[{"delta":{"content":"12345"}}]})"}),
              completion_stream::state::failed);

    completion_stream empty(16);
    EXPECT_EQ(empty.handle_event({"message", "[DONE]"}), completion_stream::state::failed);
}

} // namespace
} // namespace perch::gateway::assistant
