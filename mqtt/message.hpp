// One application message as routed from its publisher to every matching subscriber. Immutable
// once built and shared by all deliveries; knows nothing about sessions, sockets or clocks.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "mqtt/bytes.hpp"
#include "mqtt/packet.hpp"
#include "mqtt/properties.hpp"
#include "mqtt/subscription_options.hpp"

namespace perch::mqtt {

/// A point on the gateway's monotonic clock. mqtt/ never reads a clock: time arrives as `now`.
using time_point = std::chrono::steady_clock::time_point;

/// The properties of a PUBLISH that a server forwards unchanged to its subscribers [MQTT-3.3.2-4,
/// 3.3.2-15, 3.3.2-16, 3.3.2-17, 3.3.2-18, 3.3.2-20]. A message keeps these and no others: the
/// whole `properties` set is three times the size, and the broker holds a message per retained
/// topic and per delivery in flight.
struct forwarded_properties {
    std::optional<std::uint8_t> payload_format_indicator;
    std::optional<std::string> content_type;
    std::optional<std::string> response_topic;
    std::optional<byte_vector> correlation_data;
    std::vector<user_property> user_properties;

    bool operator==(const forwarded_properties&) const = default;
    /// True when none is set (always for a 3.1.1 publisher).
    bool empty() const { return *this == forwarded_properties{}; }
    /// The forwarded ones among `all`.
    static forwarded_properties of(const properties& all);
    /// Sets them in `into`, leaving its other properties as they are.
    void copy_to(properties& into) const;
};

/// An application message as the router sees it.
struct message {
    /// The full topic name (a Topic Alias has already been resolved).
    std::string topic_name;
    /// The payload, shared with every delivery and never copied.
    shared_bytes payload;
    /// The QoS it was published with; each delivery is downgraded to the subscription's.
    qos qos_level = qos::at_most_once;
    /// The RETAIN flag as published.
    bool is_retained = false;
    /// Only the properties forwarded to subscribers. Message expiry lives in expiry_deadline
    /// instead; topic alias and subscription identifiers belong to one connection.
    forwarded_properties props;
    /// When the message expires, computed at arrival from message_expiry_interval [MQTT-3.3.2-5];
    /// empty when it never expires.
    std::optional<time_point> expiry_deadline;
    /// Opaque id of the connection that published it (0 for the server itself), for No Local
    /// [MQTT-3.8.3-3].
    std::uint64_t origin = 0;
};

/// How messages travel: one immutable message per publish, shared by every delivery.
using message_ptr = std::shared_ptr<const message>;

/// Builds the message an inbound PUBLISH carries. `topic_name` is the resolved topic (the packet's
/// own may be empty when a Topic Alias stood in for it). Only forwarded properties are kept.
message_ptr make_message(const publish& packet, std::string topic_name, std::uint64_t origin,
                         time_point now);

/// Builds the message a Will describes [MQTT-3.1.2-8]; `origin` is the connection it belonged to.
message_ptr make_will_message(const will_message& will, std::uint64_t origin, time_point now);

/// True when the message has an expiry deadline and `now` has reached it [MQTT-3.3.2-5].
bool is_expired(const message& m, time_point now);

/// The Message Expiry Interval to send with a delivery at `now`: the whole seconds left, rounded
/// up so that a message still alive never goes out with 0 [MQTT-3.3.2-6]; empty when the message
/// never expires.
std::optional<std::uint32_t> remaining_expiry_seconds(const message& m, time_point now);

} // namespace perch::mqtt
