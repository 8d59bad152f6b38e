// Tests of log levels and the log line format.
#include <gtest/gtest.h>

#include "gateway/common/log.hpp"

namespace perch::gateway {
namespace {

TEST(Log, ParsesEveryLevelName) {
    for (const log_level level : {log_level::error, log_level::warning, log_level::notice,
                                  log_level::info, log_level::debug}) {
        EXPECT_EQ(parse_log_level(to_string(level)), level);
    }
    EXPECT_EQ(parse_log_level("loud"), std::nullopt);
}

TEST(Log, ThresholdFiltersLessSevereLevels) {
    const log_level saved = current_log_level();
    set_log_level(log_level::notice);
    EXPECT_TRUE(is_log_enabled(log_level::error));
    EXPECT_TRUE(is_log_enabled(log_level::notice));
    EXPECT_FALSE(is_log_enabled(log_level::info));
    EXPECT_FALSE(is_log_enabled(log_level::debug));
    set_log_level(log_level::debug);
    EXPECT_TRUE(is_log_enabled(log_level::debug));
    set_log_level(saved);
}

TEST(Log, LineCarriesUtcTimestampLevelAndText) {
    // 2021-03-04T05:06:07.089Z
    const auto when =
        std::chrono::system_clock::time_point(std::chrono::milliseconds(1614834367089LL));
    EXPECT_EQ(format_log_line(log_level::warning, when, "client x gone"),
              "2021-03-04T05:06:07.089Z warning: client x gone\n");
}

} // namespace
} // namespace perch::gateway
