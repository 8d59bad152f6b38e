// Statistics one worker keeps about its own connections. Only the owning worker thread writes a
// counter; any thread may read it (for $SYS and metrics), so each is a relaxed atomic that the
// owner bumps with a plain load and store: no locked instruction on the hot path.
#pragma once

#include <atomic>
#include <cstdint>

namespace perch::gateway {

/// A count written by one thread and read by any.
class counter {
public:
    /// Adds `amount`. Only the owning thread may call this.
    void add(std::uint64_t amount = 1) {
        value_.store(value_.load(std::memory_order_relaxed) + amount, std::memory_order_relaxed);
    }
    /// Subtracts `amount` (for gauges). Only the owning thread may call this.
    void subtract(std::uint64_t amount = 1) {
        value_.store(value_.load(std::memory_order_relaxed) - amount, std::memory_order_relaxed);
    }
    /// The current value, from any thread.
    std::uint64_t value() const { return value_.load(std::memory_order_relaxed); }

private:
    std::atomic<std::uint64_t> value_{0};
};

/// Everything one worker counts. Gauges (connected_clients, queued_output_bytes) may be
/// decremented; the rest only grow. Summed across workers on demand.
struct worker_counters {
    /// Network connections with an accepted CONNECT.
    counter connected_clients;
    /// Control packets sent, every type.
    counter packets_sent;
    /// PUBLISH packets received from clients and sent to clients.
    counter publish_received;
    counter publish_sent;
    /// QoS 0 deliveries dropped because a connection's output was over its limit.
    counter publish_dropped;
    /// Consumers disconnected with Quota exceeded (0x97) for falling too far behind.
    counter quota_disconnects;
    /// Publishes, subscriptions and wills refused by the access policy.
    counter access_refusals;
    /// Connections refused because max_connections was reached.
    counter connections_refused;
    /// Connections closed because the client broke the protocol.
    counter protocol_violations;
    counter bytes_received;
    counter bytes_sent;
    /// Bytes encoded and waiting to be written, over all of this worker's connections.
    counter queued_output_bytes;
    /// Assistant bot (docs/ASSISTANT.md, worker 0 only): model calls started and answered.
    counter assistant_requests;
    counter assistant_answers;
    /// Assistant calls that failed, by kind (assistant::failure_kind).
    counter assistant_unreachable;
    counter assistant_timeouts;
    counter assistant_upstream_rate_limited;
    counter assistant_server_errors;
    counter assistant_bad_answers;
    counter assistant_incomplete_answers;
    counter assistant_too_large;
    /// Assistant requests refused before a call: rate limit used up, too many in flight.
    counter assistant_rate_limited;
    counter assistant_busy;
    // Quotas (docs/LIMITS.md).
    /// PUBLISH packets refused for max_publish_rate, and for max_publish_bytes_rate.
    counter message_rate_refusals;
    counter byte_rate_refusals;
    /// Clients disconnected for publishing far past their rate.
    counter rate_disconnects;
    /// Connections refused (and closed unread, counted here too) for max_connection_rate.
    counter connection_rate_refusals;
    /// SUBSCRIBE entries refused for max_subscriptions_per_client.
    counter subscription_quota_refusals;
};

} // namespace perch::gateway
