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
            owner.probes().end_all();
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
    if (listener.kind == listener_kind::mqtt && admission == connection_admission::accepted &&
        workers_.size() > 1 && chat_) {
        place_connection(home, std::move(socket), std::move(settings));
        return;
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

} // namespace perch::gateway
