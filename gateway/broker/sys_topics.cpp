// The $SYS/broker/... statistics topics.
#include "gateway/broker/sys_topics.hpp"

#include <cmath>
#include <memory>

#include <fmt/format.h>

#include "gateway/broker/router.hpp"
#include "gateway/broker/worker.hpp"

namespace perch::gateway {

sys_load next_sys_load(const sys_load& previous, std::uint64_t received, std::uint64_t sent,
                       double interval_seconds) {
    const double weight = std::exp(-interval_seconds / 60.0);
    const double scale = 60.0 / interval_seconds;
    return sys_load{
        weight * previous.bytes_received_per_minute +
            (1.0 - weight) * static_cast<double>(received) * scale,
        weight * previous.bytes_sent_per_minute +
            (1.0 - weight) * static_cast<double>(sent) * scale,
    };
}

std::vector<sys_value> sys_topic_values(const broker_stats& stats, const sys_load& load) {
    const auto number = [](std::uint64_t value) { return fmt::format("{}", value); };
    std::vector<sys_value> values{
        {"$SYS/broker/version", fmt::format("perch version {}", stats.version)},
        {"$SYS/broker/uptime", fmt::format("{} seconds", stats.uptime_seconds)},
        {"$SYS/broker/clients/connected", number(stats.clients_connected)},
        {"$SYS/broker/clients/total", number(stats.clients_total)},
        {"$SYS/broker/messages/received", number(stats.publish_received)},
        {"$SYS/broker/messages/sent", number(stats.publish_sent)},
        {"$SYS/broker/publish/messages/received", number(stats.publish_received)},
        {"$SYS/broker/publish/messages/sent", number(stats.publish_sent)},
        {"$SYS/broker/publish/messages/dropped", number(stats.publish_dropped)},
        {"$SYS/broker/access/refusals", number(stats.access_refusals)},
        {"$SYS/broker/subscriptions/count", number(stats.subscriptions)},
        {"$SYS/broker/retained messages/count", number(stats.retained_messages)},
        {"$SYS/broker/bytes/received", number(stats.bytes_received)},
        {"$SYS/broker/bytes/sent", number(stats.bytes_sent)},
        {"$SYS/broker/load/bytes/received/1min",
         fmt::format("{:.2f}", load.bytes_received_per_minute)},
        {"$SYS/broker/load/bytes/sent/1min", fmt::format("{:.2f}", load.bytes_sent_per_minute)},
        {"$SYS/broker/bans/connects_refused", number(stats.banned_connects)},
        {"$SYS/broker/bans/disconnects", number(stats.banned_disconnects)},
        {"$SYS/broker/logins/failed", number(stats.login_failures)},
        {"$SYS/broker/logins/backoff_refusals", number(stats.login_backoff_refusals)},
    };
    values.insert(
        values.end(),
        {
            {"$SYS/broker/quota/refusals/message_rate", number(stats.message_rate_refusals)},
            {"$SYS/broker/quota/refusals/byte_rate", number(stats.byte_rate_refusals)},
            {"$SYS/broker/quota/refusals/connection_rate", number(stats.connection_rate_refusals)},
            {"$SYS/broker/quota/refusals/subscriptions", number(stats.subscription_quota_refusals)},
            {"$SYS/broker/quota/disconnects/rate", number(stats.rate_disconnects)},
        });
    for (const auto& [name, value] : stats.assistant_counts) {
        values.push_back({"$SYS/broker/assistant/" + name, number(value)});
    }
    for (const broker_stats::bridge_stats& bridge : stats.bridges) {
        const std::string prefix = "$SYS/broker/bridge/" + bridge.name + "/";
        values.push_back({prefix + "connected", number(bridge.is_connected ? 1 : 0)});
        values.push_back({prefix + "messages/in", number(bridge.messages_in)});
        values.push_back({prefix + "messages/out", number(bridge.messages_out)});
        values.push_back({prefix + "reconnects", number(bridge.reconnects)});
    }
    for (std::size_t index = 0; index < worker_counter_table.size(); ++index) {
        if (!worker_counter_table[index].sys_topic.empty()) {
            values.push_back({std::string(worker_counter_table[index].sys_topic),
                              number(stats.worker_totals[index])});
        }
    }
    values.push_back({"$SYS/broker/sessions/queued/deepest", number(stats.session_queue_deepest)});
    for (const broker_stats::listener_stats& listener : stats.listeners) {
        values.push_back(
            {fmt::format("$SYS/broker/listeners/{}/{}/accepted", listener.kind, listener.port),
             number(listener.accepted)});
    }
    for (std::size_t index = 0; index < stats.workers.size(); ++index) {
        values.push_back({fmt::format("$SYS/broker/workers/{}/loop_lag_us", index),
                          number(stats.workers[index].last_us)});
    }
    if (stats.store) {
        const store::store_counters& store = *stats.store;
        values.push_back({"$SYS/broker/store/commits", number(store.commits)});
        values.push_back({"$SYS/broker/store/commit_failures", number(store.failed_commits)});
        values.push_back(
            {"$SYS/broker/store/pending_operations", number(store.pending_operations)});
        values.push_back({"$SYS/broker/store/refused_for_quota", number(store.refused_for_quota)});
        values.push_back({"$SYS/broker/store/largest_batch", number(store.largest_group)});
        values.push_back(
            {"$SYS/broker/store/commit_seconds/average",
             fmt::format("{:.6f}", store.commit_seconds.count == 0
                                       ? 0.0
                                       : store.commit_seconds.sum /
                                             static_cast<double>(store.commit_seconds.count))});
        values.push_back(
            {"$SYS/broker/store/refusing_writes", store.is_refusing_writes ? "1" : "0"});
    }
    values.push_back({"$SYS/broker/http/requests", number(stats.http_requests)});
    values.push_back({"$SYS/broker/http/bad_requests", number(stats.http_bad_requests)});
    return values;
}

std::uint64_t broker_stats::total(counter worker_counters::*member) const {
    for (std::size_t index = 0; index < worker_counter_table.size(); ++index) {
        if (worker_counter_table[index].member == member) {
            return worker_totals[index];
        }
    }
    return 0;
}

sys_topics::sys_topics(worker& home, router& routes, std::function<broker_stats()> collect)
    : worker_(home), router_(routes), collect_(std::move(collect)), timer_(home.context()),
      last_publish_(std::chrono::steady_clock::now()) {}

void sys_topics::set_interval(std::uint32_t interval_seconds) {
    interval_seconds_ = interval_seconds;
    timer_.cancel();
    if (interval_seconds_ == 0) {
        return;
    }
    publish();
    arm();
}

void sys_topics::stop() {
    interval_seconds_ = 0;
    timer_.cancel();
}

void sys_topics::arm() {
    timer_.expires_after(std::chrono::seconds(interval_seconds_));
    timer_.async_wait([this](const boost::system::error_code& error) {
        if (error || interval_seconds_ == 0) {
            return;
        }
        publish();
        arm();
    });
}

void sys_topics::publish() {
    const broker_stats stats = collect_();
    const auto now = std::chrono::steady_clock::now();
    const double elapsed = std::chrono::duration<double>(now - last_publish_).count();
    if (elapsed > 0.001) {
        load_ = next_sys_load(load_, stats.bytes_received - last_bytes_received_,
                              stats.bytes_sent - last_bytes_sent_, elapsed);
    }
    last_publish_ = now;
    last_bytes_received_ = stats.bytes_received;
    last_bytes_sent_ = stats.bytes_sent;

    for (sys_value& value : sys_topic_values(stats, load_)) {
        auto content = std::make_shared<mqtt::message>();
        content->topic_name = std::move(value.topic_name);
        content->payload = mqtt::shared_bytes::copy_of(std::string_view(value.payload));
        content->is_retained = true;
        router_.route(content, worker_.outbox(), worker_.match_scratch());
    }
    worker_.flush();
}

} // namespace perch::gateway
