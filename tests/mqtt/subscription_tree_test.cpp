// Tests of mqtt/subscription_tree.cpp: matching, overlap merging, replacement, removal, shared
// groups, and a randomized comparison against topic_matches over every stored filter.
#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include <gtest/gtest.h>

#include "mqtt/subscription_tree.hpp"
#include "mqtt/topic.hpp"

namespace perch::mqtt {
namespace {

subscription_options options_with(qos maximum_qos, bool is_no_local = false,
                                  bool is_retain_as_published = false) {
    subscription_options options;
    options.maximum_qos = maximum_qos;
    options.is_no_local = is_no_local;
    options.is_retain_as_published = is_retain_as_published;
    return options;
}

/// The subscribers of the non-shared results, sorted.
std::vector<subscriber_id> matched_subscribers(const match_output& output) {
    std::vector<subscriber_id> subscribers;
    for (const match_result& result : output.subscribers()) {
        subscribers.push_back(result.subscriber);
    }
    std::sort(subscribers.begin(), subscribers.end());
    return subscribers;
}

const match_result* result_for(const match_output& output, subscriber_id subscriber) {
    for (const match_result& result : output.subscribers()) {
        if (result.subscriber == subscriber) {
            return &result;
        }
    }
    return nullptr;
}

std::vector<std::uint32_t> sorted_ids(const match_result& result) {
    std::vector<std::uint32_t> ids(result.subscription_ids.begin(), result.subscription_ids.end());
    std::sort(ids.begin(), ids.end());
    return ids;
}

TEST(SubscriptionTree, MatchesTheSpecificationExamples) {
    // [MQTT-4.7.1-1] (5.0) / [MQTT-4.7.1-2] (3.1.1) '#', [MQTT-4.7.1-2] (5.0) / [MQTT-4.7.1-3]
    // (3.1.1) '+', [MQTT-4.7.2-1] '$' topics, [MQTT-3.3.2-3] the name matches the filter.
    const std::vector<std::string> filters = {
        "sport/tennis/player1/#",
        "sport/#",
        "#",
        "sport/tennis/+",
        "sport/+",
        "+/+",
        "/+",
        "+",
        "+/monitor/Clients",
        "$SYS/#",
        "$SYS/monitor/+",
        "a//b",
        "ACCOUNTS",
        "/finance",
        "a/+/#",
    };
    subscription_tree tree;
    for (std::size_t index = 0; index < filters.size(); ++index) {
        EXPECT_TRUE(tree.subscribe(index + 1, filters[index], options_with(qos::at_most_once)));
    }
    const std::vector<std::string> names = {
        "sport/tennis/player1",
        "sport/tennis/player1/ranking",
        "sport",
        "sport/",
        "/finance",
        "finance",
        "$SYS/monitor/Clients",
        "$SYS",
        "a//b",
        "a/b",
        "Accounts",
        "ACCOUNTS",
        "/",
        "a/b/c",
        "a",
    };
    match_output output;
    for (const std::string& name : names) {
        std::vector<subscriber_id> expected;
        for (std::size_t index = 0; index < filters.size(); ++index) {
            if (topic_matches(filters[index], name)) {
                expected.push_back(index + 1);
            }
        }
        tree.match(name, output);
        EXPECT_EQ(matched_subscribers(output), expected) << name;
    }
    tree.match("$SYS/monitor/Clients", output);
    EXPECT_EQ(matched_subscribers(output), (std::vector<subscriber_id>{10, 11}));
    tree.match("sport", output);
    EXPECT_EQ(matched_subscribers(output), (std::vector<subscriber_id>{2, 3, 8}));
}

TEST(SubscriptionTree, IdenticalFilterReplacesTheSubscription) {
    // [MQTT-3.8.4-3] an identical filter replaces the existing subscription: one entry remains,
    // with the new options and identifier. The return value drives Retain Handling 1
    // [MQTT-3.3.1-10] (5.0).
    subscription_tree tree;
    EXPECT_TRUE(tree.subscribe(7, "chat/room/+", options_with(qos::at_most_once), 1));
    EXPECT_FALSE(tree.subscribe(7, "chat/room/+", options_with(qos::exactly_once), 2));
    EXPECT_EQ(tree.subscription_count(), 1U);
    EXPECT_EQ(tree.filters_of(7), (std::vector<std::string>{"chat/room/+"}));
    match_output output;
    tree.match("chat/room/lobby", output);
    ASSERT_EQ(output.subscribers().size(), 1U);
    EXPECT_EQ(output.subscribers()[0].maximum_qos, qos::exactly_once);
    EXPECT_EQ(sorted_ids(output.subscribers()[0]), (std::vector<std::uint32_t>{2}));
    EXPECT_FALSE(tree.subscribe(7, "chat/room/+", options_with(qos::at_least_once)));
    tree.match("chat/room/lobby", output);
    EXPECT_TRUE(output.subscribers()[0].subscription_ids.empty());
    ASSERT_NE(tree.find(7, "chat/room/+"), nullptr);
    EXPECT_EQ(tree.find(7, "chat/room/+")->options.maximum_qos, qos::at_least_once);
}

TEST(SubscriptionTree, OverlappingSubscriptionsDeliverOnceAtTheMaximumQos) {
    // [MQTT-3.3.4-2] (5.0) / [MQTT-3.3.5-1] (3.1.1) the maximum QoS of all matching subscriptions.
    subscription_tree tree;
    tree.subscribe(1, "a/+", options_with(qos::at_least_once));
    tree.subscribe(1, "a/#", options_with(qos::at_most_once));
    tree.subscribe(1, "a/b", options_with(qos::exactly_once));
    tree.subscribe(2, "#", options_with(qos::at_most_once));
    match_output output;
    tree.match("a/b", output);
    ASSERT_EQ(output.subscribers().size(), 2U);
    EXPECT_EQ(result_for(output, 1)->maximum_qos, qos::exactly_once);
    EXPECT_EQ(result_for(output, 2)->maximum_qos, qos::at_most_once);
    tree.match("a/c", output);
    EXPECT_EQ(result_for(output, 1)->maximum_qos, qos::at_least_once);
    tree.match("a", output);
    EXPECT_EQ(result_for(output, 1)->maximum_qos, qos::at_most_once);
}

TEST(SubscriptionTree, OverlappingSubscriptionsCarryEveryIdentifier) {
    // [MQTT-3.3.4-3] [MQTT-3.3.4-4] one copy carries the identifiers of all matching
    // subscriptions that have one; a subscription without one adds none. Equal identifiers on
    // different subscriptions are all carried.
    subscription_tree tree;
    tree.subscribe(1, "a/+", options_with(qos::at_most_once), 11);
    tree.subscribe(1, "a/#", options_with(qos::at_most_once), 12);
    tree.subscribe(1, "+/b", options_with(qos::at_most_once));
    tree.subscribe(1, "#", options_with(qos::at_most_once), 11);
    tree.subscribe(2, "a/b", options_with(qos::at_most_once), 21);
    tree.subscribe(3, "a/b", options_with(qos::at_most_once));
    match_output output;
    tree.match("a/b", output);
    ASSERT_EQ(output.subscribers().size(), 3U);
    EXPECT_EQ(sorted_ids(*result_for(output, 1)), (std::vector<std::uint32_t>{11, 11, 12}));
    EXPECT_EQ(sorted_ids(*result_for(output, 2)), (std::vector<std::uint32_t>{21}));
    EXPECT_TRUE(result_for(output, 3)->subscription_ids.empty());
    tree.match("x/b", output);
    EXPECT_EQ(sorted_ids(*result_for(output, 1)), (std::vector<std::uint32_t>{11}));
}

TEST(SubscriptionTree, NoLocalSkipsOnlyThePublishersSubscription) {
    // [MQTT-3.8.3-3] with No Local, a message is not forwarded to the client that published it;
    // the skipped subscription adds neither QoS nor identifier to an overlapping one.
    subscription_tree tree;
    tree.subscribe(1, "chat/#", options_with(qos::exactly_once, true), 5);
    tree.subscribe(1, "chat/room/+", options_with(qos::at_most_once, false), 6);
    tree.subscribe(2, "chat/#", options_with(qos::at_least_once, true), 7);
    match_output output;
    tree.match("chat/room/lobby", output, subscriber_id{1});
    ASSERT_NE(result_for(output, 1), nullptr);
    EXPECT_EQ(result_for(output, 1)->maximum_qos, qos::at_most_once);
    EXPECT_EQ(sorted_ids(*result_for(output, 1)), (std::vector<std::uint32_t>{6}));
    EXPECT_NE(result_for(output, 2), nullptr);
    tree.match("chat/dm/bob", output, subscriber_id{1});
    EXPECT_EQ(matched_subscribers(output), (std::vector<subscriber_id>{2}));
    tree.match("chat/dm/bob", output);
    EXPECT_EQ(matched_subscribers(output), (std::vector<subscriber_id>{1, 2}));
}

TEST(SubscriptionTree, RetainAsPublishedHoldsWhenAnyOverlappingSubscriptionAsks) {
    // [MQTT-3.3.1-12] [MQTT-3.3.1-13] (5.0): one copy for overlapping subscriptions keeps the
    // RETAIN flag as published if any of them set Retain As Published.
    subscription_tree tree;
    tree.subscribe(1, "a/+", options_with(qos::at_most_once, false, false));
    tree.subscribe(1, "a/b", options_with(qos::at_most_once, false, true));
    match_output output;
    tree.match("a/b", output);
    EXPECT_TRUE(result_for(output, 1)->is_retain_as_published);
    tree.match("a/c", output);
    EXPECT_FALSE(result_for(output, 1)->is_retain_as_published);
}

TEST(SubscriptionTree, UnsubscribeComparesFiltersCharacterByCharacter) {
    // [MQTT-3.10.4-1] the filter is compared byte for byte, wildcards included; a filter that
    // merely matches the stored one removes nothing.
    subscription_tree tree;
    tree.subscribe(1, "a/+", options_with(qos::at_most_once));
    tree.subscribe(1, "a/#", options_with(qos::at_most_once));
    tree.subscribe(2, "a/+", options_with(qos::at_most_once));
    EXPECT_FALSE(tree.unsubscribe(1, "a/b"));
    EXPECT_FALSE(tree.unsubscribe(1, "a/+/"));
    EXPECT_FALSE(tree.unsubscribe(1, "A/+"));
    EXPECT_FALSE(tree.unsubscribe(3, "a/+"));
    EXPECT_TRUE(tree.unsubscribe(1, "a/+"));
    EXPECT_FALSE(tree.unsubscribe(1, "a/+"));
    EXPECT_EQ(tree.subscription_count(), 2U);
    match_output output;
    tree.match("a/b", output);
    EXPECT_EQ(matched_subscribers(output), (std::vector<subscriber_id>{1, 2}));
    EXPECT_TRUE(tree.unsubscribe(1, "a/#"));
    tree.match("a/b", output);
    EXPECT_EQ(matched_subscribers(output), (std::vector<subscriber_id>{2}));
    EXPECT_EQ(tree.subscriber_count(), 1U);
    EXPECT_EQ(tree.find(1, "a/#"), nullptr);
}

TEST(SubscriptionTree, UnsubscribeAllRemovesEverySubscriptionOfOneSubscriber) {
    subscription_tree tree;
    tree.subscribe(1, "a/b", options_with(qos::at_most_once));
    tree.subscribe(1, "a/#", options_with(qos::at_most_once));
    tree.subscribe(1, "$share/g/a/b", options_with(qos::at_most_once));
    tree.subscribe(2, "a/b", options_with(qos::at_most_once));
    EXPECT_EQ(tree.filters_of(1), (std::vector<std::string>{"a/b", "a/#", "$share/g/a/b"}));
    EXPECT_EQ(tree.unsubscribe_all(1), 3U);
    EXPECT_EQ(tree.unsubscribe_all(1), 0U);
    EXPECT_EQ(tree.subscription_count(), 1U);
    EXPECT_EQ(tree.subscriber_count(), 1U);
    EXPECT_EQ(tree.shared_group_count(), 0U);
    EXPECT_TRUE(tree.filters_of(1).empty());
    match_output output;
    tree.match("a/b", output);
    EXPECT_EQ(matched_subscribers(output), (std::vector<subscriber_id>{2}));
    EXPECT_TRUE(output.shared_groups().empty());
    EXPECT_TRUE(tree.unsubscribe(2, "a/b"));
    tree.match("a/b", output);
    EXPECT_TRUE(output.empty());
    EXPECT_EQ(tree.subscription_count(), 0U);
}

TEST(SubscriptionTree, UnsubscribeSomeRemovesTheOldestFiltersFirst) {
    subscription_tree tree;
    tree.subscribe(1, "a/b", options_with(qos::at_most_once));
    tree.subscribe(1, "$share/g/a/b", options_with(qos::at_most_once));
    tree.subscribe(1, "a/#", options_with(qos::at_most_once));
    tree.subscribe(2, "a/b", options_with(qos::at_most_once));
    EXPECT_EQ(tree.unsubscribe_some(1, 2), 1U);
    EXPECT_EQ(tree.filters_of(1), (std::vector<std::string>{"a/#"}));
    EXPECT_EQ(tree.shared_group_count(), 0U);
    EXPECT_EQ(tree.subscription_count(), 2U);
    match_output output;
    tree.match("a/b", output);
    EXPECT_EQ(matched_subscribers(output), (std::vector<subscriber_id>{1, 2}));
    EXPECT_EQ(tree.unsubscribe_some(1, 2), 0U);
    EXPECT_EQ(tree.subscriber_count(), 1U);
    EXPECT_EQ(tree.unsubscribe_some(1, 2), 0U);
    tree.match("a/b", output);
    EXPECT_EQ(matched_subscribers(output), (std::vector<subscriber_id>{2}));
}

TEST(SubscriptionTree, SharedGroupsOfferEveryMemberInRotation) {
    // [MQTT-4.8.2-1] [MQTT-4.8.2-2] $share/{ShareName}/{filter}; one group per ShareName and
    // filter. [MQTT-4.8.2-3] each member keeps its own granted QoS.
    subscription_tree tree;
    tree.subscribe(1, "$share/workers/jobs/+", options_with(qos::at_least_once));
    tree.subscribe(2, "$share/workers/jobs/+", options_with(qos::exactly_once));
    tree.subscribe(3, "$share/audit/jobs/+", options_with(qos::at_most_once));
    tree.subscribe(4, "$share/workers/jobs/#", options_with(qos::at_most_once));
    tree.subscribe(1, "jobs/+", options_with(qos::at_most_once));
    EXPECT_EQ(tree.shared_group_count(), 3U);
    EXPECT_EQ(tree.subscription_count(), 5U);
    match_output output;
    tree.match("jobs/42", output);
    EXPECT_EQ(matched_subscribers(output), (std::vector<subscriber_id>{1}));
    ASSERT_EQ(output.shared_groups().size(), 3U);
    std::set<std::tuple<std::string, std::string, std::size_t>> groups;
    for (const shared_match& group : output.shared_groups()) {
        groups.emplace(group.share_name, group.topic_filter, group.members.size());
        if (group.share_name == "workers" && group.topic_filter == "jobs/+") {
            EXPECT_EQ(group.members[0].subscriber + group.members[1].subscriber, 3U);
            for (const subscription_entry& member : group.members) {
                EXPECT_EQ(member.options.maximum_qos,
                          member.subscriber == 1 ? qos::at_least_once : qos::exactly_once);
            }
        }
    }
    EXPECT_EQ(groups,
              (std::set<std::tuple<std::string, std::string, std::size_t>>{
                  {"workers", "jobs/+", 2}, {"audit", "jobs/+", 1}, {"workers", "jobs/#", 1}}));
    // Consecutive matches start at consecutive members, so delivery rotates.
    std::set<subscriber_id> chosen;
    for (int round = 0; round < 4; ++round) {
        tree.match("jobs/42", output);
        for (const shared_match& group : output.shared_groups()) {
            if (group.share_name == "workers" && group.topic_filter == "jobs/+") {
                chosen.insert(group.members[group.rotation % group.members.size()].subscriber);
            }
        }
    }
    EXPECT_EQ(chosen, (std::set<subscriber_id>{1, 2}));
}

TEST(SubscriptionTree, SharedMembershipIsReplacedAndRemovedLikeAnySubscription) {
    // [MQTT-3.8.4-3] re-subscribing to the same shared filter replaces the membership.
    // [MQTT-3.10.4-1] unsubscribing needs the exact shared filter.
    subscription_tree tree;
    EXPECT_TRUE(tree.subscribe(1, "$share/g/a", options_with(qos::at_most_once)));
    EXPECT_FALSE(tree.subscribe(1, "$share/g/a", options_with(qos::exactly_once), 9));
    EXPECT_EQ(tree.subscription_count(), 1U);
    ASSERT_NE(tree.find(1, "$share/g/a"), nullptr);
    EXPECT_EQ(tree.find(1, "$share/g/a")->subscription_id, 9U);
    EXPECT_EQ(tree.find(1, "a"), nullptr);
    EXPECT_FALSE(tree.unsubscribe(1, "a"));
    EXPECT_FALSE(tree.unsubscribe(1, "$share/h/a"));
    EXPECT_TRUE(tree.unsubscribe(1, "$share/g/a"));
    EXPECT_EQ(tree.shared_group_count(), 0U);
    match_output output;
    tree.match("a", output);
    EXPECT_TRUE(output.empty());
}

TEST(SubscriptionTree, SharedGroupKeepsItsOwnCopyOfAParsedFilter) {
    // A filter parsed once by the caller is not parsed again; the group holds its own characters.
    subscription_tree tree;
    {
        std::string text = "$share/workers/jobs/+";
        const parsed_filter filter = parse_filter(text);
        ASSERT_TRUE(filter.shared);
        EXPECT_EQ(filter.match_filter(), "jobs/+");
        EXPECT_TRUE(tree.subscribe(1, filter, options_with(qos::at_least_once)));
        EXPECT_FALSE(tree.subscribe(1, filter, options_with(qos::exactly_once)));
        text.assign(text.size(), 'x');
    }
    EXPECT_EQ(tree.shared_group_count(), 1U);
    match_output output;
    tree.match("jobs/7", output);
    ASSERT_EQ(output.shared_groups().size(), 1U);
    EXPECT_EQ(output.shared_groups()[0].share_name, "workers");
    EXPECT_EQ(output.shared_groups()[0].topic_filter, "jobs/+");
    EXPECT_EQ(output.shared_groups()[0].members[0].options.maximum_qos, qos::exactly_once);
    EXPECT_TRUE(tree.unsubscribe(1, "$share/workers/jobs/+"));
    EXPECT_EQ(tree.shared_group_count(), 0U);
}

TEST(SubscriptionTree, DollarTopicsEscapeLeadingWildcardsEvenInSharedGroups) {
    // [MQTT-4.7.2-1] filters starting with '+' or '#' do not match names starting with '$'.
    subscription_tree tree;
    tree.subscribe(1, "#", options_with(qos::at_most_once));
    tree.subscribe(2, "+/monitor/Clients", options_with(qos::at_most_once));
    tree.subscribe(3, "$SYS/#", options_with(qos::at_most_once));
    tree.subscribe(4, "$SYS/monitor/+", options_with(qos::at_most_once));
    tree.subscribe(5, "$share/g/#", options_with(qos::at_most_once));
    match_output output;
    tree.match("$SYS/monitor/Clients", output);
    EXPECT_EQ(matched_subscribers(output), (std::vector<subscriber_id>{3, 4}));
    EXPECT_TRUE(output.shared_groups().empty());
    tree.match("other/monitor/Clients", output);
    EXPECT_EQ(matched_subscribers(output), (std::vector<subscriber_id>{1, 2}));
    EXPECT_EQ(output.shared_groups().size(), 1U);
}

TEST(SubscriptionTree, MergesThousandsOfSubscribersWithOverlaps) {
    // [MQTT-3.3.4-2] [MQTT-3.3.4-3] merging stays exact when the output's table grows.
    subscription_tree tree;
    constexpr subscriber_id subscribers = 5000;
    for (subscriber_id subscriber = 1; subscriber <= subscribers; ++subscriber) {
        tree.subscribe(subscriber, "room/+", options_with(qos::at_most_once),
                       static_cast<std::uint32_t>(subscriber));
        if (subscriber % 3 == 0) {
            tree.subscribe(subscriber, "room/#", options_with(qos::at_least_once), 1);
        }
    }
    match_output output;
    for (int repeat = 0; repeat < 2; ++repeat) {
        tree.match("room/lobby", output);
        ASSERT_EQ(output.subscribers().size(), subscribers);
        for (const match_result& result : output.subscribers()) {
            const bool is_overlapping = result.subscriber % 3 == 0;
            EXPECT_EQ(result.maximum_qos, is_overlapping ? qos::at_least_once : qos::at_most_once);
            ASSERT_EQ(result.subscription_ids.size(), is_overlapping ? 2U : 1U);
        }
    }
    EXPECT_EQ(tree.subscription_count(), subscribers + subscribers / 3);
}

TEST(SubscriptionTree, VeryDeepFiltersNeitherRecurseNorLeak) {
    // [MQTT-4.7.3-3] a filter may have over 30,000 levels within its 65,535 bytes.
    std::string filter;
    for (int level = 0; level < 30'000; ++level) {
        filter += "a/";
    }
    const std::string name = filter + "z";
    subscription_tree tree;
    tree.subscribe(1, filter + "#", options_with(qos::at_most_once));
    tree.subscribe(2, filter + "+", options_with(qos::at_most_once));
    match_output output;
    tree.match(name, output);
    EXPECT_EQ(matched_subscribers(output), (std::vector<subscriber_id>{1, 2}));
    EXPECT_TRUE(tree.unsubscribe(2, filter + "+"));
    tree.match(name, output);
    EXPECT_EQ(matched_subscribers(output), (std::vector<subscriber_id>{1}));
}

/// A brute-force model: every subscription in a map, matched with topic_matches.
struct model_subscription {
    subscription_options options;
    std::optional<std::uint32_t> subscription_id;
};
using subscription_model = std::map<std::pair<subscriber_id, std::string>, model_subscription>;

std::string random_topic(std::mt19937& random, bool is_filter) {
    static const std::vector<std::string> levels = {"a", "b", "c", "", "$x"};
    const int level_count = std::uniform_int_distribution<int>(1, 5)(random);
    std::string topic;
    for (int index = 0; index < level_count; ++index) {
        if (index > 0) {
            topic += '/';
        }
        const int choice = std::uniform_int_distribution<int>(0, is_filter ? 7 : 4)(random);
        if (choice == 5 || choice == 6) {
            topic += '+';
        } else if (choice == 7) {
            topic += '#';
            break;
        } else {
            topic += levels[static_cast<std::size_t>(choice)];
        }
    }
    return topic.empty() ? "/" : topic; // [MQTT-4.7.3-1] never empty
}

struct expected_delivery {
    qos maximum_qos = qos::at_most_once;
    bool is_retain_as_published = false;
    std::vector<std::uint32_t> subscription_ids;
    bool operator==(const expected_delivery&) const = default;
};

void expect_tree_agrees_with_model(const subscription_tree& tree, const subscription_model& model,
                                   const std::string& name, std::optional<subscriber_id> publisher,
                                   match_output& output) {
    std::map<subscriber_id, expected_delivery> expected;
    std::map<std::string, std::set<subscriber_id>> expected_groups;
    for (const auto& [key, subscription] : model) {
        const auto& [subscriber, filter] = key;
        if (const auto shared = parse_shared_subscription(filter)) {
            if (topic_matches(shared->topic_filter, name)) {
                expected_groups[filter].insert(subscriber);
            }
            continue;
        }
        if (!topic_matches(filter, name) ||
            (subscription.options.is_no_local && publisher == subscriber)) {
            continue;
        }
        const bool is_first = !expected.contains(subscriber);
        expected_delivery& delivery = expected[subscriber];
        delivery.maximum_qos =
            is_first ? subscription.options.maximum_qos
                     : std::max(delivery.maximum_qos, subscription.options.maximum_qos);
        delivery.is_retain_as_published |= subscription.options.is_retain_as_published;
        if (subscription.subscription_id) {
            delivery.subscription_ids.push_back(*subscription.subscription_id);
            std::sort(delivery.subscription_ids.begin(), delivery.subscription_ids.end());
        }
    }
    tree.match(name, output, publisher);
    std::map<subscriber_id, expected_delivery> actual;
    for (const match_result& result : output.subscribers()) {
        EXPECT_FALSE(actual.contains(result.subscriber)) << "one result per subscriber";
        actual[result.subscriber] = {result.maximum_qos, result.is_retain_as_published,
                                     sorted_ids(result)};
    }
    EXPECT_EQ(actual, expected) << name;
    std::map<std::string, std::set<subscriber_id>> actual_groups;
    for (const shared_match& group : output.shared_groups()) {
        const std::string filter =
            "$share/" + std::string(group.share_name) + "/" + std::string(group.topic_filter);
        for (const subscription_entry& member : group.members) {
            actual_groups[filter].insert(member.subscriber);
        }
    }
    EXPECT_EQ(actual_groups, expected_groups) << name;
}

TEST(SubscriptionTree, AgreesWithBruteForceMatchingOnRandomSubscriptions) {
    // [MQTT-4.7.1-1] [MQTT-4.7.1-2] [MQTT-4.7.2-1] [MQTT-3.3.4-2] [MQTT-3.3.4-3] [MQTT-3.8.4-3]
    // [MQTT-3.10.4-1] [MQTT-3.8.3-3]: the tree and a list scanned with topic_matches agree on
    // thousands of random filters, names, replacements and removals.
    std::mt19937 random(20240611);
    subscription_tree tree;
    subscription_model model;
    match_output output;
    std::uniform_int_distribution<subscriber_id> pick_subscriber(1, 40);
    std::uniform_int_distribution<int> pick_percent(0, 99);
    for (int step = 0; step < 6000; ++step) {
        const subscriber_id subscriber = pick_subscriber(random);
        std::string filter = random_topic(random, true);
        if (pick_percent(random) < 15) {
            filter = "$share/" + std::string(pick_percent(random) < 50 ? "g1/" : "g2/") + filter;
        }
        ASSERT_FALSE(validate_topic_filter(filter, protocol_version::v5).has_value()) << filter;
        const int action = pick_percent(random);
        if (action < 60) {
            const model_subscription subscription{
                options_with(static_cast<qos>(pick_percent(random) % 3),
                             !filter.starts_with("$share/") && pick_percent(random) < 30,
                             pick_percent(random) < 30),
                pick_percent(random) < 50
                    ? std::optional<std::uint32_t>(static_cast<std::uint32_t>(step + 1))
                    : std::nullopt};
            const bool is_new = !model.contains({subscriber, filter});
            EXPECT_EQ(tree.subscribe(subscriber, filter, subscription.options,
                                     subscription.subscription_id),
                      is_new);
            model[{subscriber, filter}] = subscription;
        } else if (action < 85) {
            EXPECT_EQ(tree.unsubscribe(subscriber, filter), model.erase({subscriber, filter}) == 1);
        } else if (action < 87) {
            const std::size_t removed = std::erase_if(
                model, [subscriber](const auto& entry) { return entry.first.first == subscriber; });
            EXPECT_EQ(tree.unsubscribe_all(subscriber), removed);
        }
        ASSERT_EQ(tree.subscription_count(), model.size());
        if (step % 3 == 0) {
            const std::string name = random_topic(random, false);
            const std::optional<subscriber_id> publisher =
                pick_percent(random) < 50 ? std::optional<subscriber_id>(pick_subscriber(random))
                                          : std::nullopt;
            expect_tree_agrees_with_model(tree, model, name, publisher, output);
        }
    }
    for (int round = 0; round < 3000; ++round) {
        expect_tree_agrees_with_model(tree, model, random_topic(random, false), std::nullopt,
                                      output);
    }
}

} // namespace
} // namespace perch::mqtt
