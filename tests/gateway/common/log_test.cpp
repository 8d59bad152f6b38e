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

TEST(Log, TextLineAboutAConnectionCarriesItsId) {
    const auto when =
        std::chrono::system_clock::time_point(std::chrono::milliseconds(1614834367089LL));
    const log_subject subject{42, "sensor-1", "", "127.0.0.1:5000"};
    EXPECT_EQ(format_log_line(log_level::info, when, "client sensor-1 disconnected",
                              log_format::text, &subject),
              "2021-03-04T05:06:07.089Z info: [c42] client sensor-1 disconnected\n");
}

TEST(Log, JsonLineCarriesTimeLevelFieldsAndMessage) {
    const auto when =
        std::chrono::system_clock::time_point(std::chrono::milliseconds(1614834367089LL));
    const log_subject subject{7, "phone", "alice", "[::1]:4242"};
    EXPECT_EQ(format_log_line(log_level::notice, when, "closing phone", log_format::json, &subject),
              "{\"time\":\"2021-03-04T05:06:07.089Z\",\"level\":\"notice\",\"conn\":\"c7\","
              "\"client_id\":\"phone\",\"user\":\"alice\",\"remote\":\"[::1]:4242\","
              "\"message\":\"closing phone\"}\n");
}

TEST(Log, JsonLineLeavesOutUnknownFieldsAndEscapesText) {
    const auto when =
        std::chrono::system_clock::time_point(std::chrono::milliseconds(1614834367089LL));
    EXPECT_EQ(format_log_line(log_level::error, when, "bad \"id\" \\ \n\x01", log_format::json),
              "{\"time\":\"2021-03-04T05:06:07.089Z\",\"level\":\"error\","
              "\"message\":\"bad \\\"id\\\" \\\\ \\n\\u0001\"}\n");
    const log_subject anonymous{9, "", "", ""};
    EXPECT_EQ(format_log_line(log_level::info, when, "x", log_format::json, &anonymous),
              "{\"time\":\"2021-03-04T05:06:07.089Z\",\"level\":\"info\",\"conn\":\"c9\","
              "\"message\":\"x\"}\n");
}

TEST(Log, ParsesEveryFormatName) {
    EXPECT_EQ(parse_log_format("text"), log_format::text);
    EXPECT_EQ(parse_log_format("json"), log_format::json);
    EXPECT_EQ(parse_log_format("xml"), std::nullopt);
    const log_format saved = current_log_format();
    set_log_format(log_format::json);
    EXPECT_EQ(current_log_format(), log_format::json);
    set_log_format(saved);
}

} // namespace
} // namespace perch::gateway
