// Tests of gateway/broker/broker_metrics and counter_table: every published counter reaches
// /metrics with its name and label, and $SYS carries the same totals.
#include <set>
#include <string>

#include <gtest/gtest.h>

#include "gateway/broker/broker_metrics.hpp"

namespace perch::gateway {
namespace {

double sample_value(const metrics_snapshot& snapshot, std::string_view name,
                    const metric_labels& labels = {}) {
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

broker_stats sample_stats() {
    broker_stats stats;
    stats.version = "9.9";
    for (std::size_t index = 0; index < stats.worker_totals.size(); ++index) {
        stats.worker_totals[index] = 100 + index;
    }
    stats.listeners.push_back({"mqtt", "127.0.0.1", 1883, 7});
    stats.listeners.push_back({"http", "127.0.0.1", 9090, 2});
    broker_stats::worker_figures lag;
    lag.connected_clients = 7;
    lag.last_us = 1500;
    lag.buckets[1] = 3;
    lag.sum_us = 4500;
    lag.probes = 3;
    stats.workers.push_back(lag);
    return stats;
}

TEST(CounterTable, EveryCounterNameEndsInTotalAndEveryGaugeDoesNot) {
    for (const counter_description& entry : worker_counter_table) {
        const bool is_total = entry.metric_name.ends_with("_total");
        EXPECT_EQ(is_total, entry.type == metric_type::counter) << entry.metric_name;
        EXPECT_TRUE(entry.metric_name.starts_with("perch_")) << entry.metric_name;
    }
}

TEST(CounterTable, SysTopicsAreUniqueAndUnderSysBroker) {
    std::set<std::string_view> seen;
    for (const counter_description& entry : worker_counter_table) {
        if (entry.sys_topic.empty()) {
            continue;
        }
        EXPECT_TRUE(entry.sys_topic.starts_with("$SYS/broker/")) << entry.sys_topic;
        EXPECT_TRUE(seen.insert(entry.sys_topic).second) << entry.sys_topic;
    }
}

TEST(BrokerMetrics, PublishesEveryTableCounterWithItsLabel) {
    const broker_stats stats = sample_stats();
    const metrics_snapshot snapshot = make_metrics_snapshot(stats);

    for (std::size_t index = 0; index < worker_counter_table.size(); ++index) {
        const counter_description& entry = worker_counter_table[index];
        metric_labels labels;
        if (!entry.label_name.empty()) {
            labels.emplace_back(entry.label_name, entry.label_value);
        }
        EXPECT_EQ(sample_value(snapshot, entry.metric_name, labels),
                  static_cast<double>(stats.worker_totals[index]))
            << entry.metric_name;
    }
}

TEST(BrokerMetrics, EveryFamilyHasHelp) {
    broker_stats stats = sample_stats();
    stats.store = store::store_counters{};
    const metrics_snapshot snapshot = make_metrics_snapshot(stats);
    for (const metric_family& family : snapshot.families()) {
        EXPECT_FALSE(family.help.empty()) << family.name;
    }
}

TEST(BrokerMetrics, LabelsConnectionsByListener) {
    const metrics_snapshot snapshot = make_metrics_snapshot(sample_stats());

    EXPECT_EQ(sample_value(snapshot, "perch_listener_connections_accepted_total",
                           {{"kind", "mqtt"}, {"address", "127.0.0.1"}, {"port", "1883"}}),
              7);
    EXPECT_EQ(sample_value(snapshot, "perch_listener_connections_accepted_total",
                           {{"kind", "http"}, {"address", "127.0.0.1"}, {"port", "9090"}}),
              2);
}

TEST(BrokerMetrics, ConnectedClientsAreAGaugePerWorker) {
    const metrics_snapshot snapshot = make_metrics_snapshot(sample_stats());

    EXPECT_DOUBLE_EQ(sample_value(snapshot, "perch_worker_connected_clients", {{"worker", "0"}}),
                     7);
}

TEST(BrokerMetrics, LoopLagIsAGaugeAndAHistogramPerWorker) {
    const metrics_snapshot snapshot = make_metrics_snapshot(sample_stats());

    EXPECT_DOUBLE_EQ(sample_value(snapshot, "perch_worker_loop_lag_seconds", {{"worker", "0"}}),
                     0.0015);
    const std::string text = render_prometheus(snapshot);
    EXPECT_NE(
        text.find("perch_worker_loop_lag_probe_seconds_bucket{worker=\"0\",le=\"0.005\"} 3\n"),
        std::string::npos)
        << text;
    EXPECT_NE(text.find("perch_worker_loop_lag_probe_seconds_count{worker=\"0\"} 3\n"),
              std::string::npos);
}

TEST(BrokerMetrics, StoreHistogramsAndRefusalsAppearWithAStore) {
    broker_stats stats = sample_stats();
    store::store_counters store;
    store.commit_seconds = store::fixed_histogram::with_bounds({0.001, 0.01});
    store.commit_seconds.observe(0.002);
    store.commit_operations = store::fixed_histogram::with_bounds({1, 10});
    store.commit_operations.observe(5);
    store.refused_for_quota = 4;
    store.is_refusing_writes = true;
    stats.store = store;

    const metrics_snapshot snapshot = make_metrics_snapshot(stats);
    const std::string text = render_prometheus(snapshot);

    EXPECT_NE(text.find("perch_store_commit_seconds_bucket{le=\"0.01\"} 1\n"), std::string::npos);
    EXPECT_NE(text.find("perch_store_commit_operations_bucket{le=\"10\"} 1\n"), std::string::npos);
    EXPECT_EQ(sample_value(snapshot, "perch_refusals_total", {{"reason", "store_queue_full"}}), 4);
    EXPECT_EQ(sample_value(snapshot, "perch_store_refusing_writes"), 1);
}

TEST(BrokerMetrics, NoStoreMetricsWithoutPersistence) {
    EXPECT_EQ(make_metrics_snapshot(sample_stats()).find("perch_store_commits_total"), nullptr);
}

TEST(BrokerMetrics, SysTopicsCarryTheTableAndTheListeners) {
    const broker_stats stats = sample_stats();
    const std::vector<sys_value> values = sys_topic_values(stats, sys_load{});
    const auto value_of = [&](std::string_view topic) {
        for (const sys_value& value : values) {
            if (value.topic_name == topic) {
                return value.payload;
            }
        }
        return std::string("<missing>");
    };

    EXPECT_EQ(value_of("$SYS/broker/publish/messages/received/qos1"),
              std::to_string(stats.total(&worker_counters::publish_received_qos1)));
    EXPECT_EQ(value_of("$SYS/broker/tls/handshakes/resumed"),
              std::to_string(stats.total(&worker_counters::tls_handshakes_resumed)));
    EXPECT_EQ(value_of("$SYS/broker/connections/refused"),
              std::to_string(stats.total(&worker_counters::connections_refused)));
    EXPECT_EQ(value_of("$SYS/broker/listeners/mqtt/1883/accepted"), "7");
    EXPECT_EQ(value_of("$SYS/broker/workers/0/loop_lag_us"), "1500");
}

} // namespace
} // namespace perch::gateway
