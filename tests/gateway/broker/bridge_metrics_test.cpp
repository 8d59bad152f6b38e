// Tests of the bridge counters in /metrics and $SYS (docs/BRIDGES.md).
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "gateway/broker/broker_metrics.hpp"
#include "gateway/broker/sys_topics.hpp"

namespace perch::gateway {
namespace {

broker_stats stats_with_bridges() {
    broker_stats stats;
    stats.bridges.push_back({"central", true, 5, 7, 2});
    stats.bridges.push_back({"backup", false, 0, 0, 0});
    return stats;
}

double sample_value(const metrics_snapshot& snapshot, std::string_view name,
                    const metric_labels& labels) {
    const metric_family* family = snapshot.find(name);
    if (family == nullptr) {
        return -1;
    }
    for (const metric_sample& sample : family->samples) {
        if (sample.labels == labels) {
            return sample.value;
        }
    }
    return -1;
}

TEST(BridgeMetrics, EachBridgeHasItsLabel) {
    const metrics_snapshot snapshot = make_metrics_snapshot(stats_with_bridges());
    const metric_labels central = {{"bridge", "central"}};
    const metric_labels backup = {{"bridge", "backup"}};
    EXPECT_EQ(sample_value(snapshot, "perch_bridge_connected", central), 1);
    EXPECT_EQ(sample_value(snapshot, "perch_bridge_connected", backup), 0);
    EXPECT_EQ(sample_value(snapshot, "perch_bridge_messages_in_total", central), 5);
    EXPECT_EQ(sample_value(snapshot, "perch_bridge_messages_out_total", central), 7);
    EXPECT_EQ(sample_value(snapshot, "perch_bridge_reconnects_total", central), 2);
}

TEST(BridgeMetrics, NoBridgeNoFamily) {
    EXPECT_EQ(make_metrics_snapshot(broker_stats{}).find("perch_bridge_connected"), nullptr);
}

TEST(BridgeMetrics, SysTopicsPerBridge) {
    const std::vector<sys_value> values = sys_topic_values(stats_with_bridges(), sys_load{});
    const auto value_of = [&](std::string_view topic) {
        for (const sys_value& value : values) {
            if (value.topic_name == topic) {
                return value.payload;
            }
        }
        return std::string("<missing>");
    };
    EXPECT_EQ(value_of("$SYS/broker/bridge/central/connected"), "1");
    EXPECT_EQ(value_of("$SYS/broker/bridge/central/messages/in"), "5");
    EXPECT_EQ(value_of("$SYS/broker/bridge/central/messages/out"), "7");
    EXPECT_EQ(value_of("$SYS/broker/bridge/central/reconnects"), "2");
    EXPECT_EQ(value_of("$SYS/broker/bridge/backup/connected"), "0");
}

} // namespace
} // namespace perch::gateway
