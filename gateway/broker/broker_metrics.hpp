// The broker's statistics as Prometheus metrics: worker_counter_table's counters, the listeners,
// the store, the workers' loop lag and the http listener. A pure function over broker_stats
// (testable without a network); the names and meanings are listed in docs/OPERATIONS.md.
#pragma once

#include "gateway/broker/sys_topics.hpp"
#include "gateway/observability/metrics_exposition.hpp"

namespace perch::gateway {

/// Every metric `stats` holds, in a fixed order.
metrics_snapshot make_metrics_snapshot(const broker_stats& stats);

} // namespace perch::gateway
