// Tests of the broker's pid file: written and locked while held, removed at the end, a stale or
// missing file reported, a second holder refused.
#include <filesystem>
#include <fstream>
#include <string>
#include <variant>

#include <gtest/gtest.h>

#include "gateway/program/pid_file.hpp"

#include <unistd.h>

namespace perch::gateway {
namespace {

class PidFile : public ::testing::Test {
protected:
    void SetUp() override {
        directory_ = std::filesystem::path(::testing::TempDir()) /
                     ("perch_pid_" + std::to_string(::getpid()) + "_" +
                      ::testing::UnitTest::GetInstance()->current_test_info()->name());
        std::filesystem::remove_all(directory_);
    }
    void TearDown() override { std::filesystem::remove_all(directory_); }

    std::filesystem::path directory_;
};

TEST_F(PidFile, HeldFileNamesThisProcessAndIsRemovedAtTheEnd) {
    const std::filesystem::path path = pid_file_path(directory_);
    {
        const pid_file held(path);
        std::ifstream file(path);
        std::string text;
        std::getline(file, text);
        EXPECT_EQ(text, std::to_string(::getpid()));
        const auto found = find_running_broker(path);
        ASSERT_TRUE(std::holds_alternative<pid_t>(found));
        EXPECT_EQ(std::get<pid_t>(found), ::getpid());
    }
    EXPECT_FALSE(std::filesystem::exists(path));
    const auto found = find_running_broker(path);
    ASSERT_TRUE(std::holds_alternative<no_running_broker>(found));
    EXPECT_NE(std::get<no_running_broker>(found).message.find("does not exist"), std::string::npos);
}

TEST_F(PidFile, FileNobodyLocksIsStale) {
    // What a broker killed with SIGKILL leaves: the file, without its lock.
    std::filesystem::create_directories(directory_);
    const std::filesystem::path path = pid_file_path(directory_);
    std::ofstream(path) << ::getpid() << "\n";
    const auto found = find_running_broker(path);
    ASSERT_TRUE(std::holds_alternative<no_running_broker>(found));
    EXPECT_NE(std::get<no_running_broker>(found).message.find("stale"), std::string::npos);
    // A new broker takes the stale file over.
    const pid_file held(path);
    EXPECT_TRUE(std::holds_alternative<pid_t>(find_running_broker(path)));
}

TEST_F(PidFile, SecondHolderIsRefused) {
    const std::filesystem::path path = pid_file_path(directory_);
    const pid_file held(path);
    EXPECT_THROW(pid_file second(path), std::runtime_error);
    // The refused attempt leaves the first holder's file alone.
    EXPECT_TRUE(std::holds_alternative<pid_t>(find_running_broker(path)));
}

} // namespace
} // namespace perch::gateway
