// The admin API's overview figures (docs/ADMIN.md), taken from the same counters as the metrics.
#include "gateway/broker/server.hpp"

namespace perch::gateway {

admin_figures server::admin_overview_figures() const {
    const broker_stats stats = collect_stats();
    admin_figures figures;
    figures.uptime_seconds = stats.uptime_seconds;
    figures.connections = stats.clients_connected;
    figures.sessions = stats.clients_total;
    figures.messages_received = stats.publish_received;
    figures.messages_sent = stats.publish_sent;
    figures.queued_messages = stats.total(&worker_counters::session_queued_messages);
    figures.queued_bytes = stats.total(&worker_counters::session_queued_bytes);
    figures.output_queue_bytes = stats.total(&worker_counters::queued_output_bytes);
    const health_answer answer = health();
    figures.is_store_healthy = answer.is_healthy;
    figures.store_problem = answer.reason;
    if (stats.store) {
        figures.store_pending_operations = stats.store->pending_operations;
    }
    return figures;
}

} // namespace perch::gateway
