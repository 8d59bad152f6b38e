// Direct messages, DM signals and control replies on a connection (docs/CHAT.md "Server-side
// subscriptions"): the chat layer delivers them to the connected devices of their users instead
// of filters each session would hold, and a persistent session catches up on its direct
// conversations from history. Who the devices are lives in chat_service; this file adds the
// deliveries.
#include <algorithm>
#include <cstdint>

#include "gateway/broker/connection.hpp"
#include "gateway/broker/worker.hpp"
#include "gateway/chat/chat_topic.hpp"

namespace perch::gateway {

std::size_t connection::route_direct(const mqtt::message_ptr& content,
                                     std::span<const std::size_t> routed_from) {
    const chat_topic topic = parse_chat_topic(content->topic_name);
    const bool is_reply = topic.kind == chat_topic_kind::control_response;
    const bool is_message = topic.kind == chat_topic_kind::direct_message;
    if (!is_reply && !is_message && topic.kind != chat_topic_kind::direct_signal) {
        return 0;
    }
    std::vector<mqtt::subscriber_id> devices;
    if (is_reply) {
        // A control reply or notice: every connected device of its user, as the filter
        // chat/ctl/{user}/resp/# (QoS 1, no No Local) did when every session held it.
        tables_.chat().direct_devices(topic.user, topic.user, devices);
    } else {
        tables_.chat().direct_devices(topic.to, topic.sender, devices);
    }
    // What the filters chat/dm/{user}/+ and chat/dm/+/{user} granted when sessions held them.
    const mqtt::qos granted = within_maximum_qos(is_message || is_reply ? mqtt::qos::at_least_once
                                                                        : mqtt::qos::at_most_once);
    const std::span<delivery_batch> outbox = worker_.outbox();
    std::size_t added = 0;
    for (const mqtt::subscriber_id device : devices) {
        if (device == content->origin && !is_reply) {
            continue; // No Local: the publishing device gets no echo from the chat layer
        }
        const std::size_t worker_index = worker_of(device);
        delivery_batch& batch = outbox[worker_index];
        const auto routed = batch.begin() + static_cast<std::ptrdiff_t>(routed_from[worker_index]);
        const auto held = std::find_if(routed, batch.end(), [device](const delivery& made) {
            return made.subscriber == device;
        });
        if (held != batch.end()) {
            // One of the session's own subscriptions matched: one copy, at the higher QoS, with
            // that subscription's identifiers.
            if (static_cast<std::uint8_t>(granted) > static_cast<std::uint8_t>(held->granted_qos)) {
                held->granted_qos = granted;
            }
            continue;
        }
        delivery& target = batch.emplace_back();
        target.subscriber = device;
        target.content = content;
        target.granted_qos = granted;
        ++added;
    }
    return added;
}

void connection::catch_up_direct_conversations() {
    if (!ledger_ || !ledger_->chat) {
        return;
    }
    // The cursors were set up before this device was counted (start_chat_cursors): a direct
    // message stamped in between reached no device of the session (with a takeover, not the
    // previous connection's either). Rooms need nothing: their filters moved with the session.
    const chat_service& chat = tables_.chat();
    for (const std::string& conversation : chat.conversations_of(chat_user())) {
        if (!conversation.starts_with("dm/")) {
            continue;
        }
        conversation_position& position = position_of(*ledger_->chat, conversation);
        if (chat.last_id(conversation) > position.seen_through) {
            position.is_behind = true;
        }
    }
}

} // namespace perch::gateway
