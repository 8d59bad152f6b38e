// The admin API without sockets: a request in, a response out, over the memory chat store.
// Credentials (password and device token), the admin flag, each endpoint, bad input, and the
// audit entries of the changes.
#include <chrono>
#include <future>

#include <boost/beast/core/detail/base64.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/verb.hpp>
#include <gtest/gtest.h>

#include "gateway/chat/admin_api.hpp"
#include "gateway/chat/chat_service.hpp"
#include "gateway/chat/device_token.hpp"
#include "gateway/chat/password_hash.hpp"
#include "gateway/common/stored_message_codec.hpp"

#include <nlohmann/json.hpp>

namespace perch::gateway {
namespace {

namespace http = boost::beast::http;
using json = nlohmann::json;
using namespace std::chrono_literals;

std::string basic(std::string_view user, std::string_view password) {
    const std::string pair = std::string(user) + ":" + std::string(password);
    std::string encoded(boost::beast::detail::base64::encoded_size(pair.size()), '\0');
    encoded.resize(boost::beast::detail::base64::encode(encoded.data(), pair.data(), pair.size()));
    return "Basic " + encoded;
}

class AdminApiTest : public ::testing::Test {
protected:
    void SetUp() override {
        store::store_options options;
        options.durability = store::durability_level::none;
        auto store = store::open_chat_store(options);
        const auto ignore = [](store::directory_result, const store::store_status&) {};
        store->add_user({"root", hash_password("root-pw", 1), 1, true}, ignore);
        for (const char* user : {"alice", "bob"}) {
            store->add_user({user, hash_password(std::string(user) + "-pw", 1), 1}, ignore);
        }
        store->add_room({"lobby", "", 1}, ignore);
        store->add_member({"lobby", "alice"}, ignore);
        store->set_device_token({"root", "laptop", device_token_hash(token_), 1}, ignore);
        chat_settings settings;
        settings.password_iterations = 1;
        chat_ = std::make_unique<chat_service>(std::move(store), settings);
        chat_->load();
        figures_.connections = 3;
        figures_.messages_received = 10;
        api_ = std::make_unique<admin_api>(*chat_, [this] { return figures_; });
    }

    void TearDown() override {
        api_->stop();
        api_.reset();
        chat_.reset();
    }

    admin_http_response call(http::verb method, std::string target, std::string body = {},
                             std::string authorization = basic("root", "root-pw")) {
        admin_http_request request{method, target, 11};
        if (!authorization.empty()) {
            request.set(http::field::authorization, authorization);
        }
        request.body() = std::move(body);
        request.prepare_payload();
        std::promise<admin_http_response> answer;
        api_->handle(std::move(request), "127.0.0.1:5000",
                     [&](admin_http_response response) { answer.set_value(std::move(response)); });
        auto future = answer.get_future();
        if (future.wait_for(10s) != std::future_status::ready) {
            ADD_FAILURE() << "no answer to " << target;
            return {};
        }
        return future.get();
    }

    json users() {
        const admin_http_response response = call(http::verb::get, "/api/admin/users");
        EXPECT_EQ(response.result(), http::status::ok) << response.body();
        const json listed = json::parse(response.body());
        json by_name = json::object();
        for (const json& user : listed["users"]) {
            by_name[user["name"].get<std::string>()] = user;
        }
        return by_name;
    }

    std::string token_ = make_device_token();
    admin_figures figures_;
    std::unique_ptr<chat_service> chat_;
    std::unique_ptr<admin_api> api_;
};

TEST(AdminTarget, ClaimsTheApiPathsOnly) {
    EXPECT_TRUE(is_admin_target("/api/admin"));
    EXPECT_TRUE(is_admin_target("/api/admin/users?x=1"));
    EXPECT_FALSE(is_admin_target("/api/administrator"));
    EXPECT_FALSE(is_admin_target("/files"));
    EXPECT_FALSE(is_admin_target("/"));
}

TEST_F(AdminApiTest, RefusesMissingAndWrongCredentialsWithAChallenge) {
    for (const std::string& authorization :
         {std::string(), basic("root", "wrong"), basic("nobody", "x"), std::string("Basic !!")}) {
        const admin_http_response response =
            call(http::verb::get, "/api/admin/users", "", authorization);
        EXPECT_EQ(response.result(), http::status::unauthorized) << authorization;
        EXPECT_NE(response[http::field::www_authenticate].find("Basic"), std::string::npos);
        EXPECT_EQ(json::parse(response.body())["error"], "unauthorized");
    }
}

TEST_F(AdminApiTest, RefusesAUserWithoutTheAdminFlag) {
    const admin_http_response response =
        call(http::verb::get, "/api/admin/users", "", basic("alice", "alice-pw"));
    EXPECT_EQ(response.result(), http::status::forbidden);
    EXPECT_EQ(json::parse(response.body())["error"], "forbidden");
}

TEST_F(AdminApiTest, AcceptsADeviceTokenInPlaceOfThePassword) {
    EXPECT_EQ(call(http::verb::get, "/api/admin/users", "", basic("root", token_)).result(),
              http::status::ok);
    EXPECT_EQ(
        call(http::verb::get, "/api/admin/users", "", basic("root", make_device_token())).result(),
        http::status::unauthorized);
}

TEST_F(AdminApiTest, ListsUsersWithTheirFlags) {
    const json listed = users();
    ASSERT_EQ(listed.size(), 3U);
    EXPECT_EQ(listed["root"]["admin"], true);
    EXPECT_EQ(listed["alice"]["admin"], false);
    EXPECT_EQ(listed["alice"]["banned"], false);
    EXPECT_EQ(listed["alice"]["online"], false);
    chat_->device_connected("alice", 7, 1);
    EXPECT_EQ(users()["alice"]["online"], true);
}

TEST_F(AdminApiTest, BansAndUnbansAUserWithAuditEntriesNamingTheAdmin) {
    const admin_http_response banned =
        call(http::verb::post, "/api/admin/users/alice/ban", R"({"reason":"spam"})");
    EXPECT_EQ(banned.result(), http::status::ok) << banned.body();
    // The chat layer's directory follows before the answer: the ban is in force.
    EXPECT_NE(chat_->directory().bans()->find({"alice", "", ""}, unix_now_ms()), nullptr);
    EXPECT_EQ(users()["alice"]["banned"], true);
    const json bans = json::parse(call(http::verb::get, "/api/admin/bans").body())["bans"];
    ASSERT_EQ(bans.size(), 1U);
    EXPECT_EQ(bans[0]["value"], "alice");
    EXPECT_EQ(bans[0]["reason"], "spam");
    // A banned user is refused, even with good credentials.
    EXPECT_EQ(call(http::verb::get, "/api/admin/users", "", basic("alice", "alice-pw")).result(),
              http::status::forbidden);

    EXPECT_EQ(call(http::verb::delete_, "/api/admin/users/alice/ban").result(), http::status::ok);
    EXPECT_EQ(chat_->directory().bans()->find({"alice", "", ""}, unix_now_ms()), nullptr);
    EXPECT_EQ(call(http::verb::delete_, "/api/admin/users/alice/ban").result(),
              http::status::not_found);

    const auto audit = chat_->store().audit_log("", 10);
    ASSERT_EQ(audit.size(), 2U);
    EXPECT_EQ(audit[0].actor, "root");
    EXPECT_EQ(audit[0].action, "ban");
    EXPECT_EQ(audit[0].target, "alice");
    EXPECT_EQ(audit[0].detail, "spam");
    EXPECT_EQ(audit[1].action, "unban");
    const json listed = json::parse(call(http::verb::get, "/api/admin/audit").body())["audit"];
    ASSERT_EQ(listed.size(), 2U);
    EXPECT_EQ(listed[1]["action"], "unban");
}

TEST_F(AdminApiTest, CreatesUsersSetsTheAdminFlagAndDeletesThem) {
    const admin_http_response created =
        call(http::verb::post, "/api/admin/users", R"({"name":"carol","password":"carol-pw"})");
    EXPECT_EQ(created.result(), http::status::created) << created.body();
    EXPECT_EQ(
        call(http::verb::post, "/api/admin/users", R"({"name":"carol","password":"x"})").result(),
        http::status::conflict);
    EXPECT_EQ(call(http::verb::get, "/api/admin/users", "", basic("carol", "carol-pw")).result(),
              http::status::forbidden);
    EXPECT_EQ(call(http::verb::put, "/api/admin/users/carol/admin", R"({"admin":true})").result(),
              http::status::ok);
    EXPECT_TRUE(chat_->directory().is_admin("carol"));
    EXPECT_EQ(call(http::verb::get, "/api/admin/users", "", basic("carol", "carol-pw")).result(),
              http::status::ok);
    EXPECT_EQ(call(http::verb::delete_, "/api/admin/users/carol").result(), http::status::ok);
    EXPECT_FALSE(chat_->directory().has_user("carol"));
    EXPECT_EQ(call(http::verb::delete_, "/api/admin/users/carol").result(),
              http::status::not_found);
}

TEST_F(AdminApiTest, ListsAndDeletesRooms) {
    const json rooms = json::parse(call(http::verb::get, "/api/admin/rooms").body())["rooms"];
    ASSERT_EQ(rooms.size(), 1U);
    EXPECT_EQ(rooms[0]["name"], "lobby");
    EXPECT_EQ(rooms[0]["members"], 1);
    EXPECT_EQ(call(http::verb::delete_, "/api/admin/rooms/lobby").result(), http::status::ok);
    EXPECT_FALSE(chat_->directory().has_room("lobby"));
    EXPECT_EQ(call(http::verb::delete_, "/api/admin/rooms/lobby").result(),
              http::status::not_found);
    const auto audit = chat_->store().audit_log("lobby", 10);
    ASSERT_EQ(audit.size(), 1U);
    EXPECT_EQ(audit[0].actor, "root");
}

TEST_F(AdminApiTest, TheOverviewShowsTheFigures) {
    const admin_http_response response = call(http::verb::get, "/api/admin/overview");
    ASSERT_EQ(response.result(), http::status::ok);
    const json overview = json::parse(response.body());
    EXPECT_EQ(overview["connections"], 3);
    EXPECT_EQ(overview["messages_received"], 10);
    EXPECT_EQ(overview["users"], 3);
    EXPECT_EQ(overview["rooms"], 1);
    EXPECT_EQ(overview["store"]["healthy"], true);
}

TEST_F(AdminApiTest, BadInputGetsAJsonErrorAndChangesNothing) {
    struct bad_case {
        http::verb method;
        std::string target;
        std::string body;
        http::status status;
    };
    const std::vector<bad_case> cases = {
        {http::verb::post, "/api/admin/users", "{not json", http::status::bad_request},
        {http::verb::post, "/api/admin/users", R"({"name":"a/b","password":"x"})",
         http::status::bad_request},
        {http::verb::post, "/api/admin/users", R"({"name":"dave"})", http::status::bad_request},
        {http::verb::put, "/api/admin/users/alice/admin", R"({"admin":"yes"})",
         http::status::bad_request},
        {http::verb::put, "/api/admin/users/nobody/admin", R"({"admin":true})",
         http::status::not_found},
        {http::verb::post, "/api/admin/users/nobody/ban", "", http::status::not_found},
        {http::verb::post, "/api/admin/users/alice/ban", R"({"reason":5})",
         http::status::bad_request},
        {http::verb::post, "/api/admin/users/%zz/ban", "", http::status::bad_request},
        {http::verb::get, "/api/admin/nothing", "", http::status::not_found},
        {http::verb::delete_, "/api/admin/overview", "", http::status::method_not_allowed},
    };
    for (const bad_case& bad : cases) {
        const admin_http_response response = call(bad.method, bad.target, bad.body);
        EXPECT_EQ(response.result(), bad.status) << bad.target << " " << bad.body;
        const json body = json::parse(response.body(), nullptr, false);
        EXPECT_TRUE(body.is_object() && body.contains("error")) << response.body();
    }
    EXPECT_EQ(users().size(), 3U);
    EXPECT_TRUE(chat_->store().audit_log("", 10).empty());
    EXPECT_EQ(
        api_->too_large(admin_http_request{http::verb::post, "/api/admin/users", 11}).result(),
        http::status::payload_too_large);
}

} // namespace
} // namespace perch::gateway
