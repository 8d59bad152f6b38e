// The $SYS/broker/... statistics topics Mosquitto users know, published retained every
// sys_interval seconds from one worker. The values are computed by pure functions (testable
// without a network); the publisher only formats and routes them.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/steady_timer.hpp>

#include "gateway/broker/counter_table.hpp"
#include "store/store_counters.hpp"

namespace perch::gateway {

class router;
class worker;

/// The broker's totals at one moment (summed over workers).
struct broker_stats {
    std::string version;
    std::uint64_t uptime_seconds = 0;
    std::uint64_t clients_connected = 0;
    /// Sessions, connected or not.
    std::uint64_t clients_total = 0;
    std::uint64_t publish_received = 0;
    std::uint64_t publish_sent = 0;
    std::uint64_t publish_dropped = 0;
    /// Publishes, subscriptions and wills refused by the access rules (chat and acl_file).
    std::uint64_t access_refusals = 0;
    std::uint64_t packets_sent = 0;
    std::uint64_t subscriptions = 0;
    std::uint64_t retained_messages = 0;
    std::uint64_t bytes_received = 0;
    std::uint64_t bytes_sent = 0;
    /// Bans and failed-login backoff (worker_counters).
    std::uint64_t banned_connects = 0;
    std::uint64_t banned_disconnects = 0;
    std::uint64_t login_failures = 0;
    std::uint64_t login_backoff_refusals = 0;
    /// The assistant bot's counters as (name, value), published under $SYS/broker/assistant/;
    /// empty when the bot is off.
    std::vector<std::pair<std::string, std::uint64_t>> assistant_counts;
    /// One bridge's state and counters (docs/BRIDGES.md).
    struct bridge_stats {
        std::string name;
        bool is_connected = false;
        std::uint64_t messages_in = 0;
        std::uint64_t messages_out = 0;
        std::uint64_t reconnects = 0;
    };
    /// The bridges' states and counters, published under $SYS/broker/bridge/NAME/; empty without
    /// bridges. (Each bridge publishes its own $SYS/broker/connection/NAME/state on change.)
    std::vector<bridge_stats> bridges;

    /// worker_counter_table's counters summed over the workers, in table order.
    std::array<std::uint64_t, worker_counter_table.size()> worker_totals{};
    /// Connections accepted by one listener (every worker's socket on its port).
    struct listener_stats {
        std::string kind;
        std::string bind_address;
        std::uint16_t port = 0;
        std::uint64_t accepted = 0;
    };
    std::vector<listener_stats> listeners;
    /// One worker's connected clients and loop-lag probe (worker_counters::loop_lag_*).
    struct worker_figures {
        std::uint64_t connected_clients = 0;
        std::uint64_t last_us = 0;
        std::array<std::uint64_t, loop_lag_bounds_us.size() + 1> buckets{};
        std::uint64_t sum_us = 0;
        std::uint64_t probes = 0;
    };
    std::vector<worker_figures> workers;
    /// The message store's counters; empty when persistence is off.
    std::optional<store::store_counters> store;
    /// The http listener's requests answered, requests refused (400/413/431) and connections
    /// refused at its limit.
    std::uint64_t http_requests = 0;
    std::uint64_t http_bad_requests = 0;
    std::uint64_t http_connections_refused = 0;
    /// The file service's counters (docs/CHAT.md "Files"), by name; empty without files.
    std::vector<std::pair<std::string, std::uint64_t>> file_counts;
    std::uint64_t file_stored_bytes = 0;
    /// Web Push (docs/CHAT.md "Web Push"): what the sender did and holds; empty when push is off.
    struct push_stats {
        std::uint64_t sent = 0;
        std::uint64_t failed = 0;
        std::uint64_t gone = 0;
        std::uint64_t dropped = 0;
        std::uint64_t queued = 0;
        std::uint64_t subscribed_users = 0;
    };
    std::optional<push_stats> push;

    /// The total of the table counter `member` (0 when it is not in the table).
    std::uint64_t total(counter worker_counters::*member) const;
    // Quotas (docs/LIMITS.md), published under $SYS/broker/quota/.
    std::uint64_t message_rate_refusals = 0;
    std::uint64_t byte_rate_refusals = 0;
    std::uint64_t rate_disconnects = 0;
    std::uint64_t connection_rate_refusals = 0;
    std::uint64_t subscription_quota_refusals = 0;
    // Session queue depths: the deepest queue over every worker, and sessions by depth (one count
    // per bucket of session_queue_depth_bounds, +Inf last).
    std::uint64_t session_queue_deepest = 0;
    std::array<std::uint64_t, session_queue_depth_bounds.size() + 1> session_queue_depths{};
};

/// Per-minute moving averages of the byte rates, as in Mosquitto's load topics.
struct sys_load {
    double bytes_received_per_minute = 0;
    double bytes_sent_per_minute = 0;
};

/// One $SYS topic and its payload text.
struct sys_value {
    std::string topic_name;
    std::string payload;
    bool operator==(const sys_value&) const = default;
};

/// The load after `interval_seconds` (> 0) in which `received` and `sent` bytes moved: an
/// exponentially weighted average over one minute of the per-minute rate.
sys_load next_sys_load(const sys_load& previous, std::uint64_t received, std::uint64_t sent,
                       double interval_seconds);

/// Every $SYS topic with its value, in a fixed order.
std::vector<sys_value> sys_topic_values(const broker_stats& stats, const sys_load& load);

/// Publishes sys_topic_values every interval on one worker. All member functions except the
/// constructor run on that worker's thread.
class sys_topics {
public:
    /// Publishes from `home` through `routes`; `collect` sums the statistics (any thread safe).
    sys_topics(worker& home, router& routes, std::function<broker_stats()> collect);

    /// Publishes now and then every `interval_seconds`; 0 stops publishing.
    void set_interval(std::uint32_t interval_seconds);

    /// Stops the timer.
    void stop();

private:
    void publish();
    void arm();

    worker& worker_;
    router& router_;
    std::function<broker_stats()> collect_;
    boost::asio::steady_timer timer_;
    std::uint32_t interval_seconds_ = 0;
    sys_load load_;
    std::uint64_t last_bytes_received_ = 0;
    std::uint64_t last_bytes_sent_ = 0;
    std::chrono::steady_clock::time_point last_publish_;
};

} // namespace perch::gateway
