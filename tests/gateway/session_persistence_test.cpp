// Tests of reconcile_ledger: the store follows a persistent session's deliveries (sent, stage
// changed, acknowledged), and a session that only gained queued deliveries costs no comparison.
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "gateway/session_persistence.hpp"
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

    store::loaded_state load(std::uint64_t) override { return {}; }
    void save_session(store::stored_session, store::store_completion) override {}
    void delete_session(std::string, store::store_completion) override {}
    void add_subscription(store::stored_subscription, store::store_completion) override {}
    void remove_subscription(std::string, std::string, store::store_completion) override {}
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

} // namespace
} // namespace perch::gateway
