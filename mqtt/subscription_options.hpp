// The options a client attaches to each topic filter in SUBSCRIBE (MQTT 5.0 3.8.3.1; in 3.1.1
// only the maximum QoS exists). Pure values.
#pragma once

#include <cstdint>

namespace perch::mqtt {

/// Quality of service levels (MQTT 4.3).
enum class qos : std::uint8_t {
    at_most_once = 0,
    at_least_once = 1,
    exactly_once = 2,
};

/// Retain Handling (MQTT 5.0 3.8.3.1): when retained messages are sent at subscribe time.
enum class retain_handling : std::uint8_t {
    send_at_subscribe = 0,
    send_at_subscribe_if_new = 1,
    do_not_send = 2,
};

/// Subscription options byte of one SUBSCRIBE entry.
struct subscription_options {
    qos maximum_qos = qos::at_most_once;
    /// [MQTT-3.8.3-3] messages are not forwarded to the connection that published them.
    bool is_no_local = false;
    /// [MQTT-3.3.1-12/13] keep the RETAIN flag of forwarded messages as published.
    bool is_retain_as_published = false;
    retain_handling retain_handling_mode = retain_handling::send_at_subscribe;

    bool operator==(const subscription_options&) const = default;
};

} // namespace perch::mqtt
