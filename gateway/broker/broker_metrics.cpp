// The broker's statistics as Prometheus metrics.
#include "gateway/broker/broker_metrics.hpp"

#include <string>

namespace perch::gateway {

namespace {

histogram_sample to_histogram(const store::fixed_histogram& held, metric_labels labels = {}) {
    return histogram_sample{std::move(labels), held.upper_bounds, held.bucket_counts, held.sum,
                            held.count};
}

void add_table_counters(const broker_stats& stats, metrics_snapshot& snapshot) {
    for (std::size_t index = 0; index < worker_counter_table.size(); ++index) {
        const counter_description& entry = worker_counter_table[index];
        metric_labels labels;
        if (!entry.label_name.empty()) {
            labels.emplace_back(entry.label_name, entry.label_value);
        }
        snapshot.add(entry.metric_name, entry.help, entry.type,
                     static_cast<double>(stats.worker_totals[index]), std::move(labels));
    }
}

void add_listeners(const broker_stats& stats, metrics_snapshot& snapshot) {
    for (const broker_stats::listener_stats& listener : stats.listeners) {
        snapshot.add("perch_listener_connections_accepted_total",
                     "TCP connections accepted, by listener (kind, bind address, port).",
                     metric_type::counter, static_cast<double>(listener.accepted),
                     {{"kind", listener.kind},
                      {"address", listener.bind_address.empty() ? "*" : listener.bind_address},
                      {"port", std::to_string(listener.port)}});
    }
}

void add_workers(const broker_stats& stats, metrics_snapshot& snapshot) {
    for (std::size_t index = 0; index < stats.workers.size(); ++index) {
        snapshot.add("perch_worker_connected_clients",
                     "Clients connected on the worker (docs/DESIGN.md \"Connection placement\" "
                     "says which worker a connection runs on).",
                     metric_type::gauge,
                     static_cast<double>(stats.workers[index].connected_clients),
                     {{"worker", std::to_string(index)}});
    }
    for (std::size_t index = 0; index < stats.workers.size(); ++index) {
        const broker_stats::worker_figures& lag = stats.workers[index];
        snapshot.add("perch_worker_loop_lag_seconds",
                     "How late the worker's once-a-second timer fired last time: the time a "
                     "ready event waits behind the work queued before it.",
                     metric_type::gauge, static_cast<double>(lag.last_us) / 1e6,
                     {{"worker", std::to_string(index)}});
    }
    for (std::size_t index = 0; index < stats.workers.size(); ++index) {
        const broker_stats::worker_figures& lag = stats.workers[index];
        histogram_sample histogram;
        histogram.labels = {{"worker", std::to_string(index)}};
        for (const std::uint64_t bound_us : loop_lag_bounds_us) {
            histogram.upper_bounds.push_back(static_cast<double>(bound_us) / 1e6);
        }
        histogram.bucket_counts.assign(lag.buckets.begin(), lag.buckets.end());
        histogram.sum = static_cast<double>(lag.sum_us) / 1e6;
        histogram.count = lag.probes;
        snapshot.add_histogram("perch_worker_loop_lag_probe_seconds",
                               "Every loop-lag probe of each worker.", std::move(histogram));
    }
}

void add_session_queues(const broker_stats& stats, metrics_snapshot& snapshot) {
    snapshot.add("perch_session_queue_deepest_messages",
                 "Messages waiting in the deepest session queue, refreshed each second.",
                 metric_type::gauge, static_cast<double>(stats.session_queue_deepest));
    histogram_sample histogram;
    std::uint64_t sessions = 0;
    for (const std::uint64_t bound : session_queue_depth_bounds) {
        histogram.upper_bounds.push_back(static_cast<double>(bound));
    }
    for (const std::uint64_t count : stats.session_queue_depths) {
        sessions += count;
    }
    histogram.bucket_counts.assign(stats.session_queue_depths.begin(),
                                   stats.session_queue_depths.end());
    histogram.sum = static_cast<double>(stats.total(&worker_counters::session_queued_messages));
    histogram.count = sessions;
    snapshot.add_histogram("perch_session_queue_depth_messages",
                           "Sessions (connected or not) by the messages waiting in their queue, "
                           "refreshed each second.",
                           std::move(histogram));
}

void add_store(const store::store_counters& store, metrics_snapshot& snapshot) {
    snapshot.add("perch_store_commits_total", "Group commits written to the store.",
                 metric_type::counter, static_cast<double>(store.commits));
    snapshot.add("perch_store_committed_operations_total",
                 "Operations carried by those group commits.", metric_type::counter,
                 static_cast<double>(store.committed_operations));
    snapshot.add("perch_store_commit_failures_total",
                 "Group commits that failed (full disk, I/O error); each is retried.",
                 metric_type::counter, static_cast<double>(store.failed_commits));
    snapshot.add("perch_store_pending_operations",
                 "Operations submitted to the store and not yet committed.", metric_type::gauge,
                 static_cast<double>(store.pending_operations));
    snapshot.add("perch_store_refusing_writes",
                 "1 while the store's last commit failed: nothing new becomes durable.",
                 metric_type::gauge, store.is_refusing_writes ? 1 : 0);
    snapshot.add("perch_store_operations_lost_total",
                 "Operations abandoned at shutdown because their writes kept failing.",
                 metric_type::counter, static_cast<double>(store.operations_lost));
    snapshot.add("perch_store_expired_messages_total",
                 "Queued entries and retained messages deleted because they expired.",
                 metric_type::counter, static_cast<double>(store.expired_messages));
    snapshot.add("perch_refusals_total", "", metric_type::counter,
                 static_cast<double>(store.refused_for_quota), {{"reason", "store_queue_full"}});
    snapshot.add_histogram("perch_store_commit_seconds",
                           "How long each successful group commit took.",
                           to_histogram(store.commit_seconds));
    snapshot.add_histogram("perch_store_commit_operations",
                           "How many operations each successful group commit carried.",
                           to_histogram(store.commit_operations));
}

} // namespace

void add_push(const broker_stats::push_stats& push, metrics_snapshot& snapshot) {
    snapshot.add("perch_push_sent_total", "Web Push notifications the push services accepted.",
                 metric_type::counter, static_cast<double>(push.sent));
    snapshot.add("perch_push_failed_total",
                 "Web Push notifications given up after their tries or refused.",
                 metric_type::counter, static_cast<double>(push.failed));
    snapshot.add("perch_push_gone_total",
                 "Web Push subscriptions deleted because their push service answered 404 or 410.",
                 metric_type::counter, static_cast<double>(push.gone));
    snapshot.add("perch_push_dropped_total",
                 "Web Push notices dropped because the sender's queue was full.",
                 metric_type::counter, static_cast<double>(push.dropped));
    snapshot.add("perch_push_queued", "Web Push notices waiting for the sender.",
                 metric_type::gauge, static_cast<double>(push.queued));
    snapshot.add("perch_push_subscribed_users", "Users with at least one Web Push subscription.",
                 metric_type::gauge, static_cast<double>(push.subscribed_users));
}

metrics_snapshot make_metrics_snapshot(const broker_stats& stats) {
    metrics_snapshot snapshot;
    snapshot.add("perch_build_info", "The running version.", metric_type::gauge, 1,
                 {{"version", stats.version}});
    snapshot.add("perch_uptime_seconds", "Seconds since the broker started.", metric_type::gauge,
                 static_cast<double>(stats.uptime_seconds));
    add_table_counters(stats, snapshot);
    snapshot.add("perch_sessions", "Sessions, connected or not.", metric_type::gauge,
                 static_cast<double>(stats.clients_total));
    snapshot.add("perch_subscriptions", "Subscriptions held by every session.", metric_type::gauge,
                 static_cast<double>(stats.subscriptions));
    snapshot.add("perch_retained_messages", "Retained messages held.", metric_type::gauge,
                 static_cast<double>(stats.retained_messages));
    add_listeners(stats, snapshot);
    add_workers(stats, snapshot);
    add_session_queues(stats, snapshot);
    if (stats.store) {
        add_store(*stats.store, snapshot);
    }
    snapshot.add("perch_http_requests_total", "Requests the http listener answered.",
                 metric_type::counter, static_cast<double>(stats.http_requests));
    snapshot.add("perch_http_bad_requests_total",
                 "Requests the http listener refused as malformed or too large (400, 413, 431).",
                 metric_type::counter, static_cast<double>(stats.http_bad_requests));
    snapshot.add("perch_http_connections_refused_total",
                 "Connections the http listener closed at once because its limit was reached.",
                 metric_type::counter, static_cast<double>(stats.http_connections_refused));
    for (const auto& [name, value] : stats.file_counts) {
        if (name.starts_with("refused/")) {
            snapshot.add("perch_file_refusals_total",
                         "File API requests refused, by reason (docs/CHAT.md \"Files\").",
                         metric_type::counter, static_cast<double>(value),
                         {{"reason", name.substr(std::string_view("refused/").size())}});
        } else {
            snapshot.add("perch_file_" + name + "_total",
                         "File API counter (docs/CHAT.md \"Files\"): uploads, downloads, deletes "
                         "by owners, files swept as unreferenced.",
                         metric_type::counter, static_cast<double>(value));
        }
    }
    if (!stats.file_counts.empty()) {
        snapshot.add("perch_file_stored_bytes", "Bytes of the files stored now.",
                     metric_type::gauge, static_cast<double>(stats.file_stored_bytes));
    }
    if (stats.push) {
        add_push(*stats.push, snapshot);
    }
    for (const auto& [name, value] : stats.assistant_counts) {
        std::string metric = "perch_assistant_" + name + "_total";
        for (char& letter : metric) {
            letter = letter == '/' ? '_' : letter;
        }
        snapshot.add(metric, "Assistant bot counter (docs/ASSISTANT.md).", metric_type::counter,
                     static_cast<double>(value));
    }
    for (const broker_stats::bridge_stats& bridge : stats.bridges) {
        const std::vector<std::pair<std::string, std::string>> labels = {{"bridge", bridge.name}};
        snapshot.add("perch_bridge_connected", "1 while the bridge is connected upstream, else 0.",
                     metric_type::gauge, bridge.is_connected ? 1.0 : 0.0, labels);
        snapshot.add("perch_bridge_messages_in_total",
                     "Messages the bridge brought in from its upstream broker.",
                     metric_type::counter, static_cast<double>(bridge.messages_in), labels);
        snapshot.add("perch_bridge_messages_out_total",
                     "Messages the bridge sent to its upstream broker (acknowledged at QoS 1/2).",
                     metric_type::counter, static_cast<double>(bridge.messages_out), labels);
        snapshot.add("perch_bridge_reconnects_total",
                     "Connections to the upstream broker after the first one.",
                     metric_type::counter, static_cast<double>(bridge.reconnects), labels);
    }
    return snapshot;
}

} // namespace perch::gateway
