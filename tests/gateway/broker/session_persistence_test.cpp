// Tests of reconcile_ledger: the store follows a persistent session's deliveries (sent, stage
// changed, acknowledged), and a session that only gained queued deliveries costs no comparison.
#include <algorithm>
#include <iterator>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "gateway/broker/session_persistence.hpp"
#include "gateway/common/stored_message_codec.hpp"
#include "mqtt/message.hpp"

#include "tests/mqtt/session_script.hpp"

namespace perch::gateway {
namespace {

/// A store that records the calls reconcile_ledger makes and nothing else.
class recording_store final : public store::message_store {
public:
    struct sent_call {
        std::uint64_t sequence;
        std::uint16_t packet_id;
        store::delivery_state state;
    };
    std::vector<sent_call> sent;
    std::vector<std::uint64_t> acked;
    std::vector<std::string> removed_filters;
    /// What read_queue() returns (less what was acked), in sequence order.
    std::vector<store::loaded_queue_entry> queue;
    /// When set, read_queue() answers only when the test calls held_reads.
    bool is_holding_reads = false;
    std::vector<std::function<void()>> held_reads;

    store::loaded_state load(std::uint64_t) override { return {}; }
    void save_session(store::stored_session, store::store_completion) override {}
    void delete_session(std::string, store::store_completion) override {}
    void add_subscription(store::stored_subscription, store::store_completion) override {}
    void remove_subscription(std::string, std::string topic_filter,
                             store::store_completion) override {
        removed_filters.push_back(std::move(topic_filter));
    }
    store::enqueue_receipt enqueue(const std::vector<store::queue_target>&, store::stored_message,
                                   store::store_completion) override {
        return {};
    }
    void read_queue(std::string, std::uint64_t after_sequence, std::size_t max_count,
                    store::queue_read_completion done) override {
        std::vector<store::loaded_queue_entry> found;
        for (const auto& held : queue) {
            const bool is_acked =
                std::find(acked.begin(), acked.end(), held.entry.sequence) != acked.end();
            if (held.entry.sequence > after_sequence && !is_acked && found.size() < max_count) {
                found.push_back(held);
            }
        }
        if (is_holding_reads) {
            // Answered later, with what the store held when it was asked.
            held_reads.push_back([done = std::move(done), found = std::move(found)]() mutable {
                done(store::store_status{}, std::move(found));
            });
            return;
        }
        done(store::store_status{}, std::move(found));
    }
    void mark_sent(std::string, std::uint64_t sequence, std::uint16_t packet_id,
                   store::delivery_state state, store::store_completion) override {
        sent.push_back({sequence, packet_id, state});
    }
    void ack(std::string, std::uint64_t sequence, store::store_completion) override {
        acked.push_back(sequence);
    }
    void put_retained(store::stored_message, store::store_completion) override {}
    void clear_retained(std::string, store::store_completion) override {}
    void add_inbound_qos2(store::stored_inbound_qos2, store::store_completion) override {}
    void remove_inbound_qos2(store::stored_inbound_qos2, store::store_completion) override {}
    void expire_messages(std::uint64_t, store::store_completion) override {}
    void flush() override {}
    store::store_counters counters() const override { return {}; }
};

mqtt::message_ptr make_content(const std::string& payload) {
    auto built = std::make_shared<mqtt::message>();
    built->topic_name = "chat/room/lobby/alice";
    built->payload = mqtt::shared_bytes::copy_of(payload);
    built->qos_level = mqtt::qos::at_least_once;
    return built;
}

/// Queues `content` in `state` and tracks it under `sequence`, as the gateway does.
void queue_tracked(mqtt::session_state& state, session_ledger& ledger,
                   const mqtt::message_ptr& content, std::uint64_t sequence) {
    mqtt::queued_delivery waiting;
    waiting.content = content;
    waiting.qos_level = mqtt::qos::at_least_once;
    state.queued.push_back(std::move(waiting));
    ledger.tracked.push_back({content, sequence, 0, store::delivery_state::queued});
}

/// Moves the oldest queued delivery into the window under `packet_id`.
void send_oldest(mqtt::session_state& state, std::uint16_t packet_id) {
    mqtt::outbound_delivery sent;
    sent.packet_id = packet_id;
    sent.stage = mqtt::outbound_stage::awaiting_puback;
    sent.content = state.queued.front().content;
    state.queued.pop_front();
    state.inflight.push(std::move(sent));
    ++state.change_count;
}

TEST(SessionSubscriptions, FollowSubscribeAndUnsubscribeInTheStore) {
    store::store_options options;
    options.durability = store::durability_level::none;
    const auto store = store::open_message_store(options);
    session_ledger ledger;
    ledger.client_id = "device-1";
    mqtt::session_state state;
    state.client_id = "device-1";
    state.session_expiry_interval = 300;
    int committed = 0;
    const auto count = [&committed](const store::store_status& status) {
        committed += status.is_ok() ? 1 : 0;
    };
    save_subscriptions(
        ledger, state,
        {{"device-1", "a/+", 1, 0}, {"device-1", "b", 2, 7}, {"device-1", "c", 0, 0}}, *store,
        count);
    store->flush();
    EXPECT_EQ(committed, 1);
    store::loaded_state loaded = store->load(0);
    ASSERT_EQ(loaded.sessions.size(), 1U);
    EXPECT_EQ(loaded.sessions[0].session.client_id, "device-1");
    EXPECT_EQ(loaded.sessions[0].subscriptions.size(), 3U);

    const std::vector<std::string> removed{"a/+", "c"};
    remove_subscriptions(ledger, state, removed, *store, count);
    store->flush();
    EXPECT_EQ(committed, 2);
    loaded = store->load(0);
    ASSERT_EQ(loaded.sessions.size(), 1U);
    EXPECT_EQ(loaded.sessions[0].subscriptions,
              (std::vector<store::stored_subscription>{{"device-1", "b", 2, 7}}));
}

TEST(LedgerFootprint, AnIdleLedgerStaysSmall) {
    // Every persistent session holds one ledger (19,000 in a logged-in chat): what is rare (a
    // queue that overflowed, a will, inbound QoS 2 identifiers) costs a pointer or an empty
    // vector until it happens, and the stored record keeps no second copy of the client id or
    // owner. It was 432 bytes with the whole stored record and an empty hash set inside.
    EXPECT_LE(sizeof(session_ledger), 168U);
    EXPECT_LE(sizeof(session_record), 32U);
    const session_ledger ledger;
    EXPECT_EQ(ledger.spill, nullptr);
    EXPECT_FALSE(ledger.record.has_value());
    EXPECT_TRUE(ledger.inbound_qos2.empty());
}

TEST(LedgerFootprint, TheKeptRecordGivesBackTheWholeStoredRecord) {
    session_ledger ledger;
    ledger.client_id = "alice/a-device-with-a-long-name";
    ledger.owner = "alice";
    store::stored_session stored;
    stored.client_id = ledger.client_id;
    stored.owner = ledger.owner;
    stored.protocol_level = 5;
    stored.session_expiry_interval_s = 3600;
    stored.expires_at_unix_ms = 1'764'100'000'000;
    stored.disconnected_at_unix_ms = 1'764'096'400'000;
    stored.next_packet_id = 4711;
    stored.will = store::stored_will{"chat/room/lobby/alice", {'b', 'y', 'e'}, 1, false, {}, 30};
    keep_record(ledger, stored);
    ASSERT_TRUE(ledger.record.has_value());
    EXPECT_EQ(full_record(ledger), stored);

    // Without a will the record holds none, and gives none back.
    stored.will.reset();
    keep_record(ledger, stored);
    EXPECT_EQ(ledger.record->will, nullptr);
    EXPECT_EQ(full_record(ledger), stored);
}

TEST(LedgerFootprint, ARecordStoredWithoutOwnerIsKeptUnderTheLedgersOwner) {
    // Sessions stored before owners were recorded have none: the ledger's (the client id's user)
    // is written from then on.
    session_ledger ledger;
    ledger.client_id = "bob";
    ledger.owner = "bob";
    store::stored_session stored;
    stored.client_id = "bob";
    stored.protocol_level = 4;
    keep_record(ledger, stored);
    EXPECT_EQ(full_record(ledger).owner, std::optional<std::string>("bob"));
}

TEST(LedgerFootprint, ASessionWhoseQueueNeverOverflowedHasNoSpillState) {
    recording_store store;
    session_ledger ledger;
    ledger.client_id = "c1";
    mqtt::session_state state;
    EXPECT_EQ(classify_arrival(ledger, 1), stored_arrival::deliver);
    EXPECT_FALSE(wants_spill_read(ledger, state, mqtt::session_limits{}));
    rebind_spill(ledger);
    ack_entry(ledger, store, 1);
    EXPECT_EQ(store.acked, (std::vector<std::uint64_t>{1}));
    EXPECT_EQ(ledger.spill, nullptr);

    begin_spill(ledger, 2);
    ASSERT_NE(ledger.spill, nullptr);
    EXPECT_TRUE(ledger.spill->is_active);
    EXPECT_EQ(classify_arrival(ledger, 3), stored_arrival::left_in_store);
}

TEST(LedgerFootprint, InboundQos2IdentifiersAreHeldOnce) {
    packet_id_set ids;
    ids.insert(7);
    ids.insert(9);
    ids.insert(7);
    EXPECT_TRUE(ids.contains(7));
    EXPECT_TRUE(ids.contains(9));
    EXPECT_FALSE(ids.contains(8));
    EXPECT_EQ(std::distance(ids.begin(), ids.end()), 2);
    ids.clear();
    EXPECT_TRUE(ids.empty());
}

TEST(ReconcileLedger, FollowsSendAndAcknowledgement) {
    recording_store store;
    session_ledger ledger;
    ledger.client_id = "alice";
    mqtt::session_state state;
    queue_tracked(state, ledger, make_content("1"), 11);
    queue_tracked(state, ledger, make_content("2"), 12);
    reconcile_ledger(ledger, state, store);
    EXPECT_TRUE(store.sent.empty());
    EXPECT_TRUE(store.acked.empty());

    send_oldest(state, 7);
    reconcile_ledger(ledger, state, store);
    ASSERT_EQ(store.sent.size(), 1u);
    EXPECT_EQ(store.sent[0].sequence, 11u);
    EXPECT_EQ(store.sent[0].packet_id, 7);
    EXPECT_EQ(store.sent[0].state, store::delivery_state::awaiting_puback);
    EXPECT_TRUE(store.acked.empty());

    state.inflight.remove(7);
    ++state.change_count;
    reconcile_ledger(ledger, state, store);
    EXPECT_EQ(store.acked, std::vector<std::uint64_t>{11});
    ASSERT_EQ(ledger.tracked.size(), 1u);
    EXPECT_EQ(ledger.tracked.front().sequence, 12u);
}

TEST(ReconcileLedger, AppendsAloneCostNoComparison) {
    recording_store store;
    session_ledger ledger;
    ledger.client_id = "alice";
    mqtt::session_state state;
    queue_tracked(state, ledger, make_content("1"), 11);
    reconcile_ledger(ledger, state, store);
    // The session did not report a change: a delivery removed behind its back stays tracked,
    // which shows that nothing was compared.
    state.queued.pop_front();
    queue_tracked(state, ledger, make_content("2"), 12);
    reconcile_ledger(ledger, state, store);
    EXPECT_TRUE(store.acked.empty());
    EXPECT_EQ(ledger.tracked.size(), 2u);
    // A reported change brings the full comparison back.
    ++state.change_count;
    reconcile_ledger(ledger, state, store);
    EXPECT_EQ(store.acked, std::vector<std::uint64_t>{11});
    EXPECT_EQ(ledger.tracked.size(), 1u);
}

TEST(ReconcileLedger, ARebindComparesInFull) {
    recording_store store;
    session_ledger ledger;
    ledger.client_id = "alice";
    mqtt::session_state state;
    queue_tracked(state, ledger, make_content("1"), 11);
    reconcile_ledger(ledger, state, store);
    // A fresh session state for the same client (its count starts again) after the ledger was
    // bound anew: what the new state does not hold is acknowledged.
    mqtt::session_state fresh;
    ledger.reconciled_change_count = unreconciled;
    reconcile_ledger(ledger, fresh, store);
    EXPECT_EQ(store.acked, std::vector<std::uint64_t>{11});
    EXPECT_TRUE(ledger.tracked.empty());
}

/// What a ledger's comparisons wrote: the store rows acknowledged and marked sent, sorted, and the
/// sequences still tracked, in order.
struct settled {
    std::vector<std::uint64_t> acked;
    std::vector<std::pair<std::uint64_t, std::uint16_t>> sent;
    std::vector<std::uint64_t> tracked;
    bool operator==(const settled&) const = default;
};

settled settled_by(const recording_store& store, const session_ledger& ledger) {
    settled out;
    out.acked = store.acked;
    std::sort(out.acked.begin(), out.acked.end());
    for (const auto& call : store.sent) {
        out.sent.emplace_back(call.sequence, call.packet_id);
    }
    std::sort(out.sent.begin(), out.sent.end());
    for (const tracked_entry& entry : ledger.tracked) {
        out.tracked.push_back(entry.sequence);
    }
    return out;
}

TEST(ReconcileLedger, FromTheFrontSettlesWhatTheFullComparisonSettles) {
    // A session draining a backlog is compared from the oldest entries only (its cost follows the
    // in-flight window, not the queue); in every order of sends, acknowledgements out of order,
    // deliveries sent at once and drops from the middle of the queue, it must settle the store
    // exactly as the comparison of everything does after each change.
    std::mt19937 random(20261207);
    for (int round = 0; round < 300; ++round) {
        recording_store quick_store;
        recording_store full_store;
        session_ledger quick;
        session_ledger full;
        quick.client_id = full.client_id = "alice";
        mqtt::session_state state;
        std::uint64_t next_sequence = 1;
        std::uint16_t next_packet_id = 1;
        for (int step = 0; step < 80; ++step) {
            const unsigned kind = random() % 10;
            if (kind < 4) {
                const auto content = make_content(std::to_string(next_sequence));
                if (state.queued.empty() && state.inflight.size() < 8 && kind == 0) {
                    // Sent at once: the session's queue was empty and its window open.
                    mqtt::outbound_delivery sent;
                    sent.packet_id = next_packet_id++;
                    sent.content = content;
                    state.inflight.push(std::move(sent));
                    ++state.change_count;
                    for (session_ledger* ledger : {&quick, &full}) {
                        ledger->tracked.push_back(
                            {content, next_sequence, 0, store::delivery_state::queued});
                        note_sent_at_once(*ledger);
                    }
                } else {
                    queue_tracked(state, quick, content, next_sequence);
                    full.tracked.push_back(
                        {content, next_sequence, 0, store::delivery_state::queued});
                }
                ++next_sequence;
            } else if (kind < 7 && !state.queued.empty() && state.inflight.size() < 8) {
                send_oldest(state, next_packet_id++);
            } else if (kind < 9 && state.inflight.size() > 0) {
                // Acknowledged, not always the oldest first.
                const auto& entries = state.inflight.entries();
                const std::uint16_t packet_id = entries[random() % entries.size()].packet_id;
                state.inflight.remove(packet_id);
                ++state.change_count;
            } else if (!state.queued.empty()) {
                // Expired or dropped from anywhere in the queue.
                state.queued.erase(state.queued.begin() +
                                   static_cast<std::ptrdiff_t>(random() % state.queued.size()));
                ++state.change_count;
            }
            reconcile_ledger(quick, state, quick_store);
            full.reconciled_change_count = unreconciled;
            reconcile_ledger(full, state, full_store);
            ASSERT_EQ(settled_by(quick_store, quick), settled_by(full_store, full))
                << "round " << round << ", step " << step;
        }
    }
}

TEST(ReconcileLedger, ADrainingSessionIsComparedOnlyAsFarAsItsWindow) {
    recording_store store;
    session_ledger ledger;
    ledger.client_id = "alice";
    mqtt::session_state state;
    for (std::uint64_t sequence = 11; sequence <= 15; ++sequence) {
        queue_tracked(state, ledger, make_content(std::to_string(sequence)), sequence);
    }
    send_oldest(state, 1);
    reconcile_ledger(ledger, state, store);
    // Behind the session's back, a delivery deep in the queue becomes another one: only a
    // comparison of the whole queue could notice. The acknowledgement of the oldest is settled
    // by looking at the window and the queue's front alone.
    state.queued[2].content = make_content("other");
    state.inflight.remove(1);
    ++state.change_count;
    reconcile_ledger(ledger, state, store);
    EXPECT_EQ(store.acked, std::vector<std::uint64_t>{11});
    EXPECT_EQ(ledger.tracked.size(), 4u);
    // A rebind compares everything again.
    ledger.reconciled_change_count = unreconciled;
    reconcile_ledger(ledger, state, store);
    EXPECT_EQ(store.acked, (std::vector<std::uint64_t>{11, 14}));
}

TEST(ReconcileLedger, AnUntrackedDeliveryInFrontIsComparedInFull) {
    recording_store store;
    session_ledger ledger;
    ledger.client_id = "alice";
    mqtt::session_state state;
    // Queued before the tracked ones and never stored (a QoS 0 message for an offline session).
    mqtt::queued_delivery untracked;
    untracked.content = make_content("q0");
    state.queued.push_back(std::move(untracked));
    queue_tracked(state, ledger, make_content("1"), 11);
    queue_tracked(state, ledger, make_content("2"), 12);
    reconcile_ledger(ledger, state, store);
    state.queued.erase(state.queued.begin() + 1); // 11 dropped
    ++state.change_count;
    reconcile_ledger(ledger, state, store);
    EXPECT_EQ(store.acked, std::vector<std::uint64_t>{11});
    ASSERT_EQ(ledger.tracked.size(), 1u);
    EXPECT_EQ(ledger.tracked.front().sequence, 12u);
}

/// A stored message on `topic` as the store loads it.
std::shared_ptr<const store::stored_message> stored_on(const std::string& topic) {
    auto message = std::make_shared<store::stored_message>();
    message->topic = topic;
    message->payload = {'x'};
    message->qos = 1;
    return message;
}

TEST(RestoreSessionState, DropsWhatItsReaderMayNotRead) {
    // A store written by an earlier version: an anonymous persistent session holding chat
    // filters and queued chat messages.
    store::loaded_session loaded;
    loaded.session.client_id = "watcher";
    loaded.session.protocol_level = 5;
    loaded.subscriptions = {
        {"watcher", "#", 1, 0}, {"watcher", "chat/#", 1, 0}, {"watcher", "home/#", 1, 0}};
    loaded.queue.push_back({{"watcher", 1, 10, 0, store::delivery_state::queued, 1, false, {}},
                            stored_on("chat/dm/bob/alice")});
    loaded.queue.push_back({{"watcher", 2, 11, 0, store::delivery_state::queued, 1, false, {}},
                            stored_on("home/door")});
    loaded.queue.push_back(
        {{"watcher", 3, 12, 7, store::delivery_state::awaiting_puback, 1, false, {}},
         stored_on("chat/room/lobby/alice")});
    session_ledger ledger;
    ledger.client_id = "watcher";
    recording_store store;
    const access_policy anonymous(true);
    const mqtt::session_state state = restore_session_state(
        loaded, ledger, store, anonymous, {}, std::chrono::steady_clock::now(), 1'000);

    EXPECT_EQ(state.subscriptions.size(), 2U);
    EXPECT_FALSE(state.subscriptions.contains("chat/#"));
    EXPECT_EQ(store.removed_filters, std::vector<std::string>{"chat/#"});
    ASSERT_EQ(state.queued.size(), 1U);
    EXPECT_EQ(state.queued.front().content->topic_name, "home/door");
    EXPECT_TRUE(state.inflight.empty());
    EXPECT_EQ(store.acked, (std::vector<std::uint64_t>{1, 3}));
    ASSERT_EQ(ledger.tracked.size(), 1U);
    EXPECT_EQ(ledger.tracked.front().sequence, 2U);
}

TEST(RestoreSessionState, DropsTheDirectMessageFiltersEarlierVersionsHeld) {
    // A chat session stored when every session held its user's direct message filters: the chat
    // layer delivers those messages itself now, so the filters go (a copy from them would be a
    // second one). Filters of another form are the client's own and stay.
    const auto held_byte = [](mqtt::qos level, bool is_no_local) {
        mqtt::subscription_options options;
        options.maximum_qos = level;
        options.is_no_local = is_no_local;
        return stored_options_byte(options);
    };
    store::loaded_session loaded;
    loaded.session.client_id = "alice/phone";
    loaded.session.protocol_level = 5;
    loaded.subscriptions = {
        {"alice/phone", "chat/dm/alice/+", held_byte(mqtt::qos::at_least_once, true), 0},
        // Capped by a server whose maximum QoS was 0.
        {"alice/phone", "chat/dm/+/alice", held_byte(mqtt::qos::at_most_once, true), 0},
        {"alice/phone", "chat/signal/dm/alice/+", held_byte(mqtt::qos::at_most_once, true), 0},
        {"alice/phone", "chat/signal/dm/+/alice", held_byte(mqtt::qos::at_most_once, true), 0},
        // The control replies' filter every session held, as the chat layer delivers them now.
        {"alice/phone", "chat/ctl/alice/resp/#", held_byte(mqtt::qos::at_least_once, false), 0},
        // The client's own: with a Subscription Identifier, at QoS 2, without No Local, another
        // user's conversations, or another filter under the control topic.
        {"alice/phone", "chat/ctl/alice/resp/+", held_byte(mqtt::qos::at_least_once, false), 0},
        {"alice/phone", "chat/dm/alice/bob", held_byte(mqtt::qos::at_least_once, true), 0},
        {"alice/phone", "chat/dm/+/+", held_byte(mqtt::qos::at_least_once, true), 0},
        {"alice/phone", "chat/dm/bob/+", held_byte(mqtt::qos::at_least_once, true), 0},
        {"alice/phone", "chat/#", held_byte(mqtt::qos::at_most_once, false), 7},
    };
    session_ledger ledger;
    ledger.client_id = "alice/phone";
    ledger.owner = "alice";
    recording_store store;
    const access_policy named(false);
    mqtt::session_state state = restore_session_state(loaded, ledger, store, named, {},
                                                      std::chrono::steady_clock::now(), 1'000);
    std::vector<std::string> removed = store.removed_filters;
    std::sort(removed.begin(), removed.end());
    EXPECT_EQ(removed, (std::vector<std::string>{"chat/ctl/alice/resp/#", "chat/dm/+/alice",
                                                 "chat/dm/alice/+", "chat/signal/dm/+/alice",
                                                 "chat/signal/dm/alice/+"}));
    EXPECT_EQ(state.subscriptions.size(), 5U);
    EXPECT_TRUE(state.subscriptions.contains("chat/ctl/alice/resp/+"));
    EXPECT_TRUE(state.subscriptions.contains("chat/#"));

    // A session outside the chat layer keeps filters of that form: they are its own.
    session_ledger outside;
    outside.client_id = "alice/phone";
    recording_store outside_store;
    state = restore_session_state(loaded, outside, outside_store, named, {},
                                  std::chrono::steady_clock::now(), 1'000);
    EXPECT_TRUE(outside_store.removed_filters.empty());
    EXPECT_EQ(state.subscriptions.size(), 10U);
}

/// A connected persistent 5.0 session whose window holds one message and whose queue holds two,
/// with its ledger and a store that holds every entry enqueued for it. arrive() and read() do
/// what the connection does with a stored delivery and with a read of the overflowed queue.
struct spilling_session {
    mqtt::session_limits limits = [] {
        mqtt::session_limits chosen;
        chosen.max_queued_messages = 2;
        return chosen;
    }();
    mqtt::session session = [this] {
        mqtt::connect request =
            mqtt::testing_support::make_connect(mqtt::protocol_version::v5, "c1", false);
        request.props.session_expiry_interval = 3600;
        request.props.receive_maximum = 1;
        return mqtt::testing_support::connected_session(request, limits);
    }();
    session_ledger ledger;
    recording_store store;
    const access_policy reader{true};
    /// Payloads sent to the client, in order, and the packet identifiers not yet acknowledged.
    std::vector<std::string> sent;
    std::deque<std::uint16_t> unacknowledged;

    spilling_session() { ledger.client_id = "c1"; }

    /// The publisher's store entry `sequence`, with payload its number.
    void enqueue(std::uint64_t sequence) {
        auto message = std::make_shared<store::stored_message>();
        message->topic = "flood/t";
        message->payload = {static_cast<std::uint8_t>('0' + sequence / 10),
                            static_cast<std::uint8_t>('0' + sequence % 10)};
        message->qos = 1;
        message->message_id = sequence;
        store.queue.push_back(
            {{"c1", sequence, sequence, 0, store::delivery_state::queued, 1, false, {}},
             std::move(message)});
    }

    /// The delivery of entry `sequence` reaches the session (connection::deliver).
    stored_arrival arrive(std::uint64_t sequence) {
        const stored_arrival arrival = classify_arrival(ledger, sequence);
        if (arrival == stored_arrival::deliver) {
            const auto& stored = *std::find_if(store.queue.begin(), store.queue.end(),
                                               [&](const store::loaded_queue_entry& held) {
                                                   return held.entry.sequence == sequence;
                                               });
            mqtt::message_ptr content = *to_routed_message(*stored.message, start_time, 1'000);
            mqtt::delivery_options options;
            options.granted_qos = mqtt::qos::at_least_once;
            const mqtt::delivery_outcome outcome =
                session.handle_delivery(content, options, start_time);
            if (outcome == mqtt::delivery_outcome::queue_full) {
                begin_spill(ledger, sequence);
            } else {
                ledger.tracked.push_back({content, sequence, 0, store::delivery_state::queued});
            }
        }
        settle();
        return arrival;
    }

    /// The client acknowledges the oldest message it was sent.
    void acknowledge_oldest() {
        ASSERT_FALSE(unacknowledged.empty());
        mqtt::puback answer;
        answer.packet_id = unacknowledged.front();
        unacknowledged.pop_front();
        session.handle_packet(answer, start_time);
        settle();
    }

    /// Asks for a read when the session wants one (sync_ledger); false when it does not.
    bool read() {
        if (!wants_spill_read(ledger, session.state(), limits)) {
            return false;
        }
        start_spill_read(ledger);
        store.read_queue(
            "c1", ledger.spill->read_through, spill_read_batch,
            [this](const store::store_status&, std::vector<store::loaded_queue_entry> entries) {
                accept_spill_read(ledger, std::move(entries), spill_read_batch, session, reader,
                                  store, start_time, 1'000);
                settle();
            });
        return true;
    }

    /// Collects what the session sent, then brings the store in line.
    void settle() {
        while (auto action = session.poll_action()) {
            const auto* packet = std::get_if<mqtt::send_packet>(&*action);
            if (packet == nullptr) {
                continue;
            }
            if (const auto* publish = std::get_if<mqtt::publish>(&packet->content)) {
                sent.emplace_back(publish->payload.as_string());
                unacknowledged.push_back(publish->packet_id);
            }
        }
        reconcile_ledger(ledger, session.state(), store);
    }

    const mqtt::time_point start_time = mqtt::testing_support::start;
};

TEST(Spill, EntriesPastAFullQueueAreReadBackFromTheStoreInOrder) {
    spilling_session bench;
    for (std::uint64_t sequence = 2; sequence <= 8; ++sequence) {
        bench.enqueue(sequence);
    }
    // 2 is sent, 3 and 4 wait in the queue, 6 finds it full; 5 arrives after 6 (another
    // publisher's worker), and 7 after that.
    for (const std::uint64_t sequence : {2, 3, 4}) {
        EXPECT_EQ(bench.arrive(sequence), stored_arrival::deliver);
    }
    EXPECT_EQ(bench.arrive(6), stored_arrival::deliver);
    EXPECT_TRUE(bench.ledger.spill->is_active);
    EXPECT_EQ(bench.arrive(5), stored_arrival::left_in_store);
    EXPECT_EQ(bench.arrive(7), stored_arrival::left_in_store);
    EXPECT_EQ(bench.ledger.tracked.size(), 3u) << "the store alone holds 5, 6 and 7";
    EXPECT_FALSE(bench.read()) << "no room yet";

    // The client reads: once the queue is empty, 5 and 6 are read back (7 finds it full).
    bench.acknowledge_oldest();
    bench.acknowledge_oldest();
    ASSERT_TRUE(bench.read());
    EXPECT_TRUE(bench.ledger.spill->is_active);
    EXPECT_EQ(bench.ledger.spill->read_through, 6u);
    EXPECT_EQ(bench.arrive(6), stored_arrival::already_read);
    EXPECT_EQ(bench.arrive(8), stored_arrival::left_in_store);

    bench.acknowledge_oldest();
    bench.acknowledge_oldest();
    ASSERT_TRUE(bench.read());
    // 7 and 8 came back and the store had nothing more: the overflow is over.
    EXPECT_FALSE(bench.ledger.spill->is_active);
    EXPECT_EQ(bench.arrive(7), stored_arrival::already_read);
    // 9 finds the queue full (7 and 8) and starts another overflow.
    bench.enqueue(9);
    EXPECT_EQ(bench.arrive(9), stored_arrival::deliver);
    EXPECT_TRUE(bench.ledger.spill->is_active);
    while (!bench.unacknowledged.empty()) {
        bench.acknowledge_oldest();
        bench.read();
    }
    EXPECT_EQ(bench.sent,
              (std::vector<std::string>{"02", "03", "04", "05", "06", "07", "08", "09"}));
    EXPECT_FALSE(bench.ledger.spill->is_active);
    EXPECT_TRUE(bench.ledger.tracked.empty());
    EXPECT_EQ(bench.store.acked.size(), 8u);
}

TEST(Spill, AnEntryAckedWhileAReadIsOnItsWayIsNotSentAgain) {
    spilling_session bench;
    for (std::uint64_t sequence = 11; sequence <= 14; ++sequence) {
        bench.enqueue(sequence);
    }
    // 12 is sent, 13 and 14 queued; 11 arrives late and finds the queue full.
    for (const std::uint64_t sequence : {12, 13, 14, 11}) {
        bench.arrive(sequence);
    }
    ASSERT_TRUE(bench.ledger.spill->is_active);
    bench.acknowledge_oldest(); // 12: 13 is sent
    bench.acknowledge_oldest(); // 13: 14 is sent, the queue is empty
    bench.store.is_holding_reads = true;
    ASSERT_TRUE(bench.read());
    EXPECT_FALSE(bench.read()) << "one read at a time";
    // 14 is acknowledged after the store answered, before the answer arrives: the answer still
    // holds it.
    bench.acknowledge_oldest();
    ASSERT_EQ(bench.store.held_reads.size(), 1u);
    bench.store.held_reads.front()();
    while (!bench.unacknowledged.empty()) {
        bench.acknowledge_oldest();
    }
    EXPECT_EQ(bench.sent, (std::vector<std::string>{"12", "13", "14", "11"}));
    EXPECT_FALSE(bench.ledger.spill->is_active);
}

TEST(Spill, AReadMadeStaleByALateArrivalIsAskedForAgain) {
    spilling_session bench;
    for (std::uint64_t sequence = 20; sequence <= 25; ++sequence) {
        bench.enqueue(sequence);
    }
    for (const std::uint64_t sequence : {20, 21, 22, 24}) {
        bench.arrive(sequence);
    }
    bench.acknowledge_oldest();
    bench.acknowledge_oldest();
    bench.store.is_holding_reads = true;
    ASSERT_TRUE(bench.read());
    // 23 arrives late while the read (from 23 up: 24, 25, the store's answer) is on its way.
    EXPECT_EQ(bench.arrive(25), stored_arrival::left_in_store);
    EXPECT_EQ(bench.arrive(23), stored_arrival::left_in_store);
    bench.store.held_reads.front()();
    EXPECT_EQ(bench.ledger.spill->read_through, 22u) << "the stale answer was dropped";
    bench.store.is_holding_reads = false;
    ASSERT_TRUE(bench.read());
    while (!bench.unacknowledged.empty()) {
        bench.acknowledge_oldest();
        bench.read();
    }
    EXPECT_EQ(bench.sent, (std::vector<std::string>{"20", "21", "22", "23", "24", "25"}));
    EXPECT_FALSE(bench.ledger.spill->is_active);
}

TEST(RestoreSessionState, QueuedEntriesPastTheQueueBoundsStayInTheStore) {
    store::loaded_session loaded;
    loaded.session.client_id = "c1";
    loaded.session.protocol_level = 5;
    for (std::uint64_t sequence = 1; sequence <= 5; ++sequence) {
        loaded.queue.push_back(
            {{"c1", sequence, sequence, 0, store::delivery_state::queued, 1, false, {}},
             stored_on("home/door")});
    }
    session_ledger ledger;
    ledger.client_id = "c1";
    recording_store store;
    mqtt::session_limits limits;
    limits.max_queued_messages = 2;
    const mqtt::session_state state =
        restore_session_state(loaded, ledger, store, access_policy(true), limits,
                              std::chrono::steady_clock::now(), 1'000);
    EXPECT_EQ(state.queued.size(), 2u);
    EXPECT_EQ(ledger.tracked.size(), 2u);
    EXPECT_TRUE(ledger.spill->is_active);
    EXPECT_EQ(ledger.spill->read_through, 2u) << "read back from 3 on";
    EXPECT_TRUE(store.acked.empty());
}

// docs/DURABILITY.md "What is written when": a CONNECT writes no record when the committed one
// restores the session as the new one would.
TEST(SessionRecord, RestoresAlikeOnlyConnectedRecordsARestartReadsTheSame) {
    store::stored_session connected;
    connected.client_id = "phone";
    connected.session_expiry_interval_s = 600;
    store::stored_session moved_packet_id = connected;
    moved_packet_id.next_packet_id = 812;
    EXPECT_TRUE(restores_alike(connected, moved_packet_id));
    store::stored_session ended = connected;
    ended.disconnected_at_unix_ms = 1000;
    ended.expires_at_unix_ms = 601'000;
    EXPECT_FALSE(restores_alike(connected, ended));
    store::stored_session other_interval = connected;
    other_interval.session_expiry_interval_s = 60;
    EXPECT_FALSE(restores_alike(connected, other_interval));
    store::stored_session other_level = connected;
    other_level.protocol_level = 5;
    EXPECT_FALSE(restores_alike(connected, other_level));
    store::stored_session with_will = connected;
    with_will.will = store::stored_will{};
    EXPECT_FALSE(restores_alike(connected, with_will));
    EXPECT_FALSE(restores_alike(with_will, with_will));
    store::stored_session other_owner = connected;
    other_owner.owner = "mallory";
    EXPECT_FALSE(restores_alike(connected, other_owner));
}

} // namespace
} // namespace perch::gateway
