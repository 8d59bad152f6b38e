// Building routed messages from PUBLISH packets and Wills, and their expiry arithmetic.
#include "mqtt/message.hpp"

#include <utility>

namespace perch::mqtt {
namespace {

std::optional<time_point> deadline_after(const std::optional<std::uint32_t>& seconds,
                                         time_point now) {
    if (!seconds) {
        return std::nullopt;
    }
    return now + std::chrono::seconds(*seconds);
}

} // namespace

// Keeps the properties a server forwards unchanged to subscribers and drops the rest: Topic Alias
// and Subscription Identifiers belong to one connection, Message Expiry is recomputed per delivery.
forwarded_properties forwarded_properties::of(const properties& all) {
    forwarded_properties kept;
    kept.payload_format_indicator = all.payload_format_indicator; // [MQTT-3.3.2-4]
    kept.content_type = all.content_type;                         // [MQTT-3.3.2-20]
    kept.response_topic = all.response_topic;                     // [MQTT-3.3.2-15]
    kept.correlation_data = all.correlation_data;                 // [MQTT-3.3.2-16]
    kept.user_properties = all.user_properties;                   // [MQTT-3.3.2-17, MQTT-3.3.2-18]
    return kept;
}

void forwarded_properties::copy_to(properties& into) const {
    into.payload_format_indicator = payload_format_indicator;
    into.content_type = content_type;
    into.response_topic = response_topic;
    into.correlation_data = correlation_data;
    into.user_properties = user_properties;
}

message_ptr make_message(const publish& packet, std::string topic_name, std::uint64_t origin,
                         time_point now) {
    auto built = std::make_shared<message>();
    built->topic_name = std::move(topic_name);
    built->payload = packet.payload;
    built->qos_level = packet.qos_level;
    built->is_retained = packet.is_retained;
    built->props = forwarded_properties::of(packet.props);
    built->expiry_deadline = deadline_after(packet.props.message_expiry_interval, now);
    built->origin = origin;
    return built;
}

message_ptr make_will_message(const will_message& will, std::uint64_t origin, time_point now) {
    auto built = std::make_shared<message>();
    built->topic_name = will.topic_name;
    built->payload = will.payload;
    built->qos_level = will.qos_level;
    built->is_retained = will.is_retained;
    built->props = forwarded_properties::of(will.props);
    built->expiry_deadline = deadline_after(will.props.message_expiry_interval, now);
    built->origin = origin;
    return built;
}

bool is_expired(const message& m, time_point now) {
    return m.expiry_deadline && now >= *m.expiry_deadline;
}

std::optional<std::uint32_t> remaining_expiry_seconds(const message& m, time_point now) {
    if (!m.expiry_deadline) {
        return std::nullopt;
    }
    if (now >= *m.expiry_deadline) {
        return 0;
    }
    const auto left = *m.expiry_deadline - now;
    const auto whole = std::chrono::duration_cast<std::chrono::seconds>(left);
    const auto rounded_up = whole < left ? whole + std::chrono::seconds(1) : whole;
    return static_cast<std::uint32_t>(rounded_up.count());
}

} // namespace perch::mqtt
