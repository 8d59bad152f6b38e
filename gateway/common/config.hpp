// The broker's configuration: its values, their defaults, and the parser for the mosquitto-style
// config file ("key value" lines, '#' comments). Knows nothing about sockets or threads.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/common/log.hpp"
#include "gateway/common/password_iterations.hpp"
#include "gateway/common/token_bucket.hpp"

namespace perch::gateway {

class topic_acl;

/// What a listener speaks. `http` serves /metrics and /healthz (gateway/observability), no MQTT.
enum class listener_kind : std::uint8_t {
    mqtt,          ///< MQTT over TCP, default port 1883.
    mqtt_tls,      ///< MQTT over TLS, default port 8883.
    websocket,     ///< MQTT over WebSocket, default port 8083.
    websocket_tls, ///< MQTT over WebSocket over TLS, default port 8084.
    http,          ///< Metrics and health over HTTP.
};

/// The config-file word for `kind` ("mqtt", "mqtt_tls", "websocket", "websocket_tls", "http").
std::string_view to_string(listener_kind kind);

/// One socket to listen on.
struct listener_config {
    listener_kind kind = listener_kind::mqtt;
    std::uint16_t port = 1883;
    /// Address to bind; empty means every interface (IPv6 and IPv4 where the host allows).
    std::string bind_address;
    /// TLS kinds: the server certificate chain (PEM). Empty: a self-signed ECDSA P-256 certificate
    /// generated on first start into data_dir (docs/TLS.md).
    std::string certfile;
    /// TLS kinds: the private key of certfile (PEM).
    std::string keyfile;
    /// TLS kinds: the CA certificates (PEM) that client certificates are checked against.
    std::string cafile;
    /// TLS kinds: refuse a client that does not present a certificate signed by cafile.
    bool require_certificate = false;
    /// TLS kinds: the common name of the client certificate becomes the MQTT user name.
    bool use_identity_as_username = false;
    /// WebSocket kinds: the HTTP path clients upgrade on.
    std::string websocket_path = "/mqtt";
    /// WebSocket kinds: the permessage-deflate history kept per client, 2^bits bytes (9 to 15),
    /// or 0 for none (client_no_context_takeover); websocket_settings::deflate_client_window_bits.
    unsigned websocket_deflate_window_bits = 9;
    bool operator==(const listener_config&) const = default;
};

/// The listeners of a configuration that names none: mqtt 1883, mqtt_tls 8883, websocket 8083,
/// websocket_tls 8084, on the loopback interface only (127.0.0.1), as Mosquitto 2 does: serving
/// a network takes `listener` lines.
std::vector<listener_config> default_listeners();

/// True when `listener` accepts connections from this machine only: bound to 127.0.0.0/8, ::1
/// or `localhost`.
bool is_loopback_only(const listener_config& listener);

/// True for the kinds that speak TLS (mqtt_tls, websocket_tls).
bool is_tls(listener_kind kind);

/// True for the kinds that speak WebSocket (websocket, websocket_tls).
bool is_websocket(listener_kind kind);

/// How hard the store works to keep acknowledged messages (DESIGN.md "Durability contract").
enum class durability_mode : std::uint8_t {
    full,    ///< fsync per group commit.
    batched, ///< WAL without fsync: survives a process crash, not a power cut.
    none,    ///< memory only.
};

/// Where the chat directory and history live (docs/POSTGRESQL.md).
enum class chat_store_kind : std::uint8_t {
    sqlite,     ///< data_dir's perch.db, beside sessions and queues (one gateway).
    postgresql, ///< a PostgreSQL database that several gateways share.
};

/// The assistant bot user (docs/ASSISTANT.md): a chat user that answers through an
/// OpenAI-compatible chat completions endpoint. Off while `endpoint` is empty. The API key itself
/// is never part of the configuration, only where to read it.
struct assistant_config {
    /// Base URL of the endpoint (http:// or https://, e.g. `http://192.168.1.50:8080/v1`).
    std::string endpoint;
    /// The `model` field of each request.
    std::string model;
    /// Name of the environment variable holding the API key; empty: none.
    std::string api_key_env;
    /// File holding the API key (one trailing newline stripped); empty: none. Wins over the
    /// environment variable when both are set.
    std::string api_key_file;
    /// The bot's chat user name.
    std::string user = "assistant";
    /// The system prompt sent first in every request.
    std::string system_prompt = "You are a helpful assistant in a group chat. Answer briefly.";
    /// Rooms the bot is a member of (existing rooms only).
    std::vector<std::string> rooms;
    /// Recent messages of the conversation sent as context, the triggering one included.
    std::uint32_t context_messages = 10;
    /// The longest one request may take, from connecting to the last byte.
    std::uint32_t timeout_ms = 60'000;
    /// Upper bound on the answer's tokens; 0: not sent (the server's default).
    std::uint32_t max_tokens = 0;
    /// Ask for a streamed answer and send typing signals while it arrives.
    bool is_streamed = false;
    /// The least time between two typing signals of one answer.
    std::uint32_t typing_interval_ms = 2000;
    /// Requests per minute one user may make, and the burst above that rate; 0: no limit.
    std::uint32_t user_rate_per_minute = 6;
    std::uint32_t user_rate_burst = 3;
    /// Requests per minute all users together may make, and the burst; 0: no limit.
    std::uint32_t global_rate_per_minute = 60;
    std::uint32_t global_rate_burst = 10;
    /// Requests in flight at once; more are answered with a busy reply.
    std::uint32_t max_concurrent = 4;
    /// PEM file of the certificate authorities trusted for an https endpoint; empty: the
    /// system's bundle.
    std::string cafile;
    bool operator==(const assistant_config&) const = default;
};

/// What one client may do (docs/LIMITS.md): the global values, or a user's after its
/// `user_quota` lines. A rate of 0 means no limit.
struct client_quota {
    /// PUBLISH packets per second and the burst above that rate. A chat user on a phone sends a
    /// few per second at most; the default only stops a flood.
    std::uint64_t max_publish_rate = 1000;
    std::uint64_t max_publish_burst = 10'000;
    /// PUBLISH bytes (topic name and payload) per second, and the burst above that rate.
    std::uint64_t max_publish_bytes_rate = 16ULL * 1024 * 1024;
    std::uint64_t max_publish_bytes_burst = 64ULL * 1024 * 1024;
    /// Subscriptions one session may hold beyond those the chat layer holds for it; 0: no limit.
    std::uint64_t max_subscriptions_per_client = 1000;
    /// New subscriptions per second (filters a session did not hold) and the burst above that
    /// rate. The burst covers what a device or a chat client subscribes to when it connects (a
    /// few dozen filters); the rate stops a client that subscribes, leaves and comes back without
    /// end (docs/LIMITS.md "Subscribe rate" says why 100 rather than 1000).
    std::uint64_t max_subscribe_rate = 100;
    std::uint64_t max_subscribe_burst = 100;

    rate_limit message_limit() const { return {max_publish_rate, max_publish_burst}; }
    rate_limit subscribe_limit() const { return {max_subscribe_rate, max_subscribe_burst}; }
    rate_limit byte_limit() const { return {max_publish_bytes_rate, max_publish_bytes_burst}; }
    /// True when no quota applies (every rate and the subscription limit 0).
    bool is_unlimited() const {
        return max_publish_rate == 0 && max_publish_bytes_rate == 0 &&
               max_subscriptions_per_client == 0 && max_subscribe_rate == 0;
    }
    bool operator==(const client_quota&) const = default;
};

/// One `user_quota NAME KEY VALUE` line: `key` (a client_quota key) is `value` for `user`.
struct user_quota_setting {
    std::string user;
    std::string key;
    std::uint64_t value = 0;
    bool operator==(const user_quota_setting&) const = default;
};

/// Every setting of the broker. Defaults are what `perch` runs with when no file is given.
struct broker_config {
    /// Listeners in file order. When the file names none: MQTT on 1883, MQTT over TLS on 8883,
    /// MQTT over WebSocket on 8083 and WebSocket over TLS on 8084, on loopback only
    /// (default_listeners()).
    std::vector<listener_config> listeners = default_listeners();
    /// Worker threads; 0 means one per core.
    unsigned workers = 0;
    /// Connections open at once across all listeners; 0 means no limit.
    std::uint32_t max_connections = 0;
    /// Largest packet accepted from a client, fixed header included; 0 means the protocol maximum.
    /// 1 MiB holds any chat message (docs/CHAT.md) with room to spare, as EMQX's default does.
    std::uint32_t max_packet_size = 1024 * 1024;
    /// Largest first packet (the CONNECT) accepted before a client has logged in, fixed header
    /// included; refused from its fixed header on, before the rest is read.
    std::uint32_t max_connect_packet_size = 16 * 1024;
    /// The server's Receive Maximum: QoS 1/2 publishes a client may have unacknowledged.
    std::uint16_t receive_maximum = 1024;
    /// Outbound QoS 1/2 messages in flight per client, below the client's own Receive Maximum
    /// (the only window a 3.1.1 client has); the rest wait in the session's queue. 0 means only
    /// the client's limit applies (65,535 for a 3.1.1 client).
    std::uint16_t max_inflight_messages = 1024;
    /// Messages queued per client beyond its in-flight window; 0 means no limit.
    std::uint32_t max_queued_messages = 1000;
    /// Bytes of payload queued per client beyond its in-flight window; 0 means no limit.
    std::uint64_t max_queued_bytes = 0;
    /// Bytes encoded but not yet written per connection before QoS 0 deliveries are dropped and a
    /// non-persistent consumer of QoS 1/2 is disconnected with Quota exceeded.
    std::uint64_t max_output_bytes = 8 * 1024 * 1024;
    /// Topic aliases the server accepts from a client (5.0); 0 disables them.
    std::uint16_t topic_alias_maximum = 64;
    /// Topic aliases the server assigns to topics it sends to a 5.0 client, below the client's own
    /// Topic Alias Maximum; 0 sends every topic name in full. Each mapped alias costs about 40
    /// bytes plus the topic name per connection, and a lookup scans the table, hence the small
    /// default and the bound (docs/DECISIONS.md "Outbound topic aliases").
    std::uint16_t outbound_topic_alias_maximum = 16;
    /// Highest accepted outbound_topic_alias_maximum.
    static constexpr std::uint16_t outbound_topic_alias_limit = 256;
    /// When not 0, the keep alive every 5.0 client is told to use (CONNACK Server Keep Alive),
    /// replacing its own; 0 lets each client keep its own value.
    std::uint16_t server_keep_alive_seconds = 0;
    /// Highest QoS the server grants and accepts.
    std::uint8_t max_qos = 2;
    bool retain_available = true;
    /// Whether clients without a user name may connect. Unset: yes on a loopback-only listener,
    /// no on any other (allows_anonymous()).
    std::optional<bool> allow_anonymous;
    /// Topic access rules outside chat/ in Mosquitto's acl format (docs/ACCESS.md); empty: none.
    std::string acl_file;
    /// The parsed acl_file, read by load_config_file; nullptr without one.
    std::shared_ptr<const topic_acl> acl;
    /// The web app's folder, served by the WebSocket listeners at every path but
    /// websocket_path (gateway/web, docs/OPERATIONS.md "The web app's files"); empty: none, and
    /// those paths get 404. Read at start and at reload.
    std::string web_root;
    /// Largest Session Expiry Interval granted, in seconds; 0 means no limit.
    std::uint32_t max_session_expiry_seconds = 0;
    /// Seconds between $SYS updates; 0 turns them off.
    std::uint32_t sys_interval_seconds = 10;
    /// Seconds a new connection has to send CONNECT.
    std::uint32_t connect_timeout_seconds = 10;
    log_level log_threshold = log_level::info;
    /// How log lines are written: text, or one JSON object per line.
    log_format log_style = log_format::text;
    /// Keep sessions, subscriptions and retained messages in the store (data_dir).
    bool persistence = true;
    /// Directory of the store's database file perch.db; created when missing.
    std::string data_dir = "./data";
    durability_mode durability = durability_mode::full;
    /// The chat store (users, rooms, history...); sessions, queues and retained messages stay in
    /// data_dir's SQLite file whatever it is.
    chat_store_kind chat_store = chat_store_kind::sqlite;
    /// The libpq connection string of chat_store postgresql. May hold a password: never logged.
    std::string postgresql_conninfo;
    /// This gateway's origin name in chat across gateways (docs/BRIDGES.md); empty: derived from
    /// the host name and data_dir (effective_gateway_name).
    std::string gateway_name;
    /// The longest a store write waits for its group commit.
    std::uint32_t commit_interval_ms = 5;
    /// A group commit happens at once when it holds this many operations.
    std::uint32_t max_batch_operations = 4096;
    /// The longest a chat history row (and the chat store's other writes) waits for its group
    /// commit: longer than commit_interval_ms, so that a group holds many messages and writes
    /// each history page once (docs/DURABILITY.md "Chat messages").
    std::uint32_t chat_commit_interval_ms = 100;
    /// Entries one persistent session's store queue may hold (in flight included); past it a
    /// publisher gets Quota exceeded instead of an acknowledgement. 0 means no limit.
    std::uint32_t max_stored_messages = 10'000;
    /// Payload bytes one persistent session's store queue may hold; 0 means no limit.
    std::uint64_t max_stored_bytes = 16 * 1024 * 1024;
    /// Largest size of perch.db in bytes; past it writes fail as on a full disk. 0: no limit.
    std::uint64_t max_database_bytes = 0;
    /// Publish retained chat presence on chat/presence/{user} (docs/CHAT.md).
    bool presence = true;
    /// Chat history older than this many days is pruned (daily); 0 keeps it forever.
    std::uint32_t history_retention_days = 365;
    /// Pruning keeps at least this many newest messages per conversation; 0: age alone decides.
    std::uint32_t history_keep_per_conversation = 0;
    /// How often the chat directory is checked for changes made by `perch user|room`.
    std::uint32_t chat_reload_interval_ms = 1000;
    /// How often a connected persistent chat session's catch-up cursors are written at most
    /// (docs/DURABILITY.md "Chat messages"); they are also written when its connection ends.
    std::uint32_t chat_cursor_interval_s = 60;
    /// Read state, signals and message events (docs/CHAT.md "Read state", "Signals expire").
    /// The Message Expiry Interval the gateway puts on the signals it routes, in seconds.
    std::uint32_t signal_expiry_s = 30;
    /// How long after sending it a sender may still delete a chat message; 0: any time.
    std::uint32_t chat_delete_window_s = 0;
    /// Full-text search of chat history (docs/CHAT.md "Search"): the store keeps the index and
    /// the `search` control request answers; off: nothing is indexed and `search` is refused.
    bool chat_search = true;
    /// Files (docs/CHAT.md "Files"), kept in data_dir/files. The largest file accepted, in bytes.
    std::uint64_t file_max_bytes = 16ULL * 1024 * 1024;
    /// The bytes one user's files may take together; 0: no quota.
    std::uint64_t file_quota_bytes = 256ULL * 1024 * 1024;
    /// How long a file token (op file_token) is good for.
    std::uint32_t file_token_lifetime_s = 300;
    /// A file no message references is removed once it is this old.
    std::uint32_t file_unreferenced_grace_s = 3600;
    /// How often files no message references are looked for; 0: never.
    std::uint32_t file_sweep_interval_s = 60;
    /// PBKDF2 iterations of new password hashes (`perch user add|passwd`, and the rehash of a
    /// weaker hash at its user's next password login).
    std::uint32_t password_iterations = default_password_iterations;
    /// Failed-login backoff (docs/ACCESS.md "Failed logins"): failures of one user name, and from
    /// one address, before further logins wait (0: no backoff of that kind); the first wait,
    /// doubled with each further failure; the longest wait.
    std::uint32_t login_backoff_user_failures = 3;
    std::uint32_t login_backoff_address_failures = 10;
    std::uint32_t login_backoff_initial_ms = 1000;
    std::uint32_t login_backoff_max_seconds = 60;
    /// The assistant bot; off unless assistant_endpoint is set.
    assistant_config assistant;
    // Quotas (docs/LIMITS.md).
    /// Every client's quota, unless a user_quota line changes it for its user.
    client_quota quota;
    /// The `user_quota` lines in file order (a later one wins).
    std::vector<user_quota_setting> user_quotas;
    /// New connections per second from one address (an IPv6 address counts by its /64), and the
    /// burst above that rate; 0: no limit. Checked when the connection is accepted, before any
    /// login. Loopback counts like any address.
    std::uint64_t max_connection_rate = 50;
    std::uint64_t max_connection_burst = 500;
    // Web Push (docs/CHAT.md "Web Push").
    /// Notifications of direct messages and mentions to users with no connected device; the
    /// VAPID key is generated on first start into data_dir/vapid.key.
    bool push = false;
    /// The VAPID contact ("sub"): mailto: or https:.
    std::string push_contact = "mailto:admin@localhost";
    /// How long a push service keeps an undelivered notification, in seconds.
    std::uint32_t push_ttl_seconds = 86'400;
    /// Accept http:// push endpoints on loopback addresses (tests only).
    bool push_allow_insecure_endpoints = false;
    /// CA file for https push services; empty: the system's bundle.
    std::string push_cafile;
};

/// The quota of the authenticated user `user` (empty: a client without one): the global quota
/// with that user's user_quota lines applied.
client_quota quota_for_user(const broker_config& config, std::string_view user);

/// Whether `listener` of `config` lets clients without a user name connect: the configured
/// allow_anonymous, or, when it is not set, true only for a loopback-only listener.
bool allows_anonymous(const broker_config& config, const listener_config& listener);

/// The store's database file inside data_dir, shared by the broker and `perch user|room`.
inline constexpr std::string_view store_file_name = "perch.db";

/// A config file that cannot be used. what() is one line: "FILE:LINE: KEY: problem".
class config_error : public std::runtime_error {
public:
    config_error(std::string source_name, std::size_t line_number, std::string key,
                 const std::string& problem);
    const std::string& source_name() const { return source_name_; }
    std::size_t line_number() const { return line_number_; }
    const std::string& key() const { return key_; }

private:
    std::string source_name_;
    std::size_t line_number_;
    std::string key_;
};

/// Parses config text. `source_name` names the file in errors. Each non-blank line that does not
/// start with '#' is a key and its value(s) separated by spaces or tabs; a later line overrides an
/// earlier one. `listener PORT [ADDRESS]` starts a new listener (the first replaces the default
/// ones) and `protocol KIND` sets the kind of the latest listener; `port` and `bind_address` set
/// the first listener. The listener keys `certfile`, `keyfile`, `cafile`,
/// `require_certificate`, `use_identity_as_username`, `websocket_path` and
/// `websocket_deflate_window_bits` set the latest
/// listener, or every default listener when no `listener` line came before them. Throws
/// config_error for an unknown key, a missing or extra value, or a value out of range.
broker_config parse_config(std::string_view text, std::string_view source_name);

/// Reads and parses the file at `path`, then the acl_file it names. Throws config_error (line 0)
/// when either cannot be read, and with the acl file's line when that file is invalid.
broker_config load_config_file(const std::string& path);

/// The keys whose change from `running` to `wanted` takes effect only after a restart, by their
/// config-file name, each once, in a fixed order ("listener", "workers", "data_dir", ...). A
/// listener whose only changes are its TLS files and client-certificate settings is not among
/// them: a reload builds new TLS contexts for it. The assistant keys are named one by one.
std::vector<std::string> keys_needing_restart(const broker_config& running,
                                              const broker_config& wanted);

/// Sets the port of the first MQTT listener to `port` (adding one when there is none), as the
/// command line's -p does.
void override_mqtt_port(broker_config& config, std::uint16_t port);

/// What -p PORT without -c means: only one plain MQTT listener, on `port` on loopback (so that
/// many brokers can run side by side without fighting over the TLS and WebSocket ports).
void use_only_mqtt_port(broker_config& config, std::uint16_t port);

} // namespace perch::gateway
