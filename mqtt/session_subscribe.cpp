// SUBSCRIBE and UNSUBSCRIBE for one session: the checks the session makes itself, the requests
// handed to the gateway and the SUBACK / UNSUBACK built from its answers. Part of the session
// state machine (theory of operation in session.cpp); no I/O.
#include <algorithm>
#include <cassert>
#include <utility>

#include "mqtt/session.hpp"
#include "mqtt/topic.hpp"

namespace perch::mqtt {

// ---- SUBSCRIBE and UNSUBSCRIBE --------------------------------------------------------------

bool session::is_request_id_in_use(std::uint16_t packet_id) const {
    return extras_ && extras_->pending_requests.contains(packet_id);
}

void session::on_subscribe(const subscribe& received, time_point now) {
    const bool is_v5 = version() == protocol_version::v5;
    const auto& ids = received.props.subscription_identifiers;
    if (is_v5 && !ids.empty()) {
        if (ids.size() > 1 || ids.front() == 0) {
            fail(reason_code::protocol_error, "MQTT-3.8.2.1.2", now);
            return;
        }
        if (!limits_->is_subscription_identifier_available) {
            fail(reason_code::subscription_identifiers_not_supported, "MQTT-3.8.2.1.2", now);
            return;
        }
    }
    for (const auto& entry : received.entries) {
        if (entry.options.is_no_local && parse_shared_subscription(entry.topic_filter)) {
            fail(reason_code::protocol_error, "MQTT-3.8.3-4", now); // 5.0
            return;
        }
    }
    pending_request request;
    request.packet_id = received.packet_id;
    request.is_subscribe = true;
    request.subscription_id = ids.empty() ? 0 : ids.front();
    subscribe forwarded{received.packet_id, {}, received.props};
    const bool is_id_in_use = is_request_id_in_use(received.packet_id);
    for (const auto& entry : received.entries) {
        std::optional<reason_code> decided;
        const bool is_shared = entry.topic_filter.starts_with(shared_subscription_prefix);
        if (is_id_in_use) {
            decided = reason_code::packet_identifier_in_use;
        } else if (validate_topic_filter(entry.topic_filter, version())) {
            decided = reason_code::topic_filter_invalid;
        } else if (is_shared && !limits_->is_shared_subscription_available) {
            decided = reason_code::shared_subscriptions_not_supported;
        } else if (!limits_->is_wildcard_subscription_available &&
                   has_wildcard(entry.topic_filter)) {
            // [MQTT-3.8.3-2 (3.1.1)] a server without wildcards rejects such filters.
            decided = reason_code::wildcard_subscriptions_not_supported;
        }
        request.decided.push_back(decided);
        if (!decided) {
            subscribe_entry granted = entry;
            // [MQTT-3.2.2-10 (5.0)] accepted at any requested QoS, granted at most the maximum.
            granted.options.maximum_qos =
                lower_qos(granted.options.maximum_qos, limits_->maximum_qos);
            forwarded.entries.push_back(std::move(granted));
        }
    }
    if (forwarded.entries.empty()) {
        finish_subscribe(std::move(request), {});
        return;
    }
    request.entries = forwarded.entries;
    const std::uint16_t packet_id = request.packet_id;
    rare().pending_requests.emplace(packet_id, std::move(request));
    push(subscribe_requested{std::move(forwarded)});
}

void session::complete_subscribe(std::uint16_t packet_id, std::vector<reason_code> reasons,
                                 [[maybe_unused]] time_point now) {
    if (auto request = take_pending_request(packet_id, true)) {
        finish_subscribe(std::move(*request), std::move(reasons));
    }
}

std::optional<session::pending_request> session::take_pending_request(std::uint16_t packet_id,
                                                                      bool is_subscribe) {
    if (!extras_) {
        return std::nullopt;
    }
    auto& pending_requests = extras_->pending_requests;
    const auto pending = pending_requests.find(packet_id);
    if (pending == pending_requests.end() || pending->second.is_subscribe != is_subscribe) {
        return std::nullopt;
    }
    pending_request request = std::move(pending->second);
    pending_requests.erase(pending);
    release_rare_if_unused();
    return request;
}

void session::finish_subscribe(pending_request request, std::vector<reason_code> reasons) {
    assert(reasons.size() == request.entries.size());
    reasons.resize(request.entries.size(), reason_code::unspecified_error);
    // One reason per entry, in order [MQTT-3.8.4-6, MQTT-3.9.3-1 (5.0); MQTT-3.8.4-5,
    // MQTT-3.9.3-1 (3.1.1)].
    std::vector<reason_code> all;
    all.reserve(request.decided.size());
    std::size_t next_forwarded = 0;
    for (const auto& decided : request.decided) {
        if (decided) {
            all.push_back(*decided);
            continue;
        }
        const subscribe_entry& entry = request.entries[next_forwarded];
        const reason_code reason = reasons[next_forwarded++];
        all.push_back(reason);
        if (!is_failure(reason)) {
            // [MQTT-3.8.4-3 (5.0)] an identical filter replaces the old subscription.
            subscription_options granted = entry.options;
            granted.maximum_qos = lower_qos(entry.options.maximum_qos,
                                            static_cast<qos>(static_cast<std::uint8_t>(reason)));
            state_.subscriptions.insert_or_assign(entry.topic_filter,
                                                  subscription{granted, request.subscription_id});
        }
    }
    if (phase_ == session_phase::connected && !is_closing_) {
        // [MQTT-3.8.4-1, MQTT-3.8.4-2] SUBACK with the SUBSCRIBE's packet id.
        send(suback{request.packet_id, std::move(all), {}});
    }
}

void session::on_unsubscribe(const unsubscribe& received, [[maybe_unused]] time_point now) {
    pending_request request;
    request.packet_id = received.packet_id;
    request.is_subscribe = false;
    unsubscribe forwarded{received.packet_id, {}, received.props};
    const bool is_id_in_use = is_request_id_in_use(received.packet_id);
    for (const auto& filter : received.topic_filters) {
        std::optional<reason_code> decided;
        if (is_id_in_use) {
            decided = reason_code::packet_identifier_in_use;
        } else if (validate_topic_filter(filter, version())) {
            decided = reason_code::topic_filter_invalid;
        }
        request.decided.push_back(decided);
        if (!decided) {
            forwarded.topic_filters.push_back(filter);
        }
    }
    if (forwarded.topic_filters.empty()) {
        finish_unsubscribe(std::move(request), {});
        return;
    }
    request.topic_filters = forwarded.topic_filters;
    const std::uint16_t packet_id = request.packet_id;
    rare().pending_requests.emplace(packet_id, std::move(request));
    push(unsubscribe_requested{std::move(forwarded)});
}

void session::complete_unsubscribe(std::uint16_t packet_id, std::vector<reason_code> reasons,
                                   [[maybe_unused]] time_point now) {
    if (auto request = take_pending_request(packet_id, false)) {
        finish_unsubscribe(std::move(*request), std::move(reasons));
    }
}

void session::finish_unsubscribe(pending_request request, std::vector<reason_code> reasons) {
    assert(reasons.size() == request.topic_filters.size());
    reasons.resize(request.topic_filters.size(), reason_code::unspecified_error);
    std::vector<reason_code> all;
    all.reserve(request.decided.size());
    std::size_t next_forwarded = 0;
    for (const auto& decided : request.decided) {
        if (decided) {
            all.push_back(*decided);
            continue;
        }
        const std::string& filter = request.topic_filters[next_forwarded];
        const reason_code reason = reasons[next_forwarded++];
        all.push_back(reason);
        if (!is_failure(reason)) {
            // [MQTT-3.10.4-1] an exactly equal filter loses its subscription.
            if (const auto found = state_.subscriptions.find(filter);
                found != state_.subscriptions.end()) {
                state_.subscriptions.erase(found);
            }
        }
    }
    if (phase_ == session_phase::connected && !is_closing_) {
        // [MQTT-3.10.4-4, MQTT-3.10.4-5] UNSUBACK with the same packet id, even when nothing was
        // removed; one reason per filter in order [MQTT-3.11.3-1 (5.0)].
        send(unsuback{request.packet_id, std::move(all), {}});
    }
}

} // namespace perch::mqtt
