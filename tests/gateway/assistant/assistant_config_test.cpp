// Tests of the assistant_* keys of the config file.
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "gateway/common/config.hpp"

namespace perch::gateway {
namespace {

TEST(AssistantConfig, IsOffByDefault) {
    const broker_config config = parse_config("", "test.conf");
    EXPECT_TRUE(config.assistant.endpoint.empty());
    EXPECT_EQ(config.assistant.user, "assistant");
    EXPECT_EQ(config.assistant.context_messages, 10U);
}

TEST(AssistantConfig, ReadsEveryKey) {
    const broker_config config =
        parse_config("assistant_endpoint http://192.168.1.50:8080/v1\n"
                     "assistant_model qwen2.5-1.5b-instruct\n"
                     "assistant_api_key_env PERCH_MODEL_KEY\n"
                     "assistant_api_key_file /etc/perch/model.key\n"
                     "assistant_user helper\n"
                     "assistant_system_prompt   You are  terse. Answer in one line.  \n"
                     "assistant_rooms lobby, kitchen,garden  attic\n"
                     "assistant_context_messages 4\n"
                     "assistant_timeout_ms 90000\n"
                     "assistant_max_tokens 256\n"
                     "assistant_stream true\n"
                     "assistant_typing_interval_ms 500\n"
                     "assistant_user_rate 3 2\n"
                     "assistant_global_rate 30\n"
                     "assistant_max_concurrent 2\n"
                     "assistant_cafile /etc/perch/ca.pem\n",
                     "test.conf");
    const assistant_config& assistant = config.assistant;
    EXPECT_EQ(assistant.endpoint, "http://192.168.1.50:8080/v1");
    EXPECT_EQ(assistant.model, "qwen2.5-1.5b-instruct");
    EXPECT_EQ(assistant.api_key_env, "PERCH_MODEL_KEY");
    EXPECT_EQ(assistant.api_key_file, "/etc/perch/model.key");
    EXPECT_EQ(assistant.user, "helper");
    EXPECT_EQ(assistant.system_prompt, "You are  terse. Answer in one line.");
    EXPECT_EQ(assistant.rooms, (std::vector<std::string>{"lobby", "kitchen", "garden", "attic"}));
    EXPECT_EQ(assistant.context_messages, 4U);
    EXPECT_EQ(assistant.timeout_ms, 90000U);
    EXPECT_EQ(assistant.max_tokens, 256U);
    EXPECT_TRUE(assistant.is_streamed);
    EXPECT_EQ(assistant.typing_interval_ms, 500U);
    EXPECT_EQ(assistant.user_rate_per_minute, 3U);
    EXPECT_EQ(assistant.user_rate_burst, 2U);
    EXPECT_EQ(assistant.global_rate_per_minute, 30U);
    EXPECT_EQ(assistant.global_rate_burst, 1U);
    EXPECT_EQ(assistant.max_concurrent, 2U);
    EXPECT_EQ(assistant.cafile, "/etc/perch/ca.pem");
}

TEST(AssistantConfig, ZeroRateMeansNoLimit) {
    // docs/ASSISTANT.md: `assistant_user_rate 0` turns the per-user limit off; the rate limiter
    // treats per_minute 0 as unlimited (RateLimiter.ZeroMeansUnlimited).
    const broker_config config =
        parse_config("assistant_user_rate 0\nassistant_global_rate 0\n", "test.conf");
    EXPECT_EQ(config.assistant.user_rate_per_minute, 0U);
    EXPECT_EQ(config.assistant.global_rate_per_minute, 0U);
}

TEST(AssistantConfig, RefusesBadValuesNamingTheKey) {
    const char* bad[] = {
        "assistant_endpoint ftp://host/v1",
        "assistant_endpoint http://",
        "assistant_user a/b",
        "assistant_rooms lobby,#all",
        "assistant_context_messages 1000",
        "assistant_timeout_ms 5",
        "assistant_user_rate",
        "assistant_user_rate 1 0",
        "assistant_user_rate 1 2 3",
        "assistant_stream yes",
        "assistant_max_concurrent 0",
        "assistant_system_prompt",
    };
    for (const char* line : bad) {
        try {
            parse_config(line, "test.conf");
            ADD_FAILURE() << "accepted: " << line;
        } catch (const config_error& error) {
            const std::string key(
                std::string_view(line).substr(0, std::string_view(line).find(' ')));
            EXPECT_EQ(error.key(), key) << line;
            EXPECT_EQ(error.line_number(), 1U);
        }
    }
}

} // namespace
} // namespace perch::gateway
