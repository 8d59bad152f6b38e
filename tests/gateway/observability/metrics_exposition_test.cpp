// Tests of gateway/observability/metrics_exposition: the Prometheus text format 0.0.4.
#include <gtest/gtest.h>

#include "gateway/observability/metrics_exposition.hpp"

namespace perch::gateway {
namespace {

TEST(MetricsExposition, WritesHelpTypeAndOneLinePerSample) {
    metrics_snapshot snapshot;
    snapshot.add("perch_messages_received_total", "PUBLISH packets received.", metric_type::counter,
                 3, {{"qos", "0"}});
    snapshot.add("perch_messages_received_total", "ignored: the family exists",
                 metric_type::counter, 4, {{"qos", "1"}});
    snapshot.add("perch_clients_connected", "Clients connected now.", metric_type::gauge, 2);

    EXPECT_EQ(render_prometheus(snapshot),
              "# HELP perch_messages_received_total PUBLISH packets received.\n"
              "# TYPE perch_messages_received_total counter\n"
              "perch_messages_received_total{qos=\"0\"} 3\n"
              "perch_messages_received_total{qos=\"1\"} 4\n"
              "# HELP perch_clients_connected Clients connected now.\n"
              "# TYPE perch_clients_connected gauge\n"
              "perch_clients_connected 2\n");
}

TEST(MetricsExposition, WritesCumulativeHistogramBucketsSumAndCount) {
    metrics_snapshot snapshot;
    histogram_sample latency;
    latency.upper_bounds = {0.001, 0.01};
    latency.bucket_counts = {2, 1, 1};
    latency.sum = 0.5;
    latency.count = 4;
    snapshot.add_histogram("perch_store_commit_seconds", "Commit latency.", latency);

    EXPECT_EQ(render_prometheus(snapshot), "# HELP perch_store_commit_seconds Commit latency.\n"
                                           "# TYPE perch_store_commit_seconds histogram\n"
                                           "perch_store_commit_seconds_bucket{le=\"0.001\"} 2\n"
                                           "perch_store_commit_seconds_bucket{le=\"0.01\"} 3\n"
                                           "perch_store_commit_seconds_bucket{le=\"+Inf\"} 4\n"
                                           "perch_store_commit_seconds_sum 0.5\n"
                                           "perch_store_commit_seconds_count 4\n");
}

TEST(MetricsExposition, HistogramLabelsComeBeforeLe) {
    metrics_snapshot snapshot;
    histogram_sample lag;
    lag.labels = {{"worker", "1"}};
    lag.upper_bounds = {1};
    lag.bucket_counts = {0, 0};
    snapshot.add_histogram("perch_lag_seconds", "Lag.", lag);

    const std::string text = render_prometheus(snapshot);
    EXPECT_NE(text.find("perch_lag_seconds_bucket{worker=\"1\",le=\"1\"} 0\n"), std::string::npos);
    EXPECT_NE(text.find("perch_lag_seconds_bucket{worker=\"1\",le=\"+Inf\"} 0\n"),
              std::string::npos);
    EXPECT_NE(text.find("perch_lag_seconds_sum{worker=\"1\"} 0\n"), std::string::npos);
}

TEST(MetricsExposition, EscapesLabelValuesAndHelp) {
    metrics_snapshot snapshot;
    snapshot.add("perch_x", "a \\ b\nc", metric_type::gauge, 1, {{"address", "a\"b\\c\nd"}});

    EXPECT_EQ(render_prometheus(snapshot), "# HELP perch_x a \\\\ b\\nc\n"
                                           "# TYPE perch_x gauge\n"
                                           "perch_x{address=\"a\\\"b\\\\c\\nd\"} 1\n");
}

TEST(MetricsExposition, WritesFractionsAndLargeIntegers) {
    metrics_snapshot snapshot;
    snapshot.add("perch_a", "A.", metric_type::gauge, 0.25);
    snapshot.add("perch_b_total", "B.", metric_type::counter, 18446744073709.0);

    const std::string text = render_prometheus(snapshot);
    EXPECT_NE(text.find("perch_a 0.25\n"), std::string::npos);
    EXPECT_NE(text.find("perch_b_total 18446744073709\n"), std::string::npos);
}

TEST(MetricsExposition, FindsAFamilyByName) {
    metrics_snapshot snapshot;
    snapshot.add("perch_a", "A.", metric_type::gauge, 1);

    ASSERT_NE(snapshot.find("perch_a"), nullptr);
    EXPECT_EQ(snapshot.find("perch_a")->samples.size(), 1U);
    EXPECT_EQ(snapshot.find("perch_b"), nullptr);
}

} // namespace
} // namespace perch::gateway
