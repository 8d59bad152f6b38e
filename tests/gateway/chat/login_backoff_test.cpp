// Tests of the failed-login backoff with time passed in: when it starts, how it grows and is
// capped, what a success and time forget, and its bound on memory.
#include <chrono>
#include <string>

#include <gtest/gtest.h>

#include "gateway/chat/login_backoff.hpp"

namespace perch::gateway {
namespace {

using namespace std::chrono_literals;
using time_point = login_backoff::clock::time_point;

const time_point start{std::chrono::hours(1)};

TEST(LoginBackoff, StartsAtTheThirdFailureOfAUserAndDoubles) {
    login_backoff backoff;
    time_point now = start;
    backoff.record_failure("alice", "", now);
    backoff.record_failure("alice", "", now);
    EXPECT_FALSE(backoff.is_refused("alice", "", now));
    backoff.record_failure("alice", "", now);
    EXPECT_TRUE(backoff.is_refused("alice", "", now));
    EXPECT_TRUE(backoff.is_refused("alice", "", now + 999ms));
    EXPECT_FALSE(backoff.is_refused("alice", "", now + 1000ms));
    // Another user is not affected.
    EXPECT_FALSE(backoff.is_refused("bob", "", now));
    now += 1000ms;
    backoff.record_failure("alice", "", now);
    EXPECT_TRUE(backoff.is_refused("alice", "", now + 1999ms));
    EXPECT_FALSE(backoff.is_refused("alice", "", now + 2000ms));
    now += 2000ms;
    backoff.record_failure("alice", "", now);
    EXPECT_TRUE(backoff.is_refused("alice", "", now + 3999ms));
    EXPECT_FALSE(backoff.is_refused("alice", "", now + 4000ms));
}

TEST(LoginBackoff, IsCappedAtTheLongestDelay) {
    login_backoff backoff;
    for (int failure = 0; failure < 40; ++failure) {
        backoff.record_failure("alice", "", start);
    }
    EXPECT_TRUE(backoff.is_refused("alice", "", start + 59s));
    EXPECT_FALSE(backoff.is_refused("alice", "", start + 60s));
}

TEST(LoginBackoff, ASuccessForgetsTheUserButNotTheAddress) {
    login_backoff_settings settings;
    settings.address_free_failures = 3;
    login_backoff backoff(settings);
    for (int failure = 0; failure < 3; ++failure) {
        backoff.record_failure("alice", "192.0.2.1", start);
    }
    EXPECT_TRUE(backoff.is_refused("alice", "", start));
    EXPECT_TRUE(backoff.is_refused("bob", "192.0.2.1", start));
    EXPECT_FALSE(backoff.is_refused("bob", "192.0.2.2", start));
    backoff.record_success("alice");
    EXPECT_FALSE(backoff.is_refused("alice", "", start));
    EXPECT_TRUE(backoff.is_refused("alice", "192.0.2.1", start));
}

TEST(LoginBackoff, AnAddressBacksOffLaterThanAUser) {
    login_backoff backoff;
    for (int failure = 0; failure < 9; ++failure) {
        backoff.record_failure("user" + std::to_string(failure), "192.0.2.1", start);
    }
    EXPECT_FALSE(backoff.is_refused("alice", "192.0.2.1", start));
    backoff.record_failure("user9", "192.0.2.1", start);
    EXPECT_TRUE(backoff.is_refused("alice", "192.0.2.1", start));
}

TEST(LoginBackoff, ForgetsAfterAQuietPeriod) {
    login_backoff backoff;
    for (int failure = 0; failure < 5; ++failure) {
        backoff.record_failure("alice", "", start);
    }
    EXPECT_EQ(backoff.entry_count(), 1U);
    // Forgotten: the next failures count from one again.
    const time_point later = start + 600s;
    EXPECT_FALSE(backoff.is_refused("alice", "", later));
    EXPECT_EQ(backoff.entry_count(), 0U);
    backoff.record_failure("alice", "", later);
    EXPECT_FALSE(backoff.is_refused("alice", "", later));
}

TEST(LoginBackoff, ZeroTurnsAKindOff) {
    login_backoff_settings settings;
    settings.user_free_failures = 0;
    login_backoff backoff(settings);
    for (int failure = 0; failure < 20; ++failure) {
        backoff.record_failure("alice", "", start);
    }
    EXPECT_FALSE(backoff.is_refused("alice", "", start));
    EXPECT_EQ(backoff.entry_count(), 0U);
}

TEST(LoginBackoff, HoldsAtMostItsEntryLimit) {
    login_backoff_settings settings;
    settings.max_entries = 64;
    login_backoff backoff(settings);
    for (int user = 0; user < 10'000; ++user) {
        backoff.record_failure("user" + std::to_string(user), "",
                               start + std::chrono::seconds(user));
    }
    EXPECT_LE(backoff.entry_count(), 64U);
    // The newest entries stay.
    for (int failure = 0; failure < 2; ++failure) {
        backoff.record_failure("user9999", "", start + 9999s);
    }
    EXPECT_TRUE(backoff.is_refused("user9999", "", start + 9999s));
}

} // namespace
} // namespace perch::gateway
