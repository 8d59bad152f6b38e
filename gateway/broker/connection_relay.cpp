// Chat across gateways, on a connection (docs/BRIDGES.md "Chat across gateways"): the relay copy
// of each message stamped here, the relay copies a bridge with bridge_chat brings in, and the
// device counts relayed between gateways. The checks live in chat_relay; this file routes.
#include <charconv>
#include <span>

#include <boost/asio/post.hpp>

#include "gateway/broker/connection.hpp"
#include "gateway/broker/worker.hpp"
#include "gateway/chat/chat_topic.hpp"
#include "gateway/common/log.hpp"
#include "gateway/common/stored_message_codec.hpp"

namespace perch::gateway {
namespace {

std::uint64_t id_property(const mqtt::message& content) {
    for (const mqtt::user_property& property : content.props.user_properties) {
        if (property.name == "id") {
            std::uint64_t value = 0;
            std::from_chars(property.value.data(), property.value.data() + property.value.size(),
                            value);
            return value;
        }
    }
    return 0;
}

} // namespace

mqtt::message_ptr connection::relay_copy_of(const mqtt::message_ptr& stamped,
                                            std::string_view sender) {
    const chat_relay& relay = tables_.chat().relay();
    if (!relay.is_enabled()) {
        return nullptr;
    }
    const std::string conversation = conversation_of(parse_chat_topic(stamped->topic_name));
    return relay.offer(*stamped, conversation, id_property(*stamped), sender);
}

recorded_write_completion connection::relay_after_commit(recorded_write_completion written) {
    if (!tables_.chat().relay().is_enabled()) {
        return written;
    }
    return [written = std::move(written), self = shared_from_this(), context = &worker_.context()](
               const recorded_message& recorded, const store::store_status& status) {
        if (!status.is_ok()) {
            // No copy of a message whose row is not in history: its publisher was refused (QoS
            // 1/2) and sends it again, and a copy is never owed for what history lacks.
            if (written) {
                written(recorded, status);
            }
            return;
        }
        // The copy is routed first and `written` (the local acknowledgement) waits for the commit
        // of its queue entries: a bridge whose upstream is away keeps it in its session's queue,
        // and an acknowledged message's copy must survive a kill -9 as the message does.
        store::store_completion acknowledge = [written, recorded,
                                               status](const store::store_status&) {
            if (written) {
                written(recorded, status);
            }
        };
        boost::asio::post(*context, [self, content = recorded.content, acknowledge] {
            const mqtt::message_ptr copy = self->relay_copy_of(content, self->chat_user());
            session_persistence* persistence = self->tables_.persistence();
            if (!copy || persistence == nullptr) {
                if (copy) {
                    self->route(copy);
                }
                self->worker_.flush();
                acknowledge(store::store_status{});
                return;
            }
            // As route_will, with a completion: QoS 1 deliveries to persistent sessions are stored.
            durable_route routed_now = self->route_durable(copy, *persistence);
            if (routed_now.targets.empty()) {
                self->worker_.flush();
                acknowledge(store::store_status{});
                return;
            }
            const store::enqueue_receipt receipt = persistence->store().enqueue(
                routed_now.targets, to_stored_message(*copy, clock_now(), unix_now_ms()),
                acknowledge);
            std::span<delivery_batch> outbox = self->worker_.outbox();
            for (std::size_t index = 0; index < routed_now.durable.size(); ++index) {
                const auto [batch, position] = routed_now.durable[index];
                outbox[batch][position].store_sequence = receipt.sequences[index];
            }
            self->worker_.flush();
        });
    };
}

void connection::handle_relay_publish(const mqtt::route_publish& inbound, mqtt::time_point now) {
    chat_service& chat = tables_.chat();
    relay_outcome outcome =
        chat.relay().accept(inbound.content->topic_name, inbound.content->payload.view(),
                            chat.directory(), unix_now_ms());
    if (auto* dropped = std::get_if<relay_drop>(&outcome)) {
        worker_.counters().chat_relay_drops.add();
        log_event(log_level::warning, "dropping a relay copy from {} on '{}': {}", client_id(),
                  inbound.content->topic_name, dropped->reason);
        if (inbound.packet_id != 0) {
            // Acknowledged all the same: a refused copy must not hold up the bridge's queue.
            session_.complete_publish(inbound.packet_id, mqtt::reason_code::not_authorized, now);
        }
        return;
    }
    if (auto* presence = std::get_if<relayed_presence>(&outcome)) {
        route_presence_of(presence->changed_users);
        if (presence->asks_snapshot) {
            if (auto snapshot = chat.relay().presence_snapshot(chat.local_device_counts(), false)) {
                route_will(snapshot, now);
            }
        }
        if (inbound.packet_id != 0) {
            session_.complete_publish(inbound.packet_id, mqtt::reason_code::success, now);
        }
        return;
    }
    relayed_message& message = std::get<relayed_message>(outcome);
    worker_.counters().chat_relay_messages_in.add();
    // Not recorded again: the origin wrote it to the shared history. The counter learns the id.
    chat.learn_id(message.conversation, message.id);
    route_inbound({message.content, inbound.packet_id}, now);
}

void connection::relay_presence_of(std::string_view user, mqtt::time_point now) {
    chat_service& chat = tables_.chat();
    if (!chat.relay().is_enabled() || chat.directory().is_relay_peer(user)) {
        return;
    }
    if (auto copy = chat.relay().presence_update(user, chat.connected_device_count(user))) {
        route_will(copy, now);
    }
}

void connection::route_presence_of(const std::vector<std::string>& users) {
    chat_service& chat = tables_.chat();
    for (const std::string& user : users) {
        if (auto presence = chat.presence_now(user, unix_now_ms())) {
            route_presence(presence, user, !chat_service::says_online(*presence));
        }
    }
}

} // namespace perch::gateway
