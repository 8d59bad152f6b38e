// Who the chat service offers a message to Web Push: only users with a subscription, as the
// in-memory record of subscribers knows them (loaded at start, changed by push_subscribe,
// push_unsubscribe and a subscription found gone), so that a message to anyone else costs no
// store read; and what a notification may say (docs/CHAT.md "Web Push").
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "gateway/chat/chat_service.hpp"
#include "gateway/chat/password_hash.hpp"
#include "gateway/push/push_sender.hpp"
#include "gateway/push/web_push_crypto.hpp"

#include <nlohmann/json.hpp>

namespace perch::gateway {
namespace {

using json = nlohmann::json;

void ignore(store::directory_result, const store::store_status&) {}

class ChatPushTest : public ::testing::Test {
protected:
    void SetUp() override {
        store::store_options options;
        options.durability = store::durability_level::none;
        auto store = store::open_chat_store(options);
        for (const char* user : {"alice", "bob", "carol"}) {
            store->add_user({user, hash_password(std::string(user) + "-pw", 1), 1}, ignore);
        }
        store->add_room({"lobby", "", 1}, ignore);
        for (const char* user : {"alice", "bob", "carol"}) {
            store->add_member({"lobby", user}, ignore);
        }
        // bob subscribed before this start.
        store->set_push_subscription(
            {"bob", "phone", "https://push.example/bob", key_, auth_, 1, ""}, ignore);
        store->flush();
        chat_settings settings;
        settings.password_iterations = 1;
        settings.is_push_enabled = true;
        settings.push_public_key = "key";
        service_ = std::make_unique<chat_service>(std::move(store), settings);
        service_->set_push_notifier(
            [this](push::push_notice notice) { notices_.push_back(std::move(notice)); });
        service_->load();
    }

    json control(const std::string& user, const json& request) {
        std::optional<control_outcome> outcome;
        service_->handle_control(user, request.dump(),
                                 [&](control_outcome done) { outcome = done; });
        service_->store().flush();
        if (!outcome) {
            ADD_FAILURE() << "no reply to " << request.dump();
            return json::object();
        }
        return json::parse(format_control_reply(outcome->reply));
    }

    /// The recipients of the notices offer_push passed on for one message.
    std::vector<std::string> offered(std::string_view conversation, std::string_view sender,
                                     std::string_view text) {
        notices_.clear();
        service_->offer_push(conversation, sender, text);
        std::vector<std::string> recipients;
        for (const auto& notice : notices_) {
            recipients.push_back(notice.recipient);
        }
        return recipients;
    }

    const push::p256_key_pair browser_ = push::generate_key_pair();
    const std::string key_ =
        push::base64url_encode(browser_.public_key.data(), browser_.public_key.size());
    const std::string auth_ = push::base64url_encode(std::string_view("0123456789abcdef"));
    std::vector<push::push_notice> notices_;
    std::unique_ptr<chat_service> service_;
};

TEST_F(ChatPushTest, OnlyUsersWithASubscriptionAreOffered) {
    EXPECT_EQ(service_->push_subscribers().user_count(), 1U);
    EXPECT_EQ(offered("dm/alice/bob", "alice", "hi"), std::vector<std::string>{"bob"});
    EXPECT_TRUE(offered("dm/alice/carol", "alice", "hi").empty());
    EXPECT_EQ(offered("room/lobby", "alice", "@bob @carol lunch?"),
              std::vector<std::string>{"bob"});
}

TEST_F(ChatPushTest, SubscribeAndUnsubscribeChangeWhoIsOffered) {
    const json subscribe = {{"op", "push_subscribe"},
                            {"device", "laptop"},
                            {"endpoint", "https://push.example/carol"},
                            {"keys", {{"p256dh", key_}, {"auth", auth_}}}};
    EXPECT_TRUE(control("carol", subscribe).value("ok", false));
    EXPECT_EQ(offered("dm/alice/carol", "alice", "hi"), std::vector<std::string>{"carol"});
    EXPECT_TRUE(
        control("carol", {{"op", "push_unsubscribe"}, {"device", "laptop"}}).value("ok", false));
    EXPECT_TRUE(offered("dm/alice/carol", "alice", "hi").empty());
    // A refused subscription changes nothing.
    json bad = subscribe;
    bad["endpoint"] = "http://push.example/carol";
    EXPECT_FALSE(control("carol", bad).value("ok", true));
    EXPECT_TRUE(offered("dm/alice/carol", "alice", "hi").empty());
}

TEST_F(ChatPushTest, ASubscriptionFoundGoneIsForgotten) {
    // What the push sender does on a 404 or 410.
    service_->push_subscribers().remove("bob", "phone");
    EXPECT_TRUE(offered("dm/alice/bob", "alice", "hi").empty());
    EXPECT_EQ(service_->push_subscribers().user_count(), 0U);
}

TEST_F(ChatPushTest, AUserDeletedBesideTheGatewayIsForgottenAtTheNextReload) {
    // `perch user delete` (or the admin API) takes the subscriptions in the store; the record in
    // memory follows when the directory reload sees the user gone.
    service_->store().remove_user("bob", ignore);
    service_->store().flush();
    bool is_reloaded = false;
    service_->reload_then([&] { is_reloaded = true; });
    ASSERT_TRUE(is_reloaded);
    EXPECT_EQ(service_->push_subscribers().user_count(), 0U);
    EXPECT_TRUE(offered("room/lobby", "alice", "@bob lunch?").empty());
}

TEST(PushPayload, WithoutPreviewTheTextNeverLeaves) {
    const push::push_notice dm{"bob", "alice", "", "dm/alice/bob", "the secret plan"};
    const push::push_notice mention{"bob", "alice", "lobby", "room/lobby", "@bob the secret plan"};
    for (const auto& notice : {dm, mention}) {
        const std::string payload = push::notification_payload(notice, false);
        EXPECT_EQ(payload.find("secret"), std::string::npos) << payload;
        const json shown = json::parse(payload);
        EXPECT_EQ(shown.at("title"), "perch");
        EXPECT_EQ(shown.at("conversation"), notice.conversation);
    }
    EXPECT_EQ(json::parse(push::notification_payload(dm, false)).at("body"),
              "New message from alice");
    EXPECT_EQ(json::parse(push::notification_payload(mention, false)).at("body"),
              "alice mentioned you in #lobby");
    EXPECT_EQ(json::parse(push::notification_payload(dm, true)).at("body"), "the secret plan");
}

} // namespace
} // namespace perch::gateway
