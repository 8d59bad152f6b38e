// Behaviour every message store shares, run against the SQLite and the memory implementation:
// records survive a reopen (for the memory store: a second load), cascades, queue order, shared
// message rows, expiry and queue caps.
#include <future>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "store/memory/memory_message_store.hpp"
#include "store/message_store.hpp"
#include "store/sqlite/sqlite_message_store.hpp"

#include "store_test_support.hpp"

namespace perch::store {
namespace {

using namespace testing_support;

struct sqlite_backend {
    static std::unique_ptr<message_store> open(store_options options) {
        options.durability = durability_level::full;
        return open_message_store(options);
    }
    /// Closes the file and opens it again.
    static void reopen(std::unique_ptr<message_store>& store, const store_options& options) {
        store.reset();
        store = open(options);
    }
};

struct memory_backend {
    static std::unique_ptr<message_store> open(store_options options) {
        options.durability = durability_level::none;
        return open_message_store(options);
    }
    /// Memory does not survive a close: the same store is loaded again.
    static void reopen(std::unique_ptr<message_store>&, const store_options&) {}
};

template <typename Backend> class MessageStore : public ::testing::Test {
protected:
    MessageStore() {
        options_.path = database_.path();
        options_.commit_interval_ms = 1;
        store_ = Backend::open(options_);
    }

    message_store& store() { return *store_; }

    /// Starts again on an empty store with these caps.
    void open_with_caps(std::uint32_t max_messages, std::uint64_t max_bytes) {
        store_.reset();
        std::filesystem::remove_all(database_.directory());
        std::filesystem::create_directories(database_.directory());
        options_.max_queued_messages = max_messages;
        options_.max_queued_bytes = max_bytes;
        store_ = Backend::open(options_);
    }

    /// Writes everything, reopens and loads at `now_unix_ms`.
    loaded_state reload(std::uint64_t now_unix_ms = 1'000) {
        store_->flush();
        Backend::reopen(store_, options_);
        return store_->load(now_unix_ms);
    }

    temporary_database database_;
    store_options options_;
    std::unique_ptr<message_store> store_;
};

using backends = ::testing::Types<sqlite_backend, memory_backend>;
TYPED_TEST_SUITE(MessageStore, backends);

TYPED_TEST(MessageStore, EmptyStoreLoadsNothing) {
    const loaded_state state = this->reload();
    EXPECT_TRUE(state.sessions.empty());
    EXPECT_TRUE(state.retained.empty());
    EXPECT_EQ(state.expired_messages, 0u);
}

TYPED_TEST(MessageStore, SessionWithWillSurvivesReopen) {
    stored_session session = make_session("alice/phone");
    session.expires_at_unix_ms = 1'700'000'123'456;
    session.next_packet_id = 4242;
    session.will =
        stored_will{"chat/presence/alice", bytes_of("gone"), 1, true, {0x18, 0, 0, 0, 5}, 30};
    stored_session plain = make_session("bob");
    plain.protocol_level = 4;
    this->store().save_session(session);
    this->store().save_session(plain);
    const loaded_state state = this->reload();
    ASSERT_EQ(state.sessions.size(), 2u);
    EXPECT_EQ(state.sessions[0].session, session);
    EXPECT_EQ(state.sessions[1].session, plain);
    EXPECT_FALSE(state.sessions[1].session.will.has_value());
}

TYPED_TEST(MessageStore, ASessionsOwnerSurvivesReopen) {
    stored_session owned = make_session("alice/phone");
    owned.owner = "alice";
    stored_session outside = make_session("sensor-7");
    outside.owner = "";
    stored_session unknown = make_session("zed");
    this->store().save_session(owned);
    this->store().save_session(outside);
    this->store().save_session(unknown);
    const loaded_state state = this->reload();
    ASSERT_EQ(state.sessions.size(), 3u);
    EXPECT_EQ(state.sessions[0].session.owner, std::optional<std::string>("alice"));
    EXPECT_EQ(state.sessions[1].session.owner, std::optional<std::string>(""));
    EXPECT_EQ(state.sessions[2].session.owner, std::nullopt);
}

TYPED_TEST(MessageStore, SaveSessionReplacesTheRecord) {
    stored_session session = make_session("alice");
    session.will = stored_will{"w", bytes_of("x"), 0, false, {}, 0};
    this->store().save_session(session);
    session.will.reset();
    session.expires_at_unix_ms = 5'000;
    session.disconnected_at_unix_ms = 900;
    this->store().save_session(session);
    const loaded_state state = this->reload();
    ASSERT_EQ(state.sessions.size(), 1u);
    EXPECT_EQ(state.sessions[0].session, session);
    EXPECT_TRUE(state.expired_sessions.empty());
}

TYPED_TEST(MessageStore, LoadDeletesSessionsWhoseExpiryPassedAndReturnsTheirWills) {
    stored_session gone = make_session("alice");
    gone.expires_at_unix_ms = 1'000;
    gone.disconnected_at_unix_ms = 400;
    gone.will = stored_will{"last/alice", bytes_of("bye"), 1, false, {}, 30};
    this->store().save_session(gone);
    this->store().add_subscription({"alice", "a/#", 1, 0});
    this->store().enqueue({target("alice"), target("bob")}, make_message("a/1", "x"));
    this->store().add_inbound_qos2({"alice", 3});
    stored_session later = make_session("bob");
    later.expires_at_unix_ms = 1'001;
    this->store().save_session(later);
    stored_session connected = make_session("carol");
    this->store().save_session(connected);

    const loaded_state state = this->reload(1'000);
    ASSERT_EQ(state.expired_sessions.size(), 1u);
    EXPECT_EQ(state.expired_sessions[0], gone);
    ASSERT_EQ(state.sessions.size(), 2u);
    EXPECT_EQ(state.sessions[0].session.client_id, "bob");
    EXPECT_EQ(state.sessions[1].session.client_id, "carol");
    // bob's entry keeps the message alive; alice's subscription, entry and identifier are gone.
    ASSERT_EQ(state.sessions[0].queue.size(), 1u);
    const loaded_state again = this->reload(1'000);
    EXPECT_TRUE(again.expired_sessions.empty());
    ASSERT_EQ(again.sessions.size(), 2u);
    EXPECT_EQ(again.sessions[0].queue.size(), 1u);
    const auto fresh = this->store().enqueue({target("alice")}, make_message("t", "2"));
    EXPECT_EQ(this->store().counters().refused_for_quota, 0u);
    EXPECT_NE(fresh.sequences[0], 0u);
}

TYPED_TEST(MessageStore, AMessageOutlivesAnAckWhileAnotherQueueHoldsIt) {
    this->store().save_session(make_session("alice"));
    this->store().save_session(make_session("bob"));
    const auto receipt =
        this->store().enqueue({target("alice"), target("bob")}, make_message("a", "shared"));
    this->store().flush();
    this->store().ack("alice", receipt.sequences[0]);
    loaded_state state = this->reload();
    ASSERT_EQ(state.sessions.size(), 2u);
    EXPECT_TRUE(state.sessions[0].queue.empty());
    ASSERT_EQ(state.sessions[1].queue.size(), 1u);
    EXPECT_EQ(state.sessions[1].queue[0].message->payload, bytes_of("shared"));
    this->store().ack("bob", receipt.sequences[1]);
    state = this->reload();
    EXPECT_TRUE(state.sessions[1].queue.empty());
}

TYPED_TEST(MessageStore, SubscriptionsSurviveReopenInFilterOrder) {
    this->store().save_session(make_session("alice"));
    const stored_subscription room{"alice", "chat/room/kitchen/+", 0x25, 7};
    const stored_subscription direct{"alice", "chat/dm/alice/+", 0x01, 0};
    this->store().add_subscription(room);
    this->store().add_subscription(direct);
    const loaded_state state = this->reload();
    ASSERT_EQ(state.sessions.size(), 1u);
    EXPECT_EQ(state.sessions[0].subscriptions, (std::vector<stored_subscription>{direct, room}));
}

TYPED_TEST(MessageStore, AddSubscriptionReplacesTheSameFilter) {
    // [MQTT-3.8.4-3 (3.1.1 and 5.0)] a SUBSCRIBE with an existing filter replaces that
    // subscription.
    this->store().save_session(make_session("alice"));
    this->store().add_subscription({"alice", "a/b", 0x01, 1});
    this->store().add_subscription({"alice", "a/b", 0x02, 9});
    const loaded_state state = this->reload();
    ASSERT_EQ(state.sessions[0].subscriptions.size(), 1u);
    EXPECT_EQ(state.sessions[0].subscriptions[0].options, 0x02);
    EXPECT_EQ(state.sessions[0].subscriptions[0].subscription_id, 9u);
}

TYPED_TEST(MessageStore, RemoveSubscriptionDeletesOnlyThatFilter) {
    this->store().save_session(make_session("alice"));
    this->store().add_subscription({"alice", "a/b", 1, 0});
    this->store().add_subscription({"alice", "c/d", 1, 0});
    this->store().remove_subscription("alice", "a/b");
    this->store().remove_subscription("alice", "never/subscribed");
    const loaded_state state = this->reload();
    ASSERT_EQ(state.sessions[0].subscriptions.size(), 1u);
    EXPECT_EQ(state.sessions[0].subscriptions[0].topic_filter, "c/d");
}

TYPED_TEST(MessageStore, QueuedMessageSurvivesReopenWithEveryField) {
    this->store().save_session(make_session("alice"));
    stored_message message = make_message("chat/dm/alice/bob", "hello", 5'000);
    message.is_retained = true;
    queue_target delivery{"alice", 2, true, {3, 70000}};
    const enqueue_receipt receipt = this->store().enqueue({delivery}, message);
    ASSERT_EQ(receipt.sequences.size(), 1u);
    const loaded_state state = this->reload();
    ASSERT_EQ(state.sessions[0].queue.size(), 1u);
    const loaded_queue_entry& loaded = state.sessions[0].queue[0];
    EXPECT_EQ(loaded.entry.client_id, "alice");
    EXPECT_EQ(loaded.entry.sequence, receipt.sequences[0]);
    EXPECT_EQ(loaded.entry.message_id, receipt.message_id);
    EXPECT_EQ(loaded.entry.state, delivery_state::queued);
    EXPECT_EQ(loaded.entry.packet_id, 0u);
    EXPECT_EQ(loaded.entry.qos, 2);
    EXPECT_TRUE(loaded.entry.is_retained);
    EXPECT_EQ(loaded.entry.subscription_ids, (std::vector<std::uint32_t>{3, 70000}));
    message.message_id = receipt.message_id;
    EXPECT_EQ(*loaded.message, message);
}

TYPED_TEST(MessageStore, QueueKeepsEnqueueOrder) {
    this->store().save_session(make_session("alice"));
    for (int index = 0; index < 50; ++index) {
        this->store().enqueue({target("alice")}, make_message("t", std::to_string(index)));
    }
    const loaded_state state = this->reload();
    ASSERT_EQ(state.sessions[0].queue.size(), 50u);
    for (std::size_t index = 0; index < 50; ++index) {
        EXPECT_EQ(state.sessions[0].queue[index].message->payload, bytes_of(std::to_string(index)));
    }
}

/// read_queue answers from what was submitted before it, written or not: the entries of one
/// client above a sequence, in order, at most as many as asked, without acked ones.
TYPED_TEST(MessageStore, ReadQueueReturnsAClientsEntriesAboveASequenceInOrder) {
    this->store().save_session(make_session("alice"));
    this->store().save_session(make_session("bob"));
    std::vector<std::uint64_t> sequences;
    for (int index = 0; index < 6; ++index) {
        const enqueue_receipt receipt = this->store().enqueue(
            {target("alice"), target("bob")}, make_message("t", std::to_string(index)));
        sequences.push_back(receipt.sequences.at(0));
    }
    this->store().ack("alice", sequences[2]);
    const auto read = [&](std::uint64_t after_sequence, std::size_t max_count) {
        std::promise<std::vector<std::string>> answer;
        this->store().read_queue(
            "alice", after_sequence, max_count,
            [&](const store_status& status, std::vector<loaded_queue_entry> entries) {
                EXPECT_TRUE(status.is_ok()) << status.detail;
                std::vector<std::string> payloads;
                for (const loaded_queue_entry& loaded : entries) {
                    EXPECT_EQ(loaded.entry.client_id, "alice");
                    payloads.emplace_back(loaded.message->payload.begin(),
                                          loaded.message->payload.end());
                }
                answer.set_value(std::move(payloads));
            });
        return answer.get_future().get();
    };
    EXPECT_EQ(read(0, 100), (std::vector<std::string>{"0", "1", "3", "4", "5"}));
    EXPECT_EQ(read(sequences[1], 2), (std::vector<std::string>{"3", "4"}));
    EXPECT_EQ(read(sequences[5], 10), std::vector<std::string>{});
}

TYPED_TEST(MessageStore, OneMessageIsSharedByEveryRecipient) {
    for (const char* client_id : {"alice", "bob", "carol"}) {
        this->store().save_session(make_session(client_id));
    }
    const enqueue_receipt receipt = this->store().enqueue(
        {target("alice"), target("bob"), target("carol")}, make_message("room", "hi all"));
    EXPECT_EQ(receipt.refused_for_quota, 0u);
    const loaded_state state = this->reload();
    ASSERT_EQ(state.sessions.size(), 3u);
    const auto& first = state.sessions[0].queue.at(0).message;
    EXPECT_EQ(state.sessions[1].queue.at(0).message.get(), first.get());
    EXPECT_EQ(state.sessions[2].queue.at(0).message.get(), first.get());
    EXPECT_EQ(first->message_id, receipt.message_id);
}

TYPED_TEST(MessageStore, AckDeletesOnlyThatRecipientsEntry) {
    this->store().save_session(make_session("alice"));
    this->store().save_session(make_session("bob"));
    const enqueue_receipt receipt =
        this->store().enqueue({target("alice"), target("bob")}, make_message("room", "hi"));
    this->store().ack("alice", receipt.sequences[0]);
    const loaded_state state = this->reload();
    EXPECT_TRUE(state.sessions[0].queue.empty());
    ASSERT_EQ(state.sessions[1].queue.size(), 1u);
    EXPECT_EQ(state.sessions[1].queue[0].message->payload, bytes_of("hi"));
}

TYPED_TEST(MessageStore, AckNamingAnotherClientIsIgnored) {
    this->store().save_session(make_session("alice"));
    const enqueue_receipt receipt =
        this->store().enqueue({target("alice")}, make_message("t", "x"));
    this->store().ack("mallory", receipt.sequences[0]);
    this->store().ack("alice", receipt.sequences[0] + 1000);
    const loaded_state state = this->reload();
    EXPECT_EQ(state.sessions[0].queue.size(), 1u);
}

TYPED_TEST(MessageStore, MarkSentStateSurvivesReopen) {
    // [MQTT-4.4.0-1 (5.0)] unacknowledged PUBLISH and PUBREL packets are resent on reconnect,
    // so the stage of each in-flight delivery must be kept.
    this->store().save_session(make_session("alice"));
    const auto first = this->store().enqueue({target("alice", 2)}, make_message("t", "one"));
    const auto second = this->store().enqueue({target("alice", 1)}, make_message("t", "two"));
    this->store().mark_sent("alice", first.sequences[0], 11, delivery_state::awaiting_pubrec);
    this->store().mark_sent("alice", first.sequences[0], 11, delivery_state::awaiting_pubcomp);
    this->store().mark_sent("alice", second.sequences[0], 12, delivery_state::awaiting_puback);
    const loaded_state state = this->reload();
    ASSERT_EQ(state.sessions[0].queue.size(), 2u);
    EXPECT_EQ(state.sessions[0].queue[0].entry.state, delivery_state::awaiting_pubcomp);
    EXPECT_EQ(state.sessions[0].queue[0].entry.packet_id, 11u);
    EXPECT_EQ(state.sessions[0].queue[1].entry.state, delivery_state::awaiting_puback);
    EXPECT_EQ(state.sessions[0].queue[1].entry.packet_id, 12u);
}

TYPED_TEST(MessageStore, DeleteSessionCascades) {
    this->store().save_session(make_session("alice"));
    this->store().save_session(make_session("bob"));
    this->store().add_subscription({"alice", "a/#", 1, 0});
    this->store().add_inbound_qos2({"alice", 5});
    this->store().enqueue({target("alice"), target("bob")}, make_message("a/b", "shared"));
    this->store().enqueue({target("alice")}, make_message("a/c", "alice only"));
    this->store().delete_session("alice");
    const loaded_state state = this->reload();
    ASSERT_EQ(state.sessions.size(), 1u);
    EXPECT_EQ(state.sessions[0].session.client_id, "bob");
    ASSERT_EQ(state.sessions[0].queue.size(), 1u);
    EXPECT_EQ(state.sessions[0].queue[0].message->payload, bytes_of("shared"));
}

TYPED_TEST(MessageStore, RecordsOfAClientWithoutSessionAreDroppedAtLoad) {
    this->store().add_subscription({"ghost", "a/b", 1, 0});
    this->store().enqueue({target("ghost")}, make_message("a/b", "nobody"));
    this->store().add_inbound_qos2({"ghost", 3});
    const loaded_state state = this->reload();
    EXPECT_TRUE(state.sessions.empty());
    // A session created later starts clean.
    this->store().save_session(make_session("ghost"));
    const loaded_state again = this->reload();
    ASSERT_EQ(again.sessions.size(), 1u);
    EXPECT_TRUE(again.sessions[0].subscriptions.empty());
    EXPECT_TRUE(again.sessions[0].queue.empty());
    EXPECT_TRUE(again.sessions[0].inbound_qos2_packet_ids.empty());
}

TYPED_TEST(MessageStore, InboundQos2IdentifiersSurviveReopen) {
    // [MQTT-4.3.3-10 (5.0)] the receiver keeps the packet identifier until PUBREL, so a resent
    // QoS 2 PUBLISH is not delivered twice, across a restart too.
    this->store().save_session(make_session("alice"));
    this->store().add_inbound_qos2({"alice", 300});
    this->store().add_inbound_qos2({"alice", 7});
    this->store().add_inbound_qos2({"alice", 7});
    this->store().add_inbound_qos2({"alice", 9});
    this->store().remove_inbound_qos2({"alice", 9});
    const loaded_state state = this->reload();
    EXPECT_EQ(state.sessions[0].inbound_qos2_packet_ids, (std::vector<std::uint16_t>{7, 300}));
}

TYPED_TEST(MessageStore, RetainedMessagesSurviveReopenAndAreReplacedPerTopic) {
    // [MQTT-3.3.1-5 (3.1.1 and 5.0)] a retained message replaces any existing one for its topic.
    stored_message first = make_message("sensors/kitchen", "20.5");
    first.is_retained = true;
    stored_message second = make_message("sensors/kitchen", "21.0");
    second.is_retained = true;
    stored_message other = make_message("sensors/attic", "15.0");
    other.is_retained = true;
    this->store().put_retained(first);
    this->store().put_retained(other);
    this->store().put_retained(second);
    const loaded_state state = this->reload();
    EXPECT_EQ(state.retained, (std::vector<stored_message>{other, second}));
}

TYPED_TEST(MessageStore, ClearRetainedDeletesTheTopic) {
    // [MQTT-3.3.1-10 (3.1.1)] / [MQTT-3.3.1-6 (5.0)] an empty retained payload removes the
    // retained message; the gateway turns that into clear_retained.
    this->store().put_retained(make_message("a", "1"));
    this->store().put_retained(make_message("b", "2"));
    this->store().clear_retained("a");
    this->store().clear_retained("never");
    const loaded_state state = this->reload();
    ASSERT_EQ(state.retained.size(), 1u);
    EXPECT_EQ(state.retained[0].topic, "b");
}

TYPED_TEST(MessageStore, LoadDeletesExpiredQueuedMessagesButKeepsInFlightOnes) {
    // [MQTT-3.3.2-5 (5.0)] an expired message is deleted for a subscriber whose onward delivery
    // has not started; one already sent stays in flight until acknowledged.
    this->store().save_session(make_session("alice"));
    const auto sent = this->store().enqueue({target("alice")}, make_message("t", "sent", 500));
    this->store().enqueue({target("alice")}, make_message("t", "stale", 500));
    this->store().enqueue({target("alice")}, make_message("t", "fresh", 5'000));
    this->store().enqueue({target("alice")}, make_message("t", "forever", 0));
    this->store().mark_sent("alice", sent.sequences[0], 1, delivery_state::awaiting_puback);
    const loaded_state state = this->reload(1'000);
    EXPECT_EQ(state.expired_messages, 1u);
    ASSERT_EQ(state.sessions[0].queue.size(), 3u);
    EXPECT_EQ(state.sessions[0].queue[0].message->payload, bytes_of("sent"));
    EXPECT_EQ(state.sessions[0].queue[1].message->payload, bytes_of("fresh"));
    EXPECT_EQ(state.sessions[0].queue[2].message->payload, bytes_of("forever"));
    EXPECT_EQ(this->store().counters().expired_messages, 1u);
}

TYPED_TEST(MessageStore, ExpireMessagesDeletesExpiredQueuedAndRetainedMessages) {
    // [MQTT-3.3.2-5 (5.0)]
    this->store().save_session(make_session("alice"));
    this->store().enqueue({target("alice")}, make_message("t", "old", 100));
    this->store().enqueue({target("alice")}, make_message("t", "new", 10'000));
    this->store().put_retained(make_message("r/old", "x", 100));
    this->store().put_retained(make_message("r/new", "y", 10'000));
    completion_recorder done;
    this->store().expire_messages(200, done.record());
    this->store().flush();
    EXPECT_EQ(done.failures(), 0u);
    EXPECT_EQ(done.count(), 1u);
    EXPECT_EQ(this->store().counters().expired_messages, 2u);
    const loaded_state state = this->reload(200);
    ASSERT_EQ(state.sessions[0].queue.size(), 1u);
    EXPECT_EQ(state.sessions[0].queue[0].message->payload, bytes_of("new"));
    ASSERT_EQ(state.retained.size(), 1u);
    EXPECT_EQ(state.retained[0].topic, "r/new");
}

TYPED_TEST(MessageStore, QueueCapRefusesBeforeAnythingIsAcknowledged) {
    this->open_with_caps(2, 0);
    this->store().save_session(make_session("alice"));
    this->store().save_session(make_session("bob"));
    this->store().enqueue({target("alice")}, make_message("t", "1"));
    this->store().enqueue({target("alice")}, make_message("t", "2"));
    completion_recorder done;
    const enqueue_receipt receipt = this->store().enqueue({target("alice"), target("bob")},
                                                          make_message("t", "3"), done.record());
    EXPECT_EQ(receipt.sequences[0], 0u);
    EXPECT_NE(receipt.sequences[1], 0u);
    EXPECT_EQ(receipt.refused_for_quota, 1u);
    this->store().flush();
    EXPECT_EQ(done.count(), 1u);
    EXPECT_EQ(this->store().counters().refused_for_quota, 1u);
    const loaded_state state = this->reload();
    EXPECT_EQ(state.sessions[0].queue.size(), 2u);
    EXPECT_EQ(state.sessions[1].queue.size(), 1u);
}

TYPED_TEST(MessageStore, ByteCapCountsPayloadBytes) {
    this->open_with_caps(0, 10);
    this->store().save_session(make_session("alice"));
    EXPECT_EQ(
        this->store().enqueue({target("alice")}, make_message("t", "123456")).refused_for_quota,
        0u);
    EXPECT_EQ(
        this->store().enqueue({target("alice")}, make_message("t", "12345")).refused_for_quota, 1u);
    EXPECT_EQ(this->store().enqueue({target("alice")}, make_message("t", "1234")).refused_for_quota,
              0u);
}

TYPED_TEST(MessageStore, AckAndSessionDeleteMakeRoomUnderTheCap) {
    this->open_with_caps(1, 0);
    this->store().save_session(make_session("alice"));
    const auto first = this->store().enqueue({target("alice")}, make_message("t", "1"));
    EXPECT_EQ(this->store().enqueue({target("alice")}, make_message("t", "2")).refused_for_quota,
              1u);
    this->store().ack("alice", first.sequences[0]);
    EXPECT_EQ(this->store().enqueue({target("alice")}, make_message("t", "3")).refused_for_quota,
              0u);
    this->store().delete_session("alice");
    this->store().save_session(make_session("alice"));
    EXPECT_EQ(this->store().enqueue({target("alice")}, make_message("t", "4")).refused_for_quota,
              0u);
}

TYPED_TEST(MessageStore, CapCountsEntriesFoundAtReopen) {
    this->open_with_caps(2, 0);
    this->store().save_session(make_session("alice"));
    this->store().enqueue({target("alice")}, make_message("t", "1"));
    this->store().enqueue({target("alice")}, make_message("t", "2"));
    this->reload();
    EXPECT_EQ(this->store().enqueue({target("alice")}, make_message("t", "3")).refused_for_quota,
              1u);
}

TYPED_TEST(MessageStore, ExpiryMakesRoomUnderTheCap) {
    this->open_with_caps(1, 0);
    this->store().save_session(make_session("alice"));
    this->store().enqueue({target("alice")}, make_message("t", "short-lived", 100));
    this->store().expire_messages(100);
    this->store().flush();
    EXPECT_EQ(this->store().enqueue({target("alice")}, make_message("t", "next")).refused_for_quota,
              0u);
}

TYPED_TEST(MessageStore, IdentifiersKeepIncreasingAcrossReopen) {
    this->store().save_session(make_session("alice"));
    const auto first = this->store().enqueue({target("alice")}, make_message("t", "1"));
    const auto kept = this->store().enqueue({target("alice")}, make_message("t", "2"));
    this->store().flush();
    this->store().ack("alice", first.sequences[0]);
    this->reload();
    const auto third = this->store().enqueue({target("alice")}, make_message("t", "3"));
    EXPECT_GT(third.message_id, kept.message_id);
    EXPECT_GT(third.sequences[0], kept.sequences[0]);
}

TYPED_TEST(MessageStore, EveryOperationCompletesOkOnAHealthyStore) {
    completion_recorder done;
    this->store().save_session(make_session("alice"), done.record());
    this->store().add_subscription({"alice", "a", 1, 0}, done.record());
    const auto receipt =
        this->store().enqueue({target("alice")}, make_message("a", "x"), done.record());
    this->store().mark_sent("alice", receipt.sequences[0], 1, delivery_state::awaiting_puback,
                            done.record());
    this->store().ack("alice", receipt.sequences[0], done.record());
    this->store().put_retained(make_message("a", "x"), done.record());
    this->store().clear_retained("a", done.record());
    this->store().add_inbound_qos2({"alice", 1}, done.record());
    this->store().remove_inbound_qos2({"alice", 1}, done.record());
    this->store().remove_subscription("alice", "a", done.record());
    this->store().expire_messages(0, done.record());
    this->store().delete_session("alice", done.record());
    this->store().flush();
    EXPECT_EQ(done.count(), 12u);
    EXPECT_EQ(done.failures(), 0u);
}

} // namespace
} // namespace perch::store
