// A reload (SIGHUP): what the new configuration changes in the running broker, and the keys
// that keep their running value until a restart.
#include <boost/asio/post.hpp>

#include "gateway/broker/broker_metrics.hpp"
#include "gateway/broker/server.hpp"
#include "gateway/chat/access_policy.hpp"
#include "gateway/common/gateway_name.hpp"
#include "gateway/common/log.hpp"
#include "gateway/common/private_data_dir.hpp"
#include "gateway/common/stored_message_codec.hpp"
#include "gateway/push/push_sender.hpp"
#include "gateway/stream/tls_stream.hpp"
#include "gateway/stream/websocket_stream.hpp"

namespace perch::gateway {

namespace {

/// `wanted` with the running values of the keys that need a restart: what config_ holds after a
/// reload describes the broker as it runs.
broker_config keep_restart_values(broker_config wanted, const broker_config& running) {
    wanted.workers = running.workers;
    wanted.persistence = running.persistence;
    wanted.data_dir = running.data_dir;
    wanted.gateway_name = running.gateway_name;
    wanted.durability = running.durability;
    wanted.commit_interval_ms = running.commit_interval_ms;
    wanted.max_batch_operations = running.max_batch_operations;
    wanted.chat_commit_interval_ms = running.chat_commit_interval_ms;
    wanted.max_stored_messages = running.max_stored_messages;
    wanted.max_stored_bytes = running.max_stored_bytes;
    wanted.max_database_bytes = running.max_database_bytes;
    wanted.presence = running.presence;
    wanted.chat_reload_interval_ms = running.chat_reload_interval_ms;
    wanted.chat_cursor_interval_s = running.chat_cursor_interval_s;
    wanted.signal_expiry_s = running.signal_expiry_s;
    wanted.chat_delete_window_s = running.chat_delete_window_s;
    wanted.chat_search = running.chat_search;
    wanted.file_token_lifetime_s = running.file_token_lifetime_s;
    wanted.file_unreferenced_grace_s = running.file_unreferenced_grace_s;
    wanted.file_sweep_interval_s = running.file_sweep_interval_s;
    wanted.push = running.push;
    wanted.push_contact = running.push_contact;
    wanted.push_ttl_seconds = running.push_ttl_seconds;
    wanted.push_allow_insecure_endpoints = running.push_allow_insecure_endpoints;
    wanted.push_cafile = running.push_cafile;
    wanted.assistant = running.assistant;
    return wanted;
}

} // namespace

void server::reload(const broker_config& config) {
    // Only the main thread writes config_ and tls_contexts_, so it reads them without the lock.
    for (const std::string& key : keys_needing_restart(config_, config)) {
        log_warning("reload: '{}' changes take effect after a restart", key);
    }
    broker_config applied = keep_restart_values(config, config_);
    applied.listeners = config_.listeners;
    std::vector<std::shared_ptr<const tls_context>> security = tls_contexts_;
    const bool same_listener_count = config.listeners.size() == config_.listeners.size();
    for (std::size_t index = 0; same_listener_count && index < applied.listeners.size(); ++index) {
        listener_config& running = applied.listeners[index];
        const listener_config& wanted = config.listeners[index];
        if (!is_tls(running.kind) || wanted.kind != running.kind || wanted.port != running.port ||
            wanted.bind_address != running.bind_address) {
            continue;
        }
        // Built before anything is swapped: certificate files renewed in place are read again.
        try {
            security[index] = std::make_shared<tls_context>(wanted, config_.data_dir);
        } catch (const std::exception& error) {
            log_error("reload: listener {} ({}) keeps its current certificate: {}", running.port,
                      to_string(running.kind), error.what());
            continue;
        }
        running.certfile = wanted.certfile;
        running.keyfile = wanted.keyfile;
        running.cafile = wanted.cafile;
        running.require_certificate = wanted.require_certificate;
        running.use_identity_as_username = wanted.use_identity_as_username;
        log_notice("reload: listener {} ({}) uses {} for new handshakes", running.port,
                   to_string(running.kind), security[index]->certificate_path());
    }
    // The web app's files, read again; a folder that cannot be read keeps the files served now.
    std::shared_ptr<const static_site> site = web_site_;
    if (config.web_root.empty()) {
        site.reset();
    } else {
        try {
            site = static_site::load(config.web_root);
            log_notice("reload: web serves {} files of {}", site->file_count(), config.web_root);
        } catch (const std::exception& error) {
            log_error("reload: web keeps the files it serves: {}", error.what());
            applied.web_root = config_.web_root;
        }
    }
    std::uint32_t interval = 0;
    {
        std::lock_guard lock(settings_mutex_);
        config_ = std::move(applied);
        tls_contexts_ = std::move(security);
        web_site_ = std::move(site);
        update_connection_settings();
        max_connections_ = config_.max_connections;
        connection_rate_.set_limit({config_.max_connection_rate, config_.max_connection_burst});
        // Quotas apply to live connections too (their buckets keep their state).
        for (const auto& owned : workers_) {
            worker& owner = *owned;
            boost::asio::post(owner.context(), [&owner, settings = connection_settings_] {
                for (const auto& held : owner.connections()) {
                    held->update_quota(*settings);
                }
            });
        }
        if (chat_) {
            install_outside_rules();
            chat_->update_runtime_settings(config_.history_retention_days,
                                           config_.history_keep_per_conversation,
                                           config_.password_iterations);
        }
        if (files_) {
            files_->update_limits(config_.file_max_bytes, config_.file_quota_bytes);
        }
        interval = config_.sys_interval_seconds;
    }
    set_log_level(config.log_threshold);
    set_log_format(config.log_style);
    boost::asio::post(workers_[0]->context(),
                      [this, interval] { sys_topics_->set_interval(interval); });
    log_notice("reload: log level {}, log format {}, sys_interval {}s; limits, acl and TLS "
               "certificates applied to new connections",
               to_string(config.log_threshold), to_string(config.log_style), interval);
}

} // namespace perch::gateway
