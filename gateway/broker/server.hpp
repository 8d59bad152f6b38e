// The broker process: workers, listeners, the shared routing tables and session registry, $SYS
// statistics, start, reload and stop. Owns everything; owns no socket itself.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "gateway/broker/broker_tables.hpp"
#include "gateway/broker/connection.hpp"
#include "gateway/broker/connection_rate_limiter.hpp"
#include "gateway/broker/router.hpp"
#include "gateway/broker/session_persistence.hpp"
#include "gateway/broker/session_registry.hpp"
#include "gateway/broker/sys_topics.hpp"
#include "gateway/broker/worker.hpp"
#include "gateway/chat/admin_api.hpp"
#include "gateway/chat/chat_service.hpp"
#include "gateway/chat/file_service.hpp"
#include "gateway/client/in_process_client.hpp"
#include "gateway/common/config.hpp"
#include "gateway/observability/http_server.hpp"
#include "gateway/push/push_sender.hpp"
#include "gateway/stream/delegated_http_exchange.hpp"
#include "gateway/stream/listener.hpp"
#include "gateway/stream/tls_context.hpp"
#include "gateway/web/static_site.hpp"

namespace perch::gateway {

class server;

/// A part the program runs inside the broker on worker 0, connected through
/// start_in_process_connection (docs/ASSISTANT.md). The broker knows it only through this.
class in_process_service {
public:
    virtual ~in_process_service() = default;
    /// Called on worker 0's thread once the workers run.
    virtual void start() = 0;
    /// Called on worker 0's thread when the server stops, before the connections are closed.
    virtual void stop() = 0;
    /// Adds the service's own counters to `stats`. The thread collecting the stats.
    virtual void add_stats(broker_stats& stats) const = 0;
};

/// Makes the in-process service during server::start(), once the chat layer is open and before
/// the workers run; returns null for none. May throw, which fails start().
using in_process_service_factory = std::function<std::shared_ptr<in_process_service>(server&)>;

/// The running broker. start() and stop() are called from the main thread; the accessors from
/// any worker. Its connections see it only as their broker_tables.
class server final : public broker_tables {
public:
    /// A broker for `config`; nothing runs before start().
    explicit server(broker_config config);
    ~server() override;
    server(const server&) = delete;
    server& operator=(const server&) = delete;

    /// Has start() make and run the service `make` returns. Before start().
    void set_in_process_service(in_process_service_factory make);
    /// The local users of bridges that carry chat (bridge_chat, docs/BRIDGES.md): relay peers
    /// from the moment the chat layer opens, before stored sessions are restored, so that a
    /// bridge's stored subscription and queued relay copies survive a restart. Before start().
    void set_relay_peers(std::vector<std::string> users) { relay_peers_ = std::move(users); }

    /// Binds every listener and starts the workers. Throws std::runtime_error naming the listener
    /// when a socket cannot be bound. An http listener (metrics and health) runs on worker 0.
    void start();

    /// Stops cleanly: closes the listeners, sends DISCONNECT 0x8B (server shutting down) to 5.0
    /// clients, closes every connection and joins the workers (cutting them short after
    /// `grace`). Idempotent.
    void stop(std::chrono::milliseconds grace = std::chrono::milliseconds(3000));

    /// Applies what can change while running (docs/DESIGN.md "Reload"): the limits and settings
    /// of new connections, allow_anonymous, the acl, log level and format, $SYS interval, chat
    /// history retention and password iterations, and the TLS certificates and keys of every TLS
    /// listener (built first; new handshakes use them, live connections keep theirs; a listener
    /// whose files cannot be used keeps its old ones). Logs each key whose change needs a
    /// restart (keys_needing_restart) and keeps its running value. Main thread, after start().
    void reload(const broker_config& config);

    /// The ports the listeners are bound to, in config order (useful with port 0).
    std::vector<std::uint16_t> bound_ports() const;

    // ---- for connections, listeners and workers ------------------------------------------

    router& routes() override { return router_; }
    session_registry& registry() override { return registry_; }
    /// The store of persistent sessions, or nullptr when persistence is off.
    session_persistence* persistence() override { return persistence_.get(); }
    /// The chat layer (always present once started; its store is in memory when persistence is
    /// off).
    chat_service& chat() override { return *chat_; }
    std::size_t worker_count() const { return workers_.size(); }
    worker& worker_at(std::size_t index) { return *workers_[index]; }

    /// The settings for a connection accepted now on `listener`: whether it lets clients without
    /// a user name in depends on the listener (allows_anonymous). Without a listener (a
    /// connection made inside the process): as the configuration says, yes when it is silent.
    std::shared_ptr<const connection_settings>
    current_connection_settings(const listener_config* listener = nullptr) const;

    /// Called by a listener with a freshly accepted socket on `home`: refuses it when
    /// max_connections is reached, otherwise starts a connection speaking `listener`'s kind (with
    /// the current TLS context of listener number `listener_index` for the TLS kinds). A
    /// connection from an address over max_connection_rate is started refused (its CONNECT is
    /// answered Connection rate exceeded), or closed at once when the address floods
    /// (docs/LIMITS.md).
    void handle_accepted(worker& home, const listener_config& listener, std::size_t listener_index,
                         boost::asio::ip::tcp::socket socket);

    /// Frees the slot a connection took in max_connections. Any thread.
    void release_connection_slot() override;
    void release_rate_refused_slot() override;

    /// Connections refused for max_connection_rate that may wait for their CONNECT at once (to be
    /// answered Connection rate exceeded): at most max_connections, and at most this many. A
    /// refused connection past it is closed at once, unread, like one from a flooding address:
    /// many addresses each under their flood threshold cannot hold the broker's descriptors.
    static constexpr std::uint32_t max_rate_refused_waiting = 1024;

    /// Starts a connection for a client living inside the broker (an in_process_service) on `home`,
    /// over `stream`; it takes a max_connections slot without being refused. `home`'s thread.
    void start_in_process_connection(worker& home, std::unique_ptr<transport> stream);
    /// Where an in-process client on `home` connects: start_in_process_connection there.
    client::in_process_endpoint in_process_endpoint(worker& home);

    /// Sums every worker's counters and the shared tables. Any thread.
    broker_stats collect_stats() const;

    /// Whether the broker serves and its store accepts writes (the http listener's /healthz).
    /// Any thread.
    health_answer health() const;

private:
    static connection_settings make_connection_settings(const broker_config& config);
    /// The hook of the file API (/files) and the admin API (/api/admin) into the http listeners.
    std::shared_ptr<const http_delegate> file_delegate();
    /// The figures of the admin API's overview (admin_figures.cpp). Any thread.
    admin_figures admin_overview_figures() const;
    /// Binds the http listener `wanted` on worker 0 (making http_server_ first). Throws
    /// std::runtime_error naming the address when the socket cannot be bound.
    void start_http_listener(const listener_config& wanted);
    /// Finds the worker for a plain-TCP connection accepted on `home` from its CONNECT's user
    /// (docs/DESIGN.md "Connection placement") and starts it there.
    void place_connection(worker& home, boost::asio::ip::tcp::socket socket,
                          std::shared_ptr<const connection_settings> settings);
    /// The worker for a connection of `user` accepted on `home`.
    worker& placement_worker(const std::optional<std::string>& user, worker& home);
    /// Starts a plain-TCP connection on `owner`; `owner`'s thread.
    void start_tcp_connection(worker& owner, boost::asio::ip::tcp::socket socket,
                              std::shared_ptr<const connection_settings> settings);
    /// Adds worker_counter_table's totals, the listeners, the loop lag, the store and the http
    /// listener to `stats`.
    void add_metrics_stats(broker_stats& stats) const;
    /// Replaces connection_settings_ and named_only_settings_ from config_ (lock held).
    void update_connection_settings();
    /// Opens the store named by the config (throws store::store_open_error) and restores the
    /// retained messages and the persistent sessions, offline, spread over the workers.
    void open_store();
    /// Opens the chat store with `options` (the message store's), loads the directory and starts
    /// following it. Throws store::store_open_error.
    void open_chat(const store::store_options& options);
    /// Hands a directory diff to every worker, which applies it to its sessions.
    /// Installs config_'s acl (or the secure default without one) as the rules outside chat/.
    void install_outside_rules();
    void apply_chat_changes(const std::shared_ptr<const directory_changes>& changes);
    /// Nobody is connected at start: every retained presence still saying online (left by a
    /// stop or a crash) is replaced by offline.
    void mark_chat_users_offline();

    // Settings for new connections. Owner: main thread writes on reload. Lock: settings_mutex_.
    mutable std::mutex settings_mutex_;
    broker_config config_;
    /// Shared by every connection accepted under them; a reload replaces them. The two differ
    /// only in allow_anonymous (true, false).
    std::shared_ptr<const connection_settings> connection_settings_;
    std::shared_ptr<const connection_settings> named_only_settings_;
    /// The TLS context of each listener (null for the plain kinds), in config order; a reload
    /// replaces them, and each connection holds the one it was accepted with.
    std::vector<std::shared_ptr<const tls_context>> tls_contexts_;
    /// The web app's files (web_root), or null; a reload replaces them.
    std::shared_ptr<const static_site> web_site_;

    router router_;
    session_registry registry_;
    std::unique_ptr<session_persistence> persistence_;
    std::unique_ptr<chat_service> chat_;
    /// Files in chat (docs/CHAT.md "Files"), or null without persistence.
    std::unique_ptr<file_service> files_;
    /// files_ for the http sessions, set once it is loaded. Any thread (atomic).
    std::atomic<file_service*> file_api_{nullptr};
    /// The HTTP admin API (docs/ADMIN.md), made with the chat layer; stopped before it.
    std::unique_ptr<admin_api> admin_;
    /// admin_ for the http sessions, set once it is made. Any thread (atomic).
    std::atomic<admin_api*> admin_api_{nullptr};
    /// Web Push (config push true), or null. Reads chat_'s store; stopped before it.
    std::unique_ptr<push::push_sender> push_sender_;
    std::vector<std::unique_ptr<worker>> workers_;
    /// Every worker's listeners; listeners_[i] runs on worker i.
    std::vector<std::vector<std::unique_ptr<listener>>> listeners_;
    std::unique_ptr<sys_topics> sys_topics_;
    /// The http listener's sessions (metrics and health), or null without an http listener.
    /// Owner: worker 0's thread.
    std::unique_ptr<http_server> http_server_;
    /// The requests another service answers (the file API), on the http listener and on the
    /// WebSocket listeners alike (one origin for the web app). Written by start() before any
    /// listener runs; read from any thread after.
    std::shared_ptr<const http_delegate> http_delegate_;
    /// Each listener's delegated requests in flight, in config order (null but for WebSocket
    /// listeners). Written by start() before any listener runs.
    std::vector<std::shared_ptr<delegated_request_slots>> delegated_slots_;
    // True from the end of start() to the beginning of stop(). Any thread (atomic).
    std::atomic<bool> is_serving_{false};
    in_process_service_factory make_service_;
    std::vector<std::string> relay_peers_;
    /// What make_service_ returned, or null; runs on worker 0.
    std::shared_ptr<in_process_service> service_;
    /// max_connection_rate per remote address. Any thread (sharded locks inside).
    connection_rate_limiter connection_rate_;
    // Connections holding a max_connections slot. Any thread (atomic).
    std::atomic<std::uint32_t> open_connections_{0};
    // Connections refused for their rate, waiting for their CONNECT. Any thread (atomic).
    std::atomic<std::uint32_t> rate_refused_open_{0};
    // Copy of config_.max_connections read on every accept. Any thread (atomic).
    std::atomic<std::uint32_t> max_connections_{0};
    std::chrono::steady_clock::time_point started_at_;
    bool is_started_ = false;
    bool is_stopped_ = false;
};

} // namespace perch::gateway
