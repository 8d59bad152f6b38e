// What the running broker reports: the figures of $SYS topics and metrics, and its health.
#include <algorithm>

#include "gateway/broker/broker_metrics.hpp"
#include "gateway/broker/server.hpp"
#include "gateway/chat/access_policy.hpp"
#include "gateway/common/gateway_name.hpp"
#include "gateway/common/private_data_dir.hpp"
#include "gateway/common/stored_message_codec.hpp"
#include "gateway/push/push_sender.hpp"
#include "gateway/stream/tls_stream.hpp"
#include "gateway/stream/websocket_stream.hpp"

namespace perch::gateway {

broker_stats server::collect_stats() const {
    broker_stats stats;
    stats.version = PERCH_VERSION;
    stats.uptime_seconds =
        static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::seconds>(
                                       std::chrono::steady_clock::now() - started_at_)
                                       .count());
    for (const auto& owned : workers_) {
        const worker_counters& counts = owned->counters();
        stats.clients_connected += counts.connected_clients.value();
        stats.publish_received += counts.publish_received.value();
        stats.publish_sent += counts.publish_sent.value();
        stats.publish_dropped += counts.publish_dropped.value();
        stats.access_refusals += counts.access_refusals.value();
        stats.packets_sent += counts.packets_sent.value();
        stats.bytes_received += counts.bytes_received.value();
        stats.bytes_sent += counts.bytes_sent.value();
        stats.banned_connects += counts.banned_connects.value();
        stats.banned_disconnects += counts.banned_disconnects.value();
        stats.login_failures += counts.login_failures.value();
        stats.login_backoff_refusals += counts.login_backoff_refusals.value();
        stats.message_rate_refusals += counts.message_rate_refusals.value();
        stats.byte_rate_refusals += counts.byte_rate_refusals.value();
        stats.rate_disconnects += counts.rate_disconnects.value();
        stats.connection_rate_refusals += counts.connection_rate_refusals.value();
        stats.subscription_quota_refusals += counts.subscription_quota_refusals.value();
    }
    if (service_) {
        service_->add_stats(stats);
    }
    stats.clients_total = registry_.size();
    stats.subscriptions = router_.subscription_count();
    stats.retained_messages = router_.retained_count();
    add_metrics_stats(stats);
    return stats;
}

void server::add_metrics_stats(broker_stats& stats) const {
    for (const auto& owned : workers_) {
        const worker_counters& counts = owned->counters();
        for (std::size_t index = 0; index < worker_counter_table.size(); ++index) {
            stats.worker_totals[index] += (counts.*worker_counter_table[index].member).value();
        }
        broker_stats::worker_figures lag;
        lag.connected_clients = counts.connected_clients.value();
        lag.last_us = counts.loop_lag_us.value();
        for (std::size_t bucket = 0; bucket < lag.buckets.size(); ++bucket) {
            lag.buckets[bucket] = counts.loop_lag_buckets[bucket].value();
        }
        lag.sum_us = counts.loop_lag_sum_us.value();
        lag.probes = counts.loop_lag_probes.value();
        stats.workers.push_back(lag);
        stats.session_queue_deepest =
            std::max(stats.session_queue_deepest, counts.session_queue_deepest.value());
        for (std::size_t bucket = 0; bucket < stats.session_queue_depths.size(); ++bucket) {
            stats.session_queue_depths[bucket] +=
                counts.session_queue_depth_buckets[bucket].value();
        }
    }
    // Every listener has a socket on worker 0 (the http ones only there): sum each over workers.
    for (const auto& per_worker : listeners_) {
        for (const auto& owned : per_worker) {
            const listener_config& config = owned->config();
            auto found = std::ranges::find_if(stats.listeners, [&](const auto& held) {
                return held.port == owned->port() && held.bind_address == config.bind_address &&
                       held.kind == to_string(config.kind);
            });
            if (found == stats.listeners.end()) {
                stats.listeners.push_back(
                    {std::string(to_string(config.kind)), config.bind_address, owned->port(), 0});
                found = std::prev(stats.listeners.end());
            }
            found->accepted += owned->accepted().value();
        }
    }
    if (persistence_) {
        stats.store = persistence_->store().counters();
    }
    if (http_server_) {
        stats.http_requests = http_server_->counts().requests.value();
        stats.http_bad_requests = http_server_->counts().bad_requests.value();
        stats.http_connections_refused = http_server_->counts().connections_refused.value();
    }
    if (const file_service* files = file_api_.load(std::memory_order_acquire)) {
        const file_counts& counts = files->counts();
        stats.file_counts = {
            {"uploads", counts.uploads.value()},
            {"downloads", counts.downloads.value()},
            {"deletes", counts.deletes.value()},
            {"swept", counts.swept.value()},
            {"refused/unauthorized", counts.refused_unauthorized.value()},
            {"refused/not_found", counts.refused_not_found.value()},
            {"refused/too_large", counts.refused_too_large.value()},
            {"refused/quota", counts.refused_quota.value()},
            {"refused/bad_request", counts.refused_bad_request.value()},
        };
        stats.file_stored_bytes = counts.stored_bytes.load(std::memory_order_relaxed);
    }
    if (push_sender_) {
        const push::push_counters& counts = push_sender_->counters();
        stats.push = broker_stats::push_stats{counts.sent.load(std::memory_order_relaxed),
                                              counts.failed.load(std::memory_order_relaxed),
                                              counts.gone.load(std::memory_order_relaxed),
                                              counts.dropped.load(std::memory_order_relaxed),
                                              push_sender_->queued(),
                                              chat_ ? chat_->push_subscribers().user_count() : 0};
    }
}

health_answer server::health() const {
    if (!is_serving_.load()) {
        return {false, "the broker is not serving (starting or stopping)"};
    }
    if (persistence_) {
        const store::store_counters store = persistence_->store().counters();
        if (store.is_refusing_writes) {
            return {false, "the store refuses writes: " + store.write_failure};
        }
    }
    return {true, {}};
}

} // namespace perch::gateway
