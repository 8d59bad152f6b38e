// The bridges of the configuration, run together on worker 0.
#include "gateway/bridge/bridge_service.hpp"

#include <future>
#include <random>
#include <stdexcept>

#include <fmt/format.h>

#include "gateway/chat/chat_service.hpp"
#include "gateway/chat/password_hash.hpp"
#include "gateway/common/log.hpp"
#include "gateway/common/stored_message_codec.hpp"

namespace perch::gateway::bridge {

namespace {

/// Adds `user_name` to the chat directory, with a random password nobody knows, when it is not
/// there: only a directory user has its own acl_file block (an unknown one gets the anonymous
/// rules). The bridge logs in as a verified identity, never with that password.
void prepare_local_user(chat_service& chat, const std::string& user_name) {
    if (chat.directory().has_user(user_name)) {
        return;
    }
    std::random_device source;
    std::string secret;
    for (int index = 0; index < 32; ++index) {
        secret += fmt::format("{:02x}", static_cast<unsigned>(source() & 0xFF));
    }
    std::promise<std::pair<store::directory_result, std::string>> promise;
    auto outcome = promise.get_future();
    chat.store().add_user(
        {user_name, hash_password(secret), unix_now_ms()},
        [&promise](store::directory_result result, const store::store_status& status) {
            promise.set_value({result, status.is_ok() ? std::string() : status.detail});
        });
    auto [result, problem] = outcome.get();
    if (result == store::directory_result::failed) {
        throw std::runtime_error("bridge: the chat store refused user " + user_name + ": " +
                                 problem);
    }
    log_notice("bridge: created user {} (the bridge's local user)", user_name);
    std::promise<void> reloaded;
    auto finished = reloaded.get_future();
    chat.reload_then([&reloaded] { reloaded.set_value(); });
    finished.get();
}

} // namespace

bridge_service::bridge_service(server& owner, const std::vector<bridge_config>& configs) {
    for (const bridge_config& config : configs) {
        prepare_local_user(owner.chat(), config.effective_local_username());
        if (config.bridge_chat) {
            // Its local user is a relay peer already (server::set_relay_peers).
            if (!owner.chat().relay().is_enabled()) {
                log_warning("bridge {}: bridge_chat, but the chat store shares no relay key: no "
                            "chat crosses this bridge",
                            config.name);
            } else {
                log_notice("bridge {}: chat across gateways as origin '{}'", config.name,
                           owner.chat().relay().origin());
            }
        }
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
