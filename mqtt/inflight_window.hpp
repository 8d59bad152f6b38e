// Outbound QoS 1 and QoS 2 messages the server has sent and the client has not finished
// acknowledging, in send order, and the packet identifiers they hold. Pure data: no I/O, no clock.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "mqtt/lazy_deque.hpp"
#include "mqtt/message.hpp"
#include "mqtt/subscription_options.hpp"

namespace perch::mqtt {

/// Where an outbound QoS > 0 delivery stands (MQTT 4.3.2, 4.3.3).
enum class outbound_stage : std::uint8_t {
    /// QoS 1 PUBLISH sent, PUBACK not yet received.
    awaiting_puback,
    /// QoS 2 PUBLISH sent, PUBREC not yet received.
    awaiting_pubrec,
    /// QoS 2 PUBREL sent, PUBCOMP not yet received.
    awaiting_pubcomp,
};

/// One delivery in flight to the client.
struct outbound_delivery {
    std::uint16_t packet_id = 0;
    outbound_stage stage = outbound_stage::awaiting_puback;
    /// The QoS of this delivery (already downgraded to the granted QoS).
    qos qos_level = qos::at_least_once;
    /// The RETAIN flag this delivery carries.
    bool is_retained = false;
    message_ptr content;
    /// Subscription Identifiers of the matching subscriptions (5.0) [MQTT-3.3.4-3].
    std::vector<std::uint32_t> subscription_ids;
};

/// The in-flight deliveries of one session in the order their PUBLISH was first sent, and the
/// allocator of their packet identifiers. Identifiers are handed out in increasing order (wrapping
/// from 65535 to 1, never 0) and never reused while in flight [MQTT-2.2.1-3 (3.1.1),
/// MQTT-2.2.1-3 (5.0)]. Acknowledgements usually arrive in order, so lookups start at the oldest.
class inflight_window {
public:
    /// Number of deliveries in flight (each counts against the client's Receive Maximum until its
    /// PUBACK, its PUBCOMP or a PUBREC with a failure reason arrives [MQTT-3.3.4-7 (5.0)]).
    std::size_t size() const { return entries_.size(); }
    /// True when nothing is in flight.
    bool empty() const { return entries_.empty(); }

    /// Returns a packet identifier that no in-flight delivery holds. The window must hold fewer
    /// than 65535 entries (checked by assert). Does not reserve it: push() does.
    std::uint16_t allocate_packet_id();

    /// True when an in-flight delivery holds `packet_id`.
    bool contains(std::uint16_t packet_id) const;

    /// Appends a delivery as the newest. Its packet_id must come from allocate_packet_id() or a
    /// restored session and must not be in flight (checked by assert).
    void push(outbound_delivery delivery);

    /// The in-flight delivery holding `packet_id`, or nullptr. The pointer is valid until the
    /// next push or remove.
    outbound_delivery* find(std::uint16_t packet_id);

    /// Removes the delivery holding `packet_id`; returns false when none does.
    bool remove(std::uint16_t packet_id);

    /// Removes every delivery.
    void clear() {
        entries_.clear();
        is_ordered_ = true;
    }

    /// Deliveries oldest first, for retransmission on session resumption [MQTT-4.4.0-1].
    const lazy_deque<outbound_delivery>& entries() const { return entries_; }

    /// The identifier allocate_packet_id() tries next (kept with the session state).
    std::uint16_t next_packet_id() const { return next_packet_id_; }
    /// Sets the identifier allocate_packet_id() tries next; 0 is read as 1.
    void set_next_packet_id(std::uint16_t packet_id);

private:
    lazy_deque<outbound_delivery> entries_;
    std::uint16_t next_packet_id_ = 1;
    /// True while identifiers increase (modulo wrap) from the oldest entry to the newest, which
    /// lets contains() answer for most identifiers without a scan.
    bool is_ordered_ = true;
};

} // namespace perch::mqtt
