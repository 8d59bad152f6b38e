// The chat layer of the gateway (docs/CHAT.md): the chat store, the in-memory directory, message
// ids, presence counts, control requests and the thread that follows directory changes and
// prunes history. Connections ask it questions; it never touches a socket or a session.
//
// Theory of operation. load() reads the directory and the conversation heads synchronously at
// start. start() runs one background thread that every `reload_interval_ms` compares the store's
// directory_version() with the directory's, and on a change loads the directory again and hands
// the diff to the gateway (which updates live sessions on their workers). Changes the gateway
// makes itself (control requests) ask for an immediate reload and continue once it is applied,
// so that a reply never overtakes the directory. The same thread prunes history once a day.
#pragma once

#include <array>
#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "gateway/chat/chat_control.hpp"
#include "gateway/chat/chat_directory.hpp"
#include "gateway/chat/chat_relay.hpp"
#include "gateway/chat/chat_search.hpp"
#include "gateway/chat/conversation_counters.hpp"
#include "gateway/chat/id_source.hpp"
#include "gateway/chat/login_backoff.hpp"
#include "gateway/chat/password_check_pool.hpp"
#include "gateway/chat/password_hash.hpp"
#include "gateway/push/push_notice.hpp"
#include "gateway/push/push_subscribers.hpp"
#include "mqtt/message.hpp"
#include "mqtt/subscription_options.hpp"
#include "store/chat_store.hpp"

namespace perch::gateway {

class file_service;

/// The chat settings from the configuration.
struct chat_settings {
    /// Publish retained presence on chat/presence/{user}.
    bool is_presence_enabled = true;
    /// History older than this is pruned (daily); 0 keeps it forever.
    std::uint32_t history_retention_days = 365;
    /// Pruning keeps at least this many newest messages per conversation; 0: age alone decides.
    std::uint32_t history_keep_per_conversation = 0;
    /// How often the directory version is polled.
    std::uint32_t reload_interval_ms = 1000;
    /// How often a connected persistent session's catch-up cursors are written at most.
    std::uint32_t cursor_interval_s = 60;
    /// The Message Expiry Interval put on every signal routed (docs/CHAT.md "Signals expire").
    std::uint32_t signal_expiry_s = 30;
    /// How long after sending it a sender may delete a message; 0: any time. Room admins delete
    /// any message at any time.
    std::uint32_t delete_window_s = 0;
    /// A password login whose stored hash has fewer PBKDF2 iterations rehashes it with this many.
    std::uint32_t password_iterations = default_password_iterations;
    /// Failed-login backoff.
    login_backoff_settings login_backoff;
    /// Full-text search of history (docs/CHAT.md "Search"); off: `search` is refused (the store
    /// keeps no index then).
    bool is_search_enabled = true;
    /// How often files that no message references are looked for and removed (docs/CHAT.md
    /// "Files"); 0: never.
    std::uint32_t file_sweep_interval_s = 60;
    // Web Push (docs/CHAT.md "Web Push").
    /// The push_* requests answer and notices go to the push notifier; off: they are refused.
    bool is_push_enabled = false;
    /// The VAPID public key, base64url, as push_key answers it.
    std::string push_public_key;
    /// push_subscribe accepts http:// endpoints on loopback addresses (tests only).
    bool push_allow_insecure_endpoints = false;
    /// This gateway's origin name in chat across gateways (docs/BRIDGES.md).
    std::string gateway_name;
};

/// The outcome of the chat checks on a CONNECT.
enum class chat_login_result : std::uint8_t {
    /// Not a chat user and allowed in (anonymous, or a certificate identity not in the directory).
    not_chat_user,
    /// A chat user, authenticated.
    chat_user,
    /// Unknown user or wrong password: CONNACK 0x86 (5.0) / 0x04 (3.1.1).
    bad_credentials,
    /// The client id names another user (or a user while the client is not that user):
    /// CONNACK 0x85 (5.0) / 0x02 (3.1.1).
    client_id_refused,
    /// Too many password checks wait already: CONNACK 0x89 Server busy (5.0) / 0x03 Server
    /// unavailable (3.1.1); the client tries again later.
    busy,
};

/// One subscription the gateway holds for a chat session.
struct server_subscription {
    std::string topic_filter;
    mqtt::subscription_options options;
};

/// A room or direct message ready to route: stamped with `id` and `ts`, plus its history record.
struct stamped_message {
    mqtt::message_ptr content;
    store::history_record record;
};

/// A room or direct message stamped and submitted to history (stamp_and_record).
struct recorded_message {
    /// The routed copy, carrying user properties `id` and `ts`.
    mqtt::message_ptr content;
    std::string conversation;
    std::uint64_t id = 0;
};

/// Reports the write of a recorded message's history row: the message, and the store's outcome.
using recorded_write_completion =
    std::function<void(const recorded_message&, const store::store_status&)>;

/// Receives a message whose id was allocated later (ids from the shared database), stamped and
/// submitted to history; empty when no id could be allocated (nothing was recorded).
using recorded_completion = std::function<void(std::optional<recorded_message>)>;

/// What a control request produced: the reply, and messages to publish beside it: the read
/// signal of `read`, the event an edit, delete or reaction recorded (stamped, in history, routed
/// like a message of the acting user).
struct control_outcome {
    control_reply reply;
    mqtt::message_ptr signal;
    mqtt::message_ptr event;
};

/// True for the operations room_moderation.cpp carries out: rooms, members, create, join, leave,
/// invite and the room rules (docs/CHAT.md "Room rules").
bool is_room_rule_operation(control_operation operation);

/// A room event's payload: `{"type":"event","event":...,"room":...,"by":...,"user":...}` plus
/// the members of `detail_json` (a JSON object, or empty); `by` and `user` are left out when
/// empty.
std::string format_room_event(std::string_view event, std::string_view room, std::string_view by,
                              std::string_view user, std::string_view detail_json);

/// The chat layer. Every member is thread-safe.
class chat_service {
public:
    chat_service(std::unique_ptr<store::chat_store> store, chat_settings settings);
    ~chat_service();
    chat_service(const chat_service&) = delete;
    chat_service& operator=(const chat_service&) = delete;

    /// Reads the directory and the conversation heads. Throws store::store_open_error.
    void load();

    /// Starts the background thread; `apply` receives every non-empty directory diff on it.
    void start(std::function<void(std::shared_ptr<const directory_changes>)> apply);

    /// Stops the background thread (idempotent) and flushes the store.
    void stop();

    const chat_directory& directory() const { return directory_; }
    /// The directory, to install the rules outside chat/ (server start and reload).
    chat_directory& directory() { return directory_; }
    store::chat_store& store() { return *store_; }
    /// Failed logins by user name and address, shared by every worker.
    login_backoff& login_guard() { return login_backoff_; }
    const chat_settings& settings() const { return settings_; }

    /// Applies the settings a reload may change while running: history retention (used by the
    /// next daily pruning) and password iterations (used by the next rehash). Any thread.
    void update_runtime_settings(std::uint32_t history_retention_days,
                                 std::uint32_t history_keep_per_conversation,
                                 std::uint32_t password_iterations);

    /// The chat checks of a CONNECT. `user_name` is the CONNECT's user name, or the verified
    /// certificate identity when `is_identity_verified` (no password then). A user name is always
    /// checked against the directory; a client id whose first level names an existing user is
    /// only accepted for that user. A password with the form of a device token is checked
    /// against the user's tokens only (one SHA-256); any other against the password hash, which
    /// is then rewritten with `password_iterations` when it names fewer (through the store, in
    /// the background; the login does not wait for it).
    chat_login_result check_login(std::optional<std::string_view> user_name,
                                  std::optional<std::string_view> password,
                                  std::string_view client_id, bool is_identity_verified);

    /// check_login without a costly step on the caller's thread: the result at once when no
    /// password hash is to be checked (no user name, a certificate identity, a device token);
    /// otherwise empty, and `done` later receives it on a password thread (busy when too many
    /// checks wait already).
    std::optional<chat_login_result> start_login_check(std::optional<std::string> user_name,
                                                       std::optional<std::string> password,
                                                       std::string client_id,
                                                       bool is_identity_verified,
                                                       std::function<void(chat_login_result)> done);

    /// The user a session belongs to by its client id (`{user}` or `{user}/{device}`), when that
    /// user exists.
    std::optional<std::string> user_of_client_id(std::string_view client_id) const;

    /// Stamps a room or direct message (its topic already allowed) with the conversation's next
    /// id, when ids are known at once (the gateway's own counters): the routed copy carries user
    /// properties `id` and `ts` (any the client set under those names are replaced). Empty for
    /// any other topic, and when ids come from the shared database. Nothing is recorded.
    std::optional<stamped_message> stamp(const mqtt::message_ptr& content, std::string_view sender,
                                         std::uint64_t now_unix_ms);

    /// Stamps a room or direct message and submits its history row (record_next): history rows
    /// of a conversation are submitted in id order, so that a read of history submitted later
    /// sees every id stamped before it (docs/DURABILITY.md "Chat messages"), while other
    /// conversations stamp beside it. When the id is known at once (SQLite, memory) the recorded
    /// message is returned and `later` is never called; when it comes from the shared database
    /// (PostgreSQL) the result is empty and `later` runs once, on the allocator's thread, with
    /// the recorded message or with nothing when no id could be allocated. Empty, and nothing
    /// called, for a topic that is not a room or direct message. `written` reports the row's
    /// write.
    std::optional<recorded_message> stamp_and_record(const mqtt::message_ptr& content,
                                                     std::string_view sender,
                                                     std::uint64_t now_unix_ms,
                                                     recorded_write_completion written = {},
                                                     recorded_completion later = {});

    /// Web Push: receives the notices of direct messages and mentions for users with no connected
    /// device (chat_push.cpp). Set before the workers start; runs on the worker that recorded
    /// the message, so it must only queue.
    void set_push_notifier(std::function<void(push::push_notice)> notifier) {
        push_notifier_ = std::move(notifier);
    }
    /// Offers a recorded message of `sender` in `conversation` to Web Push: a direct message
    /// notifies the other user, a room message each member it mentions (`@name`), each only
    /// while none of their devices is connected. Nothing without a notifier.
    void offer_push(std::string_view conversation, std::string_view sender,
                    std::string_view text) const;
    /// Who has a push subscription: loaded by load() when push is on, kept up to date by the
    /// push requests; the push sender forgets the subscriptions it finds gone. offer_push passes
    /// no notice for a user without one, so such a message costs no store read.
    push::push_subscribers& push_subscribers() { return push_subscribers_; }

    /// Chat across gateways: relay copies out and in, and the other origins' device counts.
    chat_relay& relay() { return relay_; }
    /// Makes `user` (a bridge with bridge_chat) a relay peer and turns relaying on when the chat
    /// store shares a relay key (PostgreSQL). Before the workers start.
    void add_relay_peer(std::string user);
    /// Routes a message another origin stamped: the counter of `conversation` learns `id`, so
    /// that this gateway never hands it out again.
    void learn_id(const std::string& conversation, std::uint64_t id);
    /// The retained presence of `user` from this gateway's devices and the other origins'
    /// counts; null when presence is off.
    mqtt::message_ptr presence_now(std::string_view user, std::uint64_t now_unix_ms) const;
    /// This gateway's own device count of every user with any (for a relay snapshot).
    std::vector<std::pair<std::string, std::uint64_t>> local_device_counts() const;

    /// The last id stamped in `conversation` (0 when none).
    std::uint64_t last_id(std::string_view conversation) const {
        return counters_.last_id(conversation);
    }

    /// Every conversation `user` may read now: its rooms and its direct-message conversations.
    std::vector<std::string> conversations_of(std::string_view user) const;

    /// The catch-up cursors the store held at load() for the session `client_id`, handed out
    /// once; empty when it held none.
    std::optional<store::session_cursors_record> take_stored_cursors(const std::string& client_id);

    /// Deletes from the store the cursors load() found that no session took (their session is
    /// gone); called once every stored session is restored.
    void discard_untaken_cursors();

    /// The subscriptions every session of `user` holds: each room (QoS 1, No Local) and its
    /// signals (QoS 0, No Local). Presence, direct messages and control replies are not among
    /// them: the chat layer delivers those itself, to the user's connected devices
    /// (presence_watchers, direct_devices).
    std::vector<server_subscription> subscriptions_for(std::string_view user) const;

    /// What the chat layer delivers control replies with to the connected devices of `user`, as
    /// if each held it (docs/CHAT.md "Server-side subscriptions"): `chat/ctl/{user}/resp/#`, QoS
    /// 1, no No Local. A persistent session with no connection holds it in the index, not in the
    /// store; sessions stored by earlier versions held it in the store, dropped at restore.
    static server_subscription control_subscription(std::string_view user);

    /// What the chat layer delivers to `user` as if it held these filters (docs/CHAT.md
    /// "Server-side subscriptions"): its direct messages both ways (QoS 1, No Local) and their
    /// signals (QoS 0, No Local). A catch-up read from history matches rows against them; they
    /// are also the filters earlier versions held in every session, dropped at restore.
    static std::vector<server_subscription> direct_subscriptions(std::string_view user);

    /// The subscriptions a member of `room` holds for it.
    static std::vector<server_subscription> room_subscriptions(std::string_view room);

    /// The filter `chat/presence/{peer}` with the options presence is delivered with (QoS 0):
    /// what sessions stored by earlier versions held for each peer.
    static server_subscription presence_subscription(std::string_view peer);

    /// True when `topic_filter` is one the gateway holds for `user` (not removable by
    /// UNSUBSCRIBE).
    bool is_server_filter(std::string_view user, std::string_view topic_filter) const;

    /// Device `device` (its session's subscriber id) of `user` connected / disconnected: the
    /// presence message to publish (retained), or null when presence is off (or `device` was
    /// not connected). Counts across all workers; the devices are those presence_watchers names.
    mqtt::message_ptr device_connected(std::string_view user, std::uint64_t device,
                                       std::uint64_t now_unix_ms);
    mqtt::message_ptr device_disconnected(std::string_view user, std::uint64_t device,
                                          std::uint64_t now_unix_ms);

    /// How many devices of `user` are connected now (0: offline).
    std::size_t connected_device_count(std::string_view user) const;

    /// Appends to `out` the connected devices (subscriber ids) of every user who may see the
    /// presence of `user` (those sharing a room with it, and its own), in no particular order.
    /// Takes the device table's lock shared, so that workers fan out presence side by side.
    void presence_watchers(std::string_view user, std::vector<std::uint64_t>& out) const;

    /// Appends to `out` the connected devices (subscriber ids) of `first` and of `second`, the two
    /// users of a direct message (once when they are the same user): where the chat layer
    /// delivers it. Takes the device table's lock shared.
    void direct_devices(std::string_view first, std::string_view second,
                        std::vector<std::uint64_t>& out) const;

    /// The retained presence message of `user` with `devices` connected (0: offline).
    static mqtt::message_ptr presence_message(std::string_view user, std::size_t devices,
                                              std::uint64_t now_unix_ms);
    /// True when `presence` (made by presence_message) says the user is online.
    static bool says_online(const mqtt::message& presence);

    /// Carries out a control request of `user`. `done` runs exactly once, on any thread (often
    /// a store thread, or the background thread): post its work to your own thread.
    void handle_control(std::string user, std::string_view payload,
                        std::function<void(control_outcome)> done);

    /// The read state of `user` (docs/CHAT.md "Read state"): for `conversation`, or for every
    /// conversation of the user when it is empty, its last id (from memory), the user's read
    /// position and unread count (one store read, on the store's thread). `done` receives the
    /// `read_state` reply, on any thread; the request is refused when the user may not read
    /// `conversation`.
    void read_state_of(std::string user, std::string conversation,
                       std::function<void(control_outcome)> done);

    /// True when `user` may delete any message of `room` (docs/CHAT.md "Edits, deletes and
    /// reactions"). The one place that says who moderates a room.
    bool may_moderate(std::string_view user, std::string_view room) const;

    /// Reloads the directory now (on the background thread), then runs `after` there.
    void reload_then(std::function<void()> after);

    /// Serves op file_token with `files` and sweeps its unreferenced files on the background
    /// thread (docs/CHAT.md "Files"). Call before start(); without it file_token is refused.
    void attach_files(file_service* files) { files_ = files; }
    /// The file service attached, or null.
    file_service* files() const { return files_; }

    /// True when `user` may read message `id` of `conversation` now: a member of the room (above
    /// its join point when the room's history is `joined`), or a party of the direct messages.
    bool may_read_message(std::string_view user, std::string_view conversation,
                          std::uint64_t id) const;

private:
    /// True when `password` is a device token of `user`, or the password `hash` names.
    bool check_credentials(std::string_view user, std::string_view password,
                           const std::string& hash);
    /// Submits a rehash of `user`'s password with the configured iterations.
    void upgrade_password_hash(std::string_view user, std::string_view password,
                               const std::string& hash);
    void change_device_token(control_request request, std::string user,
                             std::function<void(control_outcome)> done);
    void run();
    void reload_if_changed(bool is_forced);
    void prune_if_due();
    // Room rules and moderation (room_moderation.cpp).
    /// Checks a room request of `user` against the directory, then applies it with its audit
    /// entry and announces it in the room.
    void handle_room_rule(control_request request, std::string user,
                          std::function<void(control_outcome)> done);
    /// Applies `changes` as one batch; after the reload, records and attaches `event` (a room
    /// event payload, published by `actor` in the room) and replies `outcome`.
    void apply_room_changes(control_request request, std::string actor,
                            std::vector<store::directory_change> changes,
                            std::optional<std::string> event, control_outcome outcome,
                            std::function<void(control_outcome)> done);
    /// A room event message from `actor` on `chat/room/{room}/{actor}` (QoS 1, JSON).
    static mqtt::message_ptr make_room_event_message(std::string_view room, std::string_view actor,
                                                     std::string_view payload);
    /// The highest id of `conversation` that `user` may not read: the join point in a room whose
    /// history is visible from the join only; 0 otherwise.
    std::uint64_t history_floor(std::string_view user, std::string_view conversation) const;
    void read_history(control_request request, std::string user,
                      std::function<void(control_outcome)> done);
    void mark_read(control_request request, std::string user,
                   std::function<void(control_outcome)> done);
    bool may_read_conversation(std::string_view user, std::string_view conversation) const;
    /// edit, delete, react, unreact: checks the request against the message it names, then
    /// records and answers the event (message_events.cpp).
    void change_message(control_request request, std::string user,
                        std::function<void(control_outcome)> done);
    /// Why `user` may not apply `request` to `target`; empty when it may.
    std::optional<std::string> event_refusal(const control_request& request, std::string_view user,
                                             const store::history_record& target,
                                             std::uint64_t now_unix_ms) const;
    /// Stamps and records the event of an accepted request; `done` gets the outcome once its
    /// history row is written.
    void record_event(const control_request& request, const std::string& user,
                      std::uint64_t now_unix_ms, const std::function<void(control_outcome)>& done);
    /// search: one page of the hits of the request's words in what `user` may read
    /// (chat_search.cpp).
    void search_history(control_request request, std::string user,
                        std::function<void(control_outcome)> done);
    /// The push_* requests (chat_push.cpp).
    void handle_push(control_request request, std::string user,
                     std::function<void(control_outcome)> done);
    std::function<void(push::push_notice)> push_notifier_;
    push::push_subscribers push_subscribers_;

    std::unique_ptr<store::chat_store> store_;
    chat_settings settings_;
    /// Set before start(); read by the background thread and the control requests.
    file_service* files_ = nullptr;
    /// Stamps `content` as message `id` of `conversation`. User properties `event` and `of`
    /// are the gateway's own: those of a client's message (`is_event` false) are removed.
    static stamped_message stamp_in(const mqtt::message_ptr& content, std::string conversation,
                                    std::string_view sender, std::uint64_t now_unix_ms,
                                    std::uint64_t id, bool is_event = false);

    /// A message or event to stamp with its conversation's next id and record (record_next).
    struct record_request {
        mqtt::message_ptr content;
        std::string conversation;
        std::string sender;
        std::uint64_t now_unix_ms = 0;
        /// An edit, delete or reaction: its record's own fields follow.
        bool is_event = false;
        store::history_kind kind = store::history_kind::message;
        std::uint64_t of_id = 0;
        std::string change;
        recorded_write_completion written;
        recorded_completion later;
    };
    /// Allocates the conversation's next id (ids_), then stamp_and_submit: at once when the id
    /// is known at once (returned), otherwise on the allocator's thread (passed to `later`).
    std::optional<recorded_message> record_next(record_request request);
    /// The one place a message becomes stamped: `id` and `ts` are set, and its history row is
    /// submitted, under the lock of the conversation's shard.
    recorded_message stamp_and_submit(record_request& request, std::uint64_t id);

    /// Conversations hash onto these; one is held from a stamp to the submission of its history
    /// row (stamp_and_record).
    static constexpr std::size_t record_shards = 16;
    std::array<std::mutex, record_shards> record_mutexes_;
    // The settings a reload changes while the chat thread and the password checks read them.
    // Any thread (atomic).
    std::atomic<std::uint32_t> history_retention_days_;
    std::atomic<std::uint32_t> history_keep_per_conversation_;
    std::atomic<std::uint32_t> password_iterations_;
    /// A hash at password_iterations_ of a password no user has, made on first use: a login as
    /// an unknown user is verified against it. Lock: unknown_user_hash_mutex_.
    std::string unknown_user_hash();
    std::mutex unknown_user_hash_mutex_;
    std::string unknown_user_hash_;
    std::uint32_t unknown_user_hash_iterations_ = 0;
    /// Cursors loaded at start, by client id. Lock: stored_cursors_mutex_.
    std::mutex stored_cursors_mutex_;
    std::map<std::string, store::session_cursors_record, std::less<>> stored_cursors_;
    chat_directory directory_;
    conversation_counters counters_;
    chat_relay relay_;
    /// Where ids come from: the counters, or (from load() on) the store's shared allocator.
    /// Declared after store_, the record locks and counters_, which its completions use: it goes
    /// (serving what it still holds) before them.
    std::unique_ptr<id_source> ids_;
    login_backoff login_backoff_;

    // The connected devices (subscriber ids) of each user with any. Owner: all workers. Lock:
    // presence_mutex_ (shared to fan out presence and direct messages, exclusive to connect or
    // disconnect).
    mutable std::shared_mutex presence_mutex_;
    std::map<std::string, std::vector<std::uint64_t>, std::less<>> devices_;

    // The background thread and its requests. Lock: thread_mutex_.
    std::mutex thread_mutex_;
    std::condition_variable wake_;
    bool is_stopping_ = false;
    bool is_reload_requested_ = false;
    std::vector<std::function<void()>> after_reload_;
    std::function<void(std::shared_ptr<const directory_changes>)> apply_;
    std::thread thread_;

    /// The users with a search in flight (one each); shared with the searches' completions,
    /// which may run on the store's search thread while the store closes.
    std::shared_ptr<search_gate> searches_in_flight_ = std::make_shared<search_gate>();

    /// Password checks of logins, off the workers. Last, so that it stops (and drains) first.
    password_check_pool password_checks_;
};

} // namespace perch::gateway
