// Helpers shared by the store tests: temporary database paths, record builders and a recorder
// of completions.
#pragma once

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "store/records.hpp"
#include "store/store_status.hpp"

#include <unistd.h>

namespace perch::store::testing_support {

/// A database path unique to the running test, whose files are removed on destruction.
class temporary_database {
public:
    temporary_database() {
        const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
        std::string name = std::string(info->test_suite_name()) + "." + info->name();
        for (char& c : name) {
            if (c == '/') {
                c = '_';
            }
        }
        directory_ = std::filesystem::path(::testing::TempDir()) /
                     ("perch-store-" + std::to_string(::getpid()) + "-" + name);
        std::filesystem::remove_all(directory_);
        std::filesystem::create_directories(directory_);
    }
    ~temporary_database() {
        std::error_code ignored;
        std::filesystem::remove_all(directory_, ignored);
    }
    temporary_database(const temporary_database&) = delete;
    temporary_database& operator=(const temporary_database&) = delete;

    std::string path() const { return (directory_ / "perch.db").string(); }
    const std::filesystem::path& directory() const { return directory_; }

private:
    std::filesystem::path directory_;
};

inline byte_vector bytes_of(std::string_view text) {
    return byte_vector(text.begin(), text.end());
}

inline stored_message make_message(std::string topic, std::string_view payload,
                                   std::uint64_t expiry_unix_ms = 0) {
    stored_message message;
    message.topic = std::move(topic);
    message.payload = bytes_of(payload);
    message.qos = 1;
    message.properties = {0x23, 0x00, 0x05};
    message.expiry_unix_ms = expiry_unix_ms;
    message.created_unix_ms = 1'700'000'000'000;
    return message;
}

inline stored_session make_session(std::string client_id) {
    stored_session session;
    session.client_id = std::move(client_id);
    session.protocol_level = 5;
    session.session_expiry_interval_s = 3600;
    return session;
}

inline queue_target target(std::string client_id, std::uint8_t qos = 1) {
    return queue_target{std::move(client_id), qos, false, {}};
}

/// Records every completion it hands out.
class completion_recorder {
public:
    store_completion record() {
        return [this](const store_status& status) {
            std::lock_guard lock(mutex_);
            statuses_.push_back(status);
        };
    }
    std::size_t count() const {
        std::lock_guard lock(mutex_);
        return statuses_.size();
    }
    std::size_t failures() const {
        std::lock_guard lock(mutex_);
        std::size_t failed = 0;
        for (const auto& status : statuses_) {
            failed += status.is_ok() ? 0 : 1;
        }
        return failed;
    }
    std::vector<store_status> statuses() const {
        std::lock_guard lock(mutex_);
        return statuses_;
    }

private:
    mutable std::mutex mutex_;
    std::vector<store_status> statuses_;
};

} // namespace perch::store::testing_support
