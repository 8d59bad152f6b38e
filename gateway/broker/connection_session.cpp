// The life of a connection's session: CONNECT acceptance, SUBSCRIBE and UNSUBSCRIBE, takeover
// by another connection, the stored session record (DESIGN.md "Durability contract"), restore of
// a stored session at start, and the end of the session.
//
// Takeover: a CONNECT for a client id held elsewhere asks the holder's worker to hand over; that
// worker closes its connection, re-registers the subscriptions under this connection's id and
// posts the state back here (resume_session). Only then is CONNACK sent.
#include <algorithm>
#include <iterator>
#include <utility>

#include <boost/asio/post.hpp>
#include <fmt/format.h>

#include "gateway/broker/connection.hpp"
#include "gateway/broker/worker.hpp"
#include "gateway/common/log.hpp"
#include "gateway/common/stored_message_codec.hpp"
#include "mqtt/topic.hpp"

namespace perch::gateway {

namespace {

std::string_view describe_version(mqtt::protocol_version version) {
    return version == mqtt::protocol_version::v5 ? "5.0" : "3.1.1";
}

/// Removes every subscription of an ended session from `routes` one slice at a time
/// (router::removal_slice per exclusive section), posting each following slice to `context`, so
/// that a session holding thousands never keeps the workers' matching waiting for long
/// (docs/DECISIONS.md "A session's subscriptions removed in slices"). The session is already
/// gone from its worker: what is matched to it meanwhile finds nobody to deliver to.
void remove_subscriptions_in_slices(router& routes, boost::asio::io_context& context,
                                    mqtt::subscriber_id subscriber) {
    if (routes.unsubscribe_some(subscriber) == 0) {
        return;
    }
    boost::asio::post(context, [&routes, &context, subscriber] {
        remove_subscriptions_in_slices(routes, context, subscriber);
    });
}

} // namespace

void connection::on_connect_requested(const mqtt::connect& request, mqtt::time_point now) {
    if (is_connection_rate_refused_) {
        // Counted when accepted (server::handle_accepted); no login is tried.
        log_event(log_level::info, "refusing client from {}: connection rate exceeded",
                  remote_address());
        session_.refuse_connect(mqtt::reason_code::connection_rate_exceeded, now);
        return;
    }
    // use_identity_as_username: a verified client certificate names the user.
    const bool is_anonymous = !request.user_name && transport_->identity_user_name().empty();
    if (!settings_->allow_anonymous && is_anonymous) {
        log_event(log_level::info, "refusing anonymous client from {}", remote_address());
        session_.refuse_connect(mqtt::reason_code::not_authorized, now);
        return;
    }
    // Before any password check: a banned client costs no hash (docs/ACCESS.md "Bans").
    if (refuse_if_banned(request, now)) {
        return;
    }
    policy_ = access_policy(is_anonymous, &tables_.chat().directory());
    start_chat_login(request, now);
}

bool connection::refuse_if_banned(const mqtt::connect& request, mqtt::time_point now) {
    const std::string identity = transport_->identity_user_name();
    const std::string_view user =
        !identity.empty() ? std::string_view(identity)
                          : (request.user_name ? std::string_view(*request.user_name) : "");
    const auto ban = find_ban(user, request.client_id);
    if (!ban) {
        return false;
    }
    log_event(log_level::info, "refusing client {} from {}: banned ({} {}{}{})", request.client_id,
              remote_address(), to_string(ban->kind), ban->value, ban->reason.empty() ? "" : ": ",
              ban->reason);
    worker_.counters().banned_connects.add();
    // CONNACK 0x8A Banned (5.0), return code 5 Not authorized (3.1.1).
    session_.refuse_connect(mqtt::reason_code::banned, now);
    return true;
}

std::optional<store::ban_record> connection::find_ban(std::string_view user,
                                                      std::string_view client_id) const {
    const std::shared_ptr<const ban_list> bans = tables_.chat().directory().bans();
    if (bans->is_empty()) {
        return std::nullopt;
    }
    const std::string remote = remote_address();
    const store::ban_record* found =
        bans->find(ban_subject{user, client_id, host_of_remote_address(remote)}, unix_now_ms());
    return found != nullptr ? std::optional<store::ban_record>(*found) : std::nullopt;
}

void connection::continue_connect(const mqtt::connect& request, mqtt::time_point now) {
    if (request.will && !policy_.may_publish(request.will->topic_name, request.client_id)) {
        // A Will obeys the same rules as a PUBLISH and is refused at CONNECT (DESIGN.md).
        log_event(log_level::info, "refusing client from {}: its will topic '{}' is not allowed",
                  remote_address(), request.will->topic_name);
        worker_.counters().access_refusals.add();
        session_.refuse_connect(mqtt::reason_code::not_authorized, now);
        return;
    }
    if (request.will && session_.is_persistent() && tables_.persistence() != nullptr) {
        // Written with the session record once the session is accepted.
        tables_.persistence()->hold_connect_will(id(), *request.will);
    }
    is_clean_start_ = request.clean_start;
    if (!is_clean_start_ && tables_.persistence() != nullptr &&
        !tables_.persistence()->is_owned_by(request.client_id, chat_user())) {
        // A session is never given to another identity (docs/CHAT.md "Identity"): the one held
        // under this client id is discarded as for Clean Start 1.
        log_event(log_level::info,
                  "client {} from {}: the stored session belongs to another identity; starting "
                  "clean",
                  request.client_id, remote_address());
        is_clean_start_ = true;
    }
    if (request.client_id.empty()) {
        // [MQTT-3.1.3-6] the server assigns a unique identifier to a client that sent none; a
        // fresh identifier has no previous holder.
        std::string assigned = fmt::format("perch-{:x}", id());
        tables_.registry().claim(assigned, id());
        accept(std::nullopt, now, std::move(assigned));
        return;
    }
    const auto previous = tables_.registry().claim(request.client_id, id());
    if (!previous) {
        accept(std::nullopt, now);
        return;
    }
    // [MQTT-3.1.4-3] an existing connection with this client id is taken over.
    is_awaiting_handover_ = true;
    worker_.request_handover(*previous, id(), is_clean_start_);
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
        log_event(log_level::info,
                  "client {} connected from {} (MQTT {}, clean start {}, keep alive {}s, session "
                  "present {})",
                  client_id(), remote_address(), describe_version(session_.version()),
                  static_cast<bool>(is_clean_start_), session_.keep_alive_seconds(), is_present);
    }
    start_chat_session(now);
    process_actions(now);
}

void connection::persist_accepted_session() {
    session_persistence* persistence = tables_.persistence();
    if (persistence == nullptr || client_id().empty()) {
        return;
    }
    const bool is_persistent = session_.is_persistent();
    if (ledger_ == nullptr && (is_clean_start_ || !is_persistent) &&
        persistence->has_ledger(client_id())) {
        // [MQTT-3.1.2-4 (5.0), MQTT-3.1.2-6 (3.1.1)] a clean start discards the stored session.
        const auto previous = persistence->ledger_for(client_id(), chat_user());
        previous->tracked.clear();
        previous->spill.reset();
        previous->inbound_qos2.clear();
        previous->chat.reset();
        persistence->delete_session(client_id());
        tables_.chat().store().remove_session_cursors(client_id());
        persistence->forget(client_id());
    }
    if (!is_persistent) {
        return;
    }
    ledger_ = persistence->ledger_for(client_id(), chat_user());
    ledger_->reconciled_change_count = unreconciled;
    rebind_spill(*ledger_);
    persistence->bind(id(), ledger_);
    start_chat_cursors();
    // DESIGN.md "Durability contract": CONNACK (and all output after it) leaves only once the
    // session record is committed; flush_output holds it until then. A failed write answers
    // Server unavailable instead and closes.
    if (const auto stored = persistence->take_deferred_record(client_id())) {
        // Back before the end's record was written: the store still holds the connected one.
        keep_record(*ledger_, *stored);
    }
    const std::optional<store::stored_session> stored =
        ledger_->record && persistence->is_record_committed(client_id())
            ? std::optional<store::stored_session>(full_record(*ledger_))
            : std::nullopt;
    store::stored_session record =
        connected_session_record(*ledger_, session_.state(), persistence->take_connect_will(id()));
    if (stored && restores_alike(*stored, record)) {
        // docs/DURABILITY.md "What is written when": the committed record already says all a
        // restart needs; the CONNACK goes at once.
        return;
    }
    const bool is_held = session_.is_connected();
    if (is_held) {
        ledger_->connack_held_for = id();
    }
    persistence->save_record(std::move(record), [self = shared_from_this(),
                                                 context = &worker_.context(),
                                                 is_held](const store::store_status& status) {
        if (!is_held) {
            return;
        }
        boost::asio::post(*context, [self, is_written = status.is_ok()] {
            if (!self->ledger_ || self->ledger_->connack_held_for != self->id()) {
                return;
            }
            self->ledger_->connack_held_for = 0;
            if (is_written) {
                self->flush_output();
                return;
            }
            self->log_event(log_level::error,
                            "store write failed: refusing the CONNECT of {} (server unavailable)",
                            self->client_id());
            if (!self->transport_->is_open() || self->output_.is_writing()) {
                return;
            }
            self->output_.clear();
            mqtt::packet refusal = mqtt::connack{false, mqtt::reason_code::server_unavailable, {}};
            self->output_.append_packet(refusal, self->session_.version());
            self->sync_backlog();
            // The client never saw its session accepted: it ends as after a DISCONNECT
            // without a will (the store writes the session when it recovers).
            const mqtt::time_point at = clock_now();
            mqtt::disconnect leaving;
            leaving.reason = mqtt::reason_code::normal_disconnection;
            self->session_.handle_packet(leaving, at);
            self->process_actions(at);
            self->flush_output();
        });
    });
}

void connection::start_chat_cursors() {
    if (chat_user().empty()) {
        return;
    }
    chat_service& chat = tables_.chat();
    const std::uint64_t now_unix_ms = unix_now_ms();
    if (!ledger_->chat) {
        // A new session: what was stamped before it is not its own. Conversations it hears of
        // later (a new direct conversation, a room joined while the broker was down) are read
        // from the baseline.
        ledger_->chat = std::make_unique<chat_cursors>();
        ledger_->chat->baseline_unix_ms =
            now_unix_ms > baseline_margin_ms ? now_unix_ms - baseline_margin_ms : 1;
        for (const std::string& conversation : chat.conversations_of(chat_user())) {
            start_known(position_of(*ledger_->chat, conversation), chat.last_id(conversation));
        }
        if (auto record = cursors_to_write(*ledger_->chat, client_id(), now_unix_ms, false)) {
            chat.store().save_session_cursors(std::move(*record));
        }
        return;
    }
    // A session present: reads on their way to an earlier holder are dropped; every conversation
    // it may read catches up from what it has seen (or from the baseline).
    chat_cursors& cursors = *ledger_->chat;
    ++cursors.generation;
    for (auto& [conversation, position] : cursors.conversations) {
        position.is_reading = false;
        position.full_at_change_count = ~std::uint64_t{0};
    }
    for (const std::string& conversation : chat.conversations_of(chat_user())) {
        conversation_position& position = position_of(cursors, conversation);
        const std::uint64_t head = chat.last_id(conversation);
        if (head > position.seen_through) {
            position.is_behind = true;
        }
    }
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
    // docs/LIMITS.md: the session's own subscriptions count against
    // max_subscriptions_per_client (those the chat layer holds for it are not in its table);
    // subscribing again to a filter it holds replaces it and counts once.
    quota_part* const held_quota = quota();
    const std::uint64_t max_subscriptions =
        held_quota != nullptr ? held_quota->limits.max_subscriptions_per_client : 0;
    std::uint64_t held_subscriptions =
        session_.state().subscriptions.size() +
        (held_quota != nullptr ? held_quota->pending_subscriptions : 0);
    std::uint64_t added_subscriptions = 0;
    std::vector<std::string_view> added_filters;
    std::vector<subscription_change> changes;
    changes.reserve(request.entries.size());
    // docs/LIMITS.md "Subscribe rate": a client refused far past its rate is a storm.
    bool is_storm = false;
    for (const mqtt::subscribe_entry& entry : request.entries) {
        if (is_storm) {
            reasons.push_back(mqtt::reason_code::quota_exceeded);
            continue;
        }
        // Parsed once for the access check, the subscription index and Retain Handling.
        const mqtt::parsed_filter filter = mqtt::parse_filter(entry.topic_filter);
        if (!policy_.may_subscribe(filter, client_id())) {
            // SUBACK 0x87 at level 5, 0x80 at level 4.
            worker_.counters().access_refusals.add();
            reasons.push_back(mqtt::reason_code::not_authorized);
            continue;
        }
        if (held_quota != nullptr && !session_.state().subscriptions.contains(entry.topic_filter) &&
            std::ranges::find(added_filters, std::string_view(entry.topic_filter)) ==
                added_filters.end()) {
            // A new filter: within max_subscriptions_per_client, then within max_subscribe_rate;
            // SUBACK 0x97 Quota exceeded at level 5, 0x80 at level 4.
            subscribe_admission verdict = subscribe_admission::accepted;
            if (max_subscriptions != 0 && held_subscriptions >= max_subscriptions) {
                worker_.counters().subscription_quota_refusals.add();
                verdict = held_quota->subscribe.refuse(held_quota->limits, now);
            } else {
                verdict = held_quota->subscribe.admit(held_quota->limits, now);
                if (verdict != subscribe_admission::accepted) {
                    worker_.counters().subscribe_rate_refusals.add();
                }
            }
            if (verdict != subscribe_admission::accepted) {
                is_storm = verdict == subscribe_admission::storm;
                reasons.push_back(mqtt::reason_code::quota_exceeded);
                continue;
            }
            ++held_subscriptions;
            ++added_subscriptions;
            added_filters.push_back(entry.topic_filter);
        }
        mqtt::subscription_options granted = entry.options;
        if (static_cast<std::uint8_t>(granted.maximum_qos) >
            static_cast<std::uint8_t>(maximum_qos)) {
            granted.maximum_qos = maximum_qos;
        }
        changes.push_back({filter, granted, subscription_id});
        reasons.push_back(static_cast<mqtt::reason_code>(granted.maximum_qos));
        stored_subscriptions.push_back({client_id(), entry.topic_filter,
                                        stored_options_byte(granted), subscription_id.value_or(0)});
    }
    // Every filter granted in one exclusive section of the index (docs/DECISIONS.md "A
    // SUBSCRIBE's filters in one exclusive section").
    tables_.routes().subscribe(id(), changes);
    for (const subscription_change& change : changes) {
        // Retained messages are sent for a new subscription per Retain Handling
        // [MQTT-3.3.1-9 (5.0), MQTT-3.3.1-6 (3.1.1)]: 0 always, 1 only when new
        // [MQTT-3.3.1-10 (5.0)], 2 never [MQTT-3.3.1-11 (5.0)]. Shared subscriptions get none.
        const auto mode = change.options.retain_handling_mode;
        const bool wants_retained =
            mode == mqtt::retain_handling::send_at_subscribe ||
            (mode == mqtt::retain_handling::send_at_subscribe_if_new && change.is_new);
        if (!wants_retained || change.filter.shared) {
            continue;
        }
        retained_send batch{{}, change.options, subscription_id};
        tables_.routes().collect_retained(change.filter.text, batch.messages);
        // A retained message passes the same read check as a live one: a wildcard never widens
        // what a client reads.
        std::erase_if(batch.messages, [this](const mqtt::message_ptr& content) {
            return !policy_.may_receive(content->topic_name, client_id());
        });
        if (!batch.messages.empty()) {
            retained.push_back(std::move(batch));
        }
    }
    if (is_storm) {
        // Without a ledger the SUBACK goes out first: the client learns which filters it holds,
        // then the session ends with 0x97. A persistent session's SUBACK waits for the store
        // and is not sent once the connection ends; what it was granted is kept.
        worker_.counters().subscribe_storm_disconnects.add();
        log_notice("disconnecting {} ({}): subscribing far past its quota", client_id(),
                   remote_address());
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
        if (is_storm) {
            session_.shutdown(mqtt::reason_code::quota_exceeded, now);
        }
        return;
    }
    if (quota_) {
        quota_->pending_subscriptions += added_subscriptions;
    }
    // DESIGN.md "Durability contract": SUBACK of a persistent session after the commit; none
    // when the write failed (close_for_unwritten).
    save_subscriptions(
        *ledger_, session_.state(), std::move(stored_subscriptions), tables_.persistence()->store(),
        post_back([self = shared_from_this(), finish = std::move(finish),
                   added_subscriptions](const store::store_status& status) mutable {
            const mqtt::time_point at = clock_now();
            if (self->quota_) {
                self->quota_->pending_subscriptions -=
                    std::min(self->quota_->pending_subscriptions, added_subscriptions);
            }
            if (status.is_ok()) {
                finish(at);
            } else {
                self->close_for_unwritten("SUBSCRIBE", at);
            }
            self->process_actions(at);
            self->sync_ledger(at);
            self->worker_.flush();
        }));
    if (is_storm) {
        session_.shutdown(mqtt::reason_code::quota_exceeded, now);
    }
}

void connection::on_unsubscribe_requested(const mqtt::unsubscribe& request, mqtt::time_point now) {
    std::vector<mqtt::reason_code> reasons;
    reasons.reserve(request.topic_filters.size());
    // What leaves the store: every filter named but the held chat ones.
    std::vector<std::string> removed;
    for (const std::string& topic_filter : request.topic_filters) {
        if (is_held_chat_filter(topic_filter)) {
            // A server-side chat subscription stays (docs/CHAT.md): UNSUBACK 0x87 at level 5.
            reasons.push_back(mqtt::reason_code::not_authorized);
            continue;
        }
        removed.push_back(topic_filter);
        reasons.push_back(mqtt::reason_code::success);
    }
    // Every filter removed in one exclusive section of the index.
    const std::vector<bool> existed = tables_.routes().unsubscribe(id(), removed);
    std::size_t next_removed = 0;
    for (mqtt::reason_code& reason : reasons) {
        if (reason == mqtt::reason_code::success && !existed[next_removed++]) {
            reason = mqtt::reason_code::no_subscription_existed;
        }
    }
    if (!ledger_) {
        session_.complete_unsubscribe(request.packet_id, std::move(reasons), now);
        return;
    }
    // DESIGN.md "Durability contract": UNSUBACK of a persistent session after the commit; none
    // when the write failed (close_for_unwritten).
    remove_subscriptions(
        *ledger_, session_.state(), removed, tables_.persistence()->store(),
        post_back([self = shared_from_this(), packet_id = request.packet_id,
                   reasons = std::move(reasons)](const store::store_status& status) mutable {
            const mqtt::time_point at = clock_now();
            if (status.is_ok()) {
                self->session_.complete_unsubscribe(packet_id, std::move(reasons), at);
            } else {
                self->close_for_unwritten("UNSUBSCRIBE", at);
            }
            self->process_actions(at);
            self->worker_.flush();
        }));
}

void connection::close_for_unwritten(std::string_view packet_name, mqtt::time_point now) {
    // Granted in memory already, and the store retries the write: as for a subscribe storm, the
    // session keeps what it was granted and the connection ends unacknowledged. SUBACK and
    // UNSUBACK have no failure that would leave the change in place, so the client is not told
    // it holds what may not survive a restart.
    worker_.counters().store_write_refusals.add();
    log_event(log_level::error, "store write failed: closing {} without acknowledging its {}",
              client_id(), packet_name);
    session_.shutdown(mqtt::reason_code::unspecified_error, now);
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
        worker_.deliver_session_state(successor, std::nullopt);
        return;
    }
    if (session_.is_connected()) {
        log_event(log_level::info, "client {} taken over by a new connection", client_id());
        session_.shutdown(mqtt::reason_code::session_taken_over, now);
        process_actions(now);
    }
    if (ledger_) {
        // The ledger travels with the session; a clean start deletes it on the successor. The
        // store follows what this connection did; reads and cursor writes are the successor's
        // (docs/DURABILITY.md "Chat messages": a takeover writes no cursors).
        process_actions(now);
        reconcile_ledger(*ledger_, session_.state(), tables_.persistence()->store());
        tables_.persistence()->unbind(id());
        if (!is_clean_start) {
            tables_.persistence()->bind(successor, ledger_);
        }
        ledger_.reset();
    }
    if (is_clean_start) {
        session_.discard_session(now);
        process_actions(now);
        worker_.deliver_session_state(successor, std::nullopt);
    } else {
        mqtt::session_state state = session_.take_state(now);
        process_actions(now);
        is_session_ended_ = true;
        const auto subscriptions = state.subscriptions;
        worker_.deliver_session_state(successor, std::move(state));
        // After the state is on its way, so that deliveries to the new id find it there.
        tables_.routes().move_subscriptions(id(), successor, subscriptions);
        worker_.note_moved(id(), successor);
    }
    worker_.flush();
    end_session_if_closed();
}

void connection::forward_held_deliveries(mqtt::subscriber_id successor) {
    for (delivery& routed : worker_.take_held_deliveries(id())) {
        routed.subscriber = successor;
        worker_.outbox()[worker_of(successor)].push_back(std::move(routed));
    }
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
            worker_.deliver_session_state(successor, std::move(state));
            tables_.routes().move_subscriptions(id(), successor, subscriptions);
            worker_.note_moved(id(), successor);
            forward_held_deliveries(successor);
        } else {
            remove_subscriptions_in_slices(tables_.routes(), worker_.context(), id());
            worker_.deliver_session_state(successor, std::nullopt);
            worker_.take_held_deliveries(id());
        }
        is_session_ended_ = true;
        session_.refuse_connect(mqtt::reason_code::server_busy, now);
        process_actions(now);
        worker_.flush();
        return;
    }
    if (!transport_->is_open() || session_.phase() != mqtt::session_phase::authorizing) {
        // The client left while its session was on its way: the session ends here.
        log_event(log_level::notice, "client {} left before its session could be resumed",
                  client_id());
        worker_.take_held_deliveries(id());
        remove_subscriptions_in_slices(tables_.routes(), worker_.context(), id());
        tables_.registry().release(client_id(), id());
        is_session_ended_ = true;
        end_session_if_closed();
        return;
    }
    accept(std::move(state), now);
    for (const delivery& routed : worker_.take_held_deliveries(id())) {
        deliver(routed, now);
    }
    worker_.flush();
    arm_timer();
    wait_readable();
}

void connection::restore_offline(const store::loaded_session& loaded, mqtt::time_point now,
                                 std::uint64_t now_unix_ms) {
    session_persistence& persistence = *tables_.persistence();
    has_connection_slot_ = false;
    is_clean_start_ = false;
    const std::optional<std::string> owner = restored_owner(loaded.session);
    if (!owner) {
        log_event(log_level::notice,
                  "discarding the stored session of {}: its owner is no longer its user",
                  loaded.session.client_id);
        persistence.delete_session(loaded.session.client_id);
        return;
    }
    if (!owner->empty()) {
        become_chat_user(*owner);
    }
    ledger_ = persistence.ledger_for(loaded.session.client_id, *owner);
    if (!owner->empty()) {
        // Stored sessions from before cursors existed got a baseline with the schema's upgrade.
        ledger_->chat = std::make_unique<chat_cursors>(
            restored_cursors(tables_.chat().take_stored_cursors(loaded.session.client_id)));
    }
    ledger_->reconciled_change_count = unreconciled;
    keep_record(*ledger_, loaded.session);
    mqtt::session_state state = restore_session_state(loaded, *ledger_, persistence.store(),
                                                      policy_, settings_->limits, now, now_unix_ms);
    // The session keeps its remaining time and its will its remaining delay (DURABILITY.md
    // "Restart"); the limits carry the remaining time to a 3.1.1 session too.
    const offline_timing timing = offline_timing_at(loaded.session, now_unix_ms);
    mqtt::session_limits limits = settings_->limits;
    limits.maximum_session_expiry_interval =
        std::min(limits.maximum_session_expiry_interval, timing.session_left_s);
    session_ = mqtt::session(limits, id(), now);
    session_.set_publish_sink(this);
    mqtt::connect request;
    request.version = state.version;
    request.clean_start = false;
    request.client_id = loaded.session.client_id;
    if (state.version == mqtt::protocol_version::v5) {
        request.props.session_expiry_interval = limits.maximum_session_expiry_interval;
    }
    if (loaded.session.will) {
        request.will = to_will_message(*loaded.session.will);
        if (!request.will) {
            log_event(log_level::warning,
                      "dropping the stored will of {}: its properties cannot be decoded",
                      client_id());
        } else if (state.version == mqtt::protocol_version::v5) {
            request.will->props.will_delay_interval = timing.will_delay_left_s;
        }
    }
    session_.handle_packet(request, now);
    while (session_.poll_action()) {
    }
    session_.handle_connection_lost(now);
    while (session_.poll_action()) {
    }
    const auto subscriptions = state.subscriptions;
    mqtt::connect_acceptance acceptance;
    acceptance.restored = std::move(state);
    session_.accept_connect(std::move(acceptance), now);
    // A will already due (or a session already over) is handled once the workers run, when
    // every stored session is back in the subscription index.
    boost::asio::post(worker_.context(), [self = shared_from_this()] {
        const mqtt::time_point at = clock_now();
        self->process_actions(at);
        self->worker_.flush();
        self->end_session_if_closed();
        self->arm_timer();
    });
    worker_.add_connection(shared_from_this());
    tables_.registry().claim(client_id(), id());
    std::vector<subscription_change> changes;
    changes.reserve(subscriptions.size());
    for (const auto& [topic_filter, held] : subscriptions) {
        const auto subscription_id = held.subscription_id != 0
                                         ? std::optional<std::uint32_t>(held.subscription_id)
                                         : std::nullopt;
        changes.push_back({mqtt::parse_filter(topic_filter), held.options, subscription_id});
    }
    // Offline: control replies and notices queue for the session's return. (Declared here: the
    // parsed filter views its characters until the index has them.)
    const std::optional<server_subscription> away =
        owner->empty() ? std::nullopt : away_control_filter();
    if (away) {
        changes.push_back({mqtt::parse_filter(away->topic_filter), away->options, std::nullopt});
    }
    tables_.routes().subscribe(id(), changes);
    persistence.bind(id(), ledger_);
    arm_timer();
}

void connection::end_session_if_closed() {
    if (transport_->is_open() || is_awaiting_handover_) {
        return;
    }
    if (session_.phase() == mqtt::session_phase::closed || is_session_ended_ || is_exiting_) {
        if (!is_session_ended_ && !is_exiting_) {
            is_session_ended_ = true;
            remove_subscriptions_in_slices(tables_.routes(), worker_.context(), id());
            if (!client_id().empty()) {
                tables_.registry().release(client_id(), id());
            }
        }
        cancel_timer();
        worker_.remove_connection(id());
    }
}

void connection::end_expired_session() {
    // An end already seen (the connection closed first) already took the subscriptions out.
    const bool were_subscriptions_removed = is_session_ended_;
    is_session_ended_ = true;
    if (ledger_) {
        tables_.persistence()->delete_session(client_id());
        if (ledger_->chat) {
            tables_.chat().store().remove_session_cursors(client_id());
            ledger_->chat.reset();
        }
        tables_.persistence()->forget(client_id());
        tables_.persistence()->unbind(id());
        ledger_.reset();
    }
    if (!were_subscriptions_removed) {
        remove_subscriptions_in_slices(tables_.routes(), worker_.context(), id());
    }
    if (!client_id().empty()) {
        tables_.registry().release(client_id(), id());
    }
}

} // namespace perch::gateway
