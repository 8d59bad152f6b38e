// What a persistent session's comings and goings write to the store, counted on /metrics
// (perch_store_committed_operations_total): a client that drops or disconnects and comes back
// before its end's record is due (docs/DURABILITY.md "What is written when") costs no write at
// all, whether the broker saw the old connection end first or takes it over.
#include <chrono>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "broker_process.hpp"
#include "http_client.hpp"
#include "raw_mqtt_client.hpp"

namespace perch::integration {
namespace {

using namespace std::chrono_literals;

constexpr auto answer_timeout = 5s;
constexpr std::string_view committed_series = "perch_store_committed_operations_total";

class SessionRecordWritesTest : public ::testing::Test {
protected:
    void SetUp() override {
        if (broker_under_test() != broker_kind::perch) {
            GTEST_SKIP() << "perch's store and http listener only";
        }
        http_port_ = free_loopback_port();
        broker_ = std::make_unique<broker_process>(
            broker_kind::perch, "listener " + std::to_string(http_port_) +
                                    " 127.0.0.1\nprotocol http\ndurability full\n");
    }

    void TearDown() override {
        if (!broker_) {
            return;
        }
        const process_exit ending = broker_->stop();
        EXPECT_TRUE(ending.is_success()) << describe(ending);
        if (HasFailure()) {
            std::cerr << broker_->log();
        }
    }

    /// Operations the store has committed, once a second passed without a new commit (a write
    /// that is due reaches the count within a commit interval of 5 ms).
    double committed_when_quiet() {
        std::optional<double> last;
        const auto deadline = std::chrono::steady_clock::now() + 20s;
        while (std::chrono::steady_clock::now() < deadline) {
            const std::optional<double> now =
                sample(http_get(http_port_, "/metrics").body, std::string(committed_series));
            if (now && last && *now == *last) {
                return *now;
            }
            last = now;
            std::this_thread::sleep_for(1s);
        }
        ADD_FAILURE() << "the store never went quiet";
        return last.value_or(-1);
    }

    std::uint16_t http_port_ = 0;
    std::unique_ptr<broker_process> broker_;
};

TEST_F(SessionRecordWritesTest, AClientBackBeforeItsEndIsDueWritesNothing) {
    raw_mqtt_client phone;
    bool session_present = true;
    ASSERT_TRUE(phone.connect(broker_->port(), "phone", false, answer_timeout, &session_present));
    EXPECT_FALSE(session_present);
    const double after_first_login = committed_when_quiet();
    EXPECT_GE(after_first_login, 1) << "the new session's record was not written";

    // Dropped without DISCONNECT, then back.
    phone.close();
    ASSERT_TRUE(phone.connect(broker_->port(), "phone", false, answer_timeout, &session_present));
    EXPECT_TRUE(session_present);
    // A DISCONNECT, then back.
    phone.disconnect();
    ASSERT_TRUE(phone.connect(broker_->port(), "phone", false, answer_timeout, &session_present));
    EXPECT_TRUE(session_present);
    // Taken over by a second connection while the first is still open.
    raw_mqtt_client second;
    ASSERT_TRUE(second.connect(broker_->port(), "phone", false, answer_timeout, &session_present));
    EXPECT_TRUE(session_present);
    EXPECT_EQ(committed_when_quiet(), after_first_login);
    second.disconnect();
}

} // namespace
} // namespace perch::integration
