// Tests of the $SYS topic values and the load averages.
#include <algorithm>

#include <gtest/gtest.h>

#include "gateway/broker/sys_topics.hpp"

namespace perch::gateway {
namespace {

std::string value_of(const std::vector<sys_value>& values, std::string_view topic_name) {
    const auto found = std::find_if(values.begin(), values.end(), [&](const sys_value& value) {
        return value.topic_name == topic_name;
    });
    return found == values.end() ? "<missing>" : found->payload;
}

TEST(SysTopics, PublishesMosquittoStyleTopics) {
    broker_stats stats;
    stats.version = "1.2.3";
    stats.uptime_seconds = 42;
    stats.clients_connected = 3;
    stats.clients_total = 5;
    stats.publish_received = 100;
    stats.publish_sent = 250;
    stats.publish_dropped = 7;
    stats.subscriptions = 9;
    stats.retained_messages = 4;
    stats.bytes_received = 1000;
    stats.bytes_sent = 2000;
    const auto values = sys_topic_values(stats, sys_load{120.0, 60.5});
    EXPECT_EQ(value_of(values, "$SYS/broker/version"), "perch version 1.2.3");
    EXPECT_EQ(value_of(values, "$SYS/broker/uptime"), "42 seconds");
    EXPECT_EQ(value_of(values, "$SYS/broker/clients/connected"), "3");
    EXPECT_EQ(value_of(values, "$SYS/broker/clients/total"), "5");
    EXPECT_EQ(value_of(values, "$SYS/broker/messages/received"), "100");
    EXPECT_EQ(value_of(values, "$SYS/broker/messages/sent"), "250");
    EXPECT_EQ(value_of(values, "$SYS/broker/publish/messages/dropped"), "7");
    EXPECT_EQ(value_of(values, "$SYS/broker/subscriptions/count"), "9");
    EXPECT_EQ(value_of(values, "$SYS/broker/retained messages/count"), "4");
    EXPECT_EQ(value_of(values, "$SYS/broker/bytes/received"), "1000");
    EXPECT_EQ(value_of(values, "$SYS/broker/bytes/sent"), "2000");
    EXPECT_EQ(value_of(values, "$SYS/broker/load/bytes/received/1min"), "120.00");
    EXPECT_EQ(value_of(values, "$SYS/broker/load/bytes/sent/1min"), "60.50");
}

TEST(SysTopics, PublishesTheQuotaCounters) {
    broker_stats stats;
    stats.message_rate_refusals = 11;
    stats.byte_rate_refusals = 12;
    stats.connection_rate_refusals = 13;
    stats.subscription_quota_refusals = 14;
    stats.rate_disconnects = 15;
    const auto values = sys_topic_values(stats, sys_load{});
    EXPECT_EQ(value_of(values, "$SYS/broker/quota/refusals/message_rate"), "11");
    EXPECT_EQ(value_of(values, "$SYS/broker/quota/refusals/byte_rate"), "12");
    EXPECT_EQ(value_of(values, "$SYS/broker/quota/refusals/connection_rate"), "13");
    EXPECT_EQ(value_of(values, "$SYS/broker/quota/refusals/subscriptions"), "14");
    EXPECT_EQ(value_of(values, "$SYS/broker/quota/disconnects/rate"), "15");
}

TEST(SysTopics, EveryTopicIsUnderSysBroker) {
    for (const sys_value& value : sys_topic_values(broker_stats{}, sys_load{})) {
        EXPECT_EQ(value.topic_name.rfind("$SYS/broker/", 0), 0U) << value.topic_name;
    }
}

TEST(SysTopics, LoadConvergesToTheSteadyRate) {
    // 100 bytes every 10 seconds is 600 bytes per minute.
    sys_load load;
    for (int step = 0; step < 200; ++step) {
        load = next_sys_load(load, 100, 50, 10.0);
    }
    EXPECT_NEAR(load.bytes_received_per_minute, 600.0, 0.01);
    EXPECT_NEAR(load.bytes_sent_per_minute, 300.0, 0.01);
}

TEST(SysTopics, LoadDecaysWhenIdle) {
    sys_load load{600.0, 600.0};
    load = next_sys_load(load, 0, 0, 60.0);
    EXPECT_LT(load.bytes_received_per_minute, 600.0 * 0.37);
    EXPECT_GT(load.bytes_received_per_minute, 600.0 * 0.36);
}

} // namespace
} // namespace perch::gateway
