// Tests of reconcile_ledger: the store follows a persistent session's deliveries (sent, stage
// changed, acknowledged), and a session that only gained queued deliveries costs no comparison.
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "gateway/broker/session_persistence.hpp"
#include "mqtt/message.hpp"

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
        loaded, ledger, store, anonymous, std::chrono::steady_clock::now(), 1'000);

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

} // namespace
} // namespace perch::gateway
