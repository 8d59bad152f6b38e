// The HTTP admin API end to end (docs/ADMIN.md) on the perch binary's http listener: 401 without
// credentials, 403 for a user without the admin flag, an admin (flag set with `perch user admin`)
// lists users, bans a user whose live Paho session is closed at once and who cannot log in
// again, unbans, and the audit log names the admin.
#include <chrono>
#include <string>

#include <boost/beast/core/detail/base64.hpp>
#include <gtest/gtest.h>
#include <mqtt/async_client.h>

#include "chat_client.hpp"
#include "chat_fixture.hpp"
#include "http_client.hpp"
#include <nlohmann/json.hpp>

namespace perch::integration {
namespace {

using json = nlohmann::json;
using namespace std::chrono_literals;

constexpr auto command_timeout = 30s;
constexpr int connack_banned = 0x8A;

std::string basic(const std::string& user, const std::string& password) {
    const std::string pair = user + ":" + password;
    std::string encoded(boost::beast::detail::base64::encoded_size(pair.size()), '\0');
    encoded.resize(boost::beast::detail::base64::encode(encoded.data(), pair.data(), pair.size()));
    return "Basic " + encoded;
}

class AdminApiTest : public chat_fixture {
protected:
    void SetUp() override {
        chat_fixture::SetUp();
        if (IsSkipped() || HasFatalFailure()) {
            return;
        }
        broker_->stop();
        // alice administers; the broker stopped meanwhile picks the flag up at start.
        const command_result made = run_command({PERCH_BROKER_PATH, "user", "admin", "alice", "on",
                                                 "--data-dir", data_.path().string()},
                                                "", command_timeout);
        ASSERT_TRUE(made.ending.is_success()) << made.errors;
        http_port_ = free_loopback_port();
        // The directory is polled every 10 minutes only: what the API changes reaches live
        // sessions because the API reloads it, not because of the polling.
        start_broker("listener " + std::to_string(http_port_) +
                     " 127.0.0.1\nprotocol http\nchat_reload_interval_ms 600000\n");
    }

    http_answer request(const std::string& method, const std::string& target,
                        const std::string& authorization, const std::string& body = "") {
        std::string text = method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n";
        if (!authorization.empty()) {
            text += "Authorization: " + authorization + "\r\n";
        }
        text += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
                "\r\nConnection: close\r\n\r\n" + body;
        return http_exchange(http_port_, text);
    }

    http_answer as_alice(const std::string& method, const std::string& target,
                         const std::string& body = "") {
        return request(method, target, basic("alice", "alice-pw"), body);
    }

    std::uint16_t http_port_ = 0;
};

TEST_F(AdminApiTest, RefusesAStrangerAndAUserWhoIsNoAdmin) {
    const http_answer anonymous = request("GET", "/api/admin/users", "");
    EXPECT_EQ(anonymous.status, 401U) << anonymous.raw;
    EXPECT_NE(anonymous.raw.find("WWW-Authenticate: Basic"), std::string::npos) << anonymous.raw;
    EXPECT_EQ(request("GET", "/api/admin/users", basic("alice", "wrong")).status, 401U);
    const http_answer bob = request("GET", "/api/admin/users", basic("bob", "bob-pw"));
    EXPECT_EQ(bob.status, 403U) << bob.raw;
    EXPECT_EQ(json::parse(bob.body, nullptr, false).value("error", ""), "forbidden");
}

TEST_F(AdminApiTest, AnAdminBansALiveUserWhoseSessionEndsAndUnbansThem) {
    auto bob = connected("bob", mqtt_5);
    ASSERT_TRUE(bob->is_connected());

    const http_answer listed = as_alice("GET", "/api/admin/users");
    ASSERT_EQ(listed.status, 200U) << listed.raw;
    json users = json::parse(listed.body)["users"];
    ASSERT_EQ(users.size(), 3U);
    for (const json& user : users) {
        EXPECT_EQ(user["admin"], user["name"] == "alice") << user.dump();
        EXPECT_EQ(user["online"], user["name"] == "bob") << user.dump();
        EXPECT_EQ(user["banned"], false);
    }

    const http_answer banned =
        as_alice("POST", "/api/admin/users/bob/ban", R"({"reason":"flooding"})");
    ASSERT_EQ(banned.status, 200U) << banned.raw;
    ASSERT_TRUE(bob->wait_for_connection_lost());
    EXPECT_EQ(bob->disconnect_reason(), mqtt::ReasonCode::ADMINISTRATIVE_ACTION);
    chat_client again(*broker_, "bob", mqtt_5);
    try {
        again.connect("bob", "bob-pw");
        ADD_FAILURE() << "a banned user logged in";
    } catch (const mqtt::exception& refusal) {
        // Paho reports a CONNACK's code as the reason code or as the return code.
        EXPECT_EQ(refusal.get_reason_code() != 0 ? refusal.get_reason_code()
                                                 : refusal.get_return_code(),
                  connack_banned);
    }
    const json bans = json::parse(as_alice("GET", "/api/admin/bans").body)["bans"];
    ASSERT_EQ(bans.size(), 1U);
    EXPECT_EQ(bans[0]["value"], "bob");

    ASSERT_EQ(as_alice("DELETE", "/api/admin/users/bob/ban").status, 200U);
    chat_client back(*broker_, "bob", mqtt_5);
    back.connect("bob", "bob-pw");
    EXPECT_TRUE(back.is_connected());

    const json audit = json::parse(as_alice("GET", "/api/admin/audit").body)["audit"];
    std::vector<std::string> actions;
    for (const json& entry : audit) {
        if (entry["target"] == "bob") {
            EXPECT_EQ(entry["actor"], "alice") << entry.dump();
            actions.push_back(entry["action"].get<std::string>());
        }
    }
    EXPECT_EQ(actions, (std::vector<std::string>{"ban", "unban"}));
}

TEST_F(AdminApiTest, BadRequestsGetJsonErrors) {
    EXPECT_EQ(as_alice("POST", "/api/admin/users", "{oops").status, 400U);
    EXPECT_EQ(as_alice("POST", "/api/admin/users/nobody/ban").status, 404U);
    EXPECT_EQ(as_alice("DELETE", "/api/admin/rooms/nowhere").status, 404U);
    const http_answer huge = as_alice("POST", "/api/admin/users", std::string(20'000, 'x'));
    EXPECT_EQ(huge.status, 413U) << huge.raw.substr(0, 200);
    // The broker still serves.
    EXPECT_EQ(as_alice("GET", "/api/admin/overview").status, 200U);
}

} // namespace
} // namespace perch::integration
