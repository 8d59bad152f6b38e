// Statistics one worker keeps about its own connections. Only the owning worker thread writes a
// counter; any thread may read it (for $SYS and metrics), so each is a relaxed atomic that the
// owner bumps with a plain load and store: no locked instruction on the hot path.
#pragma once

#include <array>
#include <cstdint>
#include <tuple>

#include "gateway/common/counter.hpp"

namespace perch::gateway {

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

    /// Metrics (docs/OPERATIONS.md "Metrics"). PUBLISH packets and their payload bytes received
    /// from clients and sent to them, by the packet's QoS (select with by_qos).
    counter publish_received_qos0;
    counter publish_received_qos1;
    counter publish_received_qos2;
    counter publish_sent_qos0;
    counter publish_sent_qos1;
    counter publish_sent_qos2;
    counter payload_bytes_received_qos0;
    counter payload_bytes_received_qos1;
    counter payload_bytes_received_qos2;
    counter payload_bytes_sent_qos0;
    counter payload_bytes_sent_qos1;
    counter payload_bytes_sent_qos2;
    /// TLS handshakes completed on this worker: new sessions, resumed ones, and failures.
    counter tls_handshakes_full;
    counter tls_handshakes_resumed;
    counter tls_handshakes_failed;
    /// How late the worker's loop-lag probe fired last time (a gauge), and every probe in
    /// loop_lag_bounds_us buckets (one count per bucket, the last for later than every bound).
    counter loop_lag_us;
    std::array<counter, 9> loop_lag_buckets;
    counter loop_lag_sum_us;
    counter loop_lag_probes;

    // Bans and failed-login backoff (docs/ACCESS.md "Bans", "Failed logins").
    /// CONNECTs refused because a ban matched (CONNACK 0x8A / 0x05).
    counter banned_connects;
    /// Live connections closed because a ban added while they ran matched them.
    counter banned_disconnects;
    /// Password checks that failed (unknown user or wrong password).
    counter login_failures;
    /// CONNECTs refused without a password check while their user name or address backed off.
    counter login_backoff_refusals;
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
    // Subscription storms (docs/LIMITS.md "Subscribe rate").
    /// SUBSCRIBE entries refused for max_subscribe_rate.
    counter subscribe_rate_refusals;
    /// Clients disconnected (0x97) for subscribing far past their rate or quota.
    counter subscribe_storm_disconnects;
    // Session queue depths (docs/OPERATIONS.md "Metrics"): gauges the worker recomputes from its
    // own sessions once a second (refresh_queue_depths), so that nothing on the delivery path
    // keeps them and a scrape reads them without a lock.
    /// Messages waiting in this worker's session queues (not yet sent), and their payload and
    /// topic bytes.
    counter session_queued_messages;
    counter session_queued_bytes;
    /// The deepest queue among this worker's sessions (the broker's is the maximum over workers).
    counter session_queue_deepest;
    /// Sessions by queue depth, one count per bucket of session_queue_depth_bounds (+Inf last).
    std::array<counter, 7> session_queue_depth_buckets;

    // Files in chat (docs/CHAT.md "Files").
    /// Chat messages refused for their "files": malformed, or naming a file not the sender's.
    counter file_reference_refusals;
    /// Chat messages refused because no id could be allocated for them (the shared database of
    /// chat_store postgresql was away): nothing routed, nothing acknowledged.
    counter message_id_refusals;
    /// Packets left unacknowledged because their store write failed: a QoS 1/2 PUBLISH (queue
    /// rows, retained message, inbound QoS 2 record, chat history row; PUBACK/PUBREC 0x80, closed
    /// at 3.1.1), a persistent session's SUBSCRIBE or UNSUBSCRIBE (closed).
    counter store_write_refusals;

    // Chat across gateways (docs/BRIDGES.md).
    /// Relay copies dropped: a bad HMAC, this gateway's own origin, a sender who may not post.
    counter chat_relay_drops;
    /// Relay copies from other origins routed here.
    counter chat_relay_messages_in;
};

/// The counter of `qos` (0, 1 or 2; anything else counts as 2) among three.
inline counter& by_qos(unsigned qos, counter& qos0, counter& qos1, counter& qos2) {
    return qos == 0 ? qos0 : (qos == 1 ? qos1 : qos2);
}

/// The upper bounds of worker_counters::session_queue_depth_buckets, in messages (+Inf after).
inline constexpr std::array<std::uint64_t, 6> session_queue_depth_bounds{0,   1,    10,
                                                                         100, 1000, 10'000};

static_assert(std::tuple_size_v<decltype(worker_counters::session_queue_depth_buckets)> ==
              session_queue_depth_bounds.size() + 1);

/// The upper bounds of worker_counters::loop_lag_buckets, in microseconds.
inline constexpr std::array<std::uint64_t, 8> loop_lag_bounds_us{
    1'000, 5'000, 10'000, 25'000, 50'000, 100'000, 250'000, 1'000'000};

} // namespace perch::gateway
