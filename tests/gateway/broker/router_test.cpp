// Tests of routing decisions: per-worker batches, No Local, shared groups, retained messages and
// the re-keying of a moved session's subscriptions, and changes applied in batches and slices.
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "gateway/broker/router.hpp"

namespace perch::gateway {
namespace {

mqtt::message_ptr make(std::string topic_name, std::string_view payload, bool is_retained = false,
                       mqtt::subscriber_id origin = 0, mqtt::qos level = mqtt::qos::at_least_once) {
    auto content = std::make_shared<mqtt::message>();
    content->topic_name = std::move(topic_name);
    content->payload = mqtt::shared_bytes::copy_of(payload);
    content->is_retained = is_retained;
    content->origin = origin;
    content->qos_level = level;
    return content;
}

mqtt::subscription_options options(mqtt::qos level, bool is_no_local = false) {
    mqtt::subscription_options result;
    result.maximum_qos = level;
    result.is_no_local = is_no_local;
    return result;
}

class RouterTest : public ::testing::Test {
protected:
    std::size_t route(const mqtt::message_ptr& content) {
        return routes.route(content, outbox, scratch).delivery_count;
    }

    router routes;
    std::vector<delivery_batch> outbox = std::vector<delivery_batch>(3);
    mqtt::match_output scratch;
};

TEST_F(RouterTest, GroupsDeliveriesByOwningWorker) {
    const auto on_worker_0 = make_subscriber_id(1, 0);
    const auto on_worker_2 = make_subscriber_id(1, 2);
    const auto also_on_worker_2 = make_subscriber_id(2, 2);
    routes.subscribe(on_worker_0, "a/#", options(mqtt::qos::at_least_once), std::nullopt);
    routes.subscribe(on_worker_2, "a/+", options(mqtt::qos::exactly_once), 7);
    routes.subscribe(also_on_worker_2, "b", options(mqtt::qos::at_most_once), std::nullopt);

    const auto content = make("a/b", "hi");
    EXPECT_EQ(route(content), 2U);
    ASSERT_EQ(outbox[0].size(), 1U);
    EXPECT_TRUE(outbox[1].empty());
    ASSERT_EQ(outbox[2].size(), 1U);
    EXPECT_EQ(outbox[0][0].subscriber, on_worker_0);
    EXPECT_EQ(outbox[2][0].subscriber, on_worker_2);
    EXPECT_EQ(outbox[2][0].granted_qos, mqtt::qos::exactly_once);
    EXPECT_EQ(outbox[2][0].subscription_ids, std::vector<std::uint32_t>{7});
    // The payload is shared, never copied.
    EXPECT_EQ(outbox[0][0].content.get(), content.get());
    EXPECT_EQ(outbox[2][0].content.get(), content.get());
}

// [MQTT-3.8.3-3] No Local: a message is not sent back to the connection that published it.
TEST_F(RouterTest, NoLocalSkipsThePublisher) {
    const auto publisher = make_subscriber_id(1, 1);
    const auto other = make_subscriber_id(2, 1);
    routes.subscribe(publisher, "chat/#", options(mqtt::qos::at_least_once, true), std::nullopt);
    routes.subscribe(other, "chat/#", options(mqtt::qos::at_least_once, true), std::nullopt);
    EXPECT_EQ(route(make("chat/x", "m", false, publisher)), 1U);
    ASSERT_EQ(outbox[1].size(), 1U);
    EXPECT_EQ(outbox[1][0].subscriber, other);
}

// MQTT 5.0 4.8.2: each message to a shared group goes to one member, in turn.
TEST_F(RouterTest, SharedGroupDeliversToOneMemberRoundRobin) {
    const auto first = make_subscriber_id(1, 0);
    const auto second = make_subscriber_id(2, 1);
    routes.subscribe(first, "$share/g/jobs/+", options(mqtt::qos::at_least_once), std::nullopt);
    routes.subscribe(second, "$share/g/jobs/+", options(mqtt::qos::at_least_once), std::nullopt);
    std::size_t to_first = 0;
    std::size_t to_second = 0;
    for (int index = 0; index < 10; ++index) {
        EXPECT_EQ(route(make("jobs/1", "j")), 1U);
        to_first += outbox[0].size();
        to_second += outbox[1].size();
        outbox[0].clear();
        outbox[1].clear();
    }
    EXPECT_EQ(to_first, 5U);
    EXPECT_EQ(to_second, 5U);
}

// [MQTT-3.3.1-5] a retained message replaces the one stored for its topic; an empty retained
// payload removes it ([MQTT-3.3.1-6] in 5.0, [MQTT-3.3.1-10] in 3.1.1).
TEST_F(RouterTest, RetainedMessagesAreStoredReplacedAndCleared) {
    EXPECT_EQ(routes.route(make("r/1", "one", true), outbox, scratch).retained,
              mqtt::retained_update::stored);
    EXPECT_EQ(routes.route(make("r/1", "uno", true), outbox, scratch).retained,
              mqtt::retained_update::replaced);
    routes.route(make("r/2", "two", true), outbox, scratch);
    routes.route(make("r/3", "not kept", false), outbox, scratch);
    EXPECT_EQ(routes.retained_count(), 2U);

    std::vector<mqtt::message_ptr> found;
    routes.collect_retained("r/+", found);
    ASSERT_EQ(found.size(), 2U);
    std::vector<std::string> payloads;
    for (const auto& content : found) {
        payloads.emplace_back(content->payload.as_string());
    }
    std::sort(payloads.begin(), payloads.end());
    EXPECT_EQ(payloads, (std::vector<std::string>{"two", "uno"}));

    EXPECT_EQ(routes.route(make("r/1", "", true), outbox, scratch).retained,
              mqtt::retained_update::removed);
    EXPECT_EQ(routes.retained_count(), 1U);
}

// [MQTT-4.7.2-1] filters starting with a wildcard do not match $SYS topics.
TEST_F(RouterTest, RetainedSysTopicsNeedAnExplicitFilter) {
    routes.route(make("$SYS/broker/uptime", "1 seconds", true), outbox, scratch);
    std::vector<mqtt::message_ptr> found;
    routes.collect_retained("#", found);
    EXPECT_TRUE(found.empty());
    routes.collect_retained("$SYS/#", found);
    EXPECT_EQ(found.size(), 1U);
}

TEST_F(RouterTest, MovedSessionKeepsItsSubscriptionsUnderTheNewId) {
    const auto before = make_subscriber_id(1, 0);
    const auto after = make_subscriber_id(9, 2);
    routes.subscribe(before, "a/b", options(mqtt::qos::at_least_once), std::nullopt);
    mqtt::subscription_table table;
    table["a/b"] = mqtt::subscription{options(mqtt::qos::at_least_once), 0};
    table["c/#"] = mqtt::subscription{options(mqtt::qos::exactly_once), 4};
    routes.move_subscriptions(before, after, table);
    EXPECT_EQ(routes.subscription_count(), 2U);

    EXPECT_EQ(route(make("c/d", "x")), 1U);
    ASSERT_EQ(outbox[2].size(), 1U);
    EXPECT_EQ(outbox[2][0].subscriber, after);
    EXPECT_EQ(outbox[2][0].subscription_ids, std::vector<std::uint32_t>{4});
    EXPECT_TRUE(outbox[0].empty());
}

TEST_F(RouterTest, MovedSessionKeepsTheSubscriptionsHeldBeyondItsTable) {
    // The chat layer's server-side subscriptions are in the index only, not in the session's
    // table: they move too, with their options.
    const auto before = make_subscriber_id(1, 0);
    const auto after = make_subscriber_id(9, 2);
    routes.subscribe(before, "chat/dm/alice/+", options(mqtt::qos::at_least_once), std::nullopt);
    routes.subscribe(before, "a/b", options(mqtt::qos::at_most_once), std::nullopt);
    mqtt::subscription_table table;
    table["a/b"] = mqtt::subscription{options(mqtt::qos::exactly_once), 0};
    routes.move_subscriptions(before, after, table);
    EXPECT_EQ(routes.subscription_count(), 2U);
    EXPECT_TRUE(routes.holds(after, "chat/dm/alice/+", options(mqtt::qos::at_least_once)));
    EXPECT_TRUE(routes.holds(after, "a/b", options(mqtt::qos::exactly_once)));
    EXPECT_FALSE(routes.holds(before, "chat/dm/alice/+", options(mqtt::qos::at_least_once)));

    EXPECT_EQ(route(make("chat/dm/alice/bob", "x")), 1U);
    ASSERT_EQ(outbox[2].size(), 1U);
    EXPECT_EQ(outbox[2][0].subscriber, after);
    EXPECT_TRUE(outbox[0].empty());
}

// [MQTT-3.10.4-1] unsubscribing stops deliveries; unsubscribe_all ends every subscription.
TEST_F(RouterTest, UnsubscribeStopsDeliveries) {
    const auto subscriber = make_subscriber_id(1, 1);
    routes.subscribe(subscriber, "x", options(mqtt::qos::at_most_once), std::nullopt);
    routes.subscribe(subscriber, "y", options(mqtt::qos::at_most_once), std::nullopt);
    EXPECT_TRUE(routes.unsubscribe(subscriber, "x"));
    EXPECT_FALSE(routes.unsubscribe(subscriber, "x"));
    EXPECT_EQ(route(make("x", "p")), 0U);
    routes.unsubscribe_all(subscriber);
    EXPECT_EQ(route(make("y", "p")), 0U);
    EXPECT_EQ(routes.subscription_count(), 0U);
}

// A SUBSCRIBE's filters go into the index in one exclusive section, with the same outcome as one
// at a time: a filter named twice is new the first time only [MQTT-3.8.4-3], shared filters
// form their group, subscription identifiers are kept.
TEST_F(RouterTest, ABatchOfSubscriptionsTakesOneExclusiveSection) {
    const auto subscriber = make_subscriber_id(1, 1);
    routes.subscribe(subscriber, "held", options(mqtt::qos::at_most_once), std::nullopt);
    const std::string texts[] = {"a/+", "b/#", "a/+", "$share/g/c", "held"};
    std::vector<subscription_change> changes;
    for (const std::string& text : texts) {
        changes.push_back({mqtt::parse_filter(text), options(mqtt::qos::at_least_once), 9});
    }
    const std::uint64_t sections_before = routes.exclusive_section_count();
    routes.subscribe(subscriber, changes);
    EXPECT_EQ(routes.exclusive_section_count(), sections_before + 1);
    std::vector<bool> is_new;
    for (const subscription_change& change : changes) {
        is_new.push_back(change.is_new);
    }
    EXPECT_EQ(is_new, (std::vector<bool>{true, true, false, true, false}));
    EXPECT_EQ(routes.subscription_count(), 4U);
    EXPECT_FALSE(routes.holds(subscriber, "held", options(mqtt::qos::at_most_once)));

    EXPECT_EQ(route(make("a/x", "p")), 1U);
    ASSERT_EQ(outbox[1].size(), 1U);
    EXPECT_EQ(outbox[1][0].granted_qos, mqtt::qos::at_least_once);
    EXPECT_EQ(outbox[1][0].subscription_ids, std::vector<std::uint32_t>{9});
    EXPECT_EQ(route(make("c", "p")), 1U);
}

// An UNSUBSCRIBE's filters leave the index in one exclusive section; each answer says whether
// the subscription existed [MQTT-3.10.4-5].
TEST_F(RouterTest, ABatchOfUnsubscriptionsTakesOneExclusiveSection) {
    const auto subscriber = make_subscriber_id(1, 0);
    routes.subscribe(subscriber, "x", options(mqtt::qos::at_most_once), std::nullopt);
    routes.subscribe(subscriber, "$share/g/y", options(mqtt::qos::at_most_once), std::nullopt);
    const std::vector<std::string> filters{"x", "never", "$share/g/y", "x"};
    const std::uint64_t sections_before = routes.exclusive_section_count();
    EXPECT_EQ(routes.unsubscribe(subscriber, filters),
              (std::vector<bool>{true, false, true, false}));
    EXPECT_EQ(routes.exclusive_section_count(), sections_before + 1);
    EXPECT_EQ(routes.subscription_count(), 0U);
    EXPECT_EQ(route(make("x", "p")), 0U);
    EXPECT_EQ(route(make("y", "p")), 0U);
}

// A subscriber with many filters leaves the index a slice at a time, each slice one exclusive
// section of at most removal_slice filters; the other subscribers keep theirs.
TEST_F(RouterTest, ManySubscriptionsAreRemovedInSlices) {
    const auto leaving = make_subscriber_id(1, 0);
    const auto staying = make_subscriber_id(2, 1);
    const std::size_t filter_count = 3 * router::removal_slice + 5;
    for (std::size_t index = 0; index < filter_count; ++index) {
        routes.subscribe(leaving, "storm/" + std::to_string(index),
                         options(mqtt::qos::at_most_once), std::nullopt);
    }
    routes.subscribe(staying, "storm/0", options(mqtt::qos::at_most_once), std::nullopt);

    const std::uint64_t sections_before = routes.exclusive_section_count();
    std::vector<std::size_t> remaining;
    while (remaining.empty() || remaining.back() != 0) {
        remaining.push_back(routes.unsubscribe_some(leaving));
    }
    EXPECT_EQ(remaining, (std::vector<std::size_t>{2 * router::removal_slice + 5,
                                                   router::removal_slice + 5, 5, 0}));
    EXPECT_EQ(routes.exclusive_section_count(), sections_before + 4);
    EXPECT_EQ(routes.subscription_count(), 1U);
    EXPECT_EQ(route(make("storm/0", "p")), 1U);
    ASSERT_EQ(outbox[1].size(), 1U);
    EXPECT_EQ(outbox[1][0].subscriber, staying);
    EXPECT_EQ(route(make("storm/7", "p")), 0U);
    EXPECT_EQ(routes.unsubscribe_some(leaving), 0U);
}

TEST(SubscriberId, NamesItsWorker) {
    for (std::size_t worker_index : {0UL, 1UL, 7UL, max_workers - 1}) {
        EXPECT_EQ(worker_of(make_subscriber_id(12345, worker_index)), worker_index);
    }
    EXPECT_NE(make_subscriber_id(1, 3), make_subscriber_id(2, 3));
}

} // namespace
} // namespace perch::gateway
