// The table of per-worker counters as they are published: each counter of worker_counters that
// /metrics and $SYS show, with its metric name, label, $SYS topic and meaning. Adding a counter to
// both is one line here (after adding the member to worker_counters.hpp).
#pragma once

#include <array>
#include <string_view>

#include "gateway/broker/worker_counters.hpp"
#include "gateway/observability/metrics_exposition.hpp"

namespace perch::gateway {

/// How one per-worker counter is published. Counters sharing a metric name differ by their label
/// and share the first one's help text.
struct counter_description {
    counter worker_counters::*member;
    /// counter (its name ends in _total) or gauge.
    metric_type type;
    std::string_view metric_name;
    /// One label (name, value), or empty names for none.
    std::string_view label_name;
    std::string_view label_value;
    /// The $SYS topic it is published under; empty when a topic of sys_topic_values already
    /// carries it.
    std::string_view sys_topic;
    std::string_view help;
};

// clang-format off
/// Every per-worker counter that is published, summed over the workers when read.
inline constexpr auto worker_counter_table = std::to_array<counter_description>({
    {&worker_counters::connected_clients, metric_type::gauge, "perch_clients_connected", "", "", "", "Network connections whose CONNECT was accepted."},
    {&worker_counters::packets_sent, metric_type::counter, "perch_packets_sent_total", "", "", "$SYS/broker/packets/sent", "MQTT control packets sent, every type."},
    {&worker_counters::publish_received_qos0, metric_type::counter, "perch_messages_received_total", "qos", "0", "$SYS/broker/publish/messages/received/qos0", "PUBLISH packets received from clients, by QoS."},
    {&worker_counters::publish_received_qos1, metric_type::counter, "perch_messages_received_total", "qos", "1", "$SYS/broker/publish/messages/received/qos1", ""},
    {&worker_counters::publish_received_qos2, metric_type::counter, "perch_messages_received_total", "qos", "2", "$SYS/broker/publish/messages/received/qos2", ""},
    {&worker_counters::publish_sent_qos0, metric_type::counter, "perch_messages_sent_total", "qos", "0", "$SYS/broker/publish/messages/sent/qos0", "PUBLISH packets sent to clients, by the QoS of the delivery."},
    {&worker_counters::publish_sent_qos1, metric_type::counter, "perch_messages_sent_total", "qos", "1", "$SYS/broker/publish/messages/sent/qos1", ""},
    {&worker_counters::publish_sent_qos2, metric_type::counter, "perch_messages_sent_total", "qos", "2", "$SYS/broker/publish/messages/sent/qos2", ""},
    {&worker_counters::payload_bytes_received_qos0, metric_type::counter, "perch_payload_bytes_received_total", "qos", "0", "$SYS/broker/publish/bytes/received/qos0", "Payload bytes of the PUBLISH packets received, by QoS."},
    {&worker_counters::payload_bytes_received_qos1, metric_type::counter, "perch_payload_bytes_received_total", "qos", "1", "$SYS/broker/publish/bytes/received/qos1", ""},
    {&worker_counters::payload_bytes_received_qos2, metric_type::counter, "perch_payload_bytes_received_total", "qos", "2", "$SYS/broker/publish/bytes/received/qos2", ""},
    {&worker_counters::payload_bytes_sent_qos0, metric_type::counter, "perch_payload_bytes_sent_total", "qos", "0", "$SYS/broker/publish/bytes/sent/qos0", "Payload bytes of the PUBLISH packets sent, by QoS."},
    {&worker_counters::payload_bytes_sent_qos1, metric_type::counter, "perch_payload_bytes_sent_total", "qos", "1", "$SYS/broker/publish/bytes/sent/qos1", ""},
    {&worker_counters::payload_bytes_sent_qos2, metric_type::counter, "perch_payload_bytes_sent_total", "qos", "2", "$SYS/broker/publish/bytes/sent/qos2", ""},
    {&worker_counters::bytes_received, metric_type::counter, "perch_network_bytes_received_total", "", "", "", "Bytes read from client connections (after TLS, before WebSocket framing is removed)."},
    {&worker_counters::bytes_sent, metric_type::counter, "perch_network_bytes_sent_total", "", "", "", "Bytes written to client connections."},
    {&worker_counters::publish_dropped, metric_type::counter, "perch_messages_dropped_total", "reason", "qos0_output_full", "", "Deliveries dropped, by reason: qos0_output_full is a QoS 0 delivery to a connection whose output was over max_output_bytes."},
    {&worker_counters::access_refusals, metric_type::counter, "perch_refusals_total", "reason", "not_authorized", "", "Refusals by reason: not_authorized (publish, subscribe, will or login refused by the access rules), quota_exceeded (consumer disconnected with 0x97 for falling behind), max_connections (connection closed at accept), protocol_violation (connection closed for breaking the protocol), banned (CONNECT refused by a ban), login_backoff (CONNECT refused while its user name or address backs off after failed logins), message_rate and byte_rate (PUBLISH refused over max_publish_rate or max_publish_bytes_rate), connection_rate (connection refused over max_connection_rate), subscription_quota (SUBSCRIBE entry refused over max_subscriptions_per_client), subscribe_rate (SUBSCRIBE entry refused over max_subscribe_rate), store_write_failed (PUBLISH, SUBSCRIBE or UNSUBSCRIBE left unacknowledged because its store write failed)."},
    {&worker_counters::quota_disconnects, metric_type::counter, "perch_refusals_total", "reason", "quota_exceeded", "$SYS/broker/clients/quota_disconnects", ""},
    {&worker_counters::connections_refused, metric_type::counter, "perch_refusals_total", "reason", "max_connections", "$SYS/broker/connections/refused", ""},
    {&worker_counters::protocol_violations, metric_type::counter, "perch_refusals_total", "reason", "protocol_violation", "$SYS/broker/clients/protocol_violations", ""},
    {&worker_counters::queued_output_bytes, metric_type::gauge, "perch_output_queued_bytes", "", "", "$SYS/broker/output/queued_bytes", "Bytes encoded for clients and not yet written."},
    {&worker_counters::tls_handshakes_full, metric_type::counter, "perch_tls_handshakes_total", "kind", "full", "$SYS/broker/tls/handshakes/full", "TLS handshakes by outcome: full (new session), resumed (session ticket or id), failed."},
    {&worker_counters::tls_handshakes_resumed, metric_type::counter, "perch_tls_handshakes_total", "kind", "resumed", "$SYS/broker/tls/handshakes/resumed", ""},
    {&worker_counters::tls_handshakes_failed, metric_type::counter, "perch_tls_handshakes_total", "kind", "failed", "$SYS/broker/tls/handshakes/failed", ""},
    // Bans and failed logins: their $SYS topics (bans/..., logins/...) come with broker_stats.
    {&worker_counters::banned_connects, metric_type::counter, "perch_refusals_total", "reason", "banned", "", ""},
    {&worker_counters::login_backoff_refusals, metric_type::counter, "perch_refusals_total", "reason", "login_backoff", "", ""},
    {&worker_counters::banned_disconnects, metric_type::counter, "perch_banned_disconnects_total", "", "", "", "Live connections closed because a ban added while they ran matched them."},
    {&worker_counters::login_failures, metric_type::counter, "perch_login_failures_total", "", "", "", "Password checks that failed (unknown user or wrong password)."},
    // Quotas (docs/LIMITS.md): their $SYS topics (quota/...) come with broker_stats.
    {&worker_counters::message_rate_refusals, metric_type::counter, "perch_refusals_total", "reason", "message_rate", "", ""},
    {&worker_counters::byte_rate_refusals, metric_type::counter, "perch_refusals_total", "reason", "byte_rate", "", ""},
    {&worker_counters::connection_rate_refusals, metric_type::counter, "perch_refusals_total", "reason", "connection_rate", "", ""},
    {&worker_counters::subscription_quota_refusals, metric_type::counter, "perch_refusals_total", "reason", "subscription_quota", "", ""},
    {&worker_counters::rate_disconnects, metric_type::counter, "perch_rate_disconnects_total", "", "", "", "Clients disconnected (0x96) for publishing far past their rate."},
    // Subscription storms (docs/LIMITS.md "Subscribe rate").
    {&worker_counters::subscribe_rate_refusals, metric_type::counter, "perch_refusals_total", "reason", "subscribe_rate", "$SYS/broker/quota/refusals/subscribe_rate", ""},
    // Session queue depths: the deepest and the histogram come with broker_stats.
    {&worker_counters::session_queued_messages, metric_type::gauge, "perch_session_queued_messages", "", "", "$SYS/broker/sessions/queued/messages", "Messages waiting in session queues (not yet sent), refreshed each second."},
    {&worker_counters::session_queued_bytes, metric_type::gauge, "perch_session_queued_bytes", "", "", "$SYS/broker/sessions/queued/bytes", "Payload and topic bytes of the messages waiting in session queues, refreshed each second."},
    {&worker_counters::subscribe_storm_disconnects, metric_type::counter, "perch_subscribe_storm_disconnects_total", "", "", "$SYS/broker/quota/disconnects/subscribe_storm", "Clients disconnected (0x97) for subscribing far past max_subscribe_rate or max_subscriptions_per_client."},
    // Files in chat (docs/CHAT.md "Files").
    {&worker_counters::file_reference_refusals, metric_type::counter, "perch_refusals_total", "reason", "file_reference", "", ""},
    {&worker_counters::message_id_refusals, metric_type::counter, "perch_refusals_total", "reason", "message_id", "", ""},
    // Writes that failed (full disk, max_database_bytes, I/O error): docs/DURABILITY.md.
    {&worker_counters::store_write_refusals, metric_type::counter, "perch_refusals_total", "reason", "store_write_failed", "", ""},
    // Chat across gateways (docs/BRIDGES.md "Chat across gateways").
    {&worker_counters::chat_relay_drops, metric_type::counter, "perch_chat_relay_dropped_total", "", "", "$SYS/broker/chat/relay/dropped", "Relay copies from other gateways dropped (bad HMAC, own origin, a sender who may not post)."},
    {&worker_counters::chat_relay_messages_in, metric_type::counter, "perch_chat_relay_messages_in_total", "", "", "$SYS/broker/chat/relay/messages/in", "Room and direct messages stamped by other gateways and routed here."},
});
// clang-format on

} // namespace perch::gateway
