// The persistent-session part of a connection (DESIGN.md "Durability contract",
// docs/DURABILITY.md): QoS 1/2 messages and wills routed to persistent sessions are queued in the
// store before the publisher is acknowledged, retained messages are written, the session record
// follows CONNECT, SUBSCRIBE and the end of the connection, the ledger tracks what the session
// holds, and a stored session is restored offline at start.
#include <algorithm>
#include <iterator>
#include <utility>

#include <boost/asio/post.hpp>

#include "gateway/broker/connection.hpp"
#include "gateway/broker/server.hpp"
#include "gateway/broker/worker.hpp"
#include "gateway/common/log.hpp"
#include "gateway/common/stored_message_codec.hpp"

namespace perch::gateway {

store::store_completion connection::post_back(std::function<void()> work) {
    // Completions of the SQLite store run on its writer thread: hand the work to this worker.
    return [context = &worker_.context(), work = std::move(work)](const store::store_status&) {
        boost::asio::post(*context, work);
    };
}

void connection::persist_retained(const mqtt::message_ptr& content, const route_result& result,
                                  store::store_completion done) {
    session_persistence* persistence = server_.persistence();
    if (persistence == nullptr || !result.retained) {
        if (done) {
            done(store::store_status{});
        }
        return;
    }
    switch (*result.retained) {
    case mqtt::retained_update::stored:
    case mqtt::retained_update::replaced:
        persistence->store().put_retained(to_stored_message(*content, clock_now(), unix_now_ms()),
                                          std::move(done));
        return;
    case mqtt::retained_update::removed:
        persistence->store().clear_retained(content->topic_name, std::move(done));
        return;
    case mqtt::retained_update::unchanged: break;
    }
    if (done) {
        done(store::store_status{});
    }
}

connection::durable_route connection::route_durable(const mqtt::message_ptr& content,
                                                    session_persistence& persistence) {
    std::span<delivery_batch> outbox = worker_.outbox();
    durable_route routed_now;
    routed_now.marks.resize(outbox.size());
    for (std::size_t index = 0; index < outbox.size(); ++index) {
        routed_now.marks[index] = outbox[index].size();
    }
    routed_now.result = server_.routes().route(content, outbox, worker_.match_scratch());
    for (std::size_t index = 0; index < outbox.size(); ++index) {
        for (std::size_t position = routed_now.marks[index]; position < outbox[index].size();
             ++position) {
            const delivery& routed = outbox[index][position];
            if (routed.granted_qos == mqtt::qos::at_most_once) {
                continue;
            }
            const auto ledger = persistence.find(routed.subscriber);
            if (!ledger) {
                continue;
            }
            if (!policy_for_owner(ledger->owner, server_.chat().directory())
                     .may_receive(content->topic_name)) {
                // Never queued for a reader who may not see it; its connection drops the delivery.
                continue;
            }
            store::queue_target target;
            target.client_id = ledger->client_id;
            target.qos =
                static_cast<std::uint8_t>(std::min(static_cast<std::uint8_t>(routed.granted_qos),
                                                   static_cast<std::uint8_t>(content->qos_level)));
            target.is_retained = routed.is_retain_as_published && content->is_retained;
            target.subscription_ids = routed.subscription_ids;
            routed_now.targets.push_back(std::move(target));
            routed_now.durable.emplace_back(index, position);
        }
    }
    return routed_now;
}

void connection::route_will(const mqtt::message_ptr& content, mqtt::time_point now) {
    session_persistence* persistence = server_.persistence();
    if (persistence == nullptr || content->qos_level == mqtt::qos::at_most_once) {
        route(content);
        return;
    }
    // Nobody waits for an acknowledgement of a will, but a persistent session that is offline
    // must find it after a restart like any other QoS 1/2 message queued for it.
    durable_route routed_now = route_durable(content, *persistence);
    persist_retained(content, routed_now.result, {});
    if (routed_now.targets.empty()) {
        return;
    }
    const store::enqueue_receipt receipt = persistence->store().enqueue(
        routed_now.targets, to_stored_message(*content, now, unix_now_ms()), {});
    std::span<delivery_batch> outbox = worker_.outbox();
    for (std::size_t index = 0; index < routed_now.durable.size(); ++index) {
        const auto [batch, position] = routed_now.durable[index];
        outbox[batch][position].store_sequence = receipt.sequences[index];
    }
}

void connection::route_inbound(const mqtt::route_publish& inbound, mqtt::time_point now) {
    session_persistence* persistence = server_.persistence();
    if (persistence == nullptr || inbound.packet_id == 0) {
        const std::size_t count = route(inbound.content);
        if (inbound.packet_id != 0) {
            acknowledge_publish(inbound.packet_id,
                                count > 0 ? mqtt::reason_code::success
                                          : mqtt::reason_code::no_matching_subscribers,
                                now);
        }
        return;
    }
    const mqtt::message_ptr& content = inbound.content;
    std::span<delivery_batch> outbox = worker_.outbox();
    durable_route routed_now = route_durable(content, *persistence);
    const route_result& result = routed_now.result;
    const std::vector<std::size_t>& marks = routed_now.marks;
    std::vector<store::queue_target>& targets = routed_now.targets;
    const std::vector<std::pair<std::size_t, std::size_t>>& durable = routed_now.durable;
    const mqtt::reason_code reason = result.delivery_count > 0
                                         ? mqtt::reason_code::success
                                         : mqtt::reason_code::no_matching_subscribers;
    const bool is_qos2 = content->qos_level == mqtt::qos::exactly_once;
    const bool records_inbound = is_qos2 && ledger_ != nullptr;
    const bool changes_retained =
        result.retained && *result.retained != mqtt::retained_update::unchanged;
    if (targets.empty() && !records_inbound && !changes_retained) {
        acknowledge_publish(inbound.packet_id, reason, now);
        return;
    }
    // QoS 2 to a persistent session is delivered only once its entry is committed, so that a
    // crash cannot deliver it and then forget it was received.
    std::shared_ptr<std::vector<delivery_batch>> held;
    if (is_qos2 && !targets.empty()) {
        held = std::make_shared<std::vector<delivery_batch>>(outbox.size());
        for (std::size_t index = 0; index < outbox.size(); ++index) {
            auto first = outbox[index].begin() + static_cast<std::ptrdiff_t>(marks[index]);
            std::move(first, outbox[index].end(), std::back_inserter((*held)[index]));
            outbox[index].erase(first, outbox[index].end());
        }
    }
    // The store's receipt says whether a target refused the entry for quota; it is known before
    // the completion runs (completions are posted to this worker).
    auto is_refused = std::make_shared<bool>(false);
    store::store_completion done = [self = shared_from_this(), context = &worker_.context(),
                                    packet_id = inbound.packet_id, reason, held,
                                    is_refused](const store::store_status& status) {
        boost::asio::post(*context, [self, packet_id, reason, held, is_refused,
                                     is_written = status.is_ok()] {
            self->finish_durable_publish(packet_id, is_written,
                                         *is_refused ? mqtt::reason_code::quota_exceeded : reason,
                                         held);
        });
    };
    const bool is_retained_last = targets.empty() && !records_inbound;
    persist_retained(content, result, is_retained_last ? done : store::store_completion{});
    if (!targets.empty()) {
        // Enqueued before the inbound QoS 2 record: a crash between the two groups can at worst
        // deliver a resent message twice, never lose it.
        const store::enqueue_receipt receipt =
            persistence->store().enqueue(targets, to_stored_message(*content, now, unix_now_ms()),
                                         records_inbound ? store::store_completion{} : done);
        *is_refused = receipt.refused_for_quota > 0;
        for (std::size_t index = 0; index < durable.size(); ++index) {
            const auto [batch, position] = durable[index];
            delivery& routed =
                held ? (*held)[batch][position - marks[batch]] : outbox[batch][position];
            routed.store_sequence = receipt.sequences[index];
        }
    }
    if (records_inbound) {
        ledger_->inbound_qos2.insert(inbound.packet_id);
        persistence->store().add_inbound_qos2({client_id(), inbound.packet_id}, done);
    }
}

void connection::finish_durable_publish(std::uint16_t packet_id, bool is_written,
                                        mqtt::reason_code reason,
                                        const std::shared_ptr<std::vector<delivery_batch>>& held) {
    const mqtt::time_point now = clock_now();
    if (held) {
        std::span<delivery_batch> outbox = worker_.outbox();
        for (std::size_t index = 0; index < held->size() && index < outbox.size(); ++index) {
            for (delivery& routed : (*held)[index]) {
                outbox[index].push_back(std::move(routed));
            }
        }
    }
    if (!is_written) {
        // No acknowledgement for a message that is not durable (DESIGN.md "Durability contract").
        log_error("store write failed: not acknowledging publish {} of {}", packet_id, client_id());
        drop_history_wait(packet_id);
        if (session_.version() == mqtt::protocol_version::v5) {
            session_.complete_publish(packet_id, mqtt::reason_code::unspecified_error, now);
        } else {
            session_.shutdown(mqtt::reason_code::unspecified_error, now);
        }
    } else if (reason == mqtt::reason_code::quota_exceeded &&
               session_.version() != mqtt::protocol_version::v5) {
        // 3.1.1 has no negative PUBACK: closing is the only way not to acknowledge.
        drop_history_wait(packet_id);
        session_.shutdown(mqtt::reason_code::quota_exceeded, now);
    } else {
        acknowledge_publish(packet_id, reason, now);
    }
    process_actions(now);
    sync_ledger(now);
    worker_.flush();
    arm_timer();
}

void connection::persist_accepted_session() {
    session_persistence* persistence = server_.persistence();
    if (persistence == nullptr || client_id().empty()) {
        return;
    }
    const bool is_persistent = session_.is_persistent();
    if (ledger_ == nullptr && (is_clean_start_ || !is_persistent) &&
        persistence->has_ledger(client_id())) {
        // [MQTT-3.1.2-4 (5.0), MQTT-3.1.2-6 (3.1.1)] a clean start discards the stored session.
        const auto previous = persistence->ledger_for(client_id(), chat_user());
        previous->tracked.clear();
        previous->spill = {};
        previous->inbound_qos2.clear();
        persistence->store().delete_session(client_id());
        persistence->forget(client_id());
    }
    if (!is_persistent) {
        return;
    }
    ledger_ = persistence->ledger_for(client_id(), chat_user());
    ledger_->reconciled_change_count = unreconciled;
    rebind_spill(*ledger_);
    persistence->bind(id(), ledger_);
    // DESIGN.md "Durability contract": CONNACK (and all output after it) leaves only once the
    // session record is committed; flush_output holds it until then. A failed write answers
    // Server unavailable instead and closes.
    const bool is_held = session_.is_connected();
    if (is_held) {
        ledger_->connack_held_for = id();
    }
    store::stored_session record =
        connected_session_record(*ledger_, session_.state(), persistence->take_connect_will(id()));
    persistence->store().save_session(std::move(record), [self = shared_from_this(),
                                                          context = &worker_.context(), is_held](
                                                             const store::store_status& status) {
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
            log_error("store write failed: refusing the CONNECT of {} (server unavailable)",
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

void connection::track_accepted(const delivery& routed, mqtt::delivery_outcome outcome) {
    ledger_->tracked.push_back(
        {routed.content, routed.store_sequence, 0, store::delivery_state::queued});
    if (outcome == mqtt::delivery_outcome::sent) {
        // Sent at once, perhaps downgraded to QoS 0: the next reconcile compares in full.
        ledger_->reconciled_change_count = unreconciled;
    }
}

void connection::sync_ledger(mqtt::time_point now) {
    if (!ledger_) {
        return;
    }
    store::message_store& store = server_.persistence()->store();
    process_actions(now);
    reconcile_ledger(*ledger_, session_.state(), store);
    if (wants_spill_read(*ledger_, session_.state(), settings_->limits)) {
        read_spilled();
    }
}

void connection::read_spilled() {
    start_spill_read(*ledger_);
    server_.persistence()->store().read_queue(
        client_id(), ledger_->spill.read_through, spill_read_batch,
        [self = shared_from_this(), ledger = ledger_, context = &worker_.context()](
            const store::store_status& status, std::vector<store::loaded_queue_entry> entries) {
            boost::asio::post(*context, [self, ledger, is_read = status.is_ok(),
                                         entries = std::move(entries)]() mutable {
                if (self->ledger_ != ledger) {
                    // The session moved to another connection, which reads again.
                    return;
                }
                const mqtt::time_point now = clock_now();
                if (!is_read) {
                    // The store is failing: the next delivery or acknowledgement tries again.
                    ledger->spill.is_reading = false;
                    ledger->spill.full_at_change_count = self->session_.state().change_count;
                    return;
                }
                accept_spill_read(*ledger, std::move(entries), spill_read_batch, self->session_,
                                  self->policy_, self->server_.persistence()->store(), now,
                                  unix_now_ms());
                self->sync_ledger(now);
                self->worker_.flush();
                self->arm_timer();
            });
        });
}

void connection::restore_offline(const store::loaded_session& loaded, mqtt::time_point now,
                                 std::uint64_t now_unix_ms) {
    session_persistence& persistence = *server_.persistence();
    has_connection_slot_ = false;
    is_clean_start_ = false;
    const std::optional<std::string> owner = restored_owner(loaded.session);
    if (!owner) {
        log_notice("discarding the stored session of {}: its owner is no longer its user",
                   loaded.session.client_id);
        persistence.store().delete_session(loaded.session.client_id);
        return;
    }
    if (!owner->empty()) {
        become_chat_user(*owner);
    }
    ledger_ = persistence.ledger_for(loaded.session.client_id, *owner);
    ledger_->reconciled_change_count = unreconciled;
    ledger_->record = loaded.session;
    ledger_->record->owner = *owner;
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
            log_warning("dropping the stored will of {}: its properties cannot be decoded",
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
    server_.registry().claim(client_id(), id());
    for (const auto& [topic_filter, held] : subscriptions) {
        const auto subscription_id = held.subscription_id != 0
                                         ? std::optional<std::uint32_t>(held.subscription_id)
                                         : std::nullopt;
        server_.routes().subscribe(id(), topic_filter, held.options, subscription_id);
    }
    persistence.bind(id(), ledger_);
    arm_timer();
}

} // namespace perch::gateway
