// Tests of mqtt/retained_tree.cpp: storing, replacing and clearing retained messages, and
// finding them by topic filter, against the specification's examples and a brute-force model.
#include <algorithm>
#include <map>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "mqtt/retained_tree.hpp"
#include "mqtt/topic.hpp"

namespace perch::mqtt {
namespace {

/// A retained message as a test sees it: the payload only.
using payload = std::string;

/// Every (topic, payload) that `filter` finds, sorted.
std::vector<std::pair<std::string, payload>> matched(const retained_tree<payload>& tree,
                                                     std::string_view filter) {
    std::vector<std::pair<std::string, payload>> found;
    tree.match(filter, [&](std::string_view topic_name, const payload& message) {
        found.emplace_back(std::string(topic_name), message);
    });
    std::sort(found.begin(), found.end());
    return found;
}

std::vector<std::string> matched_topics(const retained_tree<payload>& tree,
                                        std::string_view filter) {
    std::vector<std::string> topics;
    for (auto& [topic, message] : matched(tree, filter)) {
        topics.push_back(topic);
    }
    return topics;
}

TEST(RetainedTree, NewMessageReplacesTheRetainedOne) {
    // [MQTT-3.3.1-5] a retained PUBLISH replaces any message retained for the topic.
    retained_tree<payload> tree;
    EXPECT_EQ(tree.apply("sensors/1/temp", "20.5", false), retained_update::stored);
    EXPECT_EQ(tree.apply("sensors/1/temp", "21.0", false), retained_update::replaced);
    EXPECT_EQ(tree.size(), 1U);
    ASSERT_NE(tree.find("sensors/1/temp"), nullptr);
    EXPECT_EQ(*tree.find("sensors/1/temp"), "21.0");
    EXPECT_EQ(tree.find("sensors/1"), nullptr);
    EXPECT_EQ(tree.find("sensors/1/temp/x"), nullptr);
}

TEST(RetainedTree, EmptyPayloadRemovesAndIsNotStored) {
    // [MQTT-3.3.1-6] (5.0) / [MQTT-3.3.1-10] (3.1.1) an empty retained payload removes the
    // retained message; [MQTT-3.3.1-7] (5.0) / [MQTT-3.3.1-11] (3.1.1) it is not stored itself.
    retained_tree<payload> tree;
    tree.apply("a/b", "x", false);
    tree.apply("a/b/c", "y", false);
    EXPECT_EQ(tree.apply("a/b", "", true), retained_update::removed);
    EXPECT_EQ(tree.find("a/b"), nullptr);
    EXPECT_EQ(tree.size(), 1U);
    EXPECT_EQ(matched_topics(tree, "a/#"), (std::vector<std::string>{"a/b/c"}));
    EXPECT_EQ(tree.apply("a/b", "", true), retained_update::unchanged);
    EXPECT_EQ(tree.apply("never/set", "", true), retained_update::unchanged);
    EXPECT_EQ(tree.find("never/set"), nullptr);
    EXPECT_EQ(tree.size(), 1U);
    EXPECT_TRUE(tree.clear("a/b/c"));
    EXPECT_FALSE(tree.clear("a/b/c"));
    EXPECT_TRUE(tree.empty());
    EXPECT_TRUE(matched(tree, "#").empty());
}

TEST(RetainedTree, SubscriptionFindsEveryMatchingRetainedMessage) {
    // [MQTT-3.3.1-9] (5.0) / [MQTT-3.3.1-6] (3.1.1) a new subscription receives the retained
    // message of every matching topic; '#' includes the parent ([MQTT-4.7.1-1] 5.0 /
    // [MQTT-4.7.1-2] 3.1.1), '+' one level ([MQTT-4.7.1-2] 5.0 / [MQTT-4.7.1-3] 3.1.1).
    retained_tree<payload> tree;
    for (const char* topic :
         {"sport", "sport/", "sport/tennis", "sport/tennis/player1", "sport/tennis/player1/ranking",
          "sport/tennis/player2", "/finance", "finance", "a//b", "Accounts"}) {
        tree.set(topic, std::string("m:") + topic);
    }
    struct filter_case {
        std::string_view filter;
        std::vector<std::string> topics;
    };
    const std::vector<filter_case> cases = {
        {"sport/tennis/player1/#", {"sport/tennis/player1", "sport/tennis/player1/ranking"}},
        {"sport/#",
         {"sport", "sport/", "sport/tennis", "sport/tennis/player1", "sport/tennis/player1/ranking",
          "sport/tennis/player2"}},
        {"sport/tennis/+", {"sport/tennis/player1", "sport/tennis/player2"}},
        {"sport/+", {"sport/", "sport/tennis"}},
        {"+/+", {"/finance", "sport/", "sport/tennis"}},
        {"/+", {"/finance"}},
        {"+", {"Accounts", "finance", "sport"}},
        {"a/+/b", {"a//b"}},
        {"ACCOUNTS", {}}, // [MQTT-4.7.3-4] case sensitive, no normalisation
        {"sport/tennis/player1", {"sport/tennis/player1"}},
    };
    for (const auto& test_case : cases) {
        SCOPED_TRACE(test_case.filter);
        std::vector<std::string> expected = test_case.topics;
        std::sort(expected.begin(), expected.end());
        EXPECT_EQ(matched_topics(tree, test_case.filter), expected);
    }
    const auto found = matched(tree, "sport/tennis/player2");
    ASSERT_EQ(found.size(), 1U);
    EXPECT_EQ(found[0].second, "m:sport/tennis/player2");
}

TEST(RetainedTree, LeadingWildcardsSkipDollarTopics) {
    // [MQTT-4.7.2-1] filters starting with '+' or '#' find no topic starting with '$'.
    retained_tree<payload> tree;
    tree.set("$SYS/monitor/Clients", "3");
    tree.set("$SYS", "s");
    tree.set("app/$state", "1");
    EXPECT_EQ(matched_topics(tree, "#"), (std::vector<std::string>{"app/$state"}));
    EXPECT_TRUE(matched_topics(tree, "+/monitor/Clients").empty());
    EXPECT_TRUE(matched_topics(tree, "+").empty());
    EXPECT_EQ(matched_topics(tree, "$SYS/#"),
              (std::vector<std::string>{"$SYS", "$SYS/monitor/Clients"}));
    EXPECT_EQ(matched_topics(tree, "$SYS/monitor/+"),
              (std::vector<std::string>{"$SYS/monitor/Clients"}));
    EXPECT_EQ(matched_topics(tree, "app/+"), (std::vector<std::string>{"app/$state"}));
}

TEST(RetainedTree, ReusesStorageAfterClearing) {
    retained_tree<payload> tree;
    for (int round = 0; round < 3; ++round) {
        for (int index = 0; index < 100; ++index) {
            tree.set("t/" + std::to_string(index), std::to_string(round * 1000 + index));
        }
        for (int index = 0; index < 100; index += 2) {
            EXPECT_TRUE(tree.clear("t/" + std::to_string(index)));
        }
        EXPECT_EQ(tree.size(), 50U);
        EXPECT_EQ(matched(tree, "t/+").size(), 50U);
        ASSERT_NE(tree.find("t/99"), nullptr);
        EXPECT_EQ(*tree.find("t/99"), std::to_string(round * 1000 + 99));
    }
}

TEST(RetainedTree, VeryDeepTopicsNeitherRecurseNorLeak) {
    // [MQTT-4.7.3-3] a topic may have over 30,000 levels within its 65,535 bytes.
    std::string topic;
    for (int level = 0; level < 30'000; ++level) {
        topic += "a/";
    }
    retained_tree<payload> tree;
    tree.set(topic + "end", "deep");
    tree.set(topic + "other", "deeper");
    EXPECT_EQ(matched(tree, "#").size(), 2U);
    EXPECT_EQ(matched(tree, topic + "+").size(), 2U);
    EXPECT_TRUE(tree.clear(topic + "end"));
    EXPECT_EQ(matched(tree, "a/#").size(), 1U);
}

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

TEST(RetainedTree, AgreesWithBruteForceMatchingOnRandomTopics) {
    // [MQTT-3.3.1-5] [MQTT-3.3.1-9] [MQTT-4.7.1-1] [MQTT-4.7.1-2] [MQTT-4.7.2-1]: the tree and a
    // map scanned with topic_matches agree on thousands of random stores, clears and filters.
    std::mt19937 random(611);
    retained_tree<payload> tree;
    std::map<std::string, payload> model;
    std::uniform_int_distribution<int> pick_percent(0, 99);
    for (int step = 0; step < 8000; ++step) {
        const std::string topic = random_topic(random, false);
        const bool is_payload_empty = pick_percent(random) < 35;
        const payload message = is_payload_empty ? "" : std::to_string(step);
        const retained_update update = tree.apply(topic, message, is_payload_empty);
        const bool had_message = model.contains(topic);
        if (is_payload_empty) {
            EXPECT_EQ(update, had_message ? retained_update::removed : retained_update::unchanged);
            model.erase(topic);
        } else {
            EXPECT_EQ(update, had_message ? retained_update::replaced : retained_update::stored);
            model[topic] = message;
        }
        ASSERT_EQ(tree.size(), model.size());
        const std::string filter = random_topic(random, true);
        std::vector<std::pair<std::string, payload>> expected;
        for (const auto& [stored_topic, stored_message] : model) {
            if (topic_matches(filter, stored_topic)) {
                expected.emplace_back(stored_topic, stored_message);
            }
        }
        ASSERT_EQ(matched(tree, filter), expected) << filter;
    }
}

} // namespace
} // namespace perch::mqtt
