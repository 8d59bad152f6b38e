// The acl_file outside chat/ (docs/ACCESS.md): SUBACK and PUBACK refusals at both protocol
// levels, retained messages a reader may not read, %u patterns, SIGHUP reload and the refusal
// counter in $SYS.
#include <chrono>
#include <csignal>
#include <memory>
#include <string>
#include <thread>

#include <gtest/gtest.h>
#include <mqtt/async_client.h>

#include "chat_client.hpp"
#include "chat_fixture.hpp"
#include "raw_mqtt_client.hpp"

namespace perch::integration {
namespace {

using namespace std::chrono_literals;

constexpr auto answer_timeout = 5s;

const std::string first_rules = "# who reads and writes what outside chat/\n"
                                "topic read public/#\n"
                                "pattern readwrite users/%u/#\n"
                                "user alice\n"
                                "topic readwrite home/#\n"
                                "topic read $SYS/#\n"
                                "user bob\n"
                                "topic read home/#\n"
                                "topic deny home/private\n";

class AclTest : public chat_fixture {
protected:
    void SetUp() override {
        chat_fixture::SetUp();
        if (IsSkipped() || HasFatalFailure()) {
            return;
        }
        broker_->stop();
        acl_path_ = data_.path() / "perch.acl";
        write_file_text(acl_path_, first_rules);
        start_broker("acl_file " + acl_path_.string() + "\nsys_interval 1\n");
    }

    /// True once the broker's output holds `text` `count` times (bounded wait).
    bool wait_for_text_in_log(const std::string& text, std::size_t count = 1) {
        const auto deadline = std::chrono::steady_clock::now() + answer_timeout;
        while (std::chrono::steady_clock::now() < deadline) {
            const std::string log = broker_->log();
            std::size_t found = 0;
            for (auto at = log.find(text); at != std::string::npos; at = log.find(text, at + 1)) {
                ++found;
            }
            if (found >= count) {
                return true;
            }
            std::this_thread::sleep_for(20ms);
        }
        return false;
    }

    std::filesystem::path acl_path_;
};

TEST_F(AclTest, SubscribeAndPublishRefusalsAt5) {
    auto alice = connected("alice", mqtt_5);
    EXPECT_EQ(alice->subscribe("home/#", 1).front(), mqtt::ReasonCode::GRANTED_QOS_1);
    EXPECT_EQ(alice->subscribe("#", 1).front(), mqtt::ReasonCode::NOT_AUTHORIZED);
    EXPECT_EQ(alice->subscribe("elsewhere/+", 1).front(), mqtt::ReasonCode::NOT_AUTHORIZED);
    EXPECT_EQ(alice->publish("home/door", "open", 1), mqtt::ReasonCode::SUCCESS);
    EXPECT_EQ(alice->publish("public/news", "hi", 1), mqtt::ReasonCode::NOT_AUTHORIZED);
    EXPECT_EQ(alice->publish("elsewhere/x", "no", 1), mqtt::ReasonCode::NOT_AUTHORIZED);
    // chat/ keeps the chat rules: a member still writes to her room.
    EXPECT_EQ(alice->publish("chat/room/lobby/alice", "hello", 1), mqtt::ReasonCode::SUCCESS);
}

TEST_F(AclTest, AnonymousClientsFollowTheAnonymousBlockAndGet0x80At311) {
    raw_mqtt_client anonymous;
    ASSERT_TRUE(anonymous.connect(broker_->port(), "guest", true, answer_timeout));
    EXPECT_TRUE(anonymous.subscribe("public/#", 1, 1, answer_timeout));
    // raw_mqtt_client::subscribe is false exactly when the SUBACK code is 0x80.
    EXPECT_FALSE(anonymous.subscribe("home/#", 1, 2, answer_timeout));
    EXPECT_TRUE(anonymous.is_open());
    EXPECT_FALSE(anonymous.subscribe("users/+/#", 1, 3, answer_timeout));
    anonymous.disconnect();
}

TEST_F(AclTest, RetainedMessagesReachOnlyReadersWithReadAccess) {
    auto alice = connected("alice", mqtt_5);
    ASSERT_EQ(alice->publish_retained("home/private", "diary", 1), mqtt::ReasonCode::SUCCESS);
    ASSERT_EQ(alice->publish_retained("home/door", "closed", 1), mqtt::ReasonCode::SUCCESS);
    auto bob = connected("bob", mqtt_5);
    EXPECT_EQ(bob->subscribe("home/private", 1).front(), mqtt::ReasonCode::NOT_AUTHORIZED);
    EXPECT_EQ(bob->subscribe("home/#", 1).front(), mqtt::ReasonCode::GRANTED_QOS_1);
    const auto door = bob->next_on("home/door");
    ASSERT_TRUE(door);
    EXPECT_TRUE(door->is_retained);
    EXPECT_TRUE(bob->stays_silent_on("home/private"));
    // Live delivery obeys the same deny rule.
    ASSERT_EQ(alice->publish("home/private", "more", 1), mqtt::ReasonCode::SUCCESS);
    EXPECT_TRUE(bob->stays_silent_on("home/private"));
}

TEST_F(AclTest, UserPatternGivesEachUserTheirOwnSubtree) {
    auto alice = connected("alice", mqtt_5);
    auto bob = connected("bob", mqtt_5);
    EXPECT_EQ(bob->subscribe("users/bob/#", 1).front(), mqtt::ReasonCode::GRANTED_QOS_1);
    EXPECT_EQ(bob->subscribe("users/alice/#", 1).front(), mqtt::ReasonCode::NOT_AUTHORIZED);
    EXPECT_EQ(alice->publish("users/alice/notes", "mine", 1), mqtt::ReasonCode::SUCCESS);
    EXPECT_EQ(alice->publish("users/bob/notes", "his", 1), mqtt::ReasonCode::NOT_AUTHORIZED);
    EXPECT_EQ(bob->publish("users/bob/notes", "mine", 1), mqtt::ReasonCode::SUCCESS);
    const auto own = bob->next_on("users/bob/notes");
    ASSERT_TRUE(own);
    EXPECT_EQ(own->payload, "mine");
}

TEST_F(AclTest, ReloadAppliesAChangedFileToLiveConnections) {
    auto alice = connected("alice", mqtt_5);
    auto bob = connected("bob", mqtt_5);
    ASSERT_EQ(bob->subscribe("home/#", 1).front(), mqtt::ReasonCode::GRANTED_QOS_1);
    EXPECT_EQ(bob->publish("home/door", "x", 1), mqtt::ReasonCode::NOT_AUTHORIZED);

    write_file_text(acl_path_,
                    "user alice\ntopic readwrite home/#\nuser bob\ntopic write home/#\n");
    ::kill(broker_->pid(), SIGHUP);
    ASSERT_TRUE(wait_for_text_in_log("reload: log level")) << broker_->log();
    // bob may now write, and his granted subscription no longer receives.
    EXPECT_EQ(bob->publish("home/door", "x", 1), mqtt::ReasonCode::SUCCESS);
    ASSERT_EQ(alice->publish("home/window", "open", 1), mqtt::ReasonCode::SUCCESS);
    EXPECT_TRUE(bob->stays_silent_on("home/window"));

    // A broken file is reported with its line and the rules in force stay.
    write_file_text(acl_path_, "user bob\ntopic sometimes home/#\nbogus\n");
    ::kill(broker_->pid(), SIGHUP);
    ASSERT_TRUE(wait_for_text_in_log("reload failed")) << broker_->log();
    EXPECT_NE(broker_->log().find("perch.acl:3"), std::string::npos) << broker_->log();
    EXPECT_EQ(bob->publish("home/door", "y", 1), mqtt::ReasonCode::SUCCESS);
}

TEST_F(AclTest, RefusalsAreCountedInSys) {
    auto alice = connected("alice", mqtt_5);
    EXPECT_EQ(alice->subscribe("secret/#", 1).front(), mqtt::ReasonCode::NOT_AUTHORIZED);
    EXPECT_EQ(alice->publish("secret/x", "no", 1), mqtt::ReasonCode::NOT_AUTHORIZED);
    ASSERT_EQ(alice->subscribe("$SYS/broker/access/refusals", 0).front(),
              mqtt::ReasonCode::GRANTED_QOS_0);
    // Updated every second: wait for a value that counts both refusals.
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    std::string last;
    while (std::chrono::steady_clock::now() < deadline) {
        const auto value = alice->next_on("$SYS/broker/access/refusals", 2s);
        if (value) {
            last = value->payload;
            if (std::stoull(last) >= 2) {
                break;
            }
        }
    }
    EXPECT_GE(last.empty() ? 0 : std::stoull(last), 2U) << last;
}

} // namespace
} // namespace perch::integration
