// The chat layer's part of a connection (docs/CHAT.md): login checks, server-side subscriptions,
// stamping and history of chat messages, presence, control requests and directory changes. The
// rules themselves live in chat_service and chat_policy; this file applies them to one session.
#include <algorithm>
#include <array>
#include <chrono>

#include <boost/asio/post.hpp>

#include "gateway/broker/connection.hpp"
#include "gateway/broker/worker.hpp"
#include "gateway/chat/backoff_address.hpp"
#include "gateway/chat/chat_topic.hpp"
#include "gateway/chat/file_service.hpp"
#include "gateway/common/log.hpp"
#include "gateway/common/stored_message_codec.hpp"

namespace perch::gateway {

void connection::start_chat_login(const mqtt::connect& request, mqtt::time_point now) {
    const std::string identity = transport_->identity_user_name();
    const bool is_identity_verified = !identity.empty();
    std::optional<std::string> user_name;
    if (is_identity_verified) {
        user_name = identity;
    } else if (request.user_name) {
        user_name = *request.user_name;
    }
    std::optional<std::string> password;
    if (request.password) {
        password = std::string(reinterpret_cast<const char*>(request.password->data()),
                               request.password->size());
    }
    if (user_name && !is_identity_verified) {
        const std::string remote = remote_address();
        if (tables_.chat().login_guard().is_refused(
                *user_name, backoff_address_key(host_of_remote_address(remote)),
                login_backoff::clock::now())) {
            // Backing off after failed logins: refused without a password check, and answered
            // as a wrong password is (docs/DECISIONS.md), so the answer tells a guesser nothing.
            log_event(log_level::info,
                      "refusing client from {}: too many failed logins for '{}' or from this "
                      "address; backing off",
                      remote, *user_name);
            worker_.counters().login_backoff_refusals.add();
            session_.refuse_connect(mqtt::reason_code::bad_user_name_or_password, now);
            return;
        }
    }
    // A password check runs on the chat layer's password threads: the CONNECT waits in the
    // authorizing phase while this worker serves its other connections.
    const std::optional<chat_login_result> result = tables_.chat().start_login_check(
        user_name, std::move(password), request.client_id, is_identity_verified,
        [self = shared_from_this(), context = &worker_.context(),
         held = std::make_shared<const mqtt::connect>(request),
         user_name](chat_login_result checked) {
            boost::asio::post(*context, [self, held, user_name, checked] {
                const mqtt::time_point at = clock_now();
                self->finish_chat_login(*held, user_name, checked, at);
                self->process_actions(at);
                self->sync_ledger(at);
                self->worker_.flush();
                self->end_session_if_closed();
                self->arm_timer();
                // Reading stopped while the CONNECT waited (wait_readable).
                self->wait_readable();
            });
        });
    if (result) {
        finish_chat_login(request, user_name, *result, now);
    }
}

void connection::finish_chat_login(const mqtt::connect& request,
                                   const std::optional<std::string>& user_name,
                                   chat_login_result result, mqtt::time_point now) {
    if (!transport_->is_open()) {
        // The client left while its password was checked: the session ends here.
        session_.refuse_connect(mqtt::reason_code::not_authorized, now);
        process_actions(now);
        return;
    }
    if (result != chat_login_result::bad_credentials && refuse_if_banned(request, now)) {
        // Banned while its password was checked: the live-connection sweep has passed already.
        process_actions(now);
        return;
    }
    switch (result) {
    case chat_login_result::not_chat_user:
        // Outside the chat layer (anonymous, or a certificate identity that is no chat user):
        // no chat/ topics, like an anonymous client.
        policy_ = access_policy(true, &tables_.chat().directory());
        break;
    case chat_login_result::chat_user:
        tables_.chat().login_guard().record_success(*user_name);
        become_chat_user(*user_name);
        break;
    case chat_login_result::bad_credentials: {
        log_event(log_level::info, "refusing client from {}: bad user name or password",
                  remote_address());
        worker_.counters().access_refusals.add();
        worker_.counters().login_failures.add();
        const std::string remote = remote_address();
        tables_.chat().login_guard().record_failure(
            user_name.value_or(std::string()), backoff_address_key(host_of_remote_address(remote)),
            login_backoff::clock::now());
        // CONNACK 0x86 (5.0), return code 4 (3.1.1).
        session_.refuse_connect(mqtt::reason_code::bad_user_name_or_password, now);
        process_actions(now);
        return;
    }
    case chat_login_result::client_id_refused:
        log_event(log_level::info,
                  "refusing client from {}: client id '{}' belongs to another user",
                  remote_address(), request.client_id);
        worker_.counters().access_refusals.add();
        // CONNACK 0x85 (5.0), return code 2 (3.1.1).
        session_.refuse_connect(mqtt::reason_code::client_identifier_not_valid, now);
        process_actions(now);
        return;
    case chat_login_result::busy:
        // CONNACK 0x89 (5.0), return code 3 Server unavailable (3.1.1).
        session_.refuse_connect(mqtt::reason_code::server_busy, now);
        process_actions(now);
        return;
    }
    continue_connect(request, now);
}

std::optional<std::string> connection::restored_owner(const store::stored_session& stored) const {
    const std::optional<std::string> named = tables_.chat().user_of_client_id(stored.client_id);
    if (!stored.owner) {
        // Stored before owners were recorded: the client id names the owner (docs/CHAT.md).
        return named.value_or(std::string());
    }
    if (stored.owner->empty()) {
        // Outside the chat layer: not under a name that is now a user's.
        return named ? std::nullopt : stored.owner;
    }
    return named == stored.owner ? stored.owner : std::nullopt;
}

void connection::discard_for_identity(mqtt::time_point now) {
    if (session_.is_connected()) {
        session_.shutdown(mqtt::reason_code::not_authorized, now);
    }
    // A pending will is published only if it still obeys the rules (process_actions).
    session_.discard_session(now);
    process_actions(now);
    worker_.flush();
    end_session_if_closed();
}

void connection::become_chat_user(std::string user) {
    chat_ = std::make_unique<chat_part>();
    chat_->user = std::move(user);
    policy_ = access_policy(chat_->user, tables_.chat().directory());
}

const std::string& connection::chat_user() const {
    static const std::string no_user;
    return chat_ ? chat_->user : no_user;
}

void connection::start_chat_session(mqtt::time_point now) {
    if (chat_user().empty() || !session_.is_connected()) {
        return;
    }
    chat_service& chat = tables_.chat();
    // Sessions stored by earlier versions held one filter for every presence; the chat layer
    // delivers presence itself now (route_presence).
    release_chat_subscription("chat/presence/+");
    hold_chat_subscriptions(chat.subscriptions_for(chat_user()));
    // Connected: the chat layer delivers control replies to this device from now on.
    release_control_replies();
    is_chat_device_ = true;
    chat_->device_id = id();
    // Counted as a device (and so a watcher of its peers' presence) before their retained
    // presence is read: a change made meanwhile arrives after what is read here, never before.
    const mqtt::message_ptr presence =
        chat.device_connected(chat_user(), chat_->device_id, unix_now_ms());
    catch_up_direct_conversations();
    relay_presence_of(chat_user(), now);
    if (chat.relay().is_enabled() && chat.directory().is_relay_peer(chat_user())) {
        // A bridge with bridge_chat (re)connected: every other origin learns this gateway's
        // counts, and sends its own back (docs/BRIDGES.md "Chat across gateways").
        route_will(chat.relay().presence_snapshot(chat.local_device_counts(), true), now);
    }
    if (chat.settings().is_presence_enabled) {
        for (const std::string& peer : chat.directory().peers_of(chat_user())) {
            send_chat_retained(chat_service::presence_subscription(peer).topic_filter, now);
        }
    }
    // The read state for this device alone: the heads come from memory, the positions and
    // unread counts from one read on the store's thread, off this worker.
    chat.read_state_of(
        chat_user(), {},
        [self = shared_from_this(), context = &worker_.context()](control_outcome outcome) {
            boost::asio::post(*context, [self, outcome = std::move(outcome)] {
                self->deliver_login_read_state(outcome);
            });
        });
    if (presence) {
        // "online" stays in memory once the user has a stored presence: after a restart nobody
        // is online, and the store keeps what a restart shows, the last time the user went
        // offline. A login storm of returning users writes no presence. A user's very first
        // presence is written, so that after a crash every user who ever connected shows as
        // offline (the start replaces a stored "online").
        std::vector<mqtt::message_ptr> stored;
        tables_.routes().collect_retained(presence->topic_name, stored);
        route_presence(presence, chat_user(),
                       stored.empty() || !chat_service::says_online(*presence));
    }
}

void connection::route_presence(const mqtt::message_ptr& presence, std::string_view user,
                                bool is_retained_durable) {
    const std::span<delivery_batch> outbox = worker_.outbox();
    std::array<std::size_t, max_workers> routed_from{};
    for (std::size_t index = 0; index < outbox.size(); ++index) {
        routed_from[index] = outbox[index].size();
    }
    route(presence, is_retained_durable);
    std::vector<mqtt::subscriber_id> watchers;
    tables_.chat().presence_watchers(user, watchers);
    for (const mqtt::subscriber_id watcher : watchers) {
        const std::size_t worker_index = worker_of(watcher);
        delivery_batch& batch = outbox[worker_index];
        const auto routed = batch.begin() + static_cast<std::ptrdiff_t>(routed_from[worker_index]);
        if (std::any_of(routed, batch.end(),
                        [watcher](const delivery& held) { return held.subscriber == watcher; })) {
            // One of the session's own subscriptions matched: overlapping subscriptions deliver
            // one copy.
            continue;
        }
        delivery& target = batch.emplace_back();
        target.subscriber = watcher;
        target.content = presence;
        target.granted_qos = mqtt::qos::at_most_once;
    }
}

void connection::hold_chat_subscriptions(const std::vector<server_subscription>& held) {
    session_persistence* persistence = ledger_ ? tables_.persistence() : nullptr;
    for (const server_subscription& wanted : held) {
        mqtt::subscription_options granted = wanted.options;
        granted.maximum_qos = within_maximum_qos(granted.maximum_qos);
        if (tables_.routes().holds(id(), wanted.topic_filter, granted)) {
            // A resumed session holds it already, in the index and in the store: a login storm
            // of returning devices writes nothing for it.
            continue;
        }
        tables_.routes().subscribe(id(), wanted.topic_filter, granted, std::nullopt);
        if (persistence != nullptr) {
            // Stored with the session, so that an offline session keeps receiving after a
            // restart.
            persistence->store().add_subscription(
                {client_id(), wanted.topic_filter, stored_options_byte(granted), 0});
        }
    }
}

void connection::release_chat_subscription(std::string_view topic_filter) {
    if (!tables_.routes().unsubscribe(id(), topic_filter)) {
        return;
    }
    if (ledger_ && tables_.persistence() != nullptr) {
        tables_.persistence()->store().remove_subscription(client_id(), std::string(topic_filter));
    }
}

mqtt::qos connection::within_maximum_qos(mqtt::qos wanted) const {
    const mqtt::qos maximum = settings_->limits.maximum_qos;
    return static_cast<std::uint8_t>(wanted) > static_cast<std::uint8_t>(maximum) ? maximum
                                                                                  : wanted;
}

std::optional<server_subscription> connection::away_control_filter() const {
    server_subscription held = chat_service::control_subscription(chat_user());
    if (session_.state().subscriptions.contains(held.topic_filter)) {
        return std::nullopt; // the client's own: it stays as the client made it
    }
    held.options.maximum_qos = within_maximum_qos(held.options.maximum_qos);
    return held;
}

void connection::hold_control_replies_while_away() {
    if (chat_user().empty() || is_session_ended_ || !session_.is_persistent()) {
        return;
    }
    if (const auto held = away_control_filter()) {
        tables_.routes().subscribe(id(), held->topic_filter, held->options, std::nullopt);
    }
}

void connection::release_control_replies() {
    const auto held = away_control_filter();
    // Looked up under the index's shared lock first: most logins (a clean session, a first
    // connect) find nothing to remove and take no exclusive lock.
    if (held && tables_.routes().holds(id(), held->topic_filter, held->options)) {
        tables_.routes().unsubscribe(id(), held->topic_filter);
    }
}

void connection::apply_presence_changes(const directory_changes& changes, mqtt::time_point now) {
    if (!session_.is_connected()) {
        return;
    }
    // A joiner gets the retained presence of every member of the room, the members that of the
    // joiner. Later changes reach them through route_presence, which asks the directory each
    // time: nothing is held per peer, so a leave needs nothing here.
    const chat_directory& directory = tables_.chat().directory();
    for (const store::membership_record& joined : changes.joined) {
        std::vector<std::string> seen;
        if (joined.user == chat_user()) {
            seen = directory.members_of(joined.room);
        } else if (directory.is_member(joined.room, chat_user())) {
            seen.push_back(joined.user);
        }
        for (const std::string& peer : seen) {
            send_chat_retained(chat_service::presence_subscription(peer).topic_filter, now);
        }
    }
}

void connection::send_chat_retained(std::string_view topic_filter, mqtt::time_point now) {
    std::vector<mqtt::message_ptr> retained;
    tables_.routes().collect_retained(topic_filter, retained);
    for (const mqtt::message_ptr& content : retained) {
        if (!policy_.may_receive(content->topic_name, client_id())) {
            continue;
        }
        mqtt::delivery_options options;
        options.granted_qos = mqtt::qos::at_least_once;
        options.is_retained_at_subscribe = true;
        session_.handle_delivery(content, options, now);
    }
}

bool connection::handle_chat_publish(const mqtt::route_publish& inbound, mqtt::time_point now) {
    if (chat_user().empty()) {
        return false;
    }
    chat_service& chat = tables_.chat();
    const chat_topic topic = parse_chat_topic(inbound.content->topic_name);
    if (topic.kind == chat_topic_kind::relay) {
        // Only a relay peer may publish here (chat_policy): a copy another gateway stamped.
        handle_relay_publish(inbound, now);
        return true;
    }
    if (topic.kind == chat_topic_kind::control_request) {
        if (inbound.packet_id != 0) {
            session_.complete_publish(inbound.packet_id, mqtt::reason_code::success, now);
        }
        // The outcome may arrive on the store's or the chat thread: hand it to this worker.
        chat.handle_control(chat_user(), inbound.content->payload.as_string(),
                            [self = shared_from_this(), context = &worker_.context(),
                             request = inbound.content](control_outcome outcome) {
                                boost::asio::post(*context,
                                                  [self, request, outcome = std::move(outcome)] {
                                                      self->publish_chat_reply(request, outcome);
                                                  });
                            });
        return true;
    }
    if (topic.kind == chat_topic_kind::room_signal ||
        topic.kind == chat_topic_kind::direct_signal) {
        route_inbound({with_signal_expiry(inbound.content, now), inbound.packet_id}, now);
        return true;
    }
    if (conversation_of(topic).empty()) {
        return false;
    }
    // Files the message references (docs/CHAT.md "Files"): only the sender's own.
    std::vector<std::string> file_ids;
    if (file_service* files = chat.files()) {
        auto referenced = referenced_file_ids(inbound.content->payload.as_string());
        if (auto* malformed = std::get_if<std::string>(&referenced)) {
            refuse_file_references(inbound, *malformed, mqtt::reason_code::payload_format_invalid,
                                   now);
            return true;
        }
        file_ids = std::get<std::vector<std::string>>(std::move(referenced));
        if (!file_ids.empty()) {
            if (const auto refusal = files->reference_refusal(chat_user(), file_ids)) {
                refuse_file_references(inbound, *refusal, mqtt::reason_code::not_authorized, now);
                return true;
            }
        }
    }
    // History is written before anyone can receive the message: routing (at once for QoS 0 and
    // 1) follows the submission of its row, and catch-up reads of history rely on it
    // (docs/DURABILITY.md "Chat messages"). With ids from the shared database (chat_store
    // postgresql) the stamp comes back later, on the allocator's thread, and the rest follows it
    // on this worker; messages of this connection are stamped in the order they arrived.
    recorded_write_completion written;
    if (inbound.packet_id != 0 && inbound.content->qos_level == mqtt::qos::at_least_once) {
        // An acknowledged chat message is always in history: a QoS 1 message is routed at once and
        // acknowledged once its history row (and any queue entry routing made) is committed; a
        // failed row refuses it, although it was routed (the publisher sends it again).
        chat_->history_waits.push_back({inbound.packet_id, false, false, std::nullopt});
        written =
            [back = post_back([self = shared_from_this(),
                               packet_id = inbound.packet_id](const store::store_status& status) {
                 const mqtt::time_point at = clock_now();
                 self->finish_history_wait(packet_id, status.is_ok(), at);
                 self->process_actions(at);
                 self->worker_.flush();
                 self->arm_timer();
             })](const recorded_message&, const store::store_status& status) { back(status); };
    } else if (inbound.packet_id != 0) {
        // QoS 2 is routed (and then acknowledged) once its history row is committed: exactly
        // once must not reach anyone before it is recorded. A failed row is refused, unrouted.
        written = [self = shared_from_this(), context = &worker_.context(),
                   packet_id = inbound.packet_id](const recorded_message& recorded,
                                                  const store::store_status& status) {
            boost::asio::post(*context, [self, content = recorded.content, packet_id,
                                         is_written = status.is_ok()] {
                const mqtt::time_point at = clock_now();
                if (is_written) {
                    self->route_inbound({content, packet_id}, at);
                } else {
                    self->refuse_unwritten_publish(packet_id, at);
                }
                self->process_actions(at);
                self->sync_ledger(at);
                self->worker_.flush();
                self->arm_timer();
            });
        };
    }
    // With bridge_chat, the message's relay copy leaves once its history row is written.
    written = relay_after_commit(std::move(written));
    recorded_completion later = [self = shared_from_this(), context = &worker_.context(), inbound,
                                 file_ids](std::optional<recorded_message> recorded) {
        boost::asio::post(*context, [self, inbound, file_ids, recorded = std::move(recorded)] {
            const mqtt::time_point at = clock_now();
            self->finish_chat_publish(inbound, recorded, file_ids, at);
            self->process_actions(at);
            self->sync_ledger(at);
            self->worker_.flush();
            self->arm_timer();
        });
    };
    std::optional<recorded_message> recorded = chat.stamp_and_record(
        inbound.content, chat_user(), unix_now_ms(), std::move(written), std::move(later));
    if (recorded) {
        finish_chat_publish(inbound, recorded, std::move(file_ids), now);
    }
    return true;
}

void connection::finish_chat_publish(const mqtt::route_publish& inbound,
                                     const std::optional<recorded_message>& recorded,
                                     std::vector<std::string> file_ids, mqtt::time_point now) {
    if (!recorded) {
        // No id, so nothing recorded and nothing routed: answered as a failed durable write
        // (finish_durable_publish).
        worker_.counters().message_id_refusals.add();
        log_event(log_level::error, "no message id for a message of {} on '{}': not accepted",
                  client_id(), inbound.content->topic_name);
        if (inbound.packet_id != 0) {
            drop_history_wait(inbound.packet_id);
            if (session_.version() == mqtt::protocol_version::v5) {
                session_.complete_publish(inbound.packet_id, mqtt::reason_code::unspecified_error,
                                          now);
            } else {
                session_.shutdown(mqtt::reason_code::unspecified_error, now);
            }
        }
        return;
    }
    chat_service& chat = tables_.chat();
    if (!file_ids.empty()) {
        // Submitted after the message's row: the reference lands in the same or a later group.
        chat.files()->record_references(recorded->conversation, recorded->id, std::move(file_ids));
    }
    chat.offer_push(recorded->conversation, chat_user(), inbound.content->payload.as_string());
    if (ledger_ && ledger_->chat) {
        // This session's own message never comes back to it (No Local): owed nothing.
        mark_done(position_of(*ledger_->chat, recorded->conversation), recorded->id);
    }
    if (inbound.packet_id == 0 || inbound.content->qos_level == mqtt::qos::at_least_once) {
        route_inbound({recorded->content, inbound.packet_id}, now);
    }
}

void connection::refuse_file_references(const mqtt::route_publish& inbound, std::string_view why,
                                        mqtt::reason_code reason, mqtt::time_point now) {
    worker_.counters().file_reference_refusals.add();
    log_event(log_level::info, "refusing a message of {} on '{}': {}", client_id(),
              inbound.content->topic_name, why);
    if (inbound.packet_id != 0) {
        // PUBACK/PUBREC with the reason at level 5; level 4 has no negative acknowledgement.
        session_.complete_publish(inbound.packet_id, reason, now);
    }
}

void connection::finish_history_wait(std::uint16_t packet_id, bool is_written,
                                     mqtt::time_point now) {
    history_wait* waiting = find_history_wait(packet_id);
    if (waiting == nullptr) {
        return; // answered with a failure meanwhile
    }
    if (!waiting->routed_reason) {
        // Routing still runs: acknowledge_publish answers once it is done.
        (is_written ? waiting->is_history_written : waiting->is_history_failed) = true;
        return;
    }
    const mqtt::reason_code reason = *waiting->routed_reason;
    erase_history_wait(*waiting);
    if (is_written) {
        session_.complete_publish(packet_id, reason, now);
    } else {
        refuse_unwritten_publish(packet_id, now);
    }
}

mqtt::message_ptr connection::with_signal_expiry(const mqtt::message_ptr& signal,
                                                 mqtt::time_point now) const {
    const mqtt::time_point deadline =
        now + std::chrono::seconds(tables_.chat().settings().signal_expiry_s);
    if (signal->expiry_deadline && *signal->expiry_deadline <= deadline) {
        return signal;
    }
    auto expiring = std::make_shared<mqtt::message>(*signal);
    expiring->expiry_deadline = deadline;
    return expiring;
}

void connection::tell_room_deleted(const std::string& room, mqtt::time_point now) {
    if (is_session_ended_ || !session_.is_connected() || !transport_->is_open()) {
        return; // an offline device learns it from `rooms` at its next login
    }
    // However the room went (its owner's request, the admin API, `perch room delete`), its
    // members' devices learn it on the topic a kick or a ban is told on (docs/CHAT.md "Room
    // rules"); not routed: each live session of each member is told once, here.
    auto notice = std::make_shared<mqtt::message>();
    notice->topic_name = "chat/ctl/" + chat_user() + "/resp/room_event";
    notice->payload =
        mqtt::shared_bytes::copy_of(format_room_event("delete", room, "", chat_user(), ""));
    notice->qos_level = mqtt::qos::at_least_once;
    notice->props.payload_format_indicator = 1;
    notice->props.content_type = "application/json";
    mqtt::delivery_options options;
    options.granted_qos = mqtt::qos::at_least_once;
    session_.handle_delivery(notice, options, now);
}

void connection::deliver_login_read_state(const control_outcome& outcome) {
    if (is_session_ended_ || !session_.is_connected() || !transport_->is_open() ||
        !outcome.reply.is_ok) {
        return;
    }
    const mqtt::time_point now = clock_now();
    auto content = std::make_shared<mqtt::message>();
    // Below the reply topic, not on it: a client waiting for the reply to a request of its own
    // never takes this unasked message for it.
    content->topic_name = "chat/ctl/" + chat_user() + "/resp/read_state";
    content->payload = mqtt::shared_bytes::copy_of(format_control_reply(outcome.reply));
    content->qos_level = mqtt::qos::at_least_once;
    content->props.payload_format_indicator = 1;
    content->props.content_type = "application/json";
    mqtt::delivery_options options;
    options.granted_qos = mqtt::qos::at_least_once;
    session_.handle_delivery(content, options, now);
    process_actions(now);
    worker_.flush();
    arm_timer();
}

void connection::publish_chat_reply(const mqtt::message_ptr& request,
                                    const control_outcome& outcome) {
    // Replies go to chat/ctl/{user}/resp, or to the request's Response Topic when it lies under
    // it (a reply never leaves the user's own control topics).
    const std::string default_topic = "chat/ctl/" + chat_user() + "/resp";
    std::string topic_name = default_topic;
    if (const auto& wanted = request->props.response_topic) {
        if (wanted->starts_with(default_topic + "/")) {
            topic_name = *wanted;
        }
    }
    auto reply = std::make_shared<mqtt::message>();
    reply->topic_name = std::move(topic_name);
    reply->payload = mqtt::shared_bytes::copy_of(format_control_reply(outcome.reply));
    reply->qos_level = mqtt::qos::at_least_once;
    reply->props.payload_format_indicator = 1;
    reply->props.content_type = "application/json";
    reply->props.correlation_data = request->props.correlation_data;
    route(reply);
    if (outcome.event) {
        // A message of the acting user in the conversation, already in history: routed as a
        // will is, durably and with no publisher waiting for an acknowledgement.
        route_will(outcome.event, clock_now());
        // Its history row is written already: its relay copy leaves at once.
        if (auto copy = relay_copy_of(outcome.event, chat_user())) {
            route_will(copy, clock_now());
        }
    }
    if (outcome.signal) {
        route(with_signal_expiry(outcome.signal, clock_now()));
    }
    worker_.flush();
}

bool connection::is_held_chat_filter(std::string_view topic_filter) const {
    return !chat_user().empty() && tables_.chat().is_server_filter(chat_user(), topic_filter);
}

void connection::end_chat_device() {
    if (!is_chat_device_) {
        return;
    }
    is_chat_device_ = false;
    // Away: replies and notices queue in the session until a connection takes it up again.
    hold_control_replies_while_away();
    chat_service& chat = tables_.chat();
    if (chat.relay().is_enabled() && chat.directory().is_relay_peer(chat_user())) {
        // The bridge went: the other origins' counts can no longer be followed.
        boost::asio::post(worker_.context(),
                          [self = shared_from_this(), users = chat.relay().forget_remote_counts()] {
                              self->route_presence_of(users);
                              self->worker_.flush_when_over();
                          });
    }
    if (auto presence =
            tables_.chat().device_disconnected(chat_user(), chat_->device_id, unix_now_ms())) {
        // Routed on a later turn: the socket may be closing in the middle of a delivery.
        boost::asio::post(worker_.context(), [self = shared_from_this(), presence] {
            self->route_presence(presence, self->chat_user(),
                                 !chat_service::says_online(*presence));
            self->relay_presence_of(self->chat_user(), clock_now());
            self->worker_.flush_when_over();
        });
    }
}

void connection::apply_chat_changes(const directory_changes& changes) {
    if (is_session_ended_ || client_id().empty()) {
        return;
    }
    const mqtt::time_point now = clock_now();
    if (changes.are_bans_changed && session_.is_connected() && transport_->is_open()) {
        const std::string identity = transport_->identity_user_name();
        const auto ban =
            find_ban(chat_user().empty() ? std::string_view(identity) : chat_user(), client_id());
        if (ban) {
            // DISCONNECT 0x98 Administrative action (5.0): 0x8A Banned is a CONNACK code only.
            // The session stays, as for any disconnect; the ban refuses its next CONNECT.
            log_event(log_level::info, "disconnecting client {} ({}): banned ({} {})", client_id(),
                      remote_address(), to_string(ban->kind), ban->value);
            worker_.counters().banned_disconnects.add();
            session_.shutdown(mqtt::reason_code::administrative_action, now);
            process_actions(now);
            worker_.flush();
            end_session_if_closed();
            return;
        }
    }
    if (chat_user().empty()) {
        // A client id under a name that has just become a user's is that user's from now on: a
        // session outside the chat layer held there ends (docs/CHAT.md "Identity").
        const std::string_view named =
            std::string_view(client_id()).substr(0, client_id().find('/'));
        const auto& added = changes.added_users;
        if (std::find(added.begin(), added.end(), named) != added.end()) {
            log_event(log_level::info, "ending the session of {}: '{}' is now a chat user",
                      client_id(), named);
            discard_for_identity(now);
        }
        return;
    }
    const auto& removed = changes.removed_users;
    if (std::find(removed.begin(), removed.end(), chat_user()) != removed.end()) {
        // A deleted user's sessions go with the user, stored ones included.
        log_event(log_level::info, "ending the session of {}: user {} was deleted", client_id(),
                  chat_user());
        discard_for_identity(now);
        return;
    }
    for (const store::membership_record& joined : changes.joined) {
        if (joined.user == chat_user()) {
            if (ledger_ && ledger_->chat) {
                // What the room said before the join is not this session's.
                conversation_position& position =
                    position_of(*ledger_->chat, room_conversation(joined.room));
                if (!position.is_known) {
                    start_known(position, tables_.chat().last_id(room_conversation(joined.room)));
                }
            }
            hold_chat_subscriptions(chat_service::room_subscriptions(joined.room));
        }
    }
    for (const store::membership_record& left : changes.left) {
        if (left.user != chat_user()) {
            continue;
        }
        for (const server_subscription& held : chat_service::room_subscriptions(left.room)) {
            release_chat_subscription(held.topic_filter);
        }
        const auto& gone = changes.removed_rooms;
        if (std::find(gone.begin(), gone.end(), left.room) != gone.end()) {
            tell_room_deleted(left.room, now);
        }
    }
    if (tables_.chat().settings().is_presence_enabled) {
        apply_presence_changes(changes, now);
    }
    process_actions(now);
}

} // namespace perch::gateway
