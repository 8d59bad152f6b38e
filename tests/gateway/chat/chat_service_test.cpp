// The chat service over the memory chat store, without threads: logins, stamping, server-side
// filters, presence counts and control requests.
#include <algorithm>
#include <chrono>
#include <future>

#include <gtest/gtest.h>

#include "gateway/chat/chat_service.hpp"
#include "gateway/chat/password_hash.hpp"
#include "gateway/common/stored_message_codec.hpp"

#include <nlohmann/json.hpp>

namespace perch::gateway {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

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
        // The hashes above are as strong as configured: no login rehashes them.
        chat_settings settings;
        settings.password_iterations = 1;
        service_ = std::make_unique<chat_service>(std::move(store), settings);
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

TEST_F(ChatServiceTest, AnUnknownUserIsCheckedOnThePasswordThreadsAsAKnownOneIs) {
    // Answered at once for one and after a hash for the other, the two would tell an observer
    // which user names exist.
    std::promise<chat_login_result> known;
    std::promise<chat_login_result> unknown;
    const auto known_now = service_->start_login_check(
        "alice", "wrong", "alice", false, [&](chat_login_result got) { known.set_value(got); });
    const auto unknown_now =
        service_->start_login_check("mallory", "wrong", "mallory", false,
                                    [&](chat_login_result got) { unknown.set_value(got); });
    EXPECT_FALSE(known_now.has_value());
    EXPECT_FALSE(unknown_now.has_value());
    auto known_later = known.get_future();
    auto unknown_later = unknown.get_future();
    ASSERT_EQ(known_later.wait_for(10s), std::future_status::ready);
    ASSERT_EQ(unknown_later.wait_for(10s), std::future_status::ready);
    EXPECT_EQ(known_later.get(), chat_login_result::bad_credentials);
    EXPECT_EQ(unknown_later.get(), chat_login_result::bad_credentials);
}

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

TEST_F(ChatServiceTest, LoginRehashesAWeakerPasswordHash) {
    store::store_options options;
    options.durability = store::durability_level::none;
    auto store = store::open_chat_store(options);
    store->add_user({"alice", hash_password("alice-pw", 101), 1},
                    [](store::directory_result, const store::store_status&) {});
    chat_settings settings;
    settings.password_iterations = 1000;
    chat_service service(std::move(store), settings);
    service.load();

    EXPECT_EQ(service.check_login("alice", "wrong", "alice", false),
              chat_login_result::bad_credentials);
    EXPECT_EQ(password_hash_iterations(*service.directory().password_hash("alice")), 101U);
    EXPECT_EQ(service.check_login("alice", "alice-pw", "alice", false),
              chat_login_result::chat_user);
    service.store().flush();
    const auto rehashed = service.directory().password_hash("alice");
    ASSERT_TRUE(rehashed);
    EXPECT_EQ(password_hash_iterations(*rehashed), 1000U);
    EXPECT_TRUE(verify_password("alice-pw", *rehashed));
    EXPECT_EQ(service.check_login("alice", "alice-pw", "alice", false),
              chat_login_result::chat_user);
}

TEST_F(ChatServiceTest, DeviceTokenStandsInForThePassword) {
    using result = chat_login_result;
    const json issued = control("alice", R"({"op":"token","device":"phone"})");
    ASSERT_EQ(issued["ok"], true) << issued.dump();
    EXPECT_EQ(issued["device"], "phone");
    const std::string token = issued["token"];
    EXPECT_EQ(token.size(), 4U + 64U);
    EXPECT_EQ(token.substr(0, 4), "tok:");

    EXPECT_EQ(service_->check_login("alice", token, "alice/phone", false), result::chat_user);
    EXPECT_EQ(service_->check_login("alice", "alice-pw", "alice/phone", false), result::chat_user);
    // Another user's token, or a token-shaped guess, is no password.
    EXPECT_EQ(service_->check_login("bob", token, "bob", false), result::bad_credentials);
    std::string guess = token;
    guess.back() = guess.back() == '0' ? '1' : '0';
    EXPECT_EQ(service_->check_login("alice", guess, "alice", false), result::bad_credentials);

    // A second token for the same device replaces the first.
    const std::string second = control("alice", R"({"op":"token","device":"phone"})")["token"];
    EXPECT_NE(second, token);
    EXPECT_EQ(service_->check_login("alice", token, "alice", false), result::bad_credentials);
    EXPECT_EQ(service_->check_login("alice", second, "alice", false), result::chat_user);

    EXPECT_EQ(control("alice", R"({"op":"revoke_token","device":"phone"})")["ok"], true);
    EXPECT_EQ(service_->check_login("alice", second, "alice", false), result::bad_credentials);
    EXPECT_EQ(control("alice", R"({"op":"revoke_token","device":"phone"})")["error"],
              "no token for this device");
    EXPECT_EQ(control("alice", R"({"op":"token"})")["error"], "missing \"device\"");
}

TEST_F(ChatServiceTest, PasswordChangeRevokesDeviceTokens) {
    const std::string token = control("alice", R"({"op":"token","device":"laptop"})")["token"];
    ASSERT_EQ(service_->check_login("alice", token, "alice", false), chat_login_result::chat_user);
    service_->store().set_password("alice", hash_password("new-pw", 1),
                                   [](store::directory_result, const store::store_status&) {});
    service_->store().flush();
    service_->reload_then([] {});
    EXPECT_EQ(service_->check_login("alice", token, "alice", false),
              chat_login_result::bad_credentials);
    EXPECT_EQ(service_->check_login("alice", "new-pw", "alice", false),
              chat_login_result::chat_user);
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
    EXPECT_TRUE(service_->is_server_filter("alice", "chat/room/lobby/+"));
    EXPECT_TRUE(service_->is_server_filter("alice", "chat/signal/room/lobby/+"));
    EXPECT_FALSE(service_->is_server_filter("bob", "chat/room/lobby/+"));
    EXPECT_FALSE(service_->is_server_filter("alice", "chat/#"));
    // Direct messages and their signals are delivered by the chat layer (direct_devices): no
    // filter of the session, so a client may hold and drop its own.
    // Control replies too (to the user's connected devices).
    for (const char* direct : {"chat/dm/alice/+", "chat/dm/+/alice", "chat/signal/dm/alice/+",
                               "chat/signal/dm/+/alice", "chat/ctl/alice/resp/#"}) {
        EXPECT_FALSE(service_->is_server_filter("alice", direct)) << direct;
    }
    const auto filters = service_->subscriptions_for("alice");
    // lobby's messages and signals.
    EXPECT_EQ(filters.size(), 2U);
    EXPECT_EQ(chat_service::control_subscription("alice").topic_filter, "chat/ctl/alice/resp/#");
    // Presence is delivered by the chat layer (presence_watchers): no filter per peer in the
    // subscription index, and a client may hold and drop its own presence filters.
    EXPECT_FALSE(service_->is_server_filter("alice", "chat/presence/alice"));
    EXPECT_FALSE(service_->is_server_filter("alice", "chat/presence/+"));
    EXPECT_EQ(control("bob", R"({"op":"join","room":"lobby"})")["ok"], true);
    EXPECT_FALSE(service_->is_server_filter("alice", "chat/presence/bob"));
    EXPECT_EQ(service_->subscriptions_for("alice").size(), 2U);
}

TEST_F(ChatServiceTest, DirectMessagesReachTheConnectedDevicesOfTheirTwoUsers) {
    service_->device_connected("alice", 11, 1);
    service_->device_connected("alice", 12, 1);
    service_->device_connected("bob", 21, 1);
    service_->device_connected("carol", 31, 1);
    std::vector<std::uint64_t> devices;
    service_->direct_devices("bob", "alice", devices);
    std::sort(devices.begin(), devices.end());
    EXPECT_EQ(devices, (std::vector<std::uint64_t>{11, 12, 21}));
    // Notes to self: each device once.
    devices.clear();
    service_->direct_devices("alice", "alice", devices);
    std::sort(devices.begin(), devices.end());
    EXPECT_EQ(devices, (std::vector<std::uint64_t>{11, 12}));
    // A device that left is no longer named; a user with none adds nothing.
    service_->device_disconnected("alice", 11, 2);
    devices.clear();
    service_->direct_devices("nobody", "alice", devices);
    EXPECT_EQ(devices, std::vector<std::uint64_t>{12});
}

TEST_F(ChatServiceTest, DirectSubscriptionsAreTheFormerFiltersOfTheUser) {
    const auto direct = chat_service::direct_subscriptions("alice");
    ASSERT_EQ(direct.size(), 4U);
    EXPECT_EQ(direct[0].topic_filter, "chat/dm/alice/+");
    EXPECT_EQ(direct[0].options.maximum_qos, mqtt::qos::at_least_once);
    EXPECT_TRUE(direct[0].options.is_no_local);
    EXPECT_EQ(direct[1].topic_filter, "chat/dm/+/alice");
    EXPECT_EQ(direct[2].topic_filter, "chat/signal/dm/alice/+");
    EXPECT_EQ(direct[2].options.maximum_qos, mqtt::qos::at_most_once);
    EXPECT_TRUE(direct[2].options.is_no_local);
    EXPECT_EQ(direct[3].topic_filter, "chat/signal/dm/+/alice");
}

TEST_F(ChatServiceTest, PresenceReachesTheConnectedDevicesOfPeers) {
    // alice is in lobby; bob is not yet: he sees only his own presence, and she hers.
    service_->device_connected("alice", 11, 1);
    service_->device_connected("alice", 12, 1);
    service_->device_connected("bob", 21, 1);
    std::vector<std::uint64_t> watchers;
    service_->presence_watchers("bob", watchers);
    EXPECT_EQ(watchers, std::vector<std::uint64_t>{21});
    EXPECT_EQ(control("bob", R"({"op":"join","room":"lobby"})")["ok"], true);
    watchers.clear();
    service_->presence_watchers("bob", watchers);
    std::sort(watchers.begin(), watchers.end());
    EXPECT_EQ(watchers, (std::vector<std::uint64_t>{11, 12, 21}));
    service_->device_disconnected("alice", 11, 2);
    watchers.clear();
    service_->presence_watchers("bob", watchers);
    std::sort(watchers.begin(), watchers.end());
    EXPECT_EQ(watchers, (std::vector<std::uint64_t>{12, 21}));
    EXPECT_EQ(control("bob", R"({"op":"leave","room":"lobby"})")["ok"], true);
    watchers.clear();
    service_->presence_watchers("bob", watchers);
    EXPECT_EQ(watchers, std::vector<std::uint64_t>{21});
}

TEST_F(ChatServiceTest, ReadStateCoversRoomsAndConversationsWithHistory) {
    auto content = std::make_shared<mqtt::message>();
    content->topic_name = "chat/room/lobby/bob";
    content->payload = mqtt::shared_bytes::copy_of(std::string_view("hi"));
    for (int sent = 0; sent < 3; ++sent) {
        service_->stamp_and_record(content, "bob", 1000, {});
    }
    content->topic_name = "chat/dm/alice/carol";
    service_->stamp_and_record(content, "carol", 1000, {});
    EXPECT_EQ(control("alice", R"({"op":"read","conversation":"room/lobby","id":1})")["ok"], true);
    const json state = control("alice", R"({"op":"read_state"})");
    EXPECT_EQ(state["conversations"],
              json::parse(R"([{"conversation":"dm/alice/carol","last_id":1,"read_id":0,)"
                          R"("unread":1},{"conversation":"room/lobby","last_id":3,"read_id":1,)"
                          R"("unread":2}])"));
    EXPECT_EQ(
        control("alice", R"({"op":"read_state","conversation":"room/lobby"})")["conversations"]
            .size(),
        1U);
    EXPECT_EQ(control("bob", R"({"op":"read_state","conversation":"room/lobby"})")["error"],
              "not allowed to read this conversation");
}

TEST_F(ChatServiceTest, ANewcomerToAJoinedHistoryRoomHasNothingUnreadFromBeforeTheJoin) {
    EXPECT_EQ(control("alice", R"({"op":"create","room":"den","history":"joined"})")["ok"], true);
    auto content = std::make_shared<mqtt::message>();
    content->topic_name = "chat/room/den/alice";
    content->payload = mqtt::shared_bytes::copy_of(std::string_view("before"));
    for (int sent = 0; sent < 3; ++sent) {
        service_->stamp_and_record(content, "alice", 1000, {});
    }
    EXPECT_EQ(control("bob", R"({"op":"join","room":"den"})")["ok"], true);
    EXPECT_EQ(control("bob", R"({"op":"read_state","conversation":"room/den"})")["conversations"],
              json::parse(R"([{"conversation":"room/den","last_id":3,"read_id":3,"unread":0}])"));
    service_->stamp_and_record(content, "alice", 1000, {});
    EXPECT_EQ(control("bob", R"({"op":"read_state","conversation":"room/den"})")["conversations"],
              json::parse(R"([{"conversation":"room/den","last_id":4,"read_id":3,"unread":1}])"));
}

TEST_F(ChatServiceTest, ARoomReadIsAReceiptOnTheRoomsSignalTopic) {
    std::optional<control_outcome> outcome;
    service_->handle_control("alice", R"({"op":"read","conversation":"room/lobby","id":0})",
                             [&](control_outcome done) { outcome = std::move(done); });
    service_->store().flush();
    ASSERT_TRUE(outcome && outcome->signal);
    EXPECT_EQ(outcome->signal->topic_name, "chat/signal/room/lobby/alice");
    outcome.reset();
    service_->handle_control("alice", R"({"op":"read","conversation":"dm/alice/bob","id":0})",
                             [&](control_outcome done) { outcome = std::move(done); });
    service_->store().flush();
    ASSERT_TRUE(outcome && outcome->signal);
    EXPECT_EQ(outcome->signal->topic_name, "chat/signal/dm/bob/alice");
}

TEST_F(ChatServiceTest, EventsAreCheckedAgainstTheMessageTheyName) {
    EXPECT_EQ(control("bob", R"({"op":"create","room":"den"})")["ok"], true);
    EXPECT_EQ(control("alice", R"({"op":"join","room":"den"})")["ok"], true);
    auto content = std::make_shared<mqtt::message>();
    content->topic_name = "chat/room/den/alice";
    content->payload = mqtt::shared_bytes::copy_of(std::string_view("hi"));
    // A client's own `event` property never passes for the gateway's.
    content->props.user_properties = {{"event", "edit"}, {"of", "1"}, {"reply_to", "7"}};
    const auto recorded = service_->stamp_and_record(content, "alice", unix_now_ms(), {});
    ASSERT_TRUE(recorded);
    for (const auto& property : recorded->content->props.user_properties) {
        EXPECT_NE(property.name, "event");
        EXPECT_NE(property.name, "of");
    }

    const auto run = [this](const std::string& user, std::string_view payload) {
        std::optional<control_outcome> outcome;
        service_->handle_control(user, payload, [&](control_outcome done) { outcome = done; });
        service_->store().flush();
        return outcome;
    };
    const auto refused = run("bob", R"({"op":"edit","conversation":"room/den","id":1,"text":"x"})");
    ASSERT_TRUE(refused);
    EXPECT_EQ(refused->reply.error, "only the sender may edit a message");
    EXPECT_FALSE(refused->event);

    const auto edited =
        run("alice", R"({"op":"edit","conversation":"room/den","id":1,"text":"hello"})");
    ASSERT_TRUE(edited && edited->event);
    EXPECT_EQ(edited->event->topic_name, "chat/room/den/alice");
    EXPECT_EQ(edited->reply.id, 2U);
    EXPECT_EQ(edited->reply.of, 1U);

    // Bob created the room: he moderates it, and may delete alice's message.
    EXPECT_TRUE(service_->may_moderate("bob", "den"));
    EXPECT_FALSE(service_->may_moderate("alice", "den"));
    EXPECT_FALSE(service_->may_moderate("alice", "lobby"));
    EXPECT_EQ(run("bob", R"({"op":"delete","conversation":"room/den","id":2})")->reply.error,
              "message 2 is itself an event");
    const auto deleted = run("bob", R"({"op":"delete","conversation":"room/den","id":1})");
    ASSERT_TRUE(deleted && deleted->event);
    EXPECT_EQ(deleted->event->topic_name, "chat/room/den/bob");
    const json shown =
        control("alice", R"({"op":"history","conversation":"room/den"})")["messages"];
    ASSERT_EQ(shown.size(), 1U) << shown.dump();
    EXPECT_EQ(shown[0]["id"], 1);
    EXPECT_EQ(shown[0]["reply_to"], 7);
    EXPECT_EQ(shown[0]["deleted"], true);
    EXPECT_TRUE(shown[0].contains("edited_ts"));
    EXPECT_FALSE(shown[0].contains("payload"));
    EXPECT_EQ(
        run("alice", R"({"op":"react","conversation":"room/den","id":1,"emoji":"x"})")->reply.error,
        "the message is deleted");
}

TEST_F(ChatServiceTest, ASendersDeleteWindowEnds) {
    store::store_options options;
    options.durability = store::durability_level::none;
    auto store = store::open_chat_store(options);
    store->add_user({"alice", hash_password("alice-pw", 1), 1},
                    [](store::directory_result, const store::store_status&) {});
    store::history_record old{"dm/alice/bob", 1, "alice", "chat/dm/bob/alice", 1000, {'h', 'i'}};
    store->append_history(old);
    chat_settings settings;
    settings.password_iterations = 1;
    settings.delete_window_s = 60;
    chat_service windowed(std::move(store), settings);
    windowed.load();
    std::optional<control_outcome> outcome;
    windowed.handle_control("alice", R"({"op":"delete","conversation":"dm/alice/bob","id":1})",
                            [&](control_outcome done) { outcome = done; });
    windowed.store().flush();
    ASSERT_TRUE(outcome);
    EXPECT_EQ(outcome->reply.error, "the delete window of this message has passed");
}

TEST_F(ChatServiceTest, PresenceCountsDevices) {
    EXPECT_NE(service_->device_connected("bob", 1, 1)->payload.as_string().find(R"("devices":1)"),
              std::string_view::npos);
    EXPECT_NE(service_->device_connected("bob", 2, 2)->payload.as_string().find(R"("devices":2)"),
              std::string_view::npos);
    // A device that is not connected changes nothing.
    EXPECT_FALSE(service_->device_disconnected("bob", 3, 3));
    service_->device_disconnected("bob", 1, 3);
    const auto last = service_->device_disconnected("bob", 2, 4);
    ASSERT_TRUE(last);
    EXPECT_TRUE(last->is_retained);
    EXPECT_NE(last->payload.as_string().find(R"("status":"offline")"), std::string_view::npos);
    EXPECT_FALSE(service_->device_disconnected("bob", 2, 5));
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

TEST_F(ChatServiceTest, RoomRulesDecideWhoMayModerate) {
    ASSERT_EQ(control("alice", R"({"op":"create","room":"den","visibility":"private"})")["ok"],
              true);
    // Private: joined by invitation only, and only owners and admins invite.
    EXPECT_EQ(control("bob", R"({"op":"join","room":"den"})")["error"], "not_invited");
    EXPECT_EQ(control("alice", R"({"op":"invite","room":"den","user":"bob"})")["pending"], true);
    EXPECT_FALSE(service_->directory().is_member("den", "bob"));
    EXPECT_EQ(control("bob", R"({"op":"invitations"})")["invitations"][0]["room"], "den");
    EXPECT_EQ(control("bob", R"({"op":"join","room":"den"})")["ok"], true);
    EXPECT_EQ(control("bob", R"({"op":"invite","room":"den","user":"carol"})")["error"],
              "not_allowed");
    // A member may not kick; the owner may; a kicked member needs a new invitation.
    EXPECT_EQ(control("bob", R"({"op":"kick","room":"den","user":"alice"})")["error"],
              "not_allowed");
    EXPECT_EQ(control("alice", R"({"op":"kick","room":"den","user":"bob"})")["ok"], true);
    EXPECT_FALSE(service_->directory().is_member("den", "bob"));
    EXPECT_EQ(control("bob", R"({"op":"join","room":"den"})")["error"], "not_invited");
    // Roles: an admin may not demote the owner nor make an owner; the last owner stays.
    control("alice", R"({"op":"invite","room":"den","user":"bob"})");
    control("bob", R"({"op":"join","room":"den"})");
    EXPECT_EQ(control("alice", R"({"op":"role","room":"den","user":"bob","role":"admin"})")["ok"],
              true);
    EXPECT_EQ(
        control("bob", R"({"op":"role","room":"den","user":"alice","role":"member"})")["error"],
        "not_allowed");
    EXPECT_EQ(
        control("alice", R"({"op":"role","room":"den","user":"alice","role":"admin"})")["error"],
        "last_owner");
    EXPECT_EQ(control("bob", R"({"op":"kick","room":"den","user":"alice"})")["error"],
              "not_allowed");
    // Mute: checked at publish time from the directory.
    control("bob", R"({"op":"invite","room":"den","user":"carol"})");
    control("carol", R"({"op":"join","room":"den"})");
    EXPECT_EQ(control("bob", R"({"op":"mute","room":"den","user":"carol"})")["ok"], true);
    EXPECT_TRUE(service_->directory().is_muted("den", "carol"));
    // Ban: out of the room and refused when joining again.
    EXPECT_EQ(control("bob", R"({"op":"ban","room":"den","user":"carol"})")["ok"], true);
    EXPECT_FALSE(service_->directory().is_member("den", "carol"));
    EXPECT_EQ(control("carol", R"({"op":"join","room":"den"})")["error"], "banned");
    EXPECT_EQ(control("bob", R"({"op":"delete_room","room":"den"})")["error"], "not_allowed");
    EXPECT_EQ(control("alice", R"({"op":"delete_room","room":"den"})")["ok"], true);
    EXPECT_FALSE(service_->directory().has_room("den"));
    // Each change was audited.
    std::vector<std::string> actions;
    for (const auto& entry : service_->store().audit_log("den", 100)) {
        actions.push_back(entry.action);
    }
    EXPECT_EQ(actions, (std::vector<std::string>{"invite", "kick", "invite", "role", "invite",
                                                 "mute", "ban", "delete"}));
}

TEST_F(ChatServiceTest, AnnouncesEachChangeAsARoomEvent) {
    control("alice", R"({"op":"invite","room":"lobby","user":"bob"})");
    std::optional<control_outcome> outcome;
    service_->handle_control("alice", R"({"op":"mute","room":"lobby","user":"bob"})",
                             [&](control_outcome done) { outcome = done; });
    service_->store().flush();
    // lobby has no owner (created by an administrator): alice is a member only.
    ASSERT_TRUE(outcome);
    EXPECT_EQ(json::parse(format_control_reply(outcome->reply))["error"], "not_allowed");
    control("carol", R"({"op":"create","room":"den"})");
    control("carol", R"({"op":"invite","room":"den","user":"bob"})");
    outcome.reset();
    service_->handle_control("carol", R"({"op":"mute","room":"den","user":"bob"})",
                             [&](control_outcome done) { outcome = done; });
    service_->store().flush();
    ASSERT_TRUE(outcome && outcome->signal);
    EXPECT_EQ(outcome->signal->topic_name, "chat/room/den/carol");
    EXPECT_EQ(json::parse(outcome->signal->payload.as_string()),
              json::parse(R"({"type":"event","event":"mute","room":"den","by":"carol",)"
                          R"("user":"bob"})"));
    EXPECT_EQ(service_->last_id("room/den"), 2U); // the invite's event, then the mute's
}

TEST_F(ChatServiceTest, PublicRoomsAreSearchedAndPaged) {
    control("alice", R"({"op":"create","room":"garden-1","name":"Roses"})");
    control("alice", R"({"op":"create","room":"garden-2","visibility":"private"})");
    control("alice", R"({"op":"create","room":"shed","name":"garden tools"})");
    const json first = control("bob", R"({"op":"public_rooms","query":"garden","limit":1})");
    ASSERT_EQ(first["rooms"].size(), 1U);
    EXPECT_EQ(first["rooms"][0]["room"], "garden-1");
    EXPECT_EQ(first["next"], "garden-1");
    const json second =
        control("bob", R"({"op":"public_rooms","query":"garden","limit":1,"after":"garden-1"})");
    ASSERT_EQ(second["rooms"].size(), 1U);
    EXPECT_EQ(second["rooms"][0]["room"], "shed");
    EXPECT_EQ(control("bob", R"({"op":"role","room":"shed","user":"bob","role":"king"})")["error"],
              R"("role" must be one of "member" "admin" "owner")");
}

} // namespace
} // namespace perch::gateway
