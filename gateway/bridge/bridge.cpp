// One bridge: the topic mapping between its two clients and the acknowledgements across them.
#include "gateway/bridge/bridge.hpp"

#include <fmt/format.h>

#include "gateway/broker/server.hpp"
#include "gateway/broker/worker.hpp"
#include "gateway/common/log.hpp"

namespace perch::gateway::bridge {

namespace {

/// How long the local session waits for the bridge to come back (the broker may clamp it).
constexpr std::uint32_t local_session_expiry_seconds = 0xFFFFFFFF;

client::in_process_options local_options(const bridge_config& config) {
    client::in_process_options options;
    options.user_name = config.effective_local_username();
    options.client_id = "bridge-" + config.name;
    options.clean_start = false;
    options.session_expiry_seconds = local_session_expiry_seconds;
    options.receive_maximum = max_messages_in_flight;
    options.is_acknowledgement_deferred = true;
    for (const bridge_topic& topic : config.topics) {
        if (!topic.carries_out()) {
            continue;
        }
        mqtt::subscribe_entry entry;
        entry.topic_filter = topic.local_filter();
        entry.options.maximum_qos = static_cast<mqtt::qos>(topic.qos);
        // [MQTT-3.8.3-3] what the bridge brought in is not sent back out.
        entry.options.is_no_local = true;
        entry.options.is_retain_as_published = true;
        // Subscribed again at every connection: retained messages only the first time.
        entry.options.retain_handling_mode = mqtt::retain_handling::send_at_subscribe_if_new;
        options.subscriptions.push_back(std::move(entry));
    }
    return options;
}

/// `delivered` under a new topic name, without what belonged to the connection it came on.
mqtt::publish forwarded(const mqtt::publish& delivered, std::string topic_name) {
    mqtt::publish copy = delivered;
    copy.topic_name = std::move(topic_name);
    copy.is_duplicate = false;
    copy.packet_id = 0;
    copy.props.topic_alias.reset();
    copy.props.subscription_identifiers.clear();
    return copy;
}

} // namespace

bridge::bridge(server& owner, worker& home, bridge_config config,
               const client::tls_client_context* tls)
    : server_(owner), worker_(home), config_(std::move(config)) {
    local_ = std::make_shared<client::in_process_client>(
        server_.in_process_endpoint(worker_), local_options(config_),
        [this](const mqtt::publish& delivered) { on_local_message(delivered); });
    local_->set_acknowledgement_handler([this](std::uint16_t packet_id, mqtt::reason_code reason) {
        on_local_acknowledged(packet_id, reason);
    });
    local_->set_connection_handler([this](bool is_up) { on_local_connection(is_up); });
    remote_client::handlers callbacks;
    callbacks.on_connection = [this](bool is_up) { on_remote_connection(is_up); };
    callbacks.on_message = [this](const mqtt::publish& delivered) { on_remote_message(delivered); };
    callbacks.on_acknowledged = [this](std::uint16_t packet_id, mqtt::reason_code reason) {
        on_remote_acknowledged(packet_id, reason);
    };
    remote_ =
        std::make_shared<remote_client>(worker_.context(), config_, tls, std::move(callbacks));
}

bridge::~bridge() = default;

void bridge::start() {
    if (config_.notifications) {
        publish_local_state(false);
    }
    remote_->start();
}

void bridge::stop() {
    local_->stop();
    remote_->stop();
    outbound_.clear();
    inbound_.clear();
    held_inbound_.clear();
}

void bridge::on_remote_connection(bool is_up) {
    counters_.is_connected.store(is_up, std::memory_order_relaxed);
    counters_.reconnects.store(remote_->reconnects(), std::memory_order_relaxed);
    if (config_.notifications) {
        publish_local_state(is_up);
    }
    if (is_up) {
        local_->start();
        return;
    }
    // The local session keeps what was not acknowledged, and sends it again, in order, when the
    // local client connects after the upstream is back.
    local_->stop();
    outbound_.clear();
    inbound_.clear();
    held_inbound_.clear(); // Unacknowledged: the upstream sends them again.
}

void bridge::on_local_message(const mqtt::publish& delivered) {
    const std::uint64_t connection = local_->connection();
    for (const bridge_topic& topic : config_.topics) {
        if (!topic.carries_out()) {
            continue;
        }
        auto remote_topic = to_remote_topic(topic, delivered.topic_name);
        if (!remote_topic) {
            continue;
        }
        const auto packet_id = remote_->publish(forwarded(delivered, std::move(*remote_topic)));
        if (!packet_id) {
            return; // Not acknowledged: the local session sends it again.
        }
        if (delivered.qos_level == mqtt::qos::at_most_once) {
            counters_.messages_out.fetch_add(1, std::memory_order_relaxed);
        } else {
            outbound_[*packet_id] = {connection, delivered.packet_id, delivered.qos_level};
        }
        return;
    }
    // A delivery no `out` topic maps (an overlapping filter): acknowledge it, it goes nowhere.
    local_->acknowledge(connection, delivered.packet_id, delivered.qos_level);
}

void bridge::on_remote_acknowledged(std::uint16_t packet_id, mqtt::reason_code reason) {
    const auto found = outbound_.find(packet_id);
    if (found == outbound_.end()) {
        return; // The notification's own publish, or one of an earlier connection.
    }
    if (static_cast<unsigned>(reason) >= 0x80) {
        log_warning("bridge {}: the upstream refused a message (0x{:02x}); it is dropped",
                    config_.name, static_cast<unsigned>(reason));
    } else {
        counters_.messages_out.fetch_add(1, std::memory_order_relaxed);
    }
    local_->acknowledge(found->second.connection, found->second.packet_id, found->second.level);
    outbound_.erase(found);
}

void bridge::on_local_connection(bool is_up) {
    if (!is_up) {
        inbound_.clear(); // The upstream sends those again on its next connection.
        return;
    }
    std::vector<std::pair<std::uint64_t, mqtt::publish>> held = std::move(held_inbound_);
    held_inbound_.clear();
    for (const auto& [connection, delivered] : held) {
        if (connection == remote_->connection()) {
            on_remote_message(delivered);
        }
    }
}

void bridge::on_remote_message(const mqtt::publish& delivered) {
    const std::uint64_t connection = remote_->connection();
    if (!local_->is_connected() && delivered.qos_level != mqtt::qos::at_most_once) {
        // The local client is still connecting: an upstream sends nothing again before its next
        // connection ([MQTT-4.4.0-1] at 5.0), so one left unacknowledged now would wait for it.
        if (held_inbound_.size() < max_held_deliveries) {
            held_inbound_.emplace_back(connection, delivered);
        }
        return;
    }
    for (const bridge_topic& topic : config_.topics) {
        if (!topic.carries_in()) {
            continue;
        }
        auto local_topic = to_local_topic(topic, delivered.topic_name);
        if (!local_topic) {
            continue;
        }
        const auto packet_id =
            local_->publish_with_id(forwarded(delivered, std::move(*local_topic)));
        if (!packet_id) {
            return; // Not acknowledged: the upstream sends it again.
        }
        counters_.messages_in.fetch_add(1, std::memory_order_relaxed);
        if (delivered.qos_level != mqtt::qos::at_most_once) {
            inbound_[*packet_id] = {connection, delivered.packet_id, delivered.qos_level};
        }
        return;
    }
    remote_->acknowledge(connection, delivered.packet_id, delivered.qos_level);
}

void bridge::on_local_acknowledged(std::uint16_t packet_id, mqtt::reason_code reason) {
    const auto found = inbound_.find(packet_id);
    if (found == inbound_.end()) {
        return;
    }
    if (static_cast<unsigned>(reason) >= 0x80) {
        log_warning("bridge {}: the local broker refused a message in (0x{:02x}); check the "
                    "rights of user {}",
                    config_.name, static_cast<unsigned>(reason),
                    config_.effective_local_username());
    }
    remote_->acknowledge(found->second.connection, found->second.packet_id, found->second.level);
    inbound_.erase(found);
}

void bridge::publish_local_state(bool is_up) {
    auto content = std::make_shared<mqtt::message>();
    content->topic_name = "$SYS/broker/connection/" + config_.name + "/state";
    content->payload = mqtt::shared_bytes::copy_of(std::string_view(is_up ? "1" : "0"));
    content->is_retained = true;
    server_.routes().route(content, worker_.outbox(), worker_.match_scratch());
    worker_.flush();
}

} // namespace perch::gateway::bridge
