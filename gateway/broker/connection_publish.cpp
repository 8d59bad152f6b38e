// One PUBLISH through a connection (DESIGN.md "Durability contract", docs/DURABILITY.md): an
// inbound PUBLISH or will is routed, its QoS 1/2 deliveries to persistent sessions are queued in
// the store and retained messages written before the publisher is acknowledged; a routed message
// is delivered to this session (tracked in its ledger, or left in the store and read back when
// the session's queue is full); chat messages wait for their history row before their PUBACK.
#include <algorithm>
#include <iterator>
#include <utility>

#include <boost/asio/post.hpp>

#include "gateway/broker/connection.hpp"
#include "gateway/broker/worker.hpp"
#include "gateway/common/log.hpp"
#include "gateway/common/stored_message_codec.hpp"

namespace perch::gateway {

std::size_t connection::route(const mqtt::message_ptr& content, bool is_retained_durable) {
    const route_result result = route_matching(content);
    if (is_retained_durable) {
        persist_retained(content, result, {});
    }
    return result.delivery_count;
}

route_result connection::route_matching(const mqtt::message_ptr& content) {
    const std::span<delivery_batch> outbox = worker_.outbox();
    const std::string_view topic_name = content->topic_name;
    if (!topic_name.starts_with("chat/dm/") && !topic_name.starts_with("chat/signal/dm/") &&
        !topic_name.starts_with("chat/ctl/")) {
        return tables_.routes().route(content, outbox, worker_.match_scratch());
    }
    // Direct messages, their signals and control replies reach their users through the chat layer
    // (docs/CHAT.md "Server-side subscriptions"), merged with what the index matched for the same
    // devices.
    std::vector<std::size_t> routed_from(outbox.size());
    for (std::size_t index = 0; index < outbox.size(); ++index) {
        routed_from[index] = outbox[index].size();
    }
    route_result result = tables_.routes().route(content, outbox, worker_.match_scratch());
    result.delivery_count += route_direct(content, routed_from);
    return result;
}

void connection::refuse_publish(const mqtt::route_publish& inbound, mqtt::time_point now) {
    worker_.counters().access_refusals.add();
    log_event(log_level::debug, "refusing publish of {} to '{}': not authorized", client_id(),
              inbound.content->topic_name);
    if (inbound.packet_id != 0) {
        // PUBACK/PUBREC 0x87 at level 5; level 4 has no negative acknowledgement.
        session_.complete_publish(inbound.packet_id, mqtt::reason_code::not_authorized, now);
    }
}

std::string connection::quota_user() const {
    return chat_ ? chat_->user : transport_->identity_user_name();
}

void connection::start_quota(const client_quota& limits) {
    if (limits.is_unlimited()) {
        quota_.reset();
        return;
    }
    if (!quota_) {
        quota_ = std::make_unique<quota_part>();
    }
    quota_->limits = limits;
}

connection::quota_part* connection::quota() {
    if (!is_quota_made_) {
        is_quota_made_ = true;
        start_quota(settings_->quota_for(quota_user()));
    }
    return quota_.get();
}

void connection::update_quota(const connection_settings& settings) {
    if (!session_.is_connected()) {
        return;
    }
    const std::string user = quota_user();
    const client_quota& limits = settings.quota_for(user);
    if (!is_quota_made_) {
        // settings_ stays the one the connection was accepted under: made later, the quota would
        // miss this reload, so it is made now, when the reload changed this client's limits.
        if (limits == settings_->quota_for(user)) {
            return;
        }
        is_quota_made_ = true;
    }
    if (quota_ && limits.is_unlimited() && quota_->pending_subscriptions != 0) {
        // Kept until the pending SUBACKs are counted off.
        quota_->limits = limits;
        return;
    }
    start_quota(limits);
}

bool connection::admit_publish(const mqtt::route_publish& inbound, mqtt::time_point now) {
    quota_part* const held = quota();
    if (held == nullptr) {
        return true;
    }
    const mqtt::message& content = *inbound.content;
    const std::uint64_t bytes = content.topic_name.size() + content.payload.size();
    const publish_admission verdict = held->publish.admit(held->limits, bytes, now);
    if (verdict == publish_admission::accepted) {
        return true;
    }
    worker_counters& counts = worker_.counters();
    const bool is_message_rate =
        verdict == publish_admission::message_rate || verdict == publish_admission::message_flood;
    (is_message_rate ? counts.message_rate_refusals : counts.byte_rate_refusals).add();
    if (verdict == publish_admission::message_flood || verdict == publish_admission::byte_flood) {
        // docs/LIMITS.md: refusals past flood_seconds of the rate end the connection (DISCONNECT
        // 0x96 at level 5); what it sent and was not acknowledged is resent by the client.
        counts.rate_disconnects.add();
        log_notice("disconnecting {} ({}): publishing far past its {} rate", client_id(),
                   remote_address(), is_message_rate ? "message" : "byte");
        session_.shutdown(mqtt::reason_code::message_rate_too_high, now);
        return false;
    }
    log_debug("refusing publish of {} to '{}': {} rate exceeded", client_id(), content.topic_name,
              is_message_rate ? "message" : "byte");
    if (inbound.packet_id == 0) {
        // QoS 0: dropped, and counted (nobody is told at any level).
        counts.publish_dropped.add();
    } else {
        // PUBACK/PUBREC 0x96 at level 5: the client knows this one was not taken. 3.1.1 has no
        // negative acknowledgement: the session closes the connection without acknowledging,
        // and the client sends the message again once reconnected.
        session_.complete_publish(inbound.packet_id, mqtt::reason_code::message_rate_too_high, now);
    }
    return false;
}

void connection::route_inbound(const mqtt::route_publish& inbound, mqtt::time_point now) {
    session_persistence* persistence = tables_.persistence();
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

connection::durable_route connection::route_durable(const mqtt::message_ptr& content,
                                                    session_persistence& persistence) {
    std::span<delivery_batch> outbox = worker_.outbox();
    durable_route routed_now;
    routed_now.marks.resize(outbox.size());
    for (std::size_t index = 0; index < outbox.size(); ++index) {
        routed_now.marks[index] = outbox[index].size();
    }
    routed_now.result = route_matching(content);
    // A stamped chat message is stored once, in history, submitted before routing: a QoS 1
    // delivery to a chat user's persistent session needs no queue entry (docs/DURABILITY.md
    // "Chat messages"). QoS 2 grants keep theirs (exactly once across a crash).
    const bool is_chat_message = content->qos_level != mqtt::qos::at_most_once &&
                                 content->topic_name.starts_with("chat/") &&
                                 history_ref_of(*content).has_value();
    for (std::size_t index = 0; index < outbox.size(); ++index) {
        for (std::size_t position = routed_now.marks[index]; position < outbox[index].size();
             ++position) {
            delivery& routed = outbox[index][position];
            if (routed.granted_qos == mqtt::qos::at_most_once) {
                continue;
            }
            const auto ledger = persistence.find(routed.subscriber);
            if (!ledger) {
                continue;
            }
            if (is_chat_message && routed.granted_qos == mqtt::qos::at_least_once &&
                !ledger->owner.empty()) {
                routed.is_history_backed = true;
                continue;
            }
            if (!policy_for_owner(ledger->owner, tables_.chat().directory())
                     .may_receive(content->topic_name, ledger->client_id)) {
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
    session_persistence* persistence = tables_.persistence();
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

void connection::persist_retained(const mqtt::message_ptr& content, const route_result& result,
                                  store::store_completion done) {
    session_persistence* persistence = tables_.persistence();
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
        drop_history_wait(packet_id);
        refuse_unwritten_publish(packet_id, now);
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

void connection::refuse_unwritten_publish(std::uint16_t packet_id, mqtt::time_point now) {
    // No acknowledgement for a message that is not durable (DESIGN.md "Durability contract").
    worker_.counters().store_write_refusals.add();
    log_event(log_level::error, "store write failed: not acknowledging publish {} of {}", packet_id,
              client_id());
    if (session_.version() == mqtt::protocol_version::v5) {
        session_.complete_publish(packet_id, mqtt::reason_code::unspecified_error, now);
    } else {
        session_.shutdown(mqtt::reason_code::unspecified_error, now);
    }
}

void connection::acknowledge_publish(std::uint16_t packet_id, mqtt::reason_code reason,
                                     mqtt::time_point now) {
    if (history_wait* waiting = find_history_wait(packet_id)) {
        if (!waiting->is_history_written && !waiting->is_history_failed) {
            waiting->routed_reason = reason;
            return;
        }
        const bool is_history_failed = waiting->is_history_failed;
        erase_history_wait(*waiting);
        if (is_history_failed) {
            // Routed already (routing follows the submission), but not in history: refused.
            refuse_unwritten_publish(packet_id, now);
            return;
        }
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

void connection::deliver(const delivery& routed, mqtt::time_point now) {
    if (is_session_ended_) {
        // Matched before the session's subscriptions were all gone (they leave the index in
        // slices, after the session ended): nothing is delivered after the end.
        return;
    }
    if (is_awaiting_handover_) {
        // This worker routed to the session's new id before the session itself arrived (the
        // previous connection moves the subscriptions right after posting the state here).
        worker_.hold_during_handover(id(), routed);
        return;
    }
    if (ledger_ && ledger_->chat && routed.store_sequence == 0 && routed.is_history_backed) {
        deliver_from_history(routed, now);
        return;
    }
    if (ledger_ && ledger_->chat && routed.content->topic_name.starts_with("chat/")) {
        if (const auto ref = history_ref_of(*routed.content)) {
            // A chat message that is not history-backed (QoS 0, or a QoS 2 grant with its store
            // entry) is owed nothing more by history once it arrives.
            mark_done(position_of(*ledger_->chat, ref->conversation), ref->id);
        }
    }
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
    if (!policy_.may_receive(routed.content->topic_name, client_id())) {
        if (is_stored) {
            // Queued before the rules changed (a room left): its row goes too.
            ack_entry(*ledger_, tables_.persistence()->store(), routed.store_sequence);
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
            ack_entry(*ledger_, tables_.persistence()->store(), routed.store_sequence);
        }
    }
    process_actions(now);
    sync_ledger(now);
    arm_timer();
}

void connection::deliver_from_history(const delivery& routed, mqtt::time_point now) {
    const std::optional<history_ref> ref = history_ref_of(*routed.content);
    if (!ref) {
        return;
    }
    conversation_position& position = position_of(*ledger_->chat, ref->conversation);
    switch (classify_history_arrival(position, ref->id)) {
    case history_arrival::deliver: break;
    case history_arrival::duplicate: return;
    case history_arrival::left_in_history:
        // Earlier messages of the conversation wait in history; this one is read after them.
        sync_ledger(now);
        return;
    }
    if (!session_.is_connected()) {
        // An offline chat session holds no chat messages: history does, and it catches up
        // from there when it connects.
        note_dropped(position);
        return;
    }
    if (!policy_.may_receive(routed.content->topic_name, client_id())) {
        mark_done(position, ref->id);
        return;
    }
    mqtt::delivery_options options;
    options.granted_qos = routed.granted_qos;
    options.is_retain_as_published = routed.is_retain_as_published;
    options.subscription_ids = routed.subscription_ids;
    if (!offer_chat_message(position, routed.content, ref->conversation, ref->id, options, now)) {
        note_dropped(position);
    }
    process_actions(now);
    sync_ledger(now);
    arm_timer();
}

bool connection::offer_chat_message(conversation_position& position,
                                    const mqtt::message_ptr& content,
                                    const std::string& conversation, std::uint64_t id,
                                    const mqtt::delivery_options& options, mqtt::time_point now) {
    const mqtt::delivery_outcome outcome = session_.handle_delivery(content, options, now);
    if (outcome == mqtt::delivery_outcome::queue_full) {
        position.full_at_change_count = session_.state().change_count;
        return false;
    }
    if (outcome == mqtt::delivery_outcome::sent || outcome == mqtt::delivery_outcome::queued) {
        ledger_->tracked.push_back(
            {content, 0, 0, store::delivery_state::queued, conversation, id});
        mark_seen(position, id);
        if (outcome == mqtt::delivery_outcome::sent) {
            note_sent_at_once(*ledger_);
        }
    } else {
        // Skipped (No Local), expired or too large: nothing is owed.
        mark_done(position, id);
    }
    return true;
}

void connection::track_accepted(const delivery& routed, mqtt::delivery_outcome outcome) {
    ledger_->tracked.push_back(
        {routed.content, routed.store_sequence, 0, store::delivery_state::queued});
    if (outcome == mqtt::delivery_outcome::sent) {
        // Sent at once, perhaps downgraded to QoS 0: the next reconcile compares.
        note_sent_at_once(*ledger_);
    }
}

void connection::sync_ledger(mqtt::time_point now) {
    if (!ledger_) {
        return;
    }
    store::message_store& store = tables_.persistence()->store();
    process_actions(now);
    reconcile_ledger(*ledger_, session_.state(), store);
    if (wants_spill_read(*ledger_, session_.state(), settings_->limits)) {
        read_spilled();
    }
    if (ledger_->chat) {
        sync_chat_cursors();
    }
}

void connection::sync_chat_cursors() {
    chat_cursors& cursors = *ledger_->chat;
    for (auto& [conversation, position] : cursors.conversations) {
        if (position.seen_above.size() > max_ids_above_watermark) {
            // Ids seen out of order pile up behind a gap: a read settles it.
            position.is_behind = true;
        }
        if (wants_history_read(position, session_, settings_->limits)) {
            read_history(conversation);
        }
    }
    const std::uint64_t now_unix_ms = unix_now_ms();
    const std::uint64_t interval_ms =
        std::uint64_t{tables_.chat().settings().cursor_interval_s} * 1000;
    if (!session_.is_connected() || now_unix_ms >= cursors.written_at_unix_ms + interval_ms) {
        save_chat_cursors(now_unix_ms);
    }
}

void connection::save_chat_cursors(std::uint64_t now_unix_ms) {
    if (!ledger_ || !ledger_->chat) {
        return;
    }
    if (auto record = cursors_to_write(*ledger_->chat, client_id(), now_unix_ms, true)) {
        tables_.chat().store().save_session_cursors(std::move(*record));
    }
}

void connection::read_history(const std::string& conversation) {
    chat_cursors& cursors = *ledger_->chat;
    conversation_position& position = position_of(cursors, conversation);
    const history_read read =
        start_history_read(position, cursors, tables_.chat().last_id(conversation));
    log_event(log_level::debug, "{} reads {} after {} since {}", client_id(), conversation,
              read.after_id, read.since_unix_ms);
    tables_.chat().store().read_history_after(
        conversation, read.after_id, read.since_unix_ms, history_read_batch,
        [self = shared_from_this(), ledger = ledger_, generation = cursors.generation, conversation,
         context = &worker_.context()](std::vector<store::history_record> rows,
                                       const store::store_status& status) {
            boost::asio::post(*context,
                              [self, ledger, generation, conversation, is_read = status.is_ok(),
                               rows = std::move(rows)]() mutable {
                                  if (self->ledger_ != ledger || !ledger->chat ||
                                      ledger->chat->generation != generation) {
                                      // The session moved to another connection, which reads again.
                                      return;
                                  }
                                  self->accept_history_rows(conversation, is_read, std::move(rows));
                              });
        });
}

void connection::accept_history_rows(const std::string& conversation, bool is_read,
                                     std::vector<store::history_record> rows) {
    const mqtt::time_point now = clock_now();
    conversation_position& position = position_of(*ledger_->chat, conversation);
    if (!is_read) {
        // The store is failing: the next delivery or acknowledgement tries again.
        position.is_reading = false;
        position.full_at_change_count = session_.state().change_count;
        return;
    }
    // The session's own subscriptions, the ones the gateway holds for its user (which live in
    // the subscription index only) and the direct messages the chat layer delivers itself.
    std::vector<held_filter> filters;
    for (const auto& [topic_filter, held] : session_.state().subscriptions) {
        filters.push_back({topic_filter, held});
    }
    std::vector<server_subscription> chat_filters = tables_.chat().subscriptions_for(chat_user());
    for (server_subscription& direct : chat_service::direct_subscriptions(chat_user())) {
        chat_filters.push_back(std::move(direct));
    }
    for (const server_subscription& wanted : chat_filters) {
        mqtt::subscription held;
        held.options = wanted.options;
        held.options.maximum_qos = within_maximum_qos(held.options.maximum_qos);
        filters.push_back({wanted.topic_filter, held});
    }
    std::vector<std::uint32_t> ids;
    accept_history_read(position, std::move(rows), history_read_batch,
                        [&](const store::history_record& row) {
                            const std::optional<mqtt::delivery_options> options =
                                policy_.may_receive(row.topic, client_id())
                                    ? matching_options(filters, row.topic, ids)
                                    : std::nullopt;
                            if (!options || options->granted_qos == mqtt::qos::at_most_once) {
                                // Not for this session (the rules or its subscriptions changed):
                                // owed nothing.
                                mark_done(position, row.id);
                                return true;
                            }
                            return offer_chat_message(position, message_from_history(row),
                                                      conversation, row.id, *options, now);
                        });
    process_actions(now);
    sync_ledger(now);
    worker_.flush();
    arm_timer();
}

void connection::read_spilled() {
    start_spill_read(*ledger_);
    tables_.persistence()->store().read_queue(
        client_id(), ledger_->spill->read_through, spill_read_batch,
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
                    ledger->spill->is_reading = false;
                    ledger->spill->full_at_change_count = self->session_.state().change_count;
                    return;
                }
                accept_spill_read(*ledger, std::move(entries), spill_read_batch, self->session_,
                                  self->policy_, self->tables_.persistence()->store(), now,
                                  unix_now_ms());
                self->sync_ledger(now);
                self->worker_.flush();
                self->arm_timer();
            });
        });
}

} // namespace perch::gateway
