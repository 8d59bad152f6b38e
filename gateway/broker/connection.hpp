// One client's network connection and the MQTT session that lives on it, on one worker for life.
// The only code that reads a client socket: read all it has -> session.handle_bytes -> drain
// poll_action -> one gather write per loop turn. A persistent session outlives its socket: the
// connection object then stays on its worker, offline, until the session resumes elsewhere or
// expires.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include "gateway/broker/broker_tables.hpp"
#include "gateway/broker/delivery.hpp"
#include "gateway/broker/publish_quota.hpp"
#include "gateway/broker/router.hpp"
#include "gateway/broker/session_persistence.hpp"
#include "gateway/broker/subscribe_quota.hpp"
#include "gateway/chat/access_policy.hpp"
#include "gateway/chat/chat_service.hpp"
#include "gateway/common/log.hpp"
#include "gateway/stream/output_queue.hpp"
#include "gateway/stream/transport.hpp"
#include "mqtt/deadline.hpp"
#include "mqtt/session.hpp"
#include "store/records.hpp"

namespace perch::gateway {

class worker;

/// What a connection takes from the configuration when it is accepted (a reload changes only
/// connections accepted later).
struct connection_settings {
    mqtt::session_limits limits;
    /// Output bytes (encoded, not yet written) past which QoS 0 deliveries are dropped and a
    /// non-persistent QoS 1/2 consumer is disconnected with Quota exceeded.
    std::uint64_t max_output_bytes = 8 * 1024 * 1024;
    /// Broker-wide output backlog past which this connection stops reading (back-pressure).
    std::uint64_t backlog_pause_bytes = 256 * 1024 * 1024;
    bool allow_anonymous = true;
    /// Every client's quota (docs/LIMITS.md), and the quotas of the users that have
    /// `user_quota` lines.
    client_quota quota;
    std::map<std::string, client_quota, std::less<>> user_quotas;

    /// The quota of the authenticated `user` (empty: none).
    const client_quota& quota_for(std::string_view user) const {
        const auto found = user.empty() ? user_quotas.end() : user_quotas.find(user);
        return found == user_quotas.end() ? quota : found->second;
    }
};

/// Why a connection ended, as its last log line tells.
enum class close_cause : std::uint8_t {
    lost,              ///< The network or the client closed it without DISCONNECT.
    client_disconnect, ///< The client sent DISCONNECT.
    server_close,      ///< The server ended it with a reason code (logged when it did).
    stalled,           ///< The client stopped reading what it was sent.
    shutdown,          ///< The broker is stopping.
};

/// A client connection. Created by the listener on the worker that accepted the socket; every
/// member function runs on that worker's thread.
class connection : public std::enable_shared_from_this<connection>, private mqtt::publish_sink {
public:
    /// `stream` (TCP, TLS or WebSocket) runs on `home`'s io_context; `tables` (the server's)
    /// outlive the connection.
    connection(broker_tables& tables, worker& home, std::unique_ptr<transport> stream,
               std::shared_ptr<const connection_settings> settings);
    /// A plain TCP connection on `socket` (an unopened socket makes an offline connection).
    connection(broker_tables& tables, worker& home, boost::asio::ip::tcp::socket socket,
               std::shared_ptr<const connection_settings> settings);
    ~connection();
    connection(const connection&) = delete;
    connection& operator=(const connection&) = delete;

    /// Registers with the worker and starts reading and the CONNECT timer.
    void start();

    /// Its address is over max_connection_rate (docs/LIMITS.md): the CONNECT is answered with
    /// Connection rate exceeded (0x9F at 5.0, Server unavailable at 3.1.1) before any login, and
    /// the connection closes. Such a connection was never given a max_connections slot (the
    /// server takes none for it): it only waits to answer, and the rate limiter bounds how many
    /// such connections one address has. Before start().
    void refuse_for_connection_rate();

    /// Messages waiting in the session's queue (not yet sent), and their payload and topic bytes.
    std::size_t queued_messages() const { return session_.state().queued.size(); }
    std::size_t queued_bytes() const { return session_.state().queued_bytes; }

    /// Takes the quota of its user from `settings` (a reload); the buckets keep their state.
    void update_quota(const connection_settings& settings);

    /// The subscriber id of this connection's session (also the message origin for No Local).
    mqtt::subscriber_id id() const { return session_.connection_id(); }

    /// Hands a routed message to the session, which sends it, queues it or drops it (counted).
    void deliver(const delivery& routed, mqtt::time_point now);

    /// Writes everything the session produced this turn with one gather write (if no write is in
    /// flight; otherwise when it completes).
    void flush_output();

    /// Reading was paused for back-pressure and may continue.
    void resume_reading();

    /// Another connection claimed this session's client id (MQTT-3.1.4-3). Closes this one
    /// (DISCONNECT 0x8E at level 5), then sends the session state, or nothing when
    /// `is_clean_start` or the session is gone, to `successor` on its worker.
    void hand_over(mqtt::subscriber_id successor, bool is_clean_start);

    /// The answer to this connection's takeover request: the previous session's state, if any.
    void resume_session(std::optional<mqtt::session_state> state);

    /// Installs a persistent session loaded from the store, offline (no socket): registers it
    /// with the worker, the session registry and the subscription index, and arms its expiry.
    /// Called at start-up before the workers run.
    void restore_offline(const store::loaded_session& loaded, mqtt::time_point now,
                         std::uint64_t now_unix_ms);

    /// The broker is stopping: DISCONNECT 0x8B to connected 5.0 clients, then close; offline
    /// sessions stop their timers.
    void shut_down_for_exit();

    /// The deadline armed with `generation` has come (called by the worker's deadline queue).
    void on_deadline(std::uint64_t generation);
    /// True while the deadline armed with `generation` is the one this connection waits for.
    bool is_deadline_current(std::uint64_t generation) const {
        return armed_deadline_.has_value() && generation == timer_generation_;
    }

    /// The chat user this session belongs to; empty for a client outside the chat layer.
    const std::string& chat_user() const;

    /// Applies a chat directory change (connection_chat.cpp): rooms the user joined or
    /// left add or remove the server-side subscriptions (a persistent session's stored ones too);
    /// a deleted user's connection is closed with Not authorized.
    void apply_chat_changes(const directory_changes& changes);
    /// Tells this live session its user's room `room` was deleted.
    void tell_room_deleted(const std::string& room, mqtt::time_point now);

private:
    /// The clock every part of a connection reads (connection.cpp, connection_publish.cpp,
    /// connection_session.cpp, connection_chat.cpp, connection_direct.cpp).
    static mqtt::time_point clock_now();
    void read_turn(const boost::system::error_code& error);
    void wait_readable();
    void process_actions(mqtt::time_point now);
    void send(mqtt::packet& content);
    /// A delivery straight from the session (mqtt::publish_sink): given its topic alias and
    /// appended to the output unless the socket is gone or the output is over its limit, which
    /// send() then handles.
    bool take_publish(mqtt::publish& out) override;
    /// Accounts for new output and schedules this connection's flush at the end of the turn.
    void note_output();
    /// Counts one PUBLISH received (`is_inbound`) or sent, by QoS, with its payload bytes.
    void count_publish(mqtt::qos level, std::size_t payload_bytes, bool is_inbound);
    void on_connect_requested(const mqtt::connect& request, mqtt::time_point now);
    /// The client id once CONNECT named or was given one (the session keeps it after its state
    /// moves away).
    const std::string& client_id() const { return session_.client_id(); }
    /// "ADDRESS:PORT" of the client, for the log.
    std::string remote_address() const { return transport_->remote_address(); }

    /// Logs one line about this connection: its id ("[c123]" in text), and in JSON its client id,
    /// chat user and remote address. Nothing is formatted when `level` is off.
    template <typename... Args>
    void log_event(log_level level, fmt::format_string<Args...> format, Args&&... args) const {
        if (!is_log_enabled(level)) {
            return;
        }
        const std::string remote = remote_address();
        const log_subject subject{id(), client_id(), chat_ ? std::string_view(chat_->user) : "",
                                  remote};
        write_log_line(level, fmt::format(format, std::forward<Args>(args)...), &subject);
    }
    // Chat layer (connection_chat.cpp).
    /// The chat checks of a CONNECT (connection_chat.cpp), at once or, when a password
    /// hash is to be checked, once the chat layer's password threads have checked it; then
    /// finish_chat_login.
    void start_chat_login(const mqtt::connect& request, mqtt::time_point now);
    /// Applies the login check's `result`: sets the chat user and policy_ and goes on with
    /// continue_connect, or refuses the CONNECT. `user_name` is the name that was checked.
    void finish_chat_login(const mqtt::connect& request,
                           const std::optional<std::string>& user_name, chat_login_result result,
                           mqtt::time_point now);
    /// The rest of a CONNECT once its login is settled: the will's topic, the client id's
    /// registration, takeover of a previous session, CONNACK.
    void continue_connect(const mqtt::connect& request, mqtt::time_point now);
    /// The ban matching `user` (the user name or certificate identity; empty when anonymous),
    /// `client_id` and this connection's address now, if any (docs/ACCESS.md "Bans").
    std::optional<store::ban_record> find_ban(std::string_view user,
                                              std::string_view client_id) const;
    /// Refuses `request` with Banned when a ban matches it now (before its password check, and
    /// again after it: a ban may arrive while the check runs). True when it did.
    bool refuse_if_banned(const mqtt::connect& request, mqtt::time_point now);
    /// The owner a stored session is restored for (see session_ledger::owner): its recorded
    /// owner, or for a session stored before owners were recorded the user its client id names.
    /// Empty when the session may not be restored: its user was deleted, or it is a session outside
    /// the chat layer under a name that has become a user's.
    std::optional<std::string> restored_owner(const store::stored_session& stored) const;
    /// Ends this session for good because its identity no longer holds (its user was deleted, or
    /// its client id now names a user it does not belong to): DISCONNECT 0x87 at level 5 when
    /// connected, then the session and its stored state are discarded.
    void discard_for_identity(mqtt::time_point now);
    /// This connection is `user`'s: its chat part and access policy.
    void become_chat_user(std::string user);
    /// After CONNACK of a chat session: server-side subscriptions, retained presence, presence.
    void start_chat_session(mqtt::time_point now);
    /// Adds `held` to the subscription index under this session (and to the store for a
    /// persistent session), QoS capped at the server's maximum.
    void hold_chat_subscriptions(const std::vector<server_subscription>& held);
    /// Removes the server-side subscription `topic_filter` from the index (and from the store for a
    /// persistent session) if this session holds it.
    void release_chat_subscription(std::string_view topic_filter);
    /// While no connection of this persistent chat session is open, the index holds the control
    /// replies' filter for it (QoS 1, capped; not stored), so that replies and notices queue for
    /// its return (docs/CHAT.md "Server-side subscriptions"); while one is, the chat layer
    /// delivers them. Neither touches a filter of the client's own of that name.
    void hold_control_replies_while_away();
    void release_control_replies();
    /// The control replies' filter as this session holds it while away; nullopt when the session
    /// holds that filter as its own.
    std::optional<server_subscription> away_control_filter() const;
    /// `wanted`, or the server's maximum QoS when that is lower: what a filter the gateway holds
    /// for a session, or a delivery the chat layer makes, may grant.
    mqtt::qos within_maximum_qos(mqtt::qos wanted) const;
    /// Follows a directory change with this user's presence filters: one per user sharing a room
    /// with it (the retained presence of a new peer is sent at once).
    void apply_presence_changes(const directory_changes& changes, mqtt::time_point now);
    /// Sends the retained messages matching `topic_filter` that this user may read.
    void send_chat_retained(std::string_view topic_filter, mqtt::time_point now);
    /// Stamps and records a room or direct message, or carries out a control request; false when
    /// the publish is not the chat layer's (route it as usual).
    bool handle_chat_publish(const mqtt::route_publish& inbound, mqtt::time_point now);
    // Chat across gateways (connection_relay.cpp, docs/BRIDGES.md).
    /// The relay copy of `stamped` (a message or event this gateway stamped, from `sender`) for
    /// the bridges with bridge_chat; null when relaying is off.
    mqtt::message_ptr relay_copy_of(const mqtt::message_ptr& stamped, std::string_view sender);
    /// The routing of the recorded message's relay copy on this worker, then `written` once the
    /// copy's queue entries are committed: the relay copy of a message leaves once its history
    /// row is written, so that another gateway reading the shared history for it finds it, and
    /// is durable before the message is acknowledged. `written` itself when relaying is off.
    recorded_write_completion relay_after_commit(recorded_write_completion written);
    /// A relay copy published by a bridge with bridge_chat: checked, then routed as its origin
    /// stamped it (a message) or applied (presence); a refused one is logged, counted and
    /// acknowledged so that it does not block the bridge.
    void handle_relay_publish(const mqtt::route_publish& inbound, mqtt::time_point now);
    /// Relays this gateway's device count of `user` (after a connect or disconnect).
    void relay_presence_of(std::string_view user, mqtt::time_point now);
    /// Routes the presence of each of `users` as this gateway sees it now.
    void route_presence_of(const std::vector<std::string>& users);
    /// Refuses a chat message whose "files" names what it may not (docs/CHAT.md "Files").
    void refuse_file_references(const mqtt::route_publish& inbound, std::string_view why,
                                mqtt::reason_code reason, mqtt::time_point now);
    /// The history row of the chat QoS 1 message `packet_id` was written (`is_written`) or its
    /// write failed: its PUBACK, or the refusal of a failed write, goes once routing is done too.
    void finish_history_wait(std::uint16_t packet_id, bool is_written, mqtt::time_point now);
    /// The rest of a chat message once it is stamped and its history row submitted (`recorded`;
    /// empty when no id could be allocated: the publish is answered with a failure): its file
    /// references, Web Push, the session's own cursor, and routing of QoS 0 and 1.
    void finish_chat_publish(const mqtt::route_publish& inbound,
                             const std::optional<recorded_message>& recorded,
                             std::vector<std::string> file_ids, mqtt::time_point now);
    /// `signal` with the configured signal expiry (docs/CHAT.md "Signals expire"): a copy whose
    /// expiry deadline is at most signal_expiry_s from `now` (an earlier one the publisher set
    /// stays).
    mqtt::message_ptr with_signal_expiry(const mqtt::message_ptr& signal,
                                         mqtt::time_point now) const;
    /// Delivers the read state computed at login to this session alone, on
    /// `chat/ctl/{user}/resp/read_state` (docs/CHAT.md "Read state").
    void deliver_login_read_state(const control_outcome& outcome);
    /// Publishes the reply to the control request `request` (and its signal, if any).
    void publish_chat_reply(const mqtt::message_ptr& request, const control_outcome& outcome);
    /// True when UNSUBSCRIBE must keep `topic_filter` (a server-side chat subscription).
    bool is_held_chat_filter(std::string_view topic_filter) const;
    /// This device left: presence for the remaining count.
    void end_chat_device();
    /// Routes the presence message of `user`: to the subscriptions that match it (a client's
    /// own `chat/presence/+`), then, at QoS 0, to every connected device that may see it and
    /// got no copy from those (docs/CHAT.md "Presence").
    void route_presence(const mqtt::message_ptr& presence, std::string_view user,
                        bool is_retained_durable);
    /// Matches `content` against the subscription index into the worker's outbox, then, for a
    /// direct message, DM signal or control reply, adds the chat layer's deliveries
    /// (route_direct).
    route_result route_matching(const mqtt::message_ptr& content);
    // Direct messages and control replies (connection_direct.cpp).
    /// Delivers the direct message or DM signal `content` to the connected devices of its two
    /// users but the publishing one (No Local): QoS 1 for a message, 0 for a signal. A control
    /// reply (`chat/ctl/{user}/resp...`) goes to every connected device of its user, at QoS 1. A
    /// device a subscription of its own matched already (a delivery in outbox[w] past
    /// routed_from[w]) gets no second copy: that one is raised to the higher QoS and keeps its
    /// subscription ids. Returns the deliveries added; nothing for any other topic.
    std::size_t route_direct(const mqtt::message_ptr& content,
                             std::span<const std::size_t> routed_from);
    /// Once this device is counted for its user: every direct conversation with a message past
    /// what the persistent session has seen is read from history, so that a message stamped
    /// while no device of the session was counted (a takeover) is not left behind.
    void catch_up_direct_conversations();
    void on_subscribe_requested(const mqtt::subscribe& request, mqtt::time_point now);
    void on_unsubscribe_requested(const mqtt::unsubscribe& request, mqtt::time_point now);
    void refuse_publish(const mqtt::route_publish& inbound, mqtt::time_point now);
    /// The user whose user_quota lines apply: the chat user, or the verified certificate
    /// identity; empty for anyone else.
    std::string quota_user() const;
    /// Sets up the quota `limits` (nothing when they are unlimited); the buckets keep their state.
    void start_quota(const client_quota& limits);
    struct quota_part;
    /// The quota of this connection, made from its settings when it first publishes or
    /// subscribes, so that an idle client holds none; null when no quota applies to it.
    quota_part* quota();
    /// The publish rate check of an inbound PUBLISH (docs/LIMITS.md): true when it may go on;
    /// otherwise it was refused (0x96 at 5.0; at 3.1.1 the connection closes for QoS 1/2), or
    /// the client was disconnected for flooding, and counted.
    bool admit_publish(const mqtt::route_publish& inbound, mqtt::time_point now);
    /// Routes a message nobody waits to have acknowledged; a retained one is written to the store
    /// unless `is_retained_durable` is false (kept in memory only).
    std::size_t route(const mqtt::message_ptr& content, bool is_retained_durable = true);
    void route_inbound(const mqtt::route_publish& inbound, mqtt::time_point now);
    /// A routing whose QoS 1/2 deliveries to persistent sessions are listed for the store:
    /// `durable[i]` (outbox index, position) is the delivery `targets[i]` stores; `marks` are the
    /// outbox sizes before routing.
    struct durable_route {
        route_result result;
        std::vector<std::size_t> marks;
        std::vector<store::queue_target> targets;
        std::vector<std::pair<std::size_t, std::size_t>> durable;
    };
    durable_route route_durable(const mqtt::message_ptr& content, session_persistence& persistence);
    /// Routes a will; QoS 1/2 deliveries to persistent sessions are stored, as for a PUBLISH.
    void route_will(const mqtt::message_ptr& content, mqtt::time_point now);
    void persist_retained(const mqtt::message_ptr& content, const route_result& result,
                          store::store_completion done);
    /// Acknowledges the inbound QoS 1/2 PUBLISH `packet_id` with `reason`, or, while a chat
    /// message's history row is still being written, once it is.
    void acknowledge_publish(std::uint16_t packet_id, mqtt::reason_code reason,
                             mqtt::time_point now);
    /// A chat QoS 1 message routed before its history row committed: its PUBACK waits for both.
    struct history_wait {
        std::uint16_t packet_id = 0;
        bool is_history_written = false;
        /// The history row's write failed: the PUBLISH is refused instead of acknowledged.
        bool is_history_failed = false;
        /// Set once routing finished and wanted to acknowledge with this reason.
        std::optional<mqtt::reason_code> routed_reason;
    };
    /// The history wait of the PUBLISH `packet_id`, or nullptr.
    history_wait* find_history_wait(std::uint16_t packet_id);
    /// Forgets a history wait: the PUBLISH `packet_id` is answered with a failure instead.
    void drop_history_wait(std::uint16_t packet_id);
    /// Forgets `waiting`, one of chat_->history_waits (found with find_history_wait).
    void erase_history_wait(const history_wait& waiting);
    /// Answers the inbound QoS 1/2 PUBLISH `packet_id` whose write failed (DESIGN.md "Durability
    /// contract"): PUBACK/PUBREC 0x80 at level 5, and at 3.1.1, which has no negative
    /// acknowledgement, the connection closes. Counted and logged.
    void refuse_unwritten_publish(std::uint16_t packet_id, mqtt::time_point now);
    /// The store could not write a persistent session's SUBSCRIBE or UNSUBSCRIBE (`packet_name`):
    /// no SUBACK/UNSUBACK, the connection closes (DISCONNECT 0x80 at level 5). Counted and logged.
    void close_for_unwritten(std::string_view packet_name, mqtt::time_point now);
    void finish_durable_publish(std::uint16_t packet_id, bool is_written, mqtt::reason_code reason,
                                const std::shared_ptr<std::vector<delivery_batch>>& held);
    void persist_accepted_session();
    /// A history-backed chat message reaches this chat session (chat_cursors.hpp): handed to the
    /// session, or dropped and read from history later.
    void deliver_from_history(const delivery& routed, mqtt::time_point now);
    /// Hands chat message `id` of `conversation` to the session and tracks it; false when the
    /// session's queue is full (nothing changed).
    bool offer_chat_message(conversation_position& position, const mqtt::message_ptr& content,
                            const std::string& conversation, std::uint64_t id,
                            const mqtt::delivery_options& options, mqtt::time_point now);
    /// Starts the history reads the chat session's conversations want, and writes its cursors
    /// when the connection has ended or chat_cursor_interval_s has passed since the last write.
    void sync_chat_cursors();
    /// Submits the chat session's cursors that moved (and its baseline) to the chat store.
    void save_chat_cursors(std::uint64_t now_unix_ms);
    /// Reads the next history rows of `conversation` for this chat session.
    void read_history(const std::string& conversation);
    /// Feeds the rows a read_history returned to the session.
    void accept_history_rows(const std::string& conversation, bool is_read,
                             std::vector<store::history_record> rows);
    /// Sets up the chat session's cursors when the session is bound: a new session knows every
    /// conversation it may read up to its last id; a session present catches up on each.
    void start_chat_cursors();
    /// Records in the ledger a stored delivery the session accepted (`outcome` sent or queued).
    void track_accepted(const delivery& routed, mqtt::delivery_outcome outcome);
    void sync_ledger(mqtt::time_point now);
    /// Asks the store for the next entries of the session's overflowed queue (spill_state); they
    /// are fed to the session on this worker when they arrive.
    void read_spilled();
    /// A store completion that runs `work` with the store's outcome on this worker.
    store::store_completion post_back(std::function<void(const store::store_status&)> work);
    /// Accepts the CONNECT, resuming `state` if given; `assigned_client_id` is the identifier
    /// given to a client that sent none.
    void accept(std::optional<mqtt::session_state> state, mqtt::time_point now,
                std::string assigned_client_id = {});
    /// Closes once the output is written (see finish_close).
    void begin_close();
    /// The output is written: closes the socket, or after a server-initiated close drains the
    /// input first (shutdown of the sending side, then read and discard until end of stream or
    /// drain_linger).
    void finish_close();
    /// Reads and discards the client's input while draining.
    void drain_input();
    void close_socket();
    void on_network_lost();
    void end_session_if_closed();
    /// The session expired (mqtt::session_expired): its stored state, subscriptions and client
    /// id go.
    void end_expired_session();
    void on_written(const boost::system::error_code& error, std::size_t bytes);
    void sync_backlog();
    void arm_timer();
    /// Forgets the armed deadline (its queue entry goes stale).
    void cancel_timer();

    /// The shared tables (the server in a running broker).
    broker_tables& tables_;
    worker& worker_;
    /// The client's byte stream: one virtual call per read or write turn.
    std::unique_ptr<transport> transport_;
    /// Shared with every connection accepted under the same configuration.
    std::shared_ptr<const connection_settings> settings_;
    /// Its connection id is this connection's id().
    mqtt::session session_;
    output_queue output_;
    /// What this client may publish and read; anonymous until CONNECT names a user.
    access_policy policy_{true};
    /// What a chat user's connection holds beyond a plain MQTT client's: made when the chat layer
    /// names the user, so that a client outside it pays one pointer.
    struct chat_part {
        /// The authenticated chat user (or the user a restored session's client id names).
        std::string user;
        /// The chat messages of this connection whose history row is not yet committed (few: a
        /// vector keeps an idle connection small).
        std::vector<history_wait> history_waits;
        /// The subscriber id this connection counts as a device under while is_chat_device_:
        /// where the chat layer delivers presence (chat_service::presence_watchers).
        mqtt::subscriber_id device_id = 0;
    };
    std::unique_ptr<chat_part> chat_;
    /// A connected client's quota (docs/LIMITS.md): null until is_quota_made_ (quota()), and when
    /// no quota applies to it.
    struct quota_part {
        client_quota limits;
        publish_quota publish;
        subscribe_quota subscribe;
        /// Subscriptions granted by SUBSCRIBE packets whose SUBACK waits for the store: not yet in
        /// the session's table, already counted against max_subscriptions_per_client.
        std::uint64_t pending_subscriptions = 0;
    };
    std::unique_ptr<quota_part> quota_;
    /// True while this connection counts as one of chat_user()'s devices for presence.
    bool is_chat_device_ = false;

    bool is_reading_ = false;
    /// Hands the deliveries held during the handover to `successor`, where the session went.
    void forward_held_deliveries(mqtt::subscriber_id successor);
    bool is_read_paused_ = false;
    bool is_closing_ = false;
    bool has_connection_slot_ = true;
    bool is_counted_connected_ = false;
    bool is_session_ended_ = false;
    bool is_exiting_ = false;
    bool is_awaiting_handover_ = false;
    bool is_dirty_ = false;
    // The rarely set flags share one byte, so that all the flags and timer_generation_ fill
    // one 16-byte run (every connection holds them).
    /// Set when the server ends the connection (DISCONNECT or refused CONNACK): it drains the
    /// client's input before closing (finish_close).
    bool is_drain_wanted_ : 1 = false;
    /// True while the sending side is shut down and the input is being drained.
    bool is_draining_ : 1 = false;
    /// Whether pending_successor_ starts clean.
    bool is_pending_successor_clean_ : 1 = false;
    /// Whether quota_ was set up (quota()): until then the limits are those of settings_.
    bool is_quota_made_ : 1 = false;
    /// The CONNECT's Clean Start, or true when the session it asked for was not this identity's.
    bool is_clean_start_ : 1 = true;
    /// Why the connection ends, for the line logged when it does (close_cause_text).
    close_cause close_cause_ : 3 = close_cause::lost;
    /// Set by refuse_for_connection_rate.
    bool is_connection_rate_refused_ : 1 = false;
    /// Refused for its rate and counted among those waiting (server::max_rate_refused_waiting)
    /// until released.
    bool has_rate_refused_slot_ : 1 = false;
    /// The generation of the deadline queued with the worker (bumped to cancel it; 32 bits fill
    /// the flags' word, and an entry 2^32 re-arms old is long gone).
    std::uint32_t timer_generation_ = 0;
    /// A takeover of this session requested while this connection itself was still waiting for
    /// the previous holder's state: the successor, or 0 (subscriber ids are never 0).
    mqtt::subscriber_id pending_successor_ = 0;
    /// Bytes this connection has added to its worker's queued_output_bytes.
    std::uint64_t accounted_output_bytes_ = 0;
    /// The store entries of this persistent session; empty when it is not one (or persistence is
    /// off).
    std::shared_ptr<session_ledger> ledger_;
    mqtt::deadline close_deadline_;
    /// The deadline queued with the worker, if any (see timer_generation_).
    mqtt::deadline armed_deadline_;
};

} // namespace perch::gateway
