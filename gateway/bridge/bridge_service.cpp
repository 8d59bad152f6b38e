// The bridges of the configuration, run together on worker 0.
#include "gateway/bridge/bridge_service.hpp"

#include "gateway/common/log.hpp"

namespace perch::gateway::bridge {

bridge_service::bridge_service(server& owner, const std::vector<bridge_config>& configs) {
    for (const bridge_config& config : configs) {
        const client::tls_client_context* tls = nullptr;
        if (config.is_tls()) {
            client::tls_client_options options;
            options.ca_file = config.cafile;
            options.verify_peer = !config.is_insecure;
            tls_contexts_.push_back(std::make_unique<client::tls_client_context>(options));
            tls = tls_contexts_.back().get();
        }
        bridges_.push_back(std::make_shared<bridge>(owner, owner.worker_at(0), config, tls));
    }
}

bridge_service::~bridge_service() = default;

void bridge_service::start() {
    for (const auto& each : bridges_) {
        log_notice("bridge {}: to {}:{} as local user {}", each->config().name, each->config().host,
                   each->config().port, each->config().effective_local_username());
        each->start();
    }
}

void bridge_service::stop() {
    for (const auto& each : bridges_) {
        each->stop();
    }
}

void bridge_service::add_stats(broker_stats& stats) const {
    for (const auto& each : bridges_) {
        const bridge_counters& counts = each->counters();
        broker_stats::bridge_stats entry;
        entry.name = each->config().name;
        entry.is_connected = counts.is_connected.load(std::memory_order_relaxed);
        entry.messages_in = counts.messages_in.load(std::memory_order_relaxed);
        entry.messages_out = counts.messages_out.load(std::memory_order_relaxed);
        entry.reconnects = counts.reconnects.load(std::memory_order_relaxed);
        stats.bridges.push_back(std::move(entry));
    }
}

} // namespace perch::gateway::bridge
