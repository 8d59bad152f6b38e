// The broker process: start, reload, stop, and the glue between listeners, workers and the
// shared tables.
#include "gateway/broker/server.hpp"

#include <algorithm>
#include <filesystem>
#include <iterator>
#include <stdexcept>
#include <thread>

#include <boost/asio/post.hpp>
#include <fmt/format.h>

#include "gateway/broker/broker_metrics.hpp"
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

/// Broker-wide output backlog at which readers pause (DESIGN.md "Overload").
constexpr std::uint64_t backlog_pause_bytes = 256ULL * 1024 * 1024;
/// What a WebSocket message may hold beyond the largest packet it may carry: the acknowledgements
/// and pings a client sends in the same message (DESIGN.md "Overload").
constexpr std::uint64_t websocket_message_allowance_bytes = 64 * 1024;

std::size_t worker_count_for(const broker_config& config) {
    std::size_t count = config.workers;
    if (count == 0) {
        count = std::max(1U, std::thread::hardware_concurrency());
    }
    return std::min(count, max_workers);
}

} // namespace

server::server(broker_config config) : config_(std::move(config)) {
    update_connection_settings();
    max_connections_ = config_.max_connections;
    connection_rate_.set_limit({config_.max_connection_rate, config_.max_connection_burst});
}

server::~server() {
    stop();
    if (persistence_) {
        // Pending writes are committed before the workers their completions post to are gone.
        persistence_->store().flush();
        persistence_.reset();
    }
    // The push sender reads the chat store: it stops first.
    push_sender_.reset();
    if (admin_) {
        // It waits on the chat layer's reloads: it stops first.
        admin_api_.store(nullptr, std::memory_order_release);
        admin_->stop();
        admin_.reset();
    }
    if (chat_) {
        chat_->stop();
        if (files_) {
            // Its last disk work may submit store writes: they complete before it goes.
            file_api_.store(nullptr, std::memory_order_release);
            files_->stop();
            chat_->store().flush();
            files_.reset();
        }
        chat_.reset();
    }
    // Its timers belong to worker 0's io_context, as do the http sessions' sockets.
    service_.reset();
    http_server_.reset();
    sys_topics_.reset();
    listeners_.clear();
    workers_.clear();
}

connection_settings server::make_connection_settings(const broker_config& config) {
    connection_settings settings;
    mqtt::session_limits& limits = settings.limits;
    limits.receive_maximum = config.receive_maximum;
    limits.outbound_inflight_maximum =
        config.max_inflight_messages != 0 ? config.max_inflight_messages : 0xFFFF;
    limits.topic_alias_maximum = config.topic_alias_maximum;
    limits.outbound_topic_alias_maximum = config.outbound_topic_alias_maximum;
    limits.maximum_packet_size =
        config.max_packet_size != 0 ? config.max_packet_size : mqtt::max_packet_size;
    limits.max_connect_packet_size =
        std::min(config.max_connect_packet_size, limits.maximum_packet_size);
    limits.maximum_qos = static_cast<mqtt::qos>(config.max_qos);
    limits.is_retain_available = config.retain_available;
    if (config.server_keep_alive_seconds != 0) {
        limits.server_keep_alive_seconds = config.server_keep_alive_seconds;
    }
    limits.connect_timeout = std::chrono::seconds(config.connect_timeout_seconds);
    limits.maximum_session_expiry_interval =
        config.max_session_expiry_seconds != 0 ? config.max_session_expiry_seconds : 0xFFFF'FFFF;
    limits.max_queued_messages = config.max_queued_messages != 0
                                     ? config.max_queued_messages
                                     : std::numeric_limits<std::size_t>::max();
    limits.max_queued_bytes = config.max_queued_bytes != 0
                                  ? static_cast<std::size_t>(config.max_queued_bytes)
                                  : std::numeric_limits<std::size_t>::max();
    settings.max_output_bytes = config.max_output_bytes;
    settings.backlog_pause_bytes = std::max(backlog_pause_bytes, config.max_output_bytes * 4);
    settings.allow_anonymous = true;
    settings.quota = config.quota;
    for (const user_quota_setting& setting : config.user_quotas) {
        settings.user_quotas.try_emplace(setting.user, quota_for_user(config, setting.user));
    }
    return settings;
}

void server::update_connection_settings() {
    connection_settings settings = make_connection_settings(config_);
    connection_settings_ = std::make_shared<const connection_settings>(settings);
    settings.allow_anonymous = false;
    named_only_settings_ = std::make_shared<const connection_settings>(std::move(settings));
}

void server::set_in_process_service(in_process_service_factory make) {
    make_service_ = std::move(make);
}

void server::start() {
    // TLS contexts first: a bad certificate stops start-up before any port is bound.
    std::vector<std::shared_ptr<const tls_context>> security(config_.listeners.size());
    for (std::size_t index = 0; index < config_.listeners.size(); ++index) {
        const listener_config& wanted = config_.listeners[index];
        if (is_tls(wanted.kind)) {
            security[index] = std::make_shared<tls_context>(wanted, config_.data_dir);
        }
    }
    // The web app's files too: a folder that cannot be read stops start-up, naming it.
    std::shared_ptr<const static_site> site;
    if (!config_.web_root.empty()) {
        site = static_site::load(config_.web_root);
        log_notice("web: serving {} files of {} on the WebSocket listeners", site->file_count(),
                   config_.web_root);
    }
    {
        std::lock_guard lock(settings_mutex_);
        tls_contexts_ = security;
        web_site_ = std::move(site);
    }
    http_delegate_ = file_delegate();
    delegated_slots_.resize(config_.listeners.size());
    for (std::size_t index = 0; index < config_.listeners.size(); ++index) {
        const listener_kind kind = config_.listeners[index].kind;
        if (kind == listener_kind::websocket || kind == listener_kind::websocket_tls) {
            delegated_slots_[index] =
                std::make_shared<delegated_request_slots>(delegated_http_limits{}.max_concurrent);
        }
    }
    const std::size_t count = worker_count_for(config_);
    std::vector<worker*> peers;
    for (std::size_t index = 0; index < count; ++index) {
        workers_.push_back(std::make_unique<worker>(index));
        peers.push_back(workers_.back().get());
    }
    for (const auto& owned : workers_) {
        owned->set_peers(peers);
    }

    listeners_.resize(count);
    for (std::size_t listener_index = 0; listener_index < config_.listeners.size();
         ++listener_index) {
        const listener_config& wanted = config_.listeners[listener_index];
        if (wanted.kind == listener_kind::http) {
            start_http_listener(wanted);
            continue;
        }
        // By value: a reload replaces config_ while the listeners run.
        const auto on_accept = [this, accepted = wanted,
                                listener_index](worker& home, boost::asio::ip::tcp::socket socket) {
            handle_accepted(home, accepted, listener_index, std::move(socket));
        };
        std::uint16_t port = wanted.port;
        for (std::size_t index = 0; index < count; ++index) {
            try {
                const auto endpoint = listener_endpoint(wanted, port);
                worker& home = *workers_[index];
                listeners_[index].push_back(std::make_unique<listener>(
                    home.context(), wanted, endpoint,
                    [on_accept, &home](boost::asio::ip::tcp::socket socket) {
                        on_accept(home, std::move(socket));
                    }));
            } catch (const boost::system::system_error& error) {
                throw std::runtime_error(
                    fmt::format("cannot listen on {}:{}: {}",
                                wanted.bind_address.empty() ? "*" : wanted.bind_address, port,
                                error.code().message()));
            }
            // With port 0 the first socket picks a free port; the others join it.
            port = listeners_[index].back()->port();
        }
        log_notice("listening for {} on {}:{} with {} worker(s), {}", to_string(wanted.kind),
                   wanted.bind_address.empty() ? "*" : wanted.bind_address, port, count,
                   allows_anonymous(config_, wanted) ? "anonymous clients allowed"
                                                     : "clients must log in");
    }

    if (config_.persistence) {
        open_store();
    } else {
        if (config_.chat_store == chat_store_kind::postgresql) {
            throw store::store_open_error("chat_store postgresql needs persistence true");
        }
        store::store_options in_memory;
        in_memory.durability = store::durability_level::none;
        in_memory.is_search_enabled = config_.chat_search;
        open_chat(in_memory);
    }
    mark_chat_users_offline();
    if (make_service_) {
        service_ = make_service_(*this);
    }
    sys_topics_ =
        std::make_unique<sys_topics>(*workers_[0], router_, [this] { return collect_stats(); });
    started_at_ = std::chrono::steady_clock::now();
    for (const auto& owned : workers_) {
        owned->start();
    }
    for (const auto& per_worker : listeners_) {
        for (const auto& owned : per_worker) {
            owned->start();
        }
    }
    const std::uint32_t interval = config_.sys_interval_seconds;
    boost::asio::post(workers_[0]->context(),
                      [this, interval] { sys_topics_->set_interval(interval); });
    if (service_) {
        boost::asio::post(workers_[0]->context(), [service = service_] { service->start(); });
    }
    is_started_ = true;
    is_serving_ = true;
}

std::shared_ptr<const http_delegate> server::file_delegate() {
    // The http listener may start before the chat layer opens: the file and admin APIs are looked
    // up when a request comes, and their targets answer 404 (the metrics' answer) until they are
    // there. The admin API's targets (/api/admin) and the file API's (/files) do not overlap.
    auto delegate = std::make_shared<http_delegate>();
    delegate->is_delegated = [this](std::string_view target) {
        if (is_admin_target(target)) {
            return admin_api_.load(std::memory_order_acquire) != nullptr;
        }
        return file_api_.load(std::memory_order_acquire) != nullptr && is_file_target(target);
    };
    delegate->body_limit = [this](boost::beast::http::verb method, std::string_view target) {
        if (is_admin_target(target)) {
            return admin_api::max_body_bytes;
        }
        return file_api_.load(std::memory_order_acquire)
            ->body_limit(method, target, http_server_limits{}.max_body_bytes);
    };
    delegate->max_body_limit = [this]() -> std::size_t {
        const file_service* files = file_api_.load(std::memory_order_acquire);
        return std::max(
            admin_api::max_body_bytes,
            files != nullptr ? files->body_limit(boost::beast::http::verb::post, "/files", 0) : 0);
    };
    delegate->too_large = [this](const http_request& request) {
        const std::string_view target(request.target().data(), request.target().size());
        if (is_admin_target(target)) {
            return admin_api_.load(std::memory_order_acquire)->too_large(request);
        }
        return file_api_.load(std::memory_order_acquire)->too_large(request);
    };
    delegate->handle = [this](http_request request, std::string remote_address,
                              std::function<void(http_response)> done) {
        const std::string_view target(request.target().data(), request.target().size());
        if (is_admin_target(target)) {
            admin_api_.load(std::memory_order_acquire)
                ->handle(std::move(request), std::move(remote_address), std::move(done));
            return;
        }
        file_api_.load(std::memory_order_acquire)
            ->handle(std::move(request), std::move(remote_address), std::move(done));
    };
    // Uploads go to disk as they arrive (gateway/chat/file_upload.hpp).
    delegate->is_streamed = [](boost::beast::http::verb method, std::string_view target) {
        return file_service::is_streamed(method, target);
    };
    delegate->begin_stream =
        [this](http_request request, std::string remote_address,
               std::function<void(std::shared_ptr<http_body_sink>, std::optional<http_response>)>
                   ready) {
            file_api_.load(std::memory_order_acquire)
                ->begin_upload(std::move(request), std::move(remote_address), std::move(ready));
        };
    return delegate;
}

void server::start_http_listener(const listener_config& wanted) {
    if (!http_server_) {
        observability_sources sources;
        sources.metrics_text = [this] {
            return render_prometheus(make_metrics_snapshot(collect_stats()));
        };
        sources.health = [this] { return health(); };
        http_server_ =
            std::make_unique<http_server>(std::move(sources), http_server_limits{}, http_delegate_);
    }
    worker& home = *workers_[0];
    try {
        listeners_[0].push_back(std::make_unique<listener>(
            home.context(), wanted, listener_endpoint(wanted, wanted.port),
            [this](boost::asio::ip::tcp::socket socket) {
                http_server_->handle_accepted(std::move(socket));
            }));
    } catch (const boost::system::system_error& error) {
        throw std::runtime_error(fmt::format(
            "cannot listen on {}:{}: {}", wanted.bind_address.empty() ? "*" : wanted.bind_address,
            wanted.port, error.code().message()));
    }
    log_notice("listening for http (/metrics, /healthz) on {}:{}{}",
               wanted.bind_address.empty() ? "*" : wanted.bind_address,
               listeners_[0].back()->port(),
               is_loopback_only(wanted) ? ""
                                        : " (not loopback-only: anyone who reaches the port "
                                          "reads the metrics)");
}

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

void server::stop(std::chrono::milliseconds grace) {
    if (!is_started_ || is_stopped_) {
        return;
    }
    is_stopped_ = true;
    is_serving_ = false;
    for (std::size_t index = 0; index < workers_.size(); ++index) {
        worker& owner = *workers_[index];
        boost::asio::post(owner.context(), [this, &owner, index] {
            for (const auto& owned : listeners_[index]) {
                owned->close();
            }
            if (index == 0) {
                if (http_server_) {
                    http_server_->close_all();
                }
                sys_topics_->stop();
                if (service_) {
                    service_->stop();
                }
            }
            for (const auto& open : owner.connections()) {
                open->shut_down_for_exit();
            }
            owner.flush_now();
        });
    }
    for (const auto& owned : workers_) {
        owned->stop(grace);
    }
    for (const auto& owned : workers_) {
        owned->join();
    }
}

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

std::vector<std::uint16_t> server::bound_ports() const {
    std::vector<std::uint16_t> ports;
    if (!listeners_.empty()) {
        for (const auto& owned : listeners_[0]) {
            ports.push_back(owned->port());
        }
    }
    return ports;
}

std::shared_ptr<const connection_settings>
server::current_connection_settings(const listener_config* listener) const {
    std::lock_guard lock(settings_mutex_);
    const bool is_open = listener != nullptr ? allows_anonymous(config_, *listener)
                                             : config_.allow_anonymous.value_or(true);
    return is_open ? connection_settings_ : named_only_settings_;
}

void server::handle_accepted(worker& home, const listener_config& listener,
                             std::size_t listener_index, boost::asio::ip::tcp::socket socket) {
    // The rate first: a connection refused for it holds no max_connections slot at any moment,
    // so one refused on another worker can never make an admitted one look over the limit.
    boost::system::error_code address_error;
    const auto remote = socket.remote_endpoint(address_error);
    connection_admission admission = connection_admission::accepted;
    if (!address_error) {
        admission = connection_rate_.admit(remote.address(), std::chrono::steady_clock::now());
    }
    if (admission != connection_admission::accepted) {
        home.counters().connection_rate_refusals.add();
    }
    if (admission == connection_admission::refused) {
        const std::uint32_t limit = max_connections_.load(std::memory_order_relaxed);
        const std::uint32_t cap =
            limit == 0 ? max_rate_refused_waiting : std::min(limit, max_rate_refused_waiting);
        if (rate_refused_open_.fetch_add(1, std::memory_order_relaxed) >= cap) {
            rate_refused_open_.fetch_sub(1, std::memory_order_relaxed);
            admission = connection_admission::dropped;
        }
    }
    if (admission == connection_admission::dropped) {
        // Far past its rate: no CONNECT is read, no TLS handshake made.
        boost::system::error_code ignored;
        socket.close(ignored);
        return;
    }
    if (admission == connection_admission::accepted) {
        const std::uint32_t limit = max_connections_.load(std::memory_order_relaxed);
        const std::uint32_t open = open_connections_.fetch_add(1, std::memory_order_relaxed);
        if (limit != 0 && open >= limit) {
            open_connections_.fetch_sub(1, std::memory_order_relaxed);
            home.counters().connections_refused.add();
            log_notice("refusing a connection from {}:{}: max_connections ({}) reached",
                       remote.address().to_string(), remote.port(), limit);
            boost::system::error_code ignored;
            socket.close(ignored);
            return;
        }
    }
    std::shared_ptr<const connection_settings> settings;
    std::shared_ptr<const tls_context> security;
    std::shared_ptr<const static_site> site;
    {
        std::lock_guard lock(settings_mutex_);
        settings =
            allows_anonymous(config_, listener) ? connection_settings_ : named_only_settings_;
        security = tls_contexts_[listener_index];
        site = web_site_;
    }
    std::unique_ptr<transport> stream;
    worker_counters& counts = home.counters();
    const tls_handshake_counters handshakes{
        &counts.tls_handshakes_full, &counts.tls_handshakes_resumed, &counts.tls_handshakes_failed};
    if (listener.kind == listener_kind::mqtt) {
        stream = std::make_unique<tcp_transport>(home.poller(), std::move(socket));
    } else if (listener.kind == listener_kind::mqtt_tls) {
        stream = std::make_unique<tls_stream>(std::move(socket), std::move(security), handshakes);
    } else {
        websocket_settings upgrade;
        upgrade.path = listener.websocket_path;
        if (site) {
            upgrade.plain_requests = [site = std::move(site)](const auto& request) {
                return site->answer(request);
            };
        }
        upgrade.delegated.delegate = http_delegate_;
        upgrade.delegated.slots = delegated_slots_[listener_index];
        upgrade.deflate_client_window_bits =
            static_cast<int>(listener.websocket_deflate_window_bits);
        // One WebSocket message may carry several MQTT packets [MQTT-6.0.0-2 (5.0)]: room for
        // the largest packet plus the small ones a client sends with it (docs/DESIGN.md).
        upgrade.max_message_bytes =
            std::uint64_t{settings->limits.maximum_packet_size} + websocket_message_allowance_bytes;
        upgrade.max_connect_message_bytes =
            std::uint64_t{settings->limits.max_connect_packet_size} +
            websocket_message_allowance_bytes;
        stream = listener.kind == listener_kind::websocket
                     ? make_websocket_transport(std::move(socket), upgrade)
                     : make_websocket_tls_transport(std::move(socket), std::move(security), upgrade,
                                                    handshakes);
    }
    auto accepted =
        std::make_shared<connection>(*this, home, std::move(stream), std::move(settings));
    if (admission == connection_admission::refused) {
        accepted->refuse_for_connection_rate();
    }
    accepted->start();
}

void server::release_connection_slot() {
    open_connections_.fetch_sub(1, std::memory_order_relaxed);
}

void server::release_rate_refused_slot() {
    rate_refused_open_.fetch_sub(1, std::memory_order_relaxed);
}

client::in_process_endpoint server::in_process_endpoint(worker& home) {
    return {&home.context(), [this, &home](std::unique_ptr<transport> stream) {
                start_in_process_connection(home, std::move(stream));
            }};
}

void server::start_in_process_connection(worker& home, std::unique_ptr<transport> stream) {
    open_connections_.fetch_add(1, std::memory_order_relaxed);
    std::make_shared<connection>(*this, home, std::move(stream), current_connection_settings())
        ->start();
}

broker_stats server::collect_stats() const {
    broker_stats stats;
    stats.version = PERCH_VERSION;
    stats.uptime_seconds =
        static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::seconds>(
                                       std::chrono::steady_clock::now() - started_at_)
                                       .count());
    for (const auto& owned : workers_) {
        const worker_counters& counts = owned->counters();
        stats.clients_connected += counts.connected_clients.value();
        stats.publish_received += counts.publish_received.value();
        stats.publish_sent += counts.publish_sent.value();
        stats.publish_dropped += counts.publish_dropped.value();
        stats.access_refusals += counts.access_refusals.value();
        stats.packets_sent += counts.packets_sent.value();
        stats.bytes_received += counts.bytes_received.value();
        stats.bytes_sent += counts.bytes_sent.value();
        stats.banned_connects += counts.banned_connects.value();
        stats.banned_disconnects += counts.banned_disconnects.value();
        stats.login_failures += counts.login_failures.value();
        stats.login_backoff_refusals += counts.login_backoff_refusals.value();
        stats.message_rate_refusals += counts.message_rate_refusals.value();
        stats.byte_rate_refusals += counts.byte_rate_refusals.value();
        stats.rate_disconnects += counts.rate_disconnects.value();
        stats.connection_rate_refusals += counts.connection_rate_refusals.value();
        stats.subscription_quota_refusals += counts.subscription_quota_refusals.value();
    }
    if (service_) {
        service_->add_stats(stats);
    }
    stats.clients_total = registry_.size();
    stats.subscriptions = router_.subscription_count();
    stats.retained_messages = router_.retained_count();
    add_metrics_stats(stats);
    return stats;
}

void server::add_metrics_stats(broker_stats& stats) const {
    for (const auto& owned : workers_) {
        const worker_counters& counts = owned->counters();
        for (std::size_t index = 0; index < worker_counter_table.size(); ++index) {
            stats.worker_totals[index] += (counts.*worker_counter_table[index].member).value();
        }
        broker_stats::worker_lag lag;
        lag.last_us = counts.loop_lag_us.value();
        for (std::size_t bucket = 0; bucket < lag.buckets.size(); ++bucket) {
            lag.buckets[bucket] = counts.loop_lag_buckets[bucket].value();
        }
        lag.sum_us = counts.loop_lag_sum_us.value();
        lag.probes = counts.loop_lag_probes.value();
        stats.workers.push_back(lag);
        stats.session_queue_deepest =
            std::max(stats.session_queue_deepest, counts.session_queue_deepest.value());
        for (std::size_t bucket = 0; bucket < stats.session_queue_depths.size(); ++bucket) {
            stats.session_queue_depths[bucket] +=
                counts.session_queue_depth_buckets[bucket].value();
        }
    }
    // Every listener has a socket on worker 0 (the http ones only there): sum each over workers.
    for (const auto& per_worker : listeners_) {
        for (const auto& owned : per_worker) {
            const listener_config& config = owned->config();
            auto found = std::ranges::find_if(stats.listeners, [&](const auto& held) {
                return held.port == owned->port() && held.bind_address == config.bind_address &&
                       held.kind == to_string(config.kind);
            });
            if (found == stats.listeners.end()) {
                stats.listeners.push_back(
                    {std::string(to_string(config.kind)), config.bind_address, owned->port(), 0});
                found = std::prev(stats.listeners.end());
            }
            found->accepted += owned->accepted().value();
        }
    }
    if (persistence_) {
        stats.store = persistence_->store().counters();
    }
    if (http_server_) {
        stats.http_requests = http_server_->counts().requests.value();
        stats.http_bad_requests = http_server_->counts().bad_requests.value();
        stats.http_connections_refused = http_server_->counts().connections_refused.value();
    }
    if (const file_service* files = file_api_.load(std::memory_order_acquire)) {
        const file_counts& counts = files->counts();
        stats.file_counts = {
            {"uploads", counts.uploads.value()},
            {"downloads", counts.downloads.value()},
            {"deletes", counts.deletes.value()},
            {"swept", counts.swept.value()},
            {"refused/unauthorized", counts.refused_unauthorized.value()},
            {"refused/not_found", counts.refused_not_found.value()},
            {"refused/too_large", counts.refused_too_large.value()},
            {"refused/quota", counts.refused_quota.value()},
            {"refused/bad_request", counts.refused_bad_request.value()},
        };
        stats.file_stored_bytes = counts.stored_bytes.load(std::memory_order_relaxed);
    }
    if (push_sender_) {
        const push::push_counters& counts = push_sender_->counters();
        stats.push = broker_stats::push_stats{counts.sent.load(std::memory_order_relaxed),
                                              counts.failed.load(std::memory_order_relaxed),
                                              counts.gone.load(std::memory_order_relaxed),
                                              counts.dropped.load(std::memory_order_relaxed),
                                              push_sender_->queued(),
                                              chat_ ? chat_->push_subscribers().user_count() : 0};
    }
}

health_answer server::health() const {
    if (!is_serving_.load()) {
        return {false, "the broker is not serving (starting or stopping)"};
    }
    if (persistence_) {
        const store::store_counters store = persistence_->store().counters();
        if (store.is_refusing_writes) {
            return {false, "the store refuses writes: " + store.write_failure};
        }
    }
    return {true, {}};
}

} // namespace perch::gateway
