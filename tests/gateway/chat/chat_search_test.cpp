// The `search` control request over the memory chat store: who may find what (members of a room,
// the two parties of a DM, a `joined` room from the join on, nobody after leaving), pages, the
// request's errors, and the server with search off.
#include <algorithm>
#include <filesystem>
#include <future>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "gateway/chat/chat_search.hpp"
#include "gateway/chat/chat_service.hpp"
#include "gateway/chat/password_hash.hpp"
#include "gateway/common/config.hpp"

#include <nlohmann/json.hpp>
#include <unistd.h>

namespace perch::gateway {
namespace {

using json = nlohmann::json;

class ChatSearchTest : public ::testing::Test {
protected:
    void SetUp() override { start(true); }

    void start(bool is_search_enabled) {
        store::store_options options;
        options.durability = store::durability_level::none;
        options.is_search_enabled = is_search_enabled;
        auto store = store::open_chat_store(options);
        for (const char* user : {"alice", "bob", "carol"}) {
            store->add_user({user, hash_password(std::string(user) + "-pw", 1), 1},
                            [](store::directory_result, const store::store_status&) {});
        }
        store->add_room({"lobby", "", 1},
                        [](store::directory_result, const store::store_status&) {});
        store->add_member({"lobby", "alice"},
                          [](store::directory_result, const store::store_status&) {});
        store->flush();
        chat_settings settings;
        settings.password_iterations = 1;
        settings.is_search_enabled = is_search_enabled;
        service_ = std::make_unique<chat_service>(std::move(store), settings);
        service_->load();
    }

    json control(const std::string& user, std::string_view payload) {
        std::optional<control_outcome> outcome;
        service_->handle_control(user, payload, [&](control_outcome done) { outcome = done; });
        service_->store().flush();
        if (!outcome) {
            ADD_FAILURE() << "no reply to " << payload;
            return json::object();
        }
        return json::parse(format_control_reply(outcome->reply));
    }

    /// Publishes `text` from `sender` on `topic` (stamped and recorded as the gateway does).
    void say(const std::string& sender, const std::string& topic, std::string_view text) {
        auto content = std::make_shared<mqtt::message>();
        content->topic_name = topic;
        content->payload = mqtt::shared_bytes::copy_of(text);
        ASSERT_TRUE(service_->stamp_and_record(content, sender, 1'000, {}));
    }

    /// "conversation#id" of each hit of `user`'s search `request`, in order.
    std::vector<std::string> found(const std::string& user, std::string_view request) {
        const json reply = control(user, request);
        EXPECT_EQ(reply["ok"], true) << reply.dump();
        std::vector<std::string> keys;
        for (const json& hit : reply["hits"]) {
            keys.push_back(hit["conversation"].get<std::string>() + "#" +
                           std::to_string(hit["id"].get<std::uint64_t>()));
        }
        std::sort(keys.begin(), keys.end());
        return keys;
    }

    std::unique_ptr<chat_service> service_;
};

TEST_F(ChatSearchTest, FindsOnlyTheConversationsTheUserMayRead) {
    say("alice", "chat/room/lobby/alice", "the secret recipe");
    say("alice", "chat/dm/carol/alice", "a recipe for carol");
    say("bob", "chat/dm/carol/bob", "a recipe between bob and carol");
    EXPECT_EQ(found("alice", R"({"op":"search","q":"recipe"})"),
              (std::vector<std::string>{"dm/alice/carol#1", "room/lobby#1"}));
    // bob is in no room: his DM only.
    EXPECT_EQ(found("bob", R"({"op":"search","q":"recipe"})"),
              (std::vector<std::string>{"dm/bob/carol#1"}));
    EXPECT_EQ(found("carol", R"({"op":"search","q":"recipe","peer":"alice"})"),
              (std::vector<std::string>{"dm/alice/carol#1"}));
    EXPECT_EQ(control("bob", R"({"op":"search","q":"recipe","room":"lobby"})")["error"],
              "not allowed to read this conversation");
    EXPECT_EQ(
        control("alice", R"({"op":"search","q":"recipe","conversation":"dm/bob/carol"})")["error"],
        "not allowed to read this conversation");
    const json reply = control("alice", R"({"op":"search","q":"SECRET","room":"lobby"})");
    EXPECT_EQ(reply["conversation"], "room/lobby");
    ASSERT_EQ(reply["hits"].size(), 1U);
    EXPECT_EQ(reply["hits"][0]["sender"], "alice");
    EXPECT_EQ(reply["hits"][0]["payload"], "the secret recipe");
    EXPECT_EQ(reply["hits"][0]["snippet"], "the **secret** recipe");
    EXPECT_EQ(reply["hits"][0]["topic"], "chat/room/lobby/alice");
}

TEST_F(ChatSearchTest, AJoinedRoomIsSearchedFromTheJoinOn) {
    ASSERT_EQ(control("alice", R"({"op":"create","room":"den","history":"joined"})")["ok"], true);
    say("alice", "chat/room/den/alice", "before bob came: plans");
    ASSERT_EQ(control("bob", R"({"op":"join","room":"den"})")["ok"], true);
    say("alice", "chat/room/den/alice", "after bob came: plans");
    const auto bob_sees = found("bob", R"({"op":"search","q":"plans"})");
    ASSERT_EQ(bob_sees.size(), 1U);
    EXPECT_EQ(found("bob", R"({"op":"search","q":"after","room":"den"})"), bob_sees);
    EXPECT_TRUE(found("bob", R"({"op":"search","q":"before","room":"den"})").empty());
    EXPECT_EQ(found("alice", R"({"op":"search","q":"plans"})").size(), 2U);
}

TEST_F(ChatSearchTest, LeavingOrBeingBannedEndsTheSearchOfARoom) {
    ASSERT_EQ(control("alice", R"({"op":"create","room":"den"})")["ok"], true);
    ASSERT_EQ(control("bob", R"({"op":"join","room":"den"})")["ok"], true);
    ASSERT_EQ(control("carol", R"({"op":"join","room":"den"})")["ok"], true);
    say("alice", "chat/room/den/alice", "treasure map");
    EXPECT_EQ(found("bob", R"({"op":"search","q":"treasure"})").size(), 1U);
    EXPECT_EQ(found("carol", R"({"op":"search","q":"treasure"})").size(), 1U);
    ASSERT_EQ(control("bob", R"({"op":"leave","room":"den"})")["ok"], true);
    ASSERT_EQ(control("alice", R"({"op":"ban","room":"den","user":"carol"})")["ok"], true);
    for (const char* user : {"bob", "carol"}) {
        EXPECT_TRUE(found(user, R"({"op":"search","q":"treasure"})").empty()) << user;
        EXPECT_EQ(control(user, R"({"op":"search","q":"treasure","room":"den"})")["error"],
                  "not allowed to read this conversation");
    }
}

TEST_F(ChatSearchTest, EditedMessagesMatchByTheirLastTextAndDeletedOnesNever) {
    say("alice", "chat/room/lobby/alice", "lunch at noon");
    say("alice", "chat/room/lobby/alice", "dinner at noon");
    ASSERT_EQ(
        control("alice",
                R"({"op":"edit","conversation":"room/lobby","id":1,"text":"lunch at one"})")["ok"],
        true);
    ASSERT_EQ(control("alice", R"({"op":"delete","conversation":"room/lobby","id":2})")["ok"],
              true);
    EXPECT_TRUE(found("alice", R"({"op":"search","q":"noon"})").empty());
    const json reply = control("alice", R"({"op":"search","q":"lunch"})");
    ASSERT_EQ(reply["hits"].size(), 1U);
    EXPECT_EQ(reply["hits"][0]["payload"], "lunch at one");
    EXPECT_TRUE(reply["hits"][0].contains("edited_ts"));
    EXPECT_TRUE(found("alice", R"({"op":"search","q":"dinner"})").empty());
}

TEST_F(ChatSearchTest, PagesFollowTheCursor) {
    for (int index = 0; index < 5; ++index) {
        say("alice", "chat/room/lobby/alice", "page test " + std::to_string(index));
    }
    std::vector<std::string> seen;
    std::string request = R"({"op":"search","q":"page","limit":2})";
    for (int page = 0; page < 3; ++page) {
        const json reply = control("alice", request);
        ASSERT_EQ(reply["ok"], true) << reply.dump();
        for (const json& hit : reply["hits"]) {
            seen.push_back(hit["payload"]);
        }
        if (page < 2) {
            ASSERT_TRUE(reply.contains("next"));
            request = json{{"op", "search"}, {"q", "page"}, {"limit", 2}, {"cursor", reply["next"]}}
                          .dump();
        } else {
            EXPECT_FALSE(reply.contains("next"));
        }
    }
    // Equal ranks: newest first, each message once.
    EXPECT_EQ(seen, (std::vector<std::string>{"page test 4", "page test 3", "page test 2",
                                              "page test 1", "page test 0"}));
}

TEST_F(ChatSearchTest, AMalformedRequestNamesTheProblem) {
    EXPECT_EQ(control("alice", R"({"op":"search"})")["error"], "missing \"q\"");
    EXPECT_EQ(control("alice", R"({"op":"search","q":" ?! "})")["error"],
              "\"q\" holds no word to search for");
    EXPECT_EQ(control("alice", R"({"op":"search","q":"a","room":"lobby","peer":"bob"})")["error"],
              "name at most one of \"room\", \"peer\" and \"conversation\"");
    EXPECT_EQ(control("alice", R"({"op":"search","q":"a","cursor":"x"})")["error"],
              "invalid \"cursor\" (give the \"next\" of an earlier reply)");
    EXPECT_EQ(control("alice", R"({"op":"search","q":"a","limit":0})")["error"],
              "\"limit\" must be between 1 and 50");
    EXPECT_EQ(control("alice", R"({"op":"search","q":"a","room":"a/b"})")["error"],
              "invalid \"room\" (1-64 bytes of UTF-8 without / + # $ or control characters)");
}

TEST(SearchTerms, AreWordsFoldedWithPrefixes) {
    EXPECT_EQ(search_terms_of("Hello, wor* \"x\"-y"),
              (std::vector<store::search_term>{
                  {"hello", false}, {"wor", true}, {"x", false}, {"y", false}}));
    EXPECT_EQ(search_terms_of("caf\xC3\xA9"),
              (std::vector<store::search_term>{{"caf\xC3\xA9", false}}));
    EXPECT_TRUE(search_terms_of("*** ...").empty());
}

TEST_F(ChatSearchTest, WithSearchOffTheRequestIsRefused) {
    start(false);
    say("alice", "chat/room/lobby/alice", "anything");
    EXPECT_EQ(control("alice", R"({"op":"search","q":"anything"})")["error"],
              "search is off on this server (chat_search false)");
}

// Over the SQLite store, whose searches wait on a thread of their own: a user has one search in
// flight at a time, and the store's bound refuses the rest; both answer "busy" at once.
TEST(ChatSearchBusy, OneSearchPerUserAndTheStoreBoundAnswerBusy) {
    const auto directory = std::filesystem::temp_directory_path() /
                           ("perch-search-busy-" + std::to_string(::getpid()));
    std::filesystem::create_directories(directory);
    {
        store::store_options options;
        options.path = (directory / "perch.db").string();
        options.commit_interval_ms = 1;
        options.max_pending_searches = 2;
        auto store = store::open_chat_store(options);
        for (const char* user : {"alice", "bob"}) {
            store->add_user({user, hash_password(std::string(user) + "-pw", 1), 1},
                            [](store::directory_result, const store::store_status&) {});
        }
        store->add_room({"lobby", "", 1},
                        [](store::directory_result, const store::store_status&) {});
        store->add_member({"lobby", "alice"},
                          [](store::directory_result, const store::store_status&) {});
        store->add_member({"lobby", "bob"},
                          [](store::directory_result, const store::store_status&) {});
        store->flush();
        chat_settings settings;
        settings.password_iterations = 1;
        chat_service service(std::move(store), settings);
        service.load();

        // A search whose completion holds the search thread, as a slow one would.
        std::promise<void> started;
        std::promise<void> release;
        std::shared_future<void> released = release.get_future().share();
        store::search_request holding;
        holding.terms = {{"anything", false}};
        holding.scopes = {{"room/lobby", 0}};
        service.store().search_history(
            holding, [&](std::vector<store::search_hit>, const store::store_status&) {
                started.set_value();
                released.wait();
            });
        started.get_future().wait();

        std::promise<control_outcome> first;
        service.handle_control("alice", R"({"op":"search","q":"tea"})",
                               [&](control_outcome done) { first.set_value(std::move(done)); });
        std::optional<control_outcome> second;
        service.handle_control("alice", R"({"op":"search","q":"tea"})",
                               [&](control_outcome done) { second = std::move(done); });
        ASSERT_TRUE(second.has_value());
        EXPECT_EQ(second->reply.error, "busy: your previous search is still running");
        std::optional<control_outcome> other;
        service.handle_control("bob", R"({"op":"search","q":"tea"})",
                               [&](control_outcome done) { other = std::move(done); });
        ASSERT_TRUE(other.has_value());
        EXPECT_EQ(other->reply.error, "busy: too many searches at once; try again shortly");

        release.set_value();
        const control_outcome answered = first.get_future().get();
        EXPECT_TRUE(answered.reply.is_ok) << answered.reply.error;
        // Alice's slot is free again.
        std::promise<control_outcome> again;
        service.handle_control("alice", R"({"op":"search","q":"tea"})",
                               [&](control_outcome done) { again.set_value(std::move(done)); });
        EXPECT_TRUE(again.get_future().get().reply.is_ok);
    }
    std::filesystem::remove_all(directory);
}

TEST(SearchConfig, IsOnByDefaultAndTurnedOffByChatSearchFalse) {
    EXPECT_TRUE(parse_config("", "t.conf").chat_search);
    EXPECT_FALSE(parse_config("chat_search false\n", "t.conf").chat_search);
    EXPECT_THROW(parse_config("chat_search maybe\n", "t.conf"), config_error);
}

} // namespace
} // namespace perch::gateway
