// The broker process's stores and chat layer: opening the message store and the chat store,
// the rules for what is outside chat, and the directory's changes applied to live sessions.
#include <filesystem>
#include <stdexcept>

#include <boost/asio/post.hpp>
#include <fmt/format.h>

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

void server::open_store() {
    store::store_options options;
    switch (config_.durability) {
    case durability_mode::full: options.durability = store::durability_level::full; break;
    case durability_mode::batched: options.durability = store::durability_level::batched; break;
    case durability_mode::none: options.durability = store::durability_level::none; break;
    }
    if (options.durability != store::durability_level::none) {
        try {
            for (const std::string& line :
                 prepare_private_data_dir(config_.data_dir, store_file_name)) {
                log_warning("data_dir permissions: readable by others: {}", line);
            }
        } catch (const std::runtime_error& error) {
            throw store::store_open_error(error.what());
        }
        options.path = (std::filesystem::path(config_.data_dir) / store_file_name).string();
    }
    options.commit_interval_ms = config_.commit_interval_ms;
    options.max_batch_operations = config_.max_batch_operations;
    options.max_queued_messages = config_.max_stored_messages;
    options.max_queued_bytes = config_.max_stored_bytes;
    options.max_database_bytes = config_.max_database_bytes;
    options.log_error = [](std::string_view line) { log_error("store: {}", line); };
    options.is_search_enabled = config_.chat_search;
    if (config_.chat_store == chat_store_kind::postgresql) {
        if (options.durability == store::durability_level::none ||
            config_.postgresql_conninfo.empty()) {
            throw store::store_open_error(
                "chat_store postgresql needs durability full or batched and postgresql_conninfo");
        }
        options.chat = store::chat_backend::postgresql;
        options.postgresql_conninfo = config_.postgresql_conninfo;
    }
    persistence_ = std::make_unique<session_persistence>(store::open_message_store(options));
    open_chat(options);

    const std::uint64_t now_unix_ms = unix_now_ms();
    const auto now = std::chrono::steady_clock::now();
    store::loaded_state loaded = persistence_->store().load(now_unix_ms);
    std::vector<delivery_batch> outbox(workers_.size());
    mqtt::match_output scratch;
    std::size_t stale_retained = 0;
    for (const store::stored_message& retained : loaded.retained) {
        if (is_stale_retained_topic(retained.topic)) {
            // Left by a version that let clients retain chat messages or $SYS topics.
            persistence_->store().clear_retained(retained.topic);
            ++stale_retained;
            continue;
        }
        if (auto content = to_routed_message(retained, now, now_unix_ms)) {
            router_.route(*content, outbox, scratch);
        }
    }
    std::size_t index = 0;
    for (store::loaded_session& held : loaded.sessions) {
        worker& home = *workers_[index++ % workers_.size()];
        auto offline = std::make_shared<connection>(
            *this, home, boost::asio::ip::tcp::socket(home.context()), connection_settings_);
        offline->restore_offline(held, now, now_unix_ms);
    }
    for (store::stored_session& ended : loaded.expired_sessions) {
        // Expired while the broker was down: the store deleted it; its will is still owed.
        if (!ended.will) {
            continue;
        }
        worker& home = *workers_[index++ % workers_.size()];
        auto offline = std::make_shared<connection>(
            *this, home, boost::asio::ip::tcp::socket(home.context()), connection_settings_);
        offline->restore_offline(store::loaded_session{std::move(ended), {}, {}, {}}, now,
                                 now_unix_ms);
    }
    chat_->discard_untaken_cursors();
    log_notice("store {}{}: restored {} session(s) and {} retained message(s); {} session(s) had "
               "expired",
               options.path.empty() ? std::string("(memory)") : options.path,
               options.chat == store::chat_backend::postgresql ? " (chat store: PostgreSQL)" : "",
               loaded.sessions.size(), loaded.retained.size() - stale_retained,
               loaded.expired_sessions.size());
    if (stale_retained > 0) {
        log_notice("store: removed {} retained message(s) that clients may not retain (under chat/ "
                   "or $SYS/)",
                   stale_retained);
    }
}

void server::open_chat(const store::store_options& options) {
    chat_settings settings;
    settings.is_presence_enabled = config_.presence;
    settings.history_retention_days = config_.history_retention_days;
    settings.history_keep_per_conversation = config_.history_keep_per_conversation;
    settings.reload_interval_ms = config_.chat_reload_interval_ms;
    settings.cursor_interval_s = config_.chat_cursor_interval_s;
    settings.signal_expiry_s = config_.signal_expiry_s;
    settings.delete_window_s = config_.chat_delete_window_s;
    settings.password_iterations = config_.password_iterations;
    settings.is_search_enabled = config_.chat_search;
    settings.file_sweep_interval_s = config_.file_sweep_interval_s;
    settings.login_backoff.user_free_failures = config_.login_backoff_user_failures;
    settings.login_backoff.address_free_failures = config_.login_backoff_address_failures;
    settings.login_backoff.first_delay =
        std::chrono::milliseconds(config_.login_backoff_initial_ms);
    settings.login_backoff.max_delay = std::chrono::seconds(config_.login_backoff_max_seconds);
    // The chat store groups its writes over a longer interval than the message store: each group
    // writes a 4 KB frame for every page it touches, and a chat message's PUBACK may wait that
    // long while its delivery does not (docs/DURABILITY.md "Chat messages").
    store::store_options chat_store_options = options;
    chat_store_options.commit_interval_ms = config_.chat_commit_interval_ms;
    std::optional<push::p256_key_pair> vapid_key;
    if (config_.push) {
        // The key pair the push services know this server by: made once, kept in data_dir.
        std::filesystem::create_directories(config_.data_dir);
        vapid_key = push::load_or_create_vapid_key(std::filesystem::path(config_.data_dir) /
                                                   push::vapid_key_file_name);
        settings.is_push_enabled = true;
        settings.push_public_key =
            push::base64url_encode(vapid_key->public_key.data(), vapid_key->public_key.size());
        settings.push_allow_insecure_endpoints = config_.push_allow_insecure_endpoints;
    }
    settings.gateway_name = effective_gateway_name(config_.gateway_name, config_.data_dir);
    chat_ = std::make_unique<chat_service>(store::open_chat_store(chat_store_options), settings);
    if (vapid_key) {
        push::push_sender_settings push_settings;
        push_settings.contact = config_.push_contact;
        push_settings.ttl_seconds = config_.push_ttl_seconds;
        push_settings.allow_insecure_endpoints = config_.push_allow_insecure_endpoints;
        push_settings.ca_file = config_.push_cafile;
        push_sender_ =
            std::make_unique<push::push_sender>(chat_->store(), *vapid_key, push_settings);
        push_sender_->set_subscribers(&chat_->push_subscribers());
        push_sender_->start();
        chat_->set_push_notifier([sender = push_sender_.get()](push::push_notice notice) {
            sender->submit(std::move(notice));
        });
    }
    chat_->load();
    for (const std::string& peer : relay_peers_) {
        chat_->add_relay_peer(peer);
    }
    if (options.durability != store::durability_level::none) {
        file_settings files;
        files.directory = (std::filesystem::path(config_.data_dir) / "files").string();
        files.max_file_bytes = config_.file_max_bytes;
        files.quota_bytes = config_.file_quota_bytes;
        files.token_lifetime_s = config_.file_token_lifetime_s;
        files.unreferenced_grace_s = config_.file_unreferenced_grace_s;
        files_ = std::make_unique<file_service>(*chat_, files);
        files_->load();
        chat_->attach_files(files_.get());
        file_api_.store(files_.get(), std::memory_order_release);
    }
    admin_ = std::make_unique<admin_api>(*chat_, [this] { return admin_overview_figures(); });
    admin_api_.store(admin_.get(), std::memory_order_release);
    install_outside_rules();
    chat_->start(
        [this](std::shared_ptr<const directory_changes> changes) { apply_chat_changes(changes); });
}

void server::install_outside_rules() {
    auto rules = std::make_shared<outside_chat_rules>();
    rules->acl = config_.acl;
    const std::vector<store::acl_rule_record> stored = chat_->directory().acl_rules();
    if (!stored.empty()) {
        rules->acl = with_stored_rules(config_.acl, stored, [](const store::acl_rule_record& bad) {
            log_warning("acl: ignoring the stored rule '{} {}': not a valid rule", bad.access,
                        bad.filter);
        });
    }
    // The http listener speaks no MQTT: where it listens says nothing of who reaches the topics.
    rules->is_anonymous_open =
        std::ranges::all_of(config_.listeners, [](const listener_config& listener) {
            return listener.kind == listener_kind::http || is_loopback_only(listener);
        });
    const bool is_anonymous_open = rules->is_anonymous_open;
    chat_->directory().set_outside_rules(std::move(rules));
    if (config_.acl) {
        log_notice("acl: topics outside chat/ follow {}{}", config_.acl_file,
                   stored.empty() ? std::string()
                                  : fmt::format(" and {} rule(s) in the store", stored.size()));
    } else if (!stored.empty()) {
        log_notice("acl: topics outside chat/ follow {} rule(s) in the store", stored.size());
    } else if (!is_anonymous_open) {
        log_notice("acl: no acl_file; anonymous clients may not publish or subscribe outside chat/ "
                   "(a listener is not loopback-only)");
    }
}

void server::apply_chat_changes(const std::shared_ptr<const directory_changes>& changes) {
    if (changes->are_acl_rules_changed) {
        std::lock_guard lock(settings_mutex_);
        install_outside_rules();
    }
    for (const auto& owned : workers_) {
        worker& owner = *owned;
        boost::asio::post(owner.context(), [&owner, changes] {
            for (const auto& held : owner.connections()) {
                held->apply_chat_changes(*changes);
            }
            owner.flush();
        });
    }
}

void server::mark_chat_users_offline() {
    std::vector<mqtt::message_ptr> retained;
    router_.collect_retained("chat/presence/+", retained);
    const std::uint64_t now_unix_ms = unix_now_ms();
    const auto now = std::chrono::steady_clock::now();
    std::vector<delivery_batch> outbox(workers_.size());
    mqtt::match_output scratch;
    constexpr std::string_view prefix = "chat/presence/";
    for (const mqtt::message_ptr& held : retained) {
        if (!chat_service::says_online(*held)) {
            continue;
        }
        const std::string_view user = std::string_view(held->topic_name).substr(prefix.size());
        const mqtt::message_ptr offline = chat_service::presence_message(user, 0, now_unix_ms);
        router_.route(offline, outbox, scratch);
        if (persistence_) {
            persistence_->store().put_retained(to_stored_message(*offline, now, now_unix_ms));
        }
    }
}

} // namespace perch::gateway
