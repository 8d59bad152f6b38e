// One client's network connection and its session. The chat layer's part of a connection is in
// connection_chat.cpp, the persistent-session part (store, ledger, restore) in
// connection_persistence.cpp.
//
// Theory of operation
// - Reading: wait until the socket is readable, then read everything it has (up to a per-turn
//   cap, for fairness) feeding each chunk to session.handle_bytes and draining poll_action. The
//   socket is edge-triggered underneath, so a wait is only started after a read returned
//   would_block; a turn cut short by the cap continues with a posted turn instead.
// - Output: send_packet actions are encoded into the output_queue; the connection marks itself
//   dirty and the worker flushes every dirty connection once at the end of the turn: one gather
//   write per connection per turn. While a write is in flight new output collects behind it.
// - Timers: one steady_timer, re-armed only when the session's next deadline moves earlier (keep
//   alive deadlines mostly move later, so most turns touch no timer).
// - Closing: after close_connection the pending output (CONNACK, DISCONNECT) is written, then the
//   socket is closed; a peer that does not read gets 5 seconds. When the socket is gone and the
//   session is persistent, this object stays on its worker, offline, until the session resumes
//   on another connection (hand_over) or expires (session_expired).
// - Takeover: a CONNECT for a client id held elsewhere asks the holder's worker to hand over;
//   that worker closes its connection, re-registers the subscriptions under this connection's id
//   and posts the state back here (resume_session). Only then is CONNACK sent.
#include "gateway/broker/connection.hpp"

#include <algorithm>
#include <iterator>
#include <utility>

#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>

#include "gateway/broker/server.hpp"
#include "gateway/broker/worker.hpp"
#include "gateway/common/log.hpp"
#include "gateway/common/stored_message_codec.hpp"
#include "mqtt/topic.hpp"

namespace perch::gateway {

namespace {

/// Bytes read in one turn before other connections of the worker get their turn (DESIGN.md
/// "Overload"): one read buffer, so that one turn's work (decoding, routing, storing what it
/// carried) stays small beside a PINGREQ waiting on another socket.
constexpr std::size_t max_read_bytes_per_turn = 64 * 1024;
/// How long a closing connection may take to accept its last bytes.
constexpr std::chrono::seconds close_linger{5};
/// How long a connection the server closed (after a DISCONNECT or a refused CONNACK) reads and
/// discards what the client still sends, so that the client reads the reason code instead of
/// a connection reset.
constexpr std::chrono::seconds drain_linger{2};

template <typename... Handlers> struct overloaded : Handlers... { using Handlers::operator()...; };
template <typename... Handlers> overloaded(Handlers...) -> overloaded<Handlers...>;

std::string_view describe_version(mqtt::protocol_version version) {
    return version == mqtt::protocol_version::v5 ? "5.0" : "3.1.1";
}

/// `content` as a client may publish it: RETAIN cleared where nothing may be retained (a copy
/// then; the payload stays shared).
mqtt::message_ptr retainable(mqtt::message_ptr content) {
    if (!content->is_retained || may_client_retain(content->topic_name)) {
        return content;
    }
    auto plain = std::make_shared<mqtt::message>(*content);
    plain->is_retained = false;
    return plain;
}

} // namespace

mqtt::time_point connection::clock_now() {
    return std::chrono::steady_clock::now();
}

connection::connection(server& owner, worker& home, std::unique_ptr<transport> stream,
                       std::shared_ptr<const connection_settings> settings)
    : server_(owner), worker_(home), transport_(std::move(stream)), settings_(std::move(settings)),
      session_(mqtt::session::sharing_limits(
          std::shared_ptr<const mqtt::session_limits>(settings_, &settings_->limits),
          home.next_subscriber_id(), clock_now())),
      output_(home.output_pool()) {
    session_.set_publish_sink(this);
}

connection::connection(server& owner, worker& home, boost::asio::ip::tcp::socket socket,
                       std::shared_ptr<const connection_settings> settings)
    : connection(owner, home, std::make_unique<tcp_transport>(home.poller(), std::move(socket)),
                 std::move(settings)) {}

connection::~connection() {
    if (has_connection_slot_) {
        server_.release_connection_slot();
    }
    if (session_persistence* persistence = server_.persistence()) {
        // A CONNECT that was never accepted leaves its held Will behind.
        persistence->take_connect_will(id());
    }
}

void connection::start() {
    worker_.add_connection(shared_from_this());
    log_debug("new connection from {}", remote_address());
    arm_timer();
    // Bytes may have arrived before the socket joined the reactor: read first, then wait.
    boost::asio::post(worker_.context(), [self = shared_from_this()] {
        self->read_turn(boost::system::error_code());
    });
}

void connection::wait_readable() {
    if (!transport_->is_open() || is_closing_ || is_reading_ || is_read_paused_ ||
        is_awaiting_handover_ || session_.phase() == mqtt::session_phase::authorizing) {
        // While a CONNECT is being authorized (a password check, a takeover) nothing more is
        // read: a client that has not logged in cannot make the server buffer its input.
        return;
    }
    if (worker_.is_output_congested(settings_->backlog_pause_bytes)) {
        // Back-pressure: the broker cannot write as fast as publishers send.
        is_read_paused_ = true;
        worker_.pause_reading(shared_from_this(), settings_->backlog_pause_bytes);
        return;
    }
    is_reading_ = true;
    transport_->async_wait_readable(
        [self = shared_from_this()](const boost::system::error_code& error) {
            self->is_reading_ = false;
            self->read_turn(error);
        });
}

void connection::resume_reading() {
    if (!is_read_paused_) {
        return;
    }
    is_read_paused_ = false;
    read_turn(boost::system::error_code());
}

void connection::read_turn(const boost::system::error_code& error) {
    if (error) {
        if (error != boost::asio::error::operation_aborted) {
            on_network_lost();
        }
        return;
    }
    if (!transport_->is_open() || is_closing_) {
        if (is_draining_) {
            drain_input();
        }
        return;
    }
    const mqtt::time_point now = clock_now();
    std::size_t turn_bytes = 0;
    bool is_lost = false;
    bool has_more = false;
    while (true) {
        boost::system::error_code read_error;
        // The worker's buffer: the session takes what it needs before anything else reads.
        const std::span<std::uint8_t> buffer = worker_.read_buffer();
        const std::size_t count = transport_->read_some(buffer, read_error);
        if (read_error == transport::read_yield) {
            // The transport did a turn's worth of work that gave no bytes (empty TLS records).
            has_more = true;
            break;
        }
        if (read_error == boost::asio::error::would_block ||
            read_error == boost::asio::error::try_again) {
            break;
        }
        if (read_error) {
            if (read_error != boost::asio::error::eof) {
                log_debug("read from {} failed: {}", remote_address(), read_error.message());
            }
            is_lost = true;
            break;
        }
        worker_.counters().bytes_received.add(count);
        session_.handle_bytes(mqtt::byte_view(buffer.data(), count), now);
        process_actions(now);
        turn_bytes += count;
        if (is_closing_ || is_awaiting_handover_ ||
            session_.phase() == mqtt::session_phase::authorizing) {
            break;
        }
        if (turn_bytes >= max_read_bytes_per_turn) {
            has_more = true;
            break;
        }
    }
    sync_ledger(now);
    worker_.flush();
    if (is_lost) {
        on_network_lost();
        return;
    }
    arm_timer();
    if (has_more) {
        if (worker_.is_output_congested(settings_->backlog_pause_bytes)) {
            // A reader with more to read obeys back-pressure as a waiting one does (resumed with
            // read_turn, which takes what the transport already holds).
            is_read_paused_ = true;
            worker_.pause_reading(shared_from_this(), settings_->backlog_pause_bytes);
            return;
        }
        // Posted behind the handlers already queued on the worker (other sockets' readiness,
        // store completions): the others get their turn before this one reads again.
        boost::asio::post(worker_.context(), [self = shared_from_this()] {
            self->read_turn(boost::system::error_code());
        });
        return;
    }
    wait_readable();
}

void connection::process_actions(mqtt::time_point now) {
    while (auto action = session_.poll_action()) {
        std::visit(overloaded{
                       [&](mqtt::send_packet& out) { send(out.content); },
                       [&](mqtt::connect_requested& request) {
                           on_connect_requested(request.request, now);
                       },
                       [&](mqtt::route_publish& inbound) {
                           worker_.counters().publish_received.add();
                           if (!policy_.may_publish(inbound.content->topic_name)) {
                               refuse_publish(inbound, now);
                               return;
                           }
                           inbound.content = retainable(std::move(inbound.content));
                           if (handle_chat_publish(inbound, now)) {
                               return;
                           }
                           route_inbound(inbound, now);
                       },
                       [&](mqtt::subscribe_requested& request) {
                           on_subscribe_requested(request.request, now);
                       },
                       [&](mqtt::unsubscribe_requested& request) {
                           on_unsubscribe_requested(request.request, now);
                       },
                       [&](mqtt::publish_will& will) {
                           if (!policy_.may_publish(will.content->topic_name)) {
                               // Allowed at CONNECT, but the rules changed since (a deleted
                               // user, a room left): a will obeys them when it is published.
                               worker_.counters().access_refusals.add();
                               log_info("dropping the will of {} on '{}': not authorized",
                                        client_id(), will.content->topic_name);
                               return;
                           }
                           log_debug("publishing the will of {} on '{}'", client_id(),
                                     will.content->topic_name);
                           route_will(retainable(std::move(will.content)), now);
                       },
                       [&](mqtt::close_connection& close) {
                           if (mqtt::is_failure(close.reason)) {
                               // The server ends this connection: the client gets to read why.
                               is_drain_wanted_ = true;
                               if (close.reason != mqtt::reason_code::session_taken_over) {
                                   worker_.counters().protocol_violations.add();
                               }
                               log_info("closing {} ({}): {} (0x{:02x}) {}", client_id(),
                                        remote_address(), mqtt::to_string(close.reason),
                                        static_cast<unsigned>(close.reason), close.rule);
                           }
                           begin_close();
                       },
                       [&](mqtt::session_expired&) {
                           is_session_ended_ = true;
                           if (ledger_) {
                               server_.persistence()->store().delete_session(client_id());
                               server_.persistence()->forget(client_id());
                               server_.persistence()->unbind(id());
                               ledger_.reset();
                           }
                           server_.routes().unsubscribe_all(id());
                           if (!client_id().empty()) {
                               server_.registry().release(client_id(), id());
                           }
                       },
                   },
                   *action);
    }
    if (ledger_) {
        // The stored record follows the end of the connection and of the will.
        sync_session_record(*ledger_, session_, server_.persistence()->store(), unix_now_ms());
    }
}

void connection::send(mqtt::packet& content) {
    if (!transport_->is_open()) {
        return;
    }
    if (auto* outbound = std::get_if<mqtt::publish>(&content)) {
        const std::uint64_t backlog = output_.pending_bytes() + output_.writing_bytes();
        if (backlog > settings_->max_output_bytes) {
            if (outbound->qos_level == mqtt::qos::at_most_once) {
                // DESIGN.md "Overload": only QoS 0 may be dropped, and every drop is counted.
                worker_.counters().publish_dropped.add();
                return;
            }
            if (!session_.is_persistent() && session_.is_connected()) {
                worker_.counters().quota_disconnects.add();
                log_notice("disconnecting {}: {} bytes of output waiting (quota exceeded)",
                           client_id(), backlog);
                session_.shutdown(mqtt::reason_code::quota_exceeded, clock_now());
                return;
            }
            // DESIGN.md "Overload": this one is in flight already; the session holds later QoS
            // 1/2 deliveries in its queue, and past it they stay in the store, until the output
            // has room again (on_written).
            session_.set_output_blocked(true, clock_now());
        }
        output_.append_publish(*outbound, session_.version());
        worker_.counters().publish_sent.add();
    } else {
        output_.append_packet(content, session_.version());
    }
    note_output();
}

bool connection::take_publish(const mqtt::publish& out) {
    if (!transport_->is_open() ||
        output_.pending_bytes() + output_.writing_bytes() > settings_->max_output_bytes) {
        return false;
    }
    output_.append_publish(out, session_.version());
    worker_.counters().publish_sent.add();
    note_output();
    return true;
}

void connection::note_output() {
    worker_.counters().packets_sent.add();
    sync_backlog();
    if (!is_dirty_) {
        is_dirty_ = true;
        worker_.mark_dirty(shared_from_this());
    }
}

std::size_t connection::route(const mqtt::message_ptr& content) {
    const route_result result =
        server_.routes().route(content, worker_.outbox(), worker_.match_scratch());
    persist_retained(content, result, {});
    return result.delivery_count;
}

void connection::on_connect_requested(const mqtt::connect& request, mqtt::time_point now) {
    // use_identity_as_username: a verified client certificate names the user.
    const bool is_anonymous = !request.user_name && transport_->identity_user_name().empty();
    if (!settings_->allow_anonymous && is_anonymous) {
        log_info("refusing anonymous client from {}", remote_address());
        session_.refuse_connect(mqtt::reason_code::not_authorized, now);
        return;
    }
    policy_ = access_policy(is_anonymous);
    start_chat_login(request, now);
}

void connection::continue_connect(const mqtt::connect& request, mqtt::time_point now) {
    if (request.will && !policy_.may_publish(request.will->topic_name)) {
        // A Will obeys the same rules as a PUBLISH and is refused at CONNECT (DESIGN.md).
        log_info("refusing client from {}: its will topic '{}' is not allowed", remote_address(),
                 request.will->topic_name);
        worker_.counters().access_refusals.add();
        session_.refuse_connect(mqtt::reason_code::not_authorized, now);
        return;
    }
    if (request.will && session_.is_persistent() && server_.persistence() != nullptr) {
        // Written with the session record once the session is accepted.
        server_.persistence()->hold_connect_will(id(), *request.will);
    }
    is_clean_start_ = request.clean_start;
    if (!is_clean_start_ && server_.persistence() != nullptr &&
        !server_.persistence()->is_owned_by(request.client_id, chat_user())) {
        // A session is never given to another identity (docs/CHAT.md "Identity"): the one held
        // under this client id is discarded as for Clean Start 1.
        log_info("client {} from {}: the stored session belongs to another identity; starting "
                 "clean",
                 request.client_id, remote_address());
        is_clean_start_ = true;
    }
    if (request.client_id.empty()) {
        // [MQTT-3.1.3-6] the server assigns a unique identifier to a client that sent none; a
        // fresh identifier has no previous holder.
        std::string assigned = fmt::format("perch-{:x}", id());
        server_.registry().claim(assigned, id());
        accept(std::nullopt, now, std::move(assigned));
        return;
    }
    const auto previous = server_.registry().claim(request.client_id, id());
    if (!previous) {
        accept(std::nullopt, now);
        return;
    }
    // [MQTT-3.1.4-3] an existing connection with this client id is taken over.
    is_awaiting_handover_ = true;
    server_.request_handover(*previous, id(), is_clean_start_);
}

void connection::accept(std::optional<mqtt::session_state> state, mqtt::time_point now,
                        std::string assigned_client_id) {
    mqtt::connect_acceptance acceptance;
    const bool is_present = state.has_value() && !is_clean_start_;
    if (is_present) {
        acceptance.restored = std::move(state);
    }
    acceptance.assigned_client_identifier = std::move(assigned_client_id);
    session_.accept_connect(std::move(acceptance), now);
    persist_accepted_session();
    if (session_.is_connected()) {
        transport_->on_connect_accepted();
        is_counted_connected_ = true;
        worker_.counters().connected_clients.add();
        log_info("client {} connected from {} (MQTT {}, clean start {}, keep alive {}s, session "
                 "present {})",
                 client_id(), remote_address(), describe_version(session_.version()),
                 is_clean_start_, session_.keep_alive_seconds(), is_present);
    }
    start_chat_session(now);
    process_actions(now);
}

void connection::on_subscribe_requested(const mqtt::subscribe& request, mqtt::time_point now) {
    std::vector<mqtt::reason_code> reasons;
    reasons.reserve(request.entries.size());
    struct retained_send {
        std::vector<mqtt::message_ptr> messages;
        mqtt::subscription_options options;
        std::optional<std::uint32_t> subscription_id;
    };
    std::vector<retained_send> retained;
    std::vector<store::stored_subscription> stored_subscriptions;
    const std::optional<std::uint32_t> subscription_id =
        request.props.subscription_identifiers.empty()
            ? std::nullopt
            : std::optional<std::uint32_t>(request.props.subscription_identifiers.front());
    const auto maximum_qos = settings_->limits.maximum_qos;
    for (const mqtt::subscribe_entry& entry : request.entries) {
        if (!policy_.may_subscribe(entry.topic_filter)) {
            // SUBACK 0x87 at level 5, 0x80 at level 4.
            worker_.counters().access_refusals.add();
            reasons.push_back(mqtt::reason_code::not_authorized);
            continue;
        }
        mqtt::subscription_options granted = entry.options;
        if (static_cast<std::uint8_t>(granted.maximum_qos) >
            static_cast<std::uint8_t>(maximum_qos)) {
            granted.maximum_qos = maximum_qos;
        }
        const bool is_new =
            server_.routes().subscribe(id(), entry.topic_filter, granted, subscription_id);
        reasons.push_back(static_cast<mqtt::reason_code>(granted.maximum_qos));
        stored_subscriptions.push_back({client_id(), entry.topic_filter,
                                        stored_options_byte(granted), subscription_id.value_or(0)});
        // Retained messages are sent for a new subscription per Retain Handling
        // [MQTT-3.3.1-9 (5.0), MQTT-3.3.1-6 (3.1.1)]: 0 always, 1 only when new
        // [MQTT-3.3.1-10 (5.0)], 2 never [MQTT-3.3.1-11 (5.0)]. Shared subscriptions get none.
        const auto mode = granted.retain_handling_mode;
        const bool wants_retained =
            mode == mqtt::retain_handling::send_at_subscribe ||
            (mode == mqtt::retain_handling::send_at_subscribe_if_new && is_new);
        if (!wants_retained || mqtt::parse_shared_subscription(entry.topic_filter)) {
            continue;
        }
        retained_send batch{{}, granted, subscription_id};
        server_.routes().collect_retained(entry.topic_filter, batch.messages);
        // A retained message passes the same read check as a live one: a wildcard never widens
        // what a client reads.
        std::erase_if(batch.messages, [this](const mqtt::message_ptr& content) {
            return !policy_.may_receive(content->topic_name);
        });
        if (!batch.messages.empty()) {
            retained.push_back(std::move(batch));
        }
    }
    auto finish = [self = shared_from_this(), packet_id = request.packet_id,
                   reasons = std::move(reasons),
                   retained = std::move(retained)](mqtt::time_point at) mutable {
        self->session_.complete_subscribe(packet_id, std::move(reasons), at);
        for (const retained_send& batch : retained) {
            for (const mqtt::message_ptr& content : batch.messages) {
                mqtt::delivery_options options;
                options.granted_qos = batch.options.maximum_qos;
                options.is_retain_as_published = batch.options.is_retain_as_published;
                options.is_retained_at_subscribe = true;
                if (batch.subscription_id) {
                    options.subscription_ids =
                        std::span<const std::uint32_t>(&*batch.subscription_id, 1);
                }
                self->session_.handle_delivery(content, options, at);
            }
        }
    };
    if (!ledger_) {
        finish(now);
        return;
    }
    // DESIGN.md "Durability contract": SUBACK of a persistent session after the commit.
    store::message_store& store = server_.persistence()->store();
    for (store::stored_subscription& held : stored_subscriptions) {
        store.add_subscription(std::move(held));
    }
    store.save_session(current_session_record(*ledger_, session_.state()),
                       post_back([self = shared_from_this(), finish = std::move(finish)]() mutable {
                           const mqtt::time_point at = clock_now();
                           finish(at);
                           self->process_actions(at);
                           self->sync_ledger(at);
                           self->worker_.flush();
                       }));
}

void connection::on_unsubscribe_requested(const mqtt::unsubscribe& request, mqtt::time_point now) {
    std::vector<mqtt::reason_code> reasons;
    reasons.reserve(request.topic_filters.size());
    for (const std::string& topic_filter : request.topic_filters) {
        if (is_held_chat_filter(topic_filter)) {
            // A server-side chat subscription stays (docs/CHAT.md): UNSUBACK 0x87 at level 5.
            reasons.push_back(mqtt::reason_code::not_authorized);
            continue;
        }
        const bool existed = server_.routes().unsubscribe(id(), topic_filter);
        reasons.push_back(existed ? mqtt::reason_code::success
                                  : mqtt::reason_code::no_subscription_existed);
    }
    if (!ledger_) {
        session_.complete_unsubscribe(request.packet_id, std::move(reasons), now);
        return;
    }
    // DESIGN.md "Durability contract": UNSUBACK of a persistent session after the commit.
    store::message_store& store = server_.persistence()->store();
    for (const std::string& topic_filter : request.topic_filters) {
        if (!is_held_chat_filter(topic_filter)) {
            store.remove_subscription(client_id(), topic_filter);
        }
    }
    store.save_session(current_session_record(*ledger_, session_.state()),
                       post_back([self = shared_from_this(), packet_id = request.packet_id,
                                  reasons = std::move(reasons)]() mutable {
                           const mqtt::time_point at = clock_now();
                           self->session_.complete_unsubscribe(packet_id, std::move(reasons), at);
                           self->process_actions(at);
                           self->worker_.flush();
                       }));
}

void connection::refuse_publish(const mqtt::route_publish& inbound, mqtt::time_point now) {
    worker_.counters().access_refusals.add();
    log_debug("refusing publish of {} to '{}': not authorized", client_id(),
              inbound.content->topic_name);
    if (inbound.packet_id != 0) {
        // PUBACK/PUBREC 0x87 at level 5; level 4 has no negative acknowledgement.
        session_.complete_publish(inbound.packet_id, mqtt::reason_code::not_authorized, now);
    }
}

void connection::deliver(const delivery& routed, mqtt::time_point now) {
    const bool is_stored = routed.store_sequence != 0 && ledger_;
    if (is_stored) {
        switch (classify_arrival(*ledger_, routed.store_sequence)) {
        case stored_arrival::deliver: break;
        case stored_arrival::already_read: return;
        case stored_arrival::left_in_store:
            // DESIGN.md "Overload": older entries wait in the store; this one is read back
            // after them.
            sync_ledger(now);
            return;
        }
    }
    if (!policy_.may_receive(routed.content->topic_name)) {
        if (is_stored) {
            // Queued before the rules changed (a room left): its row goes too.
            ack_entry(*ledger_, server_.persistence()->store(), routed.store_sequence);
        }
        return;
    }
    mqtt::delivery_options options;
    options.granted_qos = routed.granted_qos;
    options.is_retain_as_published = routed.is_retain_as_published;
    options.is_retained_at_subscribe = routed.is_retained_at_subscribe;
    options.subscription_ids = routed.subscription_ids;
    const mqtt::delivery_outcome outcome = session_.handle_delivery(routed.content, options, now);
    if (outcome == mqtt::delivery_outcome::dropped_qos0 ||
        (outcome == mqtt::delivery_outcome::queue_full &&
         (routed.store_sequence == 0 || !ledger_))) {
        // Not in the store (no persistence, or its queue refused it and the publisher was told):
        // a QoS 1/2 delivery that does not fit is lost, and counted.
        worker_.counters().publish_dropped.add();
    }
    if (is_stored) {
        if (outcome == mqtt::delivery_outcome::sent || outcome == mqtt::delivery_outcome::queued) {
            track_accepted(routed, outcome);
        } else if (outcome == mqtt::delivery_outcome::queue_full) {
            // DESIGN.md "Overload": the entry is in the store; it and those after it are read
            // back from there, in order, as the session makes room.
            begin_spill(*ledger_, routed.store_sequence);
        } else {
            ack_entry(*ledger_, server_.persistence()->store(), routed.store_sequence);
        }
    }
    process_actions(now);
    sync_ledger(now);
    arm_timer();
}

void connection::hand_over(mqtt::subscriber_id successor, bool is_clean_start) {
    const mqtt::time_point now = clock_now();
    if (is_awaiting_handover_) {
        // This connection is itself still waiting for its predecessor's state; pass it on when
        // it arrives.
        is_pending_successor_clean_ = is_clean_start;
        pending_successor_ = successor;
        return;
    }
    if (is_session_ended_ || session_.phase() == mqtt::session_phase::closed) {
        server_.deliver_session_state(successor, std::nullopt);
        return;
    }
    if (session_.is_connected()) {
        log_info("client {} taken over by a new connection", client_id());
        session_.shutdown(mqtt::reason_code::session_taken_over, now);
        process_actions(now);
    }
    if (ledger_) {
        // The ledger travels with the session; a clean start deletes it on the successor.
        sync_ledger(now);
        server_.persistence()->unbind(id());
        if (!is_clean_start) {
            server_.persistence()->bind(successor, ledger_);
        }
        ledger_.reset();
    }
    if (is_clean_start) {
        session_.discard_session(now);
        process_actions(now);
        server_.deliver_session_state(successor, std::nullopt);
    } else {
        mqtt::session_state state = session_.take_state(now);
        process_actions(now);
        is_session_ended_ = true;
        const auto subscriptions = state.subscriptions;
        server_.deliver_session_state(successor, std::move(state));
        // After the state is on its way, so that deliveries to the new id find it there.
        server_.routes().move_subscriptions(id(), successor, subscriptions);
        worker_.note_moved(id(), successor);
    }
    worker_.flush();
    end_session_if_closed();
}

void connection::resume_session(std::optional<mqtt::session_state> state) {
    const mqtt::time_point now = clock_now();
    is_awaiting_handover_ = false;
    if (pending_successor_ != 0) {
        const mqtt::subscriber_id successor = pending_successor_;
        const bool is_successor_clean = is_pending_successor_clean_;
        pending_successor_ = 0;
        if (state && !is_successor_clean) {
            const auto subscriptions = state->subscriptions;
            server_.deliver_session_state(successor, std::move(state));
            server_.routes().move_subscriptions(id(), successor, subscriptions);
            worker_.note_moved(id(), successor);
        } else {
            server_.routes().unsubscribe_all(id());
            server_.deliver_session_state(successor, std::nullopt);
        }
        is_session_ended_ = true;
        session_.refuse_connect(mqtt::reason_code::server_busy, now);
        process_actions(now);
        worker_.flush();
        return;
    }
    if (!transport_->is_open() || session_.phase() != mqtt::session_phase::authorizing) {
        // The client left while its session was on its way: the session ends here.
        log_notice("client {} left before its session could be resumed", client_id());
        server_.routes().unsubscribe_all(id());
        server_.registry().release(client_id(), id());
        is_session_ended_ = true;
        end_session_if_closed();
        return;
    }
    accept(std::move(state), now);
    worker_.flush();
    arm_timer();
    wait_readable();
}

void connection::shut_down_for_exit() {
    is_exiting_ = true;
    if (transport_->is_open() && session_.is_connected()) {
        const mqtt::time_point now = clock_now();
        session_.shutdown(mqtt::reason_code::server_shutting_down, now);
        process_actions(now);
        flush_output();
    }
    cancel_timer();
    if (!output_.is_writing()) {
        close_socket();
        end_session_if_closed();
    }
}

void connection::begin_close() {
    if (is_closing_) {
        return;
    }
    is_closing_ = true;
    if (!output_.has_pending() && !output_.is_writing()) {
        finish_close();
        return;
    }
    close_deadline_ = clock_now() + close_linger;
    arm_timer();
}

void connection::finish_close() {
    if (!is_drain_wanted_ || is_exiting_ || is_draining_ || !transport_->is_open()) {
        close_socket();
        end_session_if_closed();
        return;
    }
    // Closing a socket with unread input resets the connection, and the client may lose the
    // DISCONNECT (or refused CONNACK) still in its receive buffer: end the sending side, then
    // discard input until the client closes too, or drain_linger passes.
    is_draining_ = true;
    transport_->shutdown_send();
    close_deadline_ = clock_now() + drain_linger;
    arm_timer();
    drain_input();
}

void connection::drain_input() {
    if (!transport_->is_open() || is_reading_) {
        return;
    }
    std::size_t turn_bytes = 0;
    while (turn_bytes < max_read_bytes_per_turn) {
        boost::system::error_code error;
        const std::size_t count = transport_->read_some(worker_.read_buffer(), error);
        if (error == boost::asio::error::would_block || error == boost::asio::error::try_again) {
            is_reading_ = true;
            transport_->async_wait_readable(
                [self = shared_from_this()](const boost::system::error_code& waited) {
                    self->is_reading_ = false;
                    if (!waited) {
                        self->drain_input();
                    } else if (waited != boost::asio::error::operation_aborted) {
                        self->close_socket();
                        self->end_session_if_closed();
                    }
                });
            return;
        }
        if (error == transport::read_yield) {
            break;
        }
        if (error) {
            // End of stream (the client closed after reading) or a failure: done.
            close_socket();
            end_session_if_closed();
            return;
        }
        worker_.counters().bytes_received.add(count);
        turn_bytes += count;
    }
    // Fairness, as for a read turn: the rest waits behind the worker's other connections.
    boost::asio::post(worker_.context(), [self = shared_from_this()] { self->drain_input(); });
}

void connection::close_socket() {
    if (!transport_->is_open()) {
        return;
    }
    transport_->close();
    output_.clear();
    sync_backlog();
    if (has_connection_slot_) {
        has_connection_slot_ = false;
        server_.release_connection_slot();
    }
    if (is_counted_connected_) {
        is_counted_connected_ = false;
        worker_.counters().connected_clients.subtract();
        log_info("client {} ({}) disconnected", client_id(), remote_address());
        end_chat_device();
    } else {
        log_debug("connection from {} closed", remote_address());
    }
}

void connection::on_network_lost() {
    const mqtt::time_point now = clock_now();
    close_socket();
    if (!is_exiting_) {
        session_.handle_connection_lost(now);
        process_actions(now);
        worker_.flush();
    }
    end_session_if_closed();
    arm_timer();
}

void connection::end_session_if_closed() {
    if (transport_->is_open() || is_awaiting_handover_) {
        return;
    }
    if (session_.phase() == mqtt::session_phase::closed || is_session_ended_ || is_exiting_) {
        if (!is_session_ended_ && !is_exiting_) {
            is_session_ended_ = true;
            server_.routes().unsubscribe_all(id());
            if (!client_id().empty()) {
                server_.registry().release(client_id(), id());
            }
        }
        cancel_timer();
        worker_.remove_connection(id());
    }
}

void connection::flush_output() {
    is_dirty_ = false;
    if (!transport_->is_open() || output_.is_writing() || !output_.has_pending() ||
        (ledger_ && ledger_->connack_held_for == id())) {
        return;
    }
    const auto buffers = output_.begin_write();
    transport_->async_write(buffers, [self = shared_from_this()](
                                         const boost::system::error_code& error,
                                         std::size_t bytes) { self->on_written(error, bytes); });
}

void connection::on_written(const boost::system::error_code& error, std::size_t bytes) {
    worker_.counters().bytes_sent.add(bytes);
    output_.end_write();
    sync_backlog();
    if (error) {
        if (error != boost::asio::error::operation_aborted) {
            log_debug("write to {} failed: {}", remote_address(), error.message());
            on_network_lost();
        }
        return;
    }
    if (session_.is_output_blocked() &&
        output_.pending_bytes() + output_.writing_bytes() <= settings_->max_output_bytes) {
        // The output has room again: the held deliveries go, oldest first, then those read back
        // from the store.
        const mqtt::time_point now = clock_now();
        session_.set_output_blocked(false, now);
        process_actions(now);
        sync_ledger(now);
    }
    if (output_.has_pending()) {
        flush_output();
        return;
    }
    if (is_exiting_) {
        close_socket();
        end_session_if_closed();
    } else if (is_closing_) {
        finish_close();
    }
}

void connection::sync_backlog() {
    const std::uint64_t now_queued = output_.pending_bytes() + output_.writing_bytes();
    if (now_queued > accounted_output_bytes_) {
        worker_.counters().queued_output_bytes.add(now_queued - accounted_output_bytes_);
    } else {
        worker_.counters().queued_output_bytes.subtract(accounted_output_bytes_ - now_queued);
    }
    accounted_output_bytes_ = now_queued;
}

void connection::arm_timer() {
    if (is_exiting_) {
        return;
    }
    std::optional<mqtt::time_point> deadline = session_.poll_deadline();
    if (close_deadline_ && (!deadline || *close_deadline_ < *deadline)) {
        deadline = *close_deadline_;
    }
    if (!deadline) {
        // Nothing to wait for (a client without keep-alive, once connected): the queued entry
        // goes stale, so that the worker's queue holds nothing for an idle connection.
        cancel_timer();
        return;
    }
    if (armed_deadline_ && *armed_deadline_ <= *deadline) {
        // The armed timer fires first; it re-arms for the later deadline then.
        return;
    }
    if (!armed_deadline_) {
        worker_.note_deadline_waiter(true);
    }
    armed_deadline_ = *deadline;
    worker_.schedule_deadline(*deadline, id(), ++timer_generation_);
}

void connection::cancel_timer() {
    ++timer_generation_;
    if (armed_deadline_) {
        armed_deadline_.reset();
        worker_.note_deadline_waiter(false);
    }
}

void connection::on_deadline(std::uint64_t generation) {
    if (!is_deadline_current(generation) || is_exiting_) {
        return;
    }
    armed_deadline_.reset();
    worker_.note_deadline_waiter(false);
    const mqtt::time_point now = clock_now();
    if (close_deadline_ && now >= *close_deadline_) {
        close_deadline_.reset();
        log_debug("closing {}: peer stopped reading", remote_address());
        close_socket();
        end_session_if_closed();
        if (is_session_ended_) {
            return;
        }
    }
    session_.handle_deadline(now);
    process_actions(now);
    sync_ledger(now);
    worker_.flush();
    end_session_if_closed();
    if (!is_session_ended_) {
        arm_timer();
    }
}

void connection::acknowledge_publish(std::uint16_t packet_id, mqtt::reason_code reason,
                                     mqtt::time_point now) {
    if (history_wait* waiting = find_history_wait(packet_id)) {
        if (!waiting->is_history_written) {
            waiting->routed_reason = reason;
            return;
        }
        erase_history_wait(*waiting);
    }
    session_.complete_publish(packet_id, reason, now);
}

connection::history_wait* connection::find_history_wait(std::uint16_t packet_id) {
    if (!chat_) {
        return nullptr;
    }
    auto& waits = chat_->history_waits;
    const auto found =
        std::find_if(waits.begin(), waits.end(),
                     [packet_id](const history_wait& held) { return held.packet_id == packet_id; });
    return found == waits.end() ? nullptr : &*found;
}

void connection::drop_history_wait(std::uint16_t packet_id) {
    if (history_wait* waiting = find_history_wait(packet_id)) {
        erase_history_wait(*waiting);
    }
}

void connection::erase_history_wait(const history_wait& waiting) {
    auto& waits = chat_->history_waits;
    waits.erase(waits.begin() + (&waiting - waits.data()));
}

} // namespace perch::gateway
