// The index of persistent sessions and the reconciliation of their ledgers with the store.
#include "gateway/broker/session_persistence.hpp"

#include <algorithm>
#include <deque>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

#include "gateway/chat/chat_service.hpp"
#include "gateway/common/stored_message_codec.hpp"

namespace perch::gateway {

namespace {

std::uint8_t options_byte(const mqtt::subscription_options& options) {
    return static_cast<std::uint8_t>(static_cast<unsigned>(options.maximum_qos) |
                                     (options.is_no_local ? 0x04U : 0U) |
                                     (options.is_retain_as_published ? 0x08U : 0U) |
                                     (static_cast<unsigned>(options.retain_handling_mode) << 4));
}

mqtt::subscription_options options_from_byte(std::uint8_t value) {
    mqtt::subscription_options options;
    options.maximum_qos = static_cast<mqtt::qos>(value & 0x03U);
    options.is_no_local = (value & 0x04U) != 0;
    options.is_retain_as_published = (value & 0x08U) != 0;
    options.retain_handling_mode = static_cast<mqtt::retain_handling>((value >> 4) & 0x03U);
    return options;
}

store::delivery_state to_delivery_state(mqtt::outbound_stage stage) {
    switch (stage) {
    case mqtt::outbound_stage::awaiting_puback: return store::delivery_state::awaiting_puback;
    case mqtt::outbound_stage::awaiting_pubrec: return store::delivery_state::awaiting_pubrec;
    case mqtt::outbound_stage::awaiting_pubcomp: return store::delivery_state::awaiting_pubcomp;
    }
    return store::delivery_state::awaiting_puback;
}

mqtt::outbound_stage to_stage(store::delivery_state state) {
    switch (state) {
    case store::delivery_state::awaiting_pubrec: return mqtt::outbound_stage::awaiting_pubrec;
    case store::delivery_state::awaiting_pubcomp: return mqtt::outbound_stage::awaiting_pubcomp;
    default: return mqtt::outbound_stage::awaiting_puback;
    }
}

/// Where one message of the ledger stands in the session state.
struct held_copies {
    std::deque<const mqtt::outbound_delivery*> inflight;
    std::size_t queued = 0;
};

} // namespace

session_persistence::session_persistence(std::unique_ptr<store::message_store> store,
                                         std::chrono::milliseconds record_delay)
    : store_(std::move(store)),
      deferred_(std::make_unique<deferred_record_writer>(
          [this](store::stored_session record) { submit_record(std::move(record), {}); },
          record_delay)) {}

void session_persistence::save_record(store::stored_session record, store::store_completion done) {
    const std::string client_id = record.client_id;
    deferred_->erase_then(client_id, [&] { submit_record(std::move(record), std::move(done)); });
}

void session_persistence::defer_record(store::stored_session record, store::stored_session stored) {
    deferred_->defer(std::move(record), std::move(stored));
}

bool session_persistence::is_record_committed(const std::string& client_id) const {
    std::lock_guard lock(uncommitted_mutex_);
    return !uncommitted_records_.contains(client_id);
}

void session_persistence::submit_record(store::stored_session record,
                                        store::store_completion done) {
    std::string client_id = record.client_id;
    std::uint64_t number = 0;
    {
        std::lock_guard lock(uncommitted_mutex_);
        number = ++record_writes_;
        uncommitted_records_[client_id] = number;
    }
    store_->save_session(
        std::move(record), [this, client_id = std::move(client_id), number,
                            done = std::move(done)](const store::store_status& status) {
            if (status.is_ok()) {
                std::lock_guard lock(uncommitted_mutex_);
                const auto found = uncommitted_records_.find(client_id);
                if (found != uncommitted_records_.end() && found->second == number) {
                    uncommitted_records_.erase(found);
                }
            }
            if (done) {
                done(status);
            }
        });
}

std::optional<store::stored_session>
session_persistence::take_deferred_record(const std::string& client_id) {
    return deferred_->take(client_id);
}

void session_persistence::delete_session(const std::string& client_id) {
    deferred_->erase_then(client_id, [&] { store_->delete_session(client_id); });
}

std::shared_ptr<session_ledger> session_persistence::ledger_for(const std::string& client_id,
                                                                const std::string& owner) {
    std::unique_lock lock(mutex_);
    auto& slot = ledgers_[client_id];
    if (!slot) {
        slot = std::make_shared<session_ledger>();
        slot->client_id = client_id;
        slot->owner = owner;
    }
    return slot;
}

bool session_persistence::is_owned_by(const std::string& client_id, std::string_view owner) const {
    std::shared_lock lock(mutex_);
    const auto found = ledgers_.find(client_id);
    return found == ledgers_.end() || found->second->owner == owner;
}

bool session_persistence::has_ledger(const std::string& client_id) const {
    std::shared_lock lock(mutex_);
    return ledgers_.contains(client_id);
}

void session_persistence::forget(const std::string& client_id) {
    std::unique_lock lock(mutex_);
    ledgers_.erase(client_id);
}

void session_persistence::bind(mqtt::subscriber_id subscriber,
                               std::shared_ptr<session_ledger> ledger) {
    std::unique_lock lock(mutex_);
    bound_[subscriber] = std::move(ledger);
}

void session_persistence::unbind(mqtt::subscriber_id subscriber) {
    std::unique_lock lock(mutex_);
    bound_.erase(subscriber);
}

std::shared_ptr<session_ledger> session_persistence::find(mqtt::subscriber_id subscriber) const {
    std::shared_lock lock(mutex_);
    const auto found = bound_.find(subscriber);
    return found == bound_.end() ? nullptr : found->second;
}

void session_persistence::hold_connect_will(mqtt::subscriber_id connection,
                                            mqtt::will_message will) {
    std::unique_lock lock(mutex_);
    connect_wills_.insert_or_assign(connection, std::move(will));
}

std::optional<mqtt::will_message>
session_persistence::take_connect_will(mqtt::subscriber_id connection) {
    std::unique_lock lock(mutex_);
    const auto found = connect_wills_.find(connection);
    if (found == connect_wills_.end()) {
        return std::nullopt;
    }
    std::optional<mqtt::will_message> will = std::move(found->second);
    connect_wills_.erase(found);
    return will;
}

stored_arrival classify_arrival(session_ledger& ledger, std::uint64_t sequence) {
    if (!ledger.spill) {
        return stored_arrival::deliver; // never overflowed
    }
    spill_state& spill = *ledger.spill;
    if (sequence > spill.covered_from && sequence <= spill.read_through) {
        return stored_arrival::already_read;
    }
    if (!spill.is_active) {
        return stored_arrival::deliver;
    }
    if (sequence <= spill.covered_from) {
        // Enqueued before the first entry this episode left in the store, and delivered late
        // (another publisher's worker): read from it. Entries between it and read_through come
        // back again and are skipped as held or acked.
        spill.covered_from = sequence - 1;
        spill.read_through = sequence - 1;
    }
    spill.highest_left = std::max(spill.highest_left, sequence);
    spill.full_at_change_count = unreconciled;
    return stored_arrival::left_in_store;
}

void begin_spill(session_ledger& ledger, std::uint64_t sequence) {
    if (!ledger.spill) {
        ledger.spill = std::make_unique<spill_state>();
    }
    spill_state& spill = *ledger.spill;
    spill.is_active = true;
    spill.covered_from = sequence - 1;
    spill.read_through = sequence - 1;
    spill.highest_left = sequence;
    spill.full_at_change_count = unreconciled;
}

void rebind_spill(session_ledger& ledger) {
    if (!ledger.spill) {
        return;
    }
    spill_state& spill = *ledger.spill;
    spill.is_reading = false;
    spill.acked_while_reading.clear();
    spill.full_at_change_count = unreconciled;
}

bool wants_spill_read(const session_ledger& ledger, const mqtt::session_state& state,
                      const mqtt::session_limits& limits) {
    if (!ledger.spill) {
        return false;
    }
    const spill_state& spill = *ledger.spill;
    if (!spill.is_active || spill.is_reading || spill.full_at_change_count == state.change_count) {
        return false;
    }
    // Room for a whole batch (a session that queues nothing takes one once its queue is empty),
    // and at most half the byte bound used.
    const std::size_t max_messages = std::max(limits.max_queued_messages, spill_read_batch);
    return state.queued.size() + spill_read_batch <= max_messages &&
           state.queued_bytes <= limits.max_queued_bytes / 2;
}

void start_spill_read(session_ledger& ledger) {
    spill_state& spill = *ledger.spill;
    spill.is_reading = true;
    spill.read_from = spill.read_through;
    spill.highest_left_at_read = spill.highest_left;
    spill.acked_while_reading.clear();
}

void accept_spill_read(session_ledger& ledger, std::vector<store::loaded_queue_entry> entries,
                       std::size_t requested, mqtt::session& session, const access_policy& reader,
                       store::message_store& store, mqtt::time_point now,
                       std::uint64_t now_unix_ms) {
    spill_state& spill = *ledger.spill;
    spill.is_reading = false;
    if (spill.read_through != spill.read_from) {
        // read_through moved back while the read was on its way (a late delivery): the read
        // starts again from there.
        spill.acked_while_reading.clear();
        return;
    }
    // Entries above read_through the session holds already: delivered before the overflow
    // (out of sequence order) or acked while this read was on its way.
    std::unordered_set<std::uint64_t> held(spill.acked_while_reading.begin(),
                                           spill.acked_while_reading.end());
    spill.acked_while_reading.clear();
    for (const tracked_entry& entry : ledger.tracked) {
        if (entry.sequence > spill.read_through) {
            held.insert(entry.sequence);
        }
    }
    for (const store::loaded_queue_entry& loaded : entries) {
        const store::queue_entry& entry = loaded.entry;
        if (held.contains(entry.sequence)) {
            spill.read_through = entry.sequence;
            continue;
        }
        std::optional<mqtt::message_ptr> content;
        if (reader.may_receive(loaded.message->topic, ledger.client_id)) {
            content = to_routed_message(*loaded.message, now, now_unix_ms);
        }
        if (!content) {
            // Forbidden to this reader now, expired, or not decodable: nothing is owed.
            ack_entry(ledger, store, entry.sequence);
            spill.read_through = entry.sequence;
            continue;
        }
        mqtt::delivery_options options;
        options.granted_qos = static_cast<mqtt::qos>(entry.qos);
        options.is_retain_as_published = entry.is_retained;
        options.subscription_ids = entry.subscription_ids;
        const mqtt::delivery_outcome outcome = session.handle_delivery(*content, options, now);
        if (outcome == mqtt::delivery_outcome::queue_full) {
            spill.full_at_change_count = session.state().change_count;
            return;
        }
        if (outcome == mqtt::delivery_outcome::sent || outcome == mqtt::delivery_outcome::queued) {
            ledger.tracked.push_back(
                {std::move(*content), entry.sequence, 0, store::delivery_state::queued});
            if (outcome == mqtt::delivery_outcome::sent) {
                note_sent_at_once(ledger);
            }
        } else {
            ack_entry(ledger, store, entry.sequence);
        }
        spill.read_through = entry.sequence;
    }
    if (entries.size() < requested && spill.highest_left <= spill.highest_left_at_read) {
        // The store had nothing more, and nothing was left in it since the read was asked for.
        spill.is_active = false;
    }
}

void ack_entry(session_ledger& ledger, store::message_store& store, std::uint64_t sequence) {
    if (ledger.spill && ledger.spill->is_reading) {
        ledger.spill->acked_while_reading.push_back(sequence);
    }
    store.ack(ledger.client_id, sequence);
}

namespace {

/// Settles `entry`, which the session still holds in flight as `sent`: a stage or packet
/// identifier that moved is written (a history-backed entry has no store row to write).
void follow_in_flight(session_ledger& ledger, tracked_entry& entry,
                      const mqtt::outbound_delivery& sent, store::message_store& store) {
    const store::delivery_state now_state = to_delivery_state(sent.stage);
    if (now_state == entry.state && sent.packet_id == entry.packet_id) {
        return;
    }
    entry.state = now_state;
    entry.packet_id = sent.packet_id;
    if (entry.history_id == 0) {
        store.mark_sent(ledger.client_id, entry.sequence, entry.packet_id, entry.state);
    }
}

/// Settles `entry`, which the session no longer holds (acknowledged, expired or dropped): nothing
/// is owed for it any more.
void let_go(session_ledger& ledger, const tracked_entry& entry, store::message_store& store) {
    if (entry.history_id == 0) {
        ack_entry(ledger, store, entry.sequence);
    } else if (ledger.chat) {
        mark_done(position_of(*ledger.chat, entry.conversation), entry.history_id);
    }
}

/// The full comparison: every tracked entry against every delivery the session holds.
void reconcile_in_full(session_ledger& ledger, const mqtt::session_state& state,
                       store::message_store& store) {
    std::unordered_map<const mqtt::message*, held_copies> held;
    for (const mqtt::outbound_delivery& sent : state.inflight.entries()) {
        held[sent.content.get()].inflight.push_back(&sent);
    }
    for (const mqtt::queued_delivery& waiting : state.queued) {
        ++held[waiting.content.get()].queued;
    }
    mqtt::lazy_deque<tracked_entry> kept;
    for (tracked_entry& entry : ledger.tracked) {
        const auto found = held.find(entry.content.get());
        if (found != held.end() && !found->second.inflight.empty()) {
            follow_in_flight(ledger, entry, *found->second.inflight.front(), store);
            found->second.inflight.pop_front();
            kept.push_back(std::move(entry));
        } else if (found != held.end() && found->second.queued > 0) {
            --found->second.queued;
            kept.push_back(std::move(entry));
        } else {
            let_go(ledger, entry, store);
        }
    }
    ledger.tracked = std::move(kept);
}

/// What the comparison from the oldest entries decided for one of them.
struct front_step {
    /// The in-flight delivery the entry is now; null when the session let it go.
    const mqtt::outbound_delivery* sent = nullptr;
};

/// The comparison from the oldest entries, in time of the session's in-flight window rather than
/// its whole queue. A session sends from the front of its queue, so the tracked entries are, in
/// order: those once or still in flight, then those still queued; only the first part can have
/// changed since the last comparison. This walks it and stops at the first entry still waiting at
/// the front of the session's queue. False, with nothing changed, when the two do not line up so
/// (a delivery dropped from the middle of the queue, one sent and gone between two comparisons, an
/// untracked delivery in front): the full comparison settles those.
bool reconcile_from_front(session_ledger& ledger, const mqtt::session_state& state,
                          store::message_store& store) {
    std::unordered_map<const mqtt::message*, std::deque<const mqtt::outbound_delivery*>> in_flight;
    for (const mqtt::outbound_delivery& sent : state.inflight.entries()) {
        in_flight[sent.content.get()].push_back(&sent);
    }
    std::size_t unmatched = state.inflight.entries().size();
    std::vector<front_step> steps;
    bool is_stopped = false;
    for (const tracked_entry& entry : ledger.tracked) {
        const auto found = in_flight.find(entry.content.get());
        if (found != in_flight.end() && !found->second.empty()) {
            steps.push_back({found->second.front()});
            found->second.pop_front();
            --unmatched;
        } else if (entry.state != store::delivery_state::queued) {
            steps.push_back({nullptr}); // was in flight, and the session is done with it
        } else if (!state.queued.empty() && state.queued.front().content == entry.content) {
            is_stopped = true; // still waiting, and so is every newer entry
            break;
        } else {
            return false;
        }
    }
    if (is_stopped &&
        (unmatched != 0 || ledger.tracked.size() - steps.size() != state.queued.size())) {
        // Something newer than a waiting entry is in flight, or the queue lost an entry from its
        // middle (expired, dropped) or holds one untracked: not in queue order.
        return false;
    }
    // The entries let go are near the front, where a deque erases cheaply.
    auto position = ledger.tracked.begin();
    for (const front_step& step : steps) {
        if (step.sent != nullptr) {
            follow_in_flight(ledger, *position, *step.sent, store);
            ++position;
        } else {
            let_go(ledger, *position, store);
            position = ledger.tracked.erase(position);
        }
    }
    return true;
}

} // namespace

void reconcile_ledger(session_ledger& ledger, const mqtt::session_state& state,
                      store::message_store& store) {
    // Entries appended since the last comparison were recorded as queued when the session queued
    // them; only a departure or a stage change (change_count) can make one stale. After a rebind
    // the session state may be another one altogether: compared in full.
    if (!ledger.tracked.empty() && ledger.reconciled_change_count != state.change_count) {
        const bool is_rebound = ledger.reconciled_change_count == unreconciled;
        ledger.reconciled_change_count = state.change_count;
        if (is_rebound || !reconcile_from_front(ledger, state, store)) {
            reconcile_in_full(ledger, state, store);
        }
    }
    if (!ledger.inbound_qos2.empty()) {
        packet_id_set still_held;
        for (const mqtt::inbound_qos2& record : state.inbound_qos2_received) {
            if (ledger.inbound_qos2.contains(record.packet_id)) {
                still_held.insert(record.packet_id);
            }
        }
        for (const std::uint16_t packet_id : ledger.inbound_qos2) {
            if (!still_held.contains(packet_id)) {
                store.remove_inbound_qos2({ledger.client_id, packet_id});
            }
        }
        ledger.inbound_qos2 = std::move(still_held);
    }
}

namespace {

/// True for a filter `chat/presence/{peer}` with the options the gateway gave the presence
/// filters it held for every peer of a chat user before it delivered presence itself
/// (docs/CHAT.md "Presence"); such filters are dropped when the session is restored.
bool is_former_presence_filter(const store::stored_subscription& held) {
    constexpr std::string_view prefix = "chat/presence/";
    if (!held.topic_filter.starts_with(prefix) || held.subscription_id != 0) {
        return false;
    }
    const std::string_view peer = std::string_view(held.topic_filter).substr(prefix.size());
    if (peer.empty() || peer.find_first_of("/+#") != std::string_view::npos) {
        return false;
    }
    return held.options == stored_options_byte(chat_service::presence_subscription(peer).options);
}

/// True for one of the filters chat/dm/{owner}/+, chat/dm/+/{owner}, chat/signal/dm/{owner}/+,
/// chat/signal/dm/+/{owner} with the options the gateway gave them (QoS capped at the server's
/// maximum) when every session of a chat user held them, before the chat layer delivered direct
/// messages itself (docs/CHAT.md "Server-side subscriptions"); such filters are dropped when the
/// session is restored. A client's own filter of that exact form goes too: the chat layer
/// delivers it the same messages.
/// True when `held` is `former` as the gateway stored it: the same filter and options, its QoS
/// at most former's (capped at the server's maximum then), no Subscription Identifier.
bool is_held_as_former(const store::stored_subscription& held, const server_subscription& former) {
    if (held.subscription_id != 0 || held.topic_filter != former.topic_filter) {
        return false;
    }
    const mqtt::subscription_options options = options_from_byte(held.options);
    mqtt::subscription_options capped = former.options;
    capped.maximum_qos = options.maximum_qos;
    return options == capped && static_cast<std::uint8_t>(options.maximum_qos) <=
                                    static_cast<std::uint8_t>(former.options.maximum_qos);
}

bool is_former_direct_filter(const store::stored_subscription& held, std::string_view owner) {
    const std::vector<server_subscription> formers = chat_service::direct_subscriptions(owner);
    return std::ranges::any_of(formers, [&held](const server_subscription& former) {
        return is_held_as_former(held, former);
    });
}

/// True for the filter chat/ctl/{owner}/resp/# with the options the gateway gave it (QoS capped at
/// the server's maximum, no Subscription Identifier) when every session of a chat user held it,
/// before the chat layer delivered control replies itself (docs/CHAT.md "Server-side
/// subscriptions"); dropped when the session is restored, as is a client's own filter of that
/// exact form (the chat layer delivers it the same messages).
bool is_former_control_filter(const store::stored_subscription& held, std::string_view owner) {
    return is_held_as_former(held, chat_service::control_subscription(owner));
}

} // namespace

mqtt::session_state restore_session_state(const store::loaded_session& loaded,
                                          session_ledger& ledger, store::message_store& store,
                                          const access_policy& reader,
                                          const mqtt::session_limits& limits, mqtt::time_point now,
                                          std::uint64_t now_unix_ms) {
    mqtt::session_state state;
    state.client_id = loaded.session.client_id;
    state.version = loaded.session.protocol_level == 5 ? mqtt::protocol_version::v5
                                                       : mqtt::protocol_version::v3_1_1;
    state.session_expiry_interval = loaded.session.session_expiry_interval_s;
    for (const store::stored_subscription& held : loaded.subscriptions) {
        if (!reader.may_subscribe(held.topic_filter, ledger.client_id) ||
            (!ledger.owner.empty() &&
             (is_former_presence_filter(held) || is_former_direct_filter(held, ledger.owner) ||
              is_former_control_filter(held, ledger.owner)))) {
            store.remove_subscription(ledger.client_id, held.topic_filter);
            continue;
        }
        mqtt::subscription entry;
        entry.options = options_from_byte(held.options);
        entry.subscription_id = held.subscription_id;
        state.subscriptions.emplace(held.topic_filter, entry);
    }
    std::unordered_map<std::uint64_t, mqtt::message_ptr> messages;
    for (const store::loaded_queue_entry& loaded_entry : loaded.queue) {
        const store::queue_entry& entry = loaded_entry.entry;
        if (!reader.may_receive(loaded_entry.message->topic, ledger.client_id)) {
            store.ack(ledger.client_id, entry.sequence);
            continue;
        }
        const bool is_in_flight =
            entry.state != store::delivery_state::queued && entry.packet_id != 0;
        const bool is_spilling = ledger.spill && ledger.spill->is_active;
        if (!is_in_flight && (is_spilling || state.queued.size() >= limits.max_queued_messages ||
                              state.queued_bytes + loaded_entry.message->payload.size() +
                                      loaded_entry.message->topic.size() >
                                  limits.max_queued_bytes)) {
            // Past the session's queue bounds: read back from the store as it makes room.
            if (!is_spilling) {
                begin_spill(ledger, entry.sequence);
            }
            ledger.spill->highest_left = entry.sequence;
            continue;
        }
        mqtt::message_ptr& content = messages[entry.message_id];
        if (!content) {
            auto rebuilt = to_routed_message(*loaded_entry.message, now, now_unix_ms);
            if (!rebuilt) {
                store.ack(ledger.client_id, entry.sequence);
                continue;
            }
            content = std::move(*rebuilt);
        }
        const auto qos_level = static_cast<mqtt::qos>(entry.qos);
        if (is_in_flight && !state.inflight.contains(entry.packet_id)) {
            mqtt::outbound_delivery sent;
            sent.packet_id = entry.packet_id;
            sent.stage = to_stage(entry.state);
            sent.qos_level = qos_level;
            sent.is_retained = entry.is_retained;
            sent.content = content;
            sent.subscription_ids = entry.subscription_ids;
            state.inflight.push(std::move(sent));
            ledger.tracked.push_back({content, entry.sequence, entry.packet_id, entry.state});
            continue;
        }
        mqtt::queued_delivery waiting;
        waiting.content = content;
        waiting.qos_level = qos_level;
        waiting.is_retained = entry.is_retained;
        waiting.subscription_ids = entry.subscription_ids;
        state.queued_bytes += content->payload.size() + content->topic_name.size();
        state.queued.push_back(std::move(waiting));
        ledger.tracked.push_back({content, entry.sequence, 0, store::delivery_state::queued});
    }
    state.inflight.set_next_packet_id(loaded.session.next_packet_id);
    for (const std::uint16_t packet_id : loaded.inbound_qos2_packet_ids) {
        state.inbound_qos2_received.push_back({packet_id, true});
        ledger.inbound_qos2.insert(packet_id);
    }
    return state;
}

store::stored_session to_stored_session(const mqtt::session_state& state,
                                        std::uint64_t expires_at_unix_ms) {
    store::stored_session stored;
    stored.client_id = state.client_id;
    stored.protocol_level = state.version == mqtt::protocol_version::v5 ? 5 : 4;
    stored.session_expiry_interval_s = state.session_expiry_interval;
    stored.expires_at_unix_ms = expires_at_unix_ms;
    stored.next_packet_id = state.inflight.next_packet_id();
    return stored;
}

bool packet_id_set::contains(std::uint16_t packet_id) const {
    return std::find(ids_.begin(), ids_.end(), packet_id) != ids_.end();
}

void packet_id_set::insert(std::uint16_t packet_id) {
    if (!contains(packet_id)) {
        ids_.push_back(packet_id);
    }
}

void keep_record(session_ledger& ledger, const store::stored_session& stored) {
    session_record& kept = ledger.record.emplace();
    kept.expires_at_unix_ms = stored.expires_at_unix_ms;
    kept.disconnected_at_unix_ms = stored.disconnected_at_unix_ms;
    kept.session_expiry_interval_s = stored.session_expiry_interval_s;
    kept.next_packet_id = stored.next_packet_id;
    kept.protocol_level = stored.protocol_level;
    if (stored.will) {
        kept.will = std::make_unique<store::stored_will>(*stored.will);
    }
}

store::stored_session full_record(const session_ledger& ledger) {
    const session_record& kept = *ledger.record;
    store::stored_session stored;
    stored.client_id = ledger.client_id;
    stored.owner = ledger.owner;
    stored.expires_at_unix_ms = kept.expires_at_unix_ms;
    stored.disconnected_at_unix_ms = kept.disconnected_at_unix_ms;
    stored.session_expiry_interval_s = kept.session_expiry_interval_s;
    stored.next_packet_id = kept.next_packet_id;
    stored.protocol_level = kept.protocol_level;
    if (kept.will) {
        stored.will = *kept.will;
    }
    return stored;
}

store::stored_session connected_session_record(session_ledger& ledger,
                                               const mqtt::session_state& state,
                                               const std::optional<mqtt::will_message>& will) {
    store::stored_session record = to_stored_session(state, 0);
    record.client_id = ledger.client_id;
    record.owner = ledger.owner;
    if (will) {
        record.will = to_stored_will(*will);
    }
    keep_record(ledger, record);
    return record;
}

store::stored_session current_session_record(session_ledger& ledger,
                                             const mqtt::session_state& state) {
    if (!ledger.record) {
        keep_record(ledger, to_stored_session(state, 0));
    }
    ledger.record->next_packet_id = state.inflight.next_packet_id();
    return full_record(ledger);
}

void save_subscriptions(session_ledger& ledger, const mqtt::session_state& state,
                        std::vector<store::stored_subscription> subscriptions,
                        store::message_store& store, store::store_completion done) {
    for (store::stored_subscription& held : subscriptions) {
        store.add_subscription(std::move(held));
    }
    store.save_session(current_session_record(ledger, state), std::move(done));
}

void remove_subscriptions(session_ledger& ledger, const mqtt::session_state& state,
                          std::span<const std::string> topic_filters, store::message_store& store,
                          store::store_completion done) {
    for (const std::string& topic_filter : topic_filters) {
        store.remove_subscription(ledger.client_id, topic_filter);
    }
    store.save_session(current_session_record(ledger, state), std::move(done));
}

bool restores_alike(const store::stored_session& first, const store::stored_session& second) {
    const auto is_connected = [](const store::stored_session& record) {
        return record.disconnected_at_unix_ms == 0 && record.expires_at_unix_ms == 0 &&
               !record.will;
    };
    return is_connected(first) && is_connected(second) && first.client_id == second.client_id &&
           first.owner == second.owner && first.protocol_level == second.protocol_level &&
           first.session_expiry_interval_s == second.session_expiry_interval_s;
}

void sync_session_record(session_ledger& ledger, const mqtt::session& session,
                         session_persistence& persistence, std::uint64_t now_unix_ms) {
    if (!ledger.record || session.phase() == mqtt::session_phase::closed) {
        return;
    }
    session_record& record = *ledger.record;
    const bool was_connected = record.disconnected_at_unix_ms == 0 && !record.will;
    std::optional<store::stored_session> stored;
    bool is_changed = false;
    if (session.phase() == mqtt::session_phase::disconnected &&
        record.disconnected_at_unix_ms == 0) {
        if (was_connected) {
            stored = full_record(ledger);
        }
        record.disconnected_at_unix_ms = now_unix_ms;
        const std::uint32_t interval = session.session_expiry_interval();
        record.session_expiry_interval_s = interval;
        record.expires_at_unix_ms =
            interval == never_expires ? 0 : now_unix_ms + std::uint64_t{interval} * 1000;
        is_changed = true;
    }
    if (record.will && !session.has_will()) {
        record.will.reset();
        is_changed = true;
    }
    if (!is_changed) {
        return;
    }
    record.next_packet_id = session.state().inflight.next_packet_id();
    if (stored) {
        // docs/DURABILITY.md "What is written when": the end of a session without a will waits;
        // a crash meanwhile counts the session from the restart, as a connected one.
        persistence.defer_record(full_record(ledger), std::move(*stored));
        return;
    }
    persistence.save_record(full_record(ledger));
}

offline_timing offline_timing_at(const store::stored_session& session, std::uint64_t now_unix_ms) {
    const auto seconds_left = [now_unix_ms](std::uint64_t deadline_unix_ms) {
        if (deadline_unix_ms <= now_unix_ms) {
            return std::uint64_t{0};
        }
        return (deadline_unix_ms - now_unix_ms + 999) / 1000;
    };
    offline_timing timing;
    const std::uint32_t interval = session.session_expiry_interval_s;
    const bool has_disconnected = session.disconnected_at_unix_ms != 0;
    if (interval == never_expires) {
        timing.session_left_s = never_expires;
    } else if (session.expires_at_unix_ms != 0) {
        timing.session_left_s = static_cast<std::uint32_t>(
            std::min<std::uint64_t>(seconds_left(session.expires_at_unix_ms), interval));
    } else {
        timing.session_left_s = interval;
    }
    if (session.will) {
        const std::uint32_t delay = session.will->will_delay_interval_s;
        timing.will_delay_left_s =
            has_disconnected
                ? static_cast<std::uint32_t>(std::min<std::uint64_t>(
                      seconds_left(session.disconnected_at_unix_ms + std::uint64_t{delay} * 1000),
                      delay))
                : delay;
    }
    return timing;
}

/// The options byte a stored subscription keeps.
std::uint8_t stored_options_byte(const mqtt::subscription_options& options) {
    return options_byte(options);
}

} // namespace perch::gateway
