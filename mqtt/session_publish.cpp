// PUBLISH in both directions for one session: the inbound QoS 1/2 flows and their
// acknowledgements, and outbound deliveries with their window, queue, limits and resends.
// Part of the session state machine (theory of operation in session.cpp); no I/O.
#include <algorithm>
#include <utility>

#include "mqtt/encoder.hpp"
#include "mqtt/session.hpp"
#include "mqtt/topic.hpp"

namespace perch::mqtt {
namespace {

// What a queued delivery counts against max_queued_bytes.
std::size_t queued_size(const queued_delivery& delivery) {
    return delivery.content->payload.size() + delivery.content->topic_name.size();
}

} // namespace

// ---- inbound PUBLISH ------------------------------------------------------------------------

void session::on_publish(const publish& received, time_point now) {
    const bool is_v5 = version() == protocol_version::v5;
    if (static_cast<std::uint8_t>(received.qos_level) >
        static_cast<std::uint8_t>(limits_->maximum_qos)) {
        // [MQTT-3.2.2-11 (5.0)] the client was told Maximum QoS; 3.1.1 clients could not be.
        fail(reason_code::qos_not_supported, rule("MQTT-3.2.2-11", "MQTT-3.3.5-2"), now);
        return;
    }
    if (received.is_retained && !limits_->is_retain_available) {
        fail(reason_code::retain_not_supported, rule("MQTT-3.2.2-14", "MQTT-3.3.5-2"), now);
        return;
    }
    if (is_v5 && !received.props.subscription_identifiers.empty()) {
        fail(reason_code::protocol_error, "MQTT-3.3.4-6", now);
        return;
    }
    std::string topic_name;
    if (is_v5) {
        // Without an alias nothing is looked up, so the table is only made for a client that
        // uses aliases.
        auto resolved =
            received.props.topic_alias
                ? inbound_aliases().resolve(received.topic_name, received.props.topic_alias)
                : inbound_topic_aliases().resolve(received.topic_name, std::nullopt);
        if (const auto* violation = std::get_if<protocol_violation>(&resolved)) {
            fail(violation->reason, violation->rule, now);
            return;
        }
        topic_name = std::move(std::get<std::string>(resolved));
    } else {
        topic_name = received.topic_name;
    }
    if (const auto invalid = validate_topic_name(topic_name, version())) {
        fail(invalid->reason, invalid->rule, now);
        return;
    }

    if (received.qos_level == qos::at_most_once) {
        push(route_publish{make_message(received, std::move(topic_name), connection_id_, now), 0});
        return;
    }
    const std::uint16_t packet_id = received.packet_id;
    if (received.qos_level == qos::exactly_once) {
        const auto held = std::lower_bound(
            state_.inbound_qos2_received.begin(), state_.inbound_qos2_received.end(), packet_id,
            [](const inbound_qos2& entry, std::uint16_t id) { return entry.packet_id < id; });
        if (held != state_.inbound_qos2_received.end() && held->packet_id == packet_id) {
            // Already owned: acknowledge again, never route twice [MQTT-4.3.3-10 (5.0),
            // MQTT-4.3.3-2 (3.1.1)]. While routing is pending its PUBREC is still to come.
            if (held->is_pubrec_sent) {
                send(pubrec{packet_id, reason_code::success, {}});
            }
            return;
        }
    } else {
        const bool is_pending =
            std::any_of(inbound_acks_.begin(), inbound_acks_.end(), [packet_id](const auto& a) {
                return a.packet_id == packet_id && a.qos_level == qos::at_least_once;
            });
        if (is_pending) {
            // A resend before our PUBACK: the first copy is being routed and will be acknowledged.
            return;
        }
    }
    if (is_v5 && inbound_inflight() >= limits_->receive_maximum) {
        // The client sent more than the Receive Maximum in CONNACK allows [MQTT-3.3.4-7 (5.0)].
        fail(reason_code::receive_maximum_exceeded, "MQTT-3.3.4-7", now);
        return;
    }
    if (received.qos_level == qos::exactly_once) {
        const auto position = std::lower_bound(
            state_.inbound_qos2_received.begin(), state_.inbound_qos2_received.end(), packet_id,
            [](const inbound_qos2& entry, std::uint16_t id) { return entry.packet_id < id; });
        state_.inbound_qos2_received.insert(position, inbound_qos2{packet_id, false});
    }
    inbound_acks_.push_back(
        inbound_ack{packet_id, received.qos_level, false, reason_code::success});
    push(route_publish{make_message(received, std::move(topic_name), connection_id_, now),
                       packet_id});
}

void session::complete_publish(std::uint16_t packet_id, reason_code reason, time_point now) {
    if (phase_ != session_phase::connected || is_closing_) {
        return;
    }
    const auto pending =
        std::find_if(inbound_acks_.begin(), inbound_acks_.end(), [packet_id](const auto& a) {
            return a.packet_id == packet_id && !a.is_complete;
        });
    if (pending == inbound_acks_.end()) {
        return;
    }
    pending->is_complete = true;
    pending->reason = reason;
    // Acknowledgements leave in the order the PUBLISH packets arrived (4.6).
    while (!inbound_acks_.empty() && inbound_acks_.front().is_complete && !is_closing_) {
        const inbound_ack done = inbound_acks_.front();
        inbound_acks_.pop_front();
        acknowledge(done, now);
    }
    // A client that publishes now and then holds no acknowledgement queue between its messages.
    inbound_acks_.release_if_empty();
}

void session::acknowledge(const inbound_ack& done, time_point now) {
    const bool is_v5 = version() == protocol_version::v5;
    reason_code reason = done.reason;
    if (is_failure(reason) && !is_v5) {
        // 3.1.1 cannot report a failure. Refused by policy: acknowledge and drop it
        // [MQTT-3.3.5-2 (3.1.1)]. Anything else (store failure, overload): close without an
        // acknowledgement so that the client sends it again.
        if (reason != reason_code::not_authorized && done.qos_level == qos::exactly_once) {
            // Not taken (its rate, a failed write): its record goes, as at level 5, so that the
            // PUBLISH sent again on the next connection of a persistent session is routed and
            // kept, not answered as a duplicate already owned.
            auto& received = state_.inbound_qos2_received;
            const auto held = std::lower_bound(
                received.begin(), received.end(), done.packet_id,
                [](const inbound_qos2& entry, std::uint16_t id) { return entry.packet_id < id; });
            if (held != received.end() && held->packet_id == done.packet_id) {
                received.erase(held);
            }
        }
        if (reason != reason_code::not_authorized) {
            fail(reason, "MQTT-3.3.5-2", now);
            return;
        }
        reason = reason_code::success;
    }
    if (done.qos_level == qos::at_least_once) {
        // [MQTT-4.3.2-4 (5.0), MQTT-4.3.2-2 (3.1.1)] PUBACK with the PUBLISH's packet id.
        send(puback{done.packet_id, reason, {}});
        return;
    }
    auto& received = state_.inbound_qos2_received;
    const auto held = std::lower_bound(
        received.begin(), received.end(), done.packet_id,
        [](const inbound_qos2& entry, std::uint16_t id) { return entry.packet_id < id; });
    if (is_failure(reason)) {
        // The flow ends here; the id may carry a new message [MQTT-4.3.3-9 (5.0)].
        if (held != received.end() && held->packet_id == done.packet_id) {
            received.erase(held);
        }
    } else if (held != received.end() && held->packet_id == done.packet_id) {
        held->is_pubrec_sent = true;
    }
    // [MQTT-4.3.3-8 (5.0), MQTT-4.3.3-2 (3.1.1)]
    send(pubrec{done.packet_id, reason, {}});
}

void session::on_pubrel(const pubrel& received, time_point now) {
    auto& owned = state_.inbound_qos2_received;
    const auto held = std::lower_bound(
        owned.begin(), owned.end(), received.packet_id,
        [](const inbound_qos2& entry, std::uint16_t id) { return entry.packet_id < id; });
    const bool is_known = held != owned.end() && held->packet_id == received.packet_id;
    if (is_known && !held->is_pubrec_sent) {
        // PUBREL before our PUBREC: the client cannot have seen one.
        fail(reason_code::protocol_error, rule("MQTT-4.3.3-11", "MQTT-4.3.3-2"), now);
        return;
    }
    if (is_known) {
        owned.erase(held);
    }
    // [MQTT-4.3.3-11 (5.0), MQTT-4.3.3-2 (3.1.1)] PUBCOMP with the same id; 5.0 says when the id
    // was not known (3.1.1 has no reason code and simply completes).
    const reason_code reason = is_known || version() != protocol_version::v5
                                   ? reason_code::success
                                   : reason_code::packet_identifier_not_found;
    send(pubcomp{received.packet_id, reason, {}});
}

// ---- outbound acknowledgements --------------------------------------------------------------

void session::on_puback(const puback& received, time_point now) {
    outbound_delivery* delivery = state_.inflight.find(received.packet_id);
    if (delivery == nullptr) {
        return; // late or duplicate: nothing is owed
    }
    if (delivery->stage != outbound_stage::awaiting_puback) {
        fail(reason_code::protocol_error, rule("MQTT-4.13.1-1", "MQTT-4.8.0-1"), now);
        return;
    }
    // [MQTT-4.3.2-3 (5.0)] acknowledged: the id is free again and the window has room.
    state_.inflight.remove(received.packet_id);
    ++state_.change_count;
    drain_queue(now);
}

void session::on_pubrec(const pubrec& received, time_point now) {
    outbound_delivery* delivery = state_.inflight.find(received.packet_id);
    if (delivery == nullptr) {
        const reason_code reason = version() == protocol_version::v5
                                       ? reason_code::packet_identifier_not_found
                                       : reason_code::success;
        send(pubrel{received.packet_id, reason, {}});
        return;
    }
    if (delivery->stage == outbound_stage::awaiting_puback) {
        fail(reason_code::protocol_error, rule("MQTT-4.13.1-1", "MQTT-4.8.0-1"), now);
        return;
    }
    if (is_failure(received.reason) && version() == protocol_version::v5) {
        // Treated as acknowledged and never sent again [MQTT-4.4.0-2 (5.0)]; the window has room
        // [MQTT-3.3.4-9 (5.0)].
        state_.inflight.remove(received.packet_id);
        ++state_.change_count;
        drain_queue(now);
        return;
    }
    // [MQTT-4.3.3-4 (5.0), MQTT-4.3.3-1 (3.1.1)] PUBREL with the same id; the PUBLISH is never
    // sent again [MQTT-4.3.3-6 (5.0)], so its message can go.
    delivery->stage = outbound_stage::awaiting_pubcomp;
    ++state_.change_count;
    delivery->content.reset();
    delivery->subscription_ids.clear();
    send(pubrel{received.packet_id, reason_code::success, {}});
}

void session::on_pubcomp(const pubcomp& received, time_point now) {
    outbound_delivery* delivery = state_.inflight.find(received.packet_id);
    if (delivery == nullptr) {
        return;
    }
    if (delivery->stage != outbound_stage::awaiting_pubcomp) {
        fail(reason_code::protocol_error, rule("MQTT-4.13.1-1", "MQTT-4.8.0-1"), now);
        return;
    }
    state_.inflight.remove(received.packet_id); // [MQTT-4.3.3-5 (5.0)]
    ++state_.change_count;
    drain_queue(now);
}

// ---- outbound deliveries --------------------------------------------------------------------

delivery_outcome session::handle_delivery(const message_ptr& content,
                                          const delivery_options& options, time_point now) {
    if (phase_ != session_phase::connected && phase_ != session_phase::disconnected) {
        return delivery_outcome::closed;
    }
    if (options.is_no_local && content->origin == connection_id_) {
        return delivery_outcome::skipped_no_local; // [MQTT-3.8.3-3 (5.0)]
    }
    if (is_expired(*content, now)) {
        ++tally().dropped_expired; // [MQTT-3.3.2-5 (5.0)]
        return delivery_outcome::dropped_expired;
    }
    queued_delivery delivery;
    // [MQTT-3.8.4-8 (5.0), MQTT-3.8.4-6 (3.1.1)] the lower of published and granted QoS.
    delivery.qos_level = lower_qos(content->qos_level, options.granted_qos);
    // Retained messages sent for a new subscription keep RETAIN [MQTT-3.3.1-8 (3.1.1)];
    // otherwise Retain As Published decides [MQTT-3.3.1-12, MQTT-3.3.1-13 (5.0)], and 3.1.1
    // clears it [MQTT-3.3.1-9 (3.1.1)].
    delivery.is_retained = content->is_retained &&
                           (options.is_retained_at_subscribe || options.is_retain_as_published);
    if (version() == protocol_version::v5 && !options.subscription_ids.empty()) {
        delivery.subscription_ids.assign(options.subscription_ids.begin(),
                                         options.subscription_ids.end());
    }
    delivery.content = content;

    const bool is_live = phase_ == session_phase::connected && !is_closing_;
    if (!is_live) {
        if (delivery.qos_level == qos::at_most_once && !limits_->is_queueing_qos0_offline) {
            ++tally().dropped_qos0;
            return delivery_outcome::dropped_qos0;
        }
        return enqueue(std::move(delivery), now);
    }
    const bool is_window_open = delivery.qos_level == qos::at_most_once || can_send_qos12();
    if (state_.queued.empty() && is_window_open) {
        return transmit(std::move(delivery), now);
    }
    return enqueue(std::move(delivery), now);
}

void session::set_output_blocked(bool is_blocked, time_point now) {
    if (is_output_blocked_ == is_blocked) {
        return;
    }
    is_output_blocked_ = is_blocked;
    if (!is_blocked) {
        drain_queue(now);
    }
}

bool session::can_send_qos12() const {
    if (is_output_blocked_) {
        return false;
    }
    // [MQTT-3.3.4-9, MQTT-4.9.0-2 (5.0)] never more unacknowledged QoS 1/2 PUBLISH packets than
    // the client's Receive Maximum.
    const std::size_t window =
        std::min<std::size_t>(client_receive_maximum_, limits_->outbound_inflight_maximum);
    return state_.inflight.size() < window;
}

delivery_outcome session::enqueue(queued_delivery delivery, time_point now) {
    const std::size_t size = queued_size(delivery);
    const auto is_full = [this, size] {
        return state_.queued.size() + 1 > limits_->max_queued_messages ||
               state_.queued_bytes + size > limits_->max_queued_bytes;
    };
    if (is_full()) {
        if (delivery.qos_level == qos::at_most_once) {
            ++tally().dropped_qos0;
            return delivery_outcome::dropped_qos0;
        }
        // QoS 0 goes first to make room (DESIGN.md, Overload).
        for (auto it = state_.queued.begin(); it != state_.queued.end() && is_full();) {
            if (it->qos_level == qos::at_most_once) {
                state_.queued_bytes -= queued_size(*it);
                it = state_.queued.erase(it);
                ++state_.change_count;
                ++tally().dropped_qos0;
            } else {
                ++it;
            }
        }
    }
    if (is_full()) {
        ++tally().queue_full;
        if (phase_ == session_phase::connected && !is_closing_ && !is_persistent()) {
            if (version() == protocol_version::v5) {
                send(disconnect{reason_code::quota_exceeded, {}});
            }
            close(reason_code::quota_exceeded, "");
            end_connection(now, false);
        }
        return delivery_outcome::queue_full;
    }
    state_.queued_bytes += size;
    state_.queued.push_back(std::move(delivery));
    return delivery_outcome::queued;
}

void session::drain_queue(time_point now) {
    while (phase_ == session_phase::connected && !is_closing_ && !state_.queued.empty()) {
        queued_delivery& next = state_.queued.front();
        if (is_expired(*next.content, now)) {
            // [MQTT-3.3.2-5 (5.0)] not yet started towards this subscriber: delete it.
            ++tally().dropped_expired;
        } else if (next.qos_level != qos::at_most_once && !can_send_qos12()) {
            break; // order is kept: nothing overtakes a waiting QoS 1/2 message
        } else {
            queued_delivery taken = std::move(next);
            state_.queued_bytes -= queued_size(taken);
            state_.queued.pop_front();
            ++state_.change_count;
            transmit(std::move(taken), now);
            continue;
        }
        state_.queued_bytes -= queued_size(next);
        state_.queued.pop_front();
        ++state_.change_count;
    }
    state_.queued.release_if_empty();
}

publish session::build_publish(const message& content, qos qos_level, bool is_retained,
                               std::span<const std::uint32_t> subscription_ids,
                               std::uint16_t packet_id, bool is_duplicate, time_point now) const {
    publish out;
    out.topic_name = content.topic_name;
    out.payload = content.payload;
    out.qos_level = qos_level;
    out.is_retained = is_retained;
    // [MQTT-3.3.1-1, MQTT-3.3.1-3] DUP only on a resend; never on QoS 0 [MQTT-3.3.1-2].
    out.is_duplicate = is_duplicate && qos_level != qos::at_most_once;
    out.packet_id = packet_id;
    if (version() == protocol_version::v5) {
        // Forwarded unaltered, user properties in order [MQTT-3.3.2-4, MQTT-3.3.2-15..18,
        // MQTT-3.3.2-20 (5.0)].
        content.props.copy_to(out.props);
        // [MQTT-3.3.2-6 (5.0)] the interval left, not the one published.
        out.props.message_expiry_interval = remaining_expiry_seconds(content, now);
        // [MQTT-3.3.4-3 (5.0)]
        out.props.subscription_identifiers.assign(subscription_ids.begin(), subscription_ids.end());
    }
    return out;
}

bool session::fits_client(const publish& out) const {
    return publish_header_size(out, version()) + out.payload.size() <= client_maximum_packet_size_;
}

void session::choose_topic_alias(publish& out) {
    if (version() != protocol_version::v5 || outbound_topic_alias_maximum_ == 0 ||
        out.is_duplicate || out.props.topic_alias || out.topic_name.empty()) {
        return;
    }
    auto& aliases = rare().outbound_aliases;
    if (!aliases) {
        aliases.emplace(outbound_topic_alias_maximum_);
    }
    const auto alias = aliases->assign(out.topic_name);
    if (!alias) {
        return;
    }
    out.props.topic_alias = alias->alias;
    if (!alias->is_new) {
        out.topic_name.clear();
        return;
    }
    if (!fits_client(out)) {
        // Three bytes more than the size checked before: send it in full, without a mapping.
        aliases->forget(alias->alias);
        out.props.topic_alias.reset();
    }
}

delivery_outcome session::transmit(queued_delivery delivery, time_point now) {
    publish out = build_publish(*delivery.content, delivery.qos_level, delivery.is_retained,
                                delivery.subscription_ids, 0, false, now);
    if (delivery.qos_level != qos::at_most_once) {
        out.packet_id = state_.inflight.allocate_packet_id(); // [MQTT-2.2.1-4 (5.0)]
    }
    if (!fits_client(out)) {
        // [MQTT-3.1.2-24, MQTT-3.1.2-25 (5.0)] dropped unsent, as if delivered.
        ++tally().dropped_too_large;
        return delivery_outcome::dropped_too_large;
    }
    if (delivery.qos_level != qos::at_most_once) {
        // Unacknowledged until PUBACK / PUBREC [MQTT-4.3.2-3, MQTT-4.3.3-3 (5.0)].
        state_.inflight.push(outbound_delivery{
            out.packet_id,
            delivery.qos_level == qos::at_least_once ? outbound_stage::awaiting_puback
                                                     : outbound_stage::awaiting_pubrec,
            delivery.qos_level, delivery.is_retained, std::move(delivery.content),
            std::move(delivery.subscription_ids)});
        ++state_.change_count;
    }
    if (publish_sink_ != nullptr && !has_pending_actions() && publish_sink_->take_publish(out)) {
        return delivery_outcome::sent;
    }
    send(std::move(out));
    return delivery_outcome::sent;
}

void session::resend_inflight(time_point now) {
    // [MQTT-4.4.0-1] on resumption every unacknowledged PUBLISH (DUP 1) and PUBREL goes again,
    // in the original order, with the original packet ids. This is the only resend.
    std::vector<std::uint16_t> too_large;
    for (const auto& delivery : state_.inflight.entries()) {
        if (delivery.stage == outbound_stage::awaiting_pubcomp) {
            send(pubrel{delivery.packet_id, reason_code::success, {}});
            continue;
        }
        publish out = build_publish(*delivery.content, delivery.qos_level, delivery.is_retained,
                                    delivery.subscription_ids, delivery.packet_id, true, now);
        if (!fits_client(out)) {
            ++tally().dropped_too_large;
            too_large.push_back(delivery.packet_id);
            continue;
        }
        send(std::move(out));
    }
    for (const std::uint16_t packet_id : too_large) {
        state_.inflight.remove(packet_id);
        ++state_.change_count;
    }
}

} // namespace perch::mqtt
