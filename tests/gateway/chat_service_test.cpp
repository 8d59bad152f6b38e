// The chat service over the memory chat store, without threads: logins, stamping, server-side
// filters, presence counts and control requests.
#include <gtest/gtest.h>

#include "gateway/chat_service.hpp"
#include "gateway/password_hash.hpp"

#include <nlohmann/json.hpp>

namespace perch::gateway {
namespace {

using json = nlohmann::json;

class ChatServiceTest : public ::testing::Test {
protected:
    void SetUp() override {
        store::store_options options;
        options.durability = store::durability_level::none;
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
        service_ = std::make_unique<chat_service>(std::move(store), chat_settings{});
        service_->load();
    }

    /// Runs a control request of `user` and returns the reply's JSON.
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

    std::unique_ptr<chat_service> service_;
};

TEST_F(ChatServiceTest, LoginChecksPasswordAndClientId) {
    using result = chat_login_result;
    EXPECT_EQ(service_->check_login("alice", "alice-pw", "alice", false), result::chat_user);
    EXPECT_EQ(service_->check_login("alice", "alice-pw", "alice/phone", false), result::chat_user);
    EXPECT_EQ(service_->check_login("alice", "wrong", "alice", false), result::bad_credentials);
    EXPECT_EQ(service_->check_login("alice", std::nullopt, "alice", false),
              result::bad_credentials);
    EXPECT_EQ(service_->check_login("mallory", "x", "mallory", false), result::bad_credentials);
    EXPECT_EQ(service_->check_login("alice", "alice-pw", "bob", false), result::client_id_refused);
    EXPECT_EQ(service_->check_login("alice", "alice-pw", "alice/", false),
              result::client_id_refused);
    EXPECT_EQ(service_->check_login("alice", "alice-pw", "", false), result::client_id_refused);
    EXPECT_EQ(service_->check_login(std::nullopt, std::nullopt, "sensor-1", false),
              result::not_chat_user);
    EXPECT_EQ(service_->check_login(std::nullopt, std::nullopt, "bob/x", false),
              result::client_id_refused);
    // A verified certificate identity needs no password.
    EXPECT_EQ(service_->check_login("bob", std::nullopt, "bob", true), result::chat_user);
    EXPECT_EQ(service_->check_login("device-7", std::nullopt, "device-7", true),
              result::not_chat_user);
}

TEST_F(ChatServiceTest, StampReplacesClientIdsAndCountsPerConversation) {
    auto content = std::make_shared<mqtt::message>();
    content->topic_name = "chat/dm/bob/alice";
    content->payload = mqtt::shared_bytes::copy_of(std::string_view("hi"));
    content->props.user_properties = {{"id", "999"}, {"kept", "yes"}};
    const auto first = service_->stamp(content, "alice", 1234);
    ASSERT_TRUE(first);
    const auto& properties = first->content->props.user_properties;
    ASSERT_EQ(properties.size(), 3U);
    EXPECT_EQ(properties[0].name, "kept");
    EXPECT_EQ(properties[1].value, "1");
    EXPECT_EQ(properties[2].value, "1234");
    EXPECT_EQ(first->record.conversation, "dm/alice/bob");
    EXPECT_EQ(first->record.sender, "alice");
    EXPECT_EQ(first->record.payload, (store::byte_vector{'h', 'i'}));
    EXPECT_EQ(service_->stamp(content, "alice", 1235)->record.id, 2U);
    content->topic_name = "chat/signal/dm/bob/alice";
    EXPECT_FALSE(service_->stamp(content, "alice", 1236));
}

TEST_F(ChatServiceTest, ServerFiltersCoverTheUsersRooms) {
    EXPECT_TRUE(service_->is_server_filter("alice", "chat/dm/alice/+"));
    EXPECT_TRUE(service_->is_server_filter("alice", "chat/room/lobby/+"));
    EXPECT_FALSE(service_->is_server_filter("bob", "chat/room/lobby/+"));
    EXPECT_FALSE(service_->is_server_filter("alice", "chat/#"));
    const auto filters = service_->subscriptions_for("alice");
    EXPECT_EQ(filters.size(), 8U);
    // Presence: one exact filter per user alice may see (only herself here), never a wildcard
    // that every presence change would match.
    EXPECT_TRUE(service_->is_server_filter("alice", "chat/presence/alice"));
    EXPECT_FALSE(service_->is_server_filter("alice", "chat/presence/+"));
    EXPECT_FALSE(service_->is_server_filter("alice", "chat/presence/bob"));
    EXPECT_EQ(control("bob", R"({"op":"join","room":"lobby"})")["ok"], true);
    EXPECT_TRUE(service_->is_server_filter("alice", "chat/presence/bob"));
}

TEST_F(ChatServiceTest, PresenceCountsDevices) {
    EXPECT_NE(service_->device_connected("bob", 1)->payload.as_string().find(R"("devices":1)"),
              std::string_view::npos);
    EXPECT_NE(service_->device_connected("bob", 2)->payload.as_string().find(R"("devices":2)"),
              std::string_view::npos);
    service_->device_disconnected("bob", 3);
    const auto last = service_->device_disconnected("bob", 4);
    ASSERT_TRUE(last);
    EXPECT_TRUE(last->is_retained);
    EXPECT_NE(last->payload.as_string().find(R"("status":"offline")"), std::string_view::npos);
    EXPECT_FALSE(service_->device_disconnected("bob", 5));
}

TEST_F(ChatServiceTest, ControlRequestsChangeTheDirectory) {
    EXPECT_EQ(control("bob", R"({"op":"create","room":"den"})")["ok"], true);
    EXPECT_TRUE(service_->directory().is_member("den", "bob"));
    EXPECT_EQ(control("bob", R"({"op":"create","room":"den"})")["error"],
              "the room exists already");
    EXPECT_EQ(control("carol", R"({"op":"invite","room":"den","user":"alice"})")["error"],
              "not a member of this room");
    EXPECT_EQ(control("bob", R"({"op":"invite","room":"den","user":"zed"})")["error"],
              "no such user");
    EXPECT_EQ(control("carol", R"({"op":"join","room":"den"})")["ok"], true);
    EXPECT_EQ(control("carol", R"({"op":"join","room":"den"})")["error"], "already a member");
    EXPECT_EQ(control("carol", R"({"op":"members","room":"den"})")["members"],
              json::array({"bob", "carol"}));
    EXPECT_EQ(control("carol", R"({"op":"leave","room":"den"})")["ok"], true);
    EXPECT_EQ(control("carol", R"({"op":"leave","room":"den"})")["error"],
              "not a member of this room");
    EXPECT_EQ(control("carol", R"({"op":"members","room":"den"})")["ok"], false);
    EXPECT_EQ(control("carol", R"({"op":"join","room":"nowhere"})")["error"], "no such room");
    EXPECT_EQ(control("bob", R"({"op":"rooms"})")["rooms"], json::array({"den"}));
    EXPECT_EQ(control("bob", R"({"op":"history","conversation":"room/lobby"})")["error"],
              "not allowed to read this conversation");
    EXPECT_EQ(control("bob", R"({"op":"read","conversation":"dm/alice/carol","id":1})")["ok"],
              false);
}

} // namespace
} // namespace perch::gateway
