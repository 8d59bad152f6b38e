// One write a store has accepted and not yet made durable, as a value. Backends apply these in
// order; the operation queue coalesces them before they are written.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "store/records.hpp"

namespace perch::store {

struct save_session_operation {
    stored_session session;
};

struct delete_session_operation {
    std::string client_id;
};

struct add_subscription_operation {
    stored_subscription subscription;
};

struct remove_subscription_operation {
    std::string client_id;
    std::string topic_filter;
};

/// One message for several queues. An entry whose sequence is 0 was acknowledged before it was
/// written and must be skipped; the message is written only when some entry remains.
struct enqueue_operation {
    std::shared_ptr<const stored_message> message;
    std::vector<queue_entry> entries;
};

struct mark_sent_operation {
    std::string client_id;
    std::uint64_t sequence = 0;
    std::uint16_t packet_id = 0;
    delivery_state state = delivery_state::queued;
};

struct ack_operation {
    std::string client_id;
    std::uint64_t sequence = 0;
};

struct put_retained_operation {
    stored_message message;
};

struct clear_retained_operation {
    std::string topic;
};

struct add_inbound_qos2_operation {
    stored_inbound_qos2 record;
};

struct remove_inbound_qos2_operation {
    stored_inbound_qos2 record;
};

struct expire_messages_operation {
    std::uint64_t now_unix_ms = 0;
};

/// Writes nothing: carries the completion of an operation that was folded into an earlier one.
struct no_operation {};

/// Any store write.
using store_operation =
    std::variant<save_session_operation, delete_session_operation, add_subscription_operation,
                 remove_subscription_operation, enqueue_operation, mark_sent_operation,
                 ack_operation, put_retained_operation, clear_retained_operation,
                 add_inbound_qos2_operation, remove_inbound_qos2_operation,
                 expire_messages_operation, no_operation>;

} // namespace perch::store
