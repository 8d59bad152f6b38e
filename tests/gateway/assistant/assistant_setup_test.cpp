// Tests of the assistant's start-up: the API key and the bot's directory entries.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "gateway/assistant/assistant_setup.hpp"
#include "gateway/chat/chat_service.hpp"
#include "gateway/chat/password_hash.hpp"

#include <unistd.h>

namespace perch::gateway::assistant {
namespace {

class AssistantSetup : public ::testing::Test {
protected:
    void SetUp() override {
        path_ = std::filesystem::temp_directory_path() /
                ("perch-assistant-key-" + std::to_string(::getpid()));
    }
    void TearDown() override { std::filesystem::remove(path_); }

    void write(const std::string& text) { std::ofstream(path_, std::ios::binary) << text; }

    std::filesystem::path path_;
};

TEST_F(AssistantSetup, ReadsTheKeyFileWithoutItsTrailingNewline) {
    write("sk-local-123\n");
    assistant_config config;
    config.api_key_file = path_.string();
    EXPECT_EQ(load_api_key(config), "sk-local-123");
    write("sk-local-456\r\n");
    EXPECT_EQ(load_api_key(config), "sk-local-456");
    write("sk-no-newline");
    EXPECT_EQ(load_api_key(config), "sk-no-newline");
}

TEST_F(AssistantSetup, ReadsTheKeyFromTheEnvironment) {
    ::setenv("PERCH_TEST_ASSISTANT_KEY", "sk-env-789", 1);
    assistant_config config;
    config.api_key_env = "PERCH_TEST_ASSISTANT_KEY";
    EXPECT_EQ(load_api_key(config), "sk-env-789");
    ::unsetenv("PERCH_TEST_ASSISTANT_KEY");
    EXPECT_THROW(load_api_key(config), std::runtime_error);
    EXPECT_EQ(load_api_key(assistant_config{}), "");
}

TEST_F(AssistantSetup, AMissingKeyFileIsNamedInTheError) {
    assistant_config config;
    config.api_key_file = (path_ / "missing").string();
    try {
        load_api_key(config);
        ADD_FAILURE() << "no error";
    } catch (const std::runtime_error& error) {
        EXPECT_NE(std::string(error.what()).find("missing"), std::string::npos);
    }
}

TEST(AssistantBotUser, IsCreatedAndJoinsTheRoomsThatExist) {
    store::store_options options;
    options.durability = store::durability_level::none;
    auto store = store::open_chat_store(options);
    const auto ignore = [](store::directory_result, const store::store_status&) {};
    store->add_user({"alice", hash_password("alice-pw", 1), 1}, ignore);
    store->add_room({"lobby", "", 1}, ignore);
    store->add_room({"kitchen", "", 1}, ignore);
    store->flush();
    chat_service chat(std::move(store), chat_settings{});
    chat.load();
    chat.start([](std::shared_ptr<const directory_changes>) {});
    assistant_config config;
    config.rooms = {"lobby", "kitchen", "attic"};
    prepare_bot_user(chat, config);
    EXPECT_TRUE(chat.directory().has_user("assistant"));
    EXPECT_TRUE(chat.directory().is_member("lobby", "assistant"));
    EXPECT_TRUE(chat.directory().is_member("kitchen", "assistant"));
    EXPECT_FALSE(chat.directory().has_room("attic"));
    // Nobody logs in as the bot with a password, not even an empty one.
    EXPECT_EQ(chat.check_login("assistant", "", "assistant", false),
              chat_login_result::bad_credentials);
    EXPECT_EQ(chat.check_login("assistant", std::nullopt, "assistant", true),
              chat_login_result::chat_user);
    // A second start changes nothing.
    const auto version = chat.directory().version();
    prepare_bot_user(chat, config);
    EXPECT_EQ(chat.directory().version(), version);
    chat.stop();
}

} // namespace
} // namespace perch::gateway::assistant
