// Tests of mqtt/topic.cpp: topic name and filter validation, shared subscription parsing and the
// matching rule, as tables of cases. Each case names the rule it exercises.
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "mqtt/topic.hpp"

namespace perch::mqtt {
namespace {

using namespace std::string_literals;

constexpr auto v5 = protocol_version::v5;
constexpr auto v311 = protocol_version::v3_1_1;

struct validation_case {
    std::string topic;
    protocol_version version;
    /// Empty when the topic is valid, otherwise the rule the violation must name.
    std::string_view rule;
};

void expect_validation(const validation_case& test_case,
                       const std::optional<protocol_violation>& outcome, reason_code reason) {
    if (test_case.rule.empty()) {
        EXPECT_FALSE(outcome.has_value()) << "rejected by " << outcome->rule;
        return;
    }
    ASSERT_TRUE(outcome.has_value()) << "accepted";
    EXPECT_EQ(outcome->rule, test_case.rule);
    EXPECT_EQ(outcome->reason, reason);
}

TEST(TopicName, ValidationFollowsTheRulesOfBothVersions) {
    const std::vector<validation_case> cases = {
        {"sport/tennis/player1", v5, ""},
        {"sport/tennis/player1", v311, ""},
        {"/", v5, ""},                                  // a lone separator is a valid topic (4.7.3)
        {"Accounts payable", v311, ""},                 // spaces are allowed (4.7.3)
        {"$SYS/broker/uptime", v5, ""},                 // names may start with '$' (4.7.2)
        {"a//b/", v5, ""},                              // empty levels are allowed (4.7.1.1)
        {"", v5, "MQTT-4.7.3-1"},                       // [MQTT-4.7.3-1] at least one character
        {"", v311, "MQTT-4.7.3-1"},                     // [MQTT-4.7.3-1]
        {"a\0b"s, v5, "MQTT-4.7.3-2"},                  // [MQTT-4.7.3-2] no U+0000
        {"\0"s, v311, "MQTT-4.7.3-2"},                  // [MQTT-4.7.3-2]
        {std::string(65'536, 'a'), v5, "MQTT-4.7.3-3"}, // [MQTT-4.7.3-3] at most 65,535 bytes
        {std::string(65'535, 'a'), v5, ""}, // [MQTT-4.7.3-3] the limit itself is allowed
        {"sport/+", v5, "MQTT-4.7.0-1"},    // [MQTT-4.7.0-1] (5.0) no wildcard in a name
        {"sport/#", v5, "MQTT-4.7.0-1"},    // [MQTT-4.7.0-1] [MQTT-3.3.2-2]
        {"sport+", v5, "MQTT-4.7.0-1"},     // [MQTT-4.7.0-1] even inside a level
        {"sport/+", v311, "MQTT-4.7.1-1"},  // [MQTT-4.7.1-1] (3.1.1) no wildcard in a name
        {"#", v311, "MQTT-4.7.1-1"},        // [MQTT-4.7.1-1] [MQTT-3.3.2-2]
    };
    for (const auto& test_case : cases) {
        SCOPED_TRACE(test_case.topic.substr(0, 40));
        expect_validation(test_case, validate_topic_name(test_case.topic, test_case.version),
                          reason_code::topic_name_invalid);
    }
}

TEST(TopicFilter, ValidationFollowsTheRulesOfBothVersions) {
    const std::vector<validation_case> cases = {
        // The specification's own examples (4.7.1.2, 4.7.1.3).
        {"sport/tennis/player1/#", v5, ""},
        {"#", v5, ""},
        {"sport/tennis/#", v311, ""},
        {"sport/tennis#", v5, "MQTT-4.7.1-1"},            // [MQTT-4.7.1-1] (5.0) '#' alone
        {"sport/tennis/#/ranking", v5, "MQTT-4.7.1-1"},   // [MQTT-4.7.1-1] '#' last
        {"sport/tennis#", v311, "MQTT-4.7.1-2"},          // [MQTT-4.7.1-2] (3.1.1) '#' alone
        {"sport/tennis/#/ranking", v311, "MQTT-4.7.1-2"}, // [MQTT-4.7.1-2] (3.1.1) '#' last
        {"#/", v5, "MQTT-4.7.1-1"},   // [MQTT-4.7.1-1] not even an empty level after
        {"##", v311, "MQTT-4.7.1-2"}, // [MQTT-4.7.1-2]
        {"+", v5, ""},
        {"+/tennis/#", v5, ""},
        {"sport/+/player1", v311, ""},
        {"+/+", v5, ""},
        {"/+", v5, ""},
        {"sport+", v5, "MQTT-4.7.1-2"},   // [MQTT-4.7.1-2] (5.0) '+' occupies a whole level
        {"a/++/b", v5, "MQTT-4.7.1-2"},   // [MQTT-4.7.1-2]
        {"+a/b", v5, "MQTT-4.7.1-2"},     // [MQTT-4.7.1-2]
        {"sport+", v311, "MQTT-4.7.1-3"}, // [MQTT-4.7.1-3] (3.1.1) '+' occupies a whole level
        {"a/b+", v311, "MQTT-4.7.1-3"},   // [MQTT-4.7.1-3]
        {"", v5, "MQTT-4.7.3-1"},         // [MQTT-4.7.3-1]
        {"", v311, "MQTT-4.7.3-1"},       // [MQTT-4.7.3-1]
        {"a/\0/b"s, v5, "MQTT-4.7.3-2"},  // [MQTT-4.7.3-2]
        {std::string(65'536, '+'), v5, "MQTT-4.7.3-3"}, // [MQTT-4.7.3-3] length before anything
        // Shared subscriptions (5.0 4.8.2; recognised at both levels).
        {"$share/group/sport/#", v5, ""},         // [MQTT-4.8.2-1]
        {"$share/g/$SYS/#", v5, ""},              // [MQTT-4.8.2-1]
        {"$share/group/+", v311, ""},             // [MQTT-4.8.2-1]
        {"$share//sport", v5, "MQTT-4.8.2-1"},    // [MQTT-4.8.2-1] ShareName not empty
        {"$share/", v5, "MQTT-4.8.2-1"},          // [MQTT-4.8.2-1]
        {"$share//a", v311, "MQTT-4.8.2-1"},      // [MQTT-4.8.2-1]
        {"$share/group", v5, "MQTT-4.8.2-2"},     // [MQTT-4.8.2-2] followed by '/'
        {"$share/group/", v5, "MQTT-4.8.2-2"},    // [MQTT-4.8.2-2] then a topic filter
        {"$share/gr+oup/a", v5, "MQTT-4.8.2-2"},  // [MQTT-4.8.2-2] no '+' in ShareName
        {"$share/#/a", v5, "MQTT-4.8.2-2"},       // [MQTT-4.8.2-2] no '#' in ShareName
        {"$share/g/a+/b", v5, "MQTT-4.7.1-2"},    // [MQTT-4.7.1-2] inner filter checked
        {"$share/g/a/#/b", v311, "MQTT-4.7.1-2"}, // [MQTT-4.7.1-2] (3.1.1) inner filter
        {"$share", v5, ""},                       // not the shared prefix: an ordinary filter
        {"$shared/group/a", v5, ""},              // not the shared prefix: an ordinary filter
        {"$SHARE//a", v5, ""},                    // the prefix is case sensitive [MQTT-4.7.3-4]
    };
    for (const auto& test_case : cases) {
        SCOPED_TRACE(test_case.topic.substr(0, 40));
        expect_validation(test_case, validate_topic_filter(test_case.topic, test_case.version),
                          reason_code::topic_filter_invalid);
    }
}

TEST(SharedSubscription, ParsesShareNameAndFilter) {
    struct parse_case {
        std::string_view filter;
        std::optional<shared_filter> expected;
    };
    const std::vector<parse_case> cases = {
        {"$share/consumer1/sport/tennis/+", shared_filter{"consumer1", "sport/tennis/+"}},
        {"$share/g/#", shared_filter{"g", "#"}},
        {"$share/g//", shared_filter{"g", "/"}},
        {"$share/g/$SYS/x", shared_filter{"g", "$SYS/x"}},
        {"sport/tennis", std::nullopt},
        {"$share//a", std::nullopt},   // [MQTT-4.8.2-1]
        {"$share/g", std::nullopt},    // [MQTT-4.8.2-2]
        {"$share/g/", std::nullopt},   // [MQTT-4.8.2-2]
        {"$share/a#/x", std::nullopt}, // [MQTT-4.8.2-2]
    };
    for (const auto& test_case : cases) {
        SCOPED_TRACE(test_case.filter);
        EXPECT_EQ(parse_shared_subscription(test_case.filter), test_case.expected);
    }
}

TEST(TopicFilter, DetectsWildcards) {
    EXPECT_TRUE(has_wildcard("sport/+"));
    EXPECT_TRUE(has_wildcard("#"));
    EXPECT_FALSE(has_wildcard("sport/tennis"));
    EXPECT_FALSE(has_wildcard("$SYS/broker"));
}

TEST(TopicLevel, SplitsOnSeparatorsKeepingEmptyLevels) {
    const std::string_view topic = "/a//b/";
    std::vector<std::string_view> levels;
    std::size_t position = 0;
    while (true) {
        const topic_level level = next_topic_level(topic, position);
        levels.push_back(level.level);
        if (level.is_last) {
            break;
        }
        position = level.next_position;
    }
    EXPECT_EQ(levels, (std::vector<std::string_view>{"", "a", "", "b", ""}));
}

struct match_case {
    std::string_view filter;
    std::string_view name;
    bool is_match;
};

/// The matching examples of section 4.7, plus edge cases of empty levels and '$'.
const std::vector<match_case>& specification_match_cases() {
    static const std::vector<match_case> cases = {
        // 4.7.1.2 '#' matches the parent and any number of children.
        {"sport/tennis/player1/#", "sport/tennis/player1", true},
        {"sport/tennis/player1/#", "sport/tennis/player1/ranking", true},
        {"sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon", true},
        {"sport/tennis/player1/#", "sport/tennis/player2", false},
        {"sport/tennis/player1/#", "sport/tennis", false},
        {"sport/#", "sport", true},
        {"sport/#", "sport/", true},
        {"sport/#", "sports", false},
        {"#", "sport/tennis/player1", true},
        {"#", "/", true},
        // 4.7.1.3 '+' matches exactly one level.
        {"sport/tennis/+", "sport/tennis/player1", true},
        {"sport/tennis/+", "sport/tennis/player2", true},
        {"sport/tennis/+", "sport/tennis/player1/ranking", false},
        {"sport/+", "sport", false},
        {"sport/+", "sport/", true},
        {"+/+", "/finance", true},
        {"/+", "/finance", true},
        {"+", "/finance", false},
        {"+", "finance", true},
        {"+/+", "/", true},
        {"+/tennis/#", "sport/tennis", true},
        {"+/tennis/#", "sport/tennis/player1/ranking", true},
        {"+/tennis/#", "sport/golf", false},
        {"sport/+/player1", "sport/tennis/player1", true},
        {"sport/+/player1", "sport//player1", true},
        {"a/+/#", "a/b", true},
        {"a/+/#", "a", false},
        // 4.7.2 topics beginning with '$'.
        {"#", "$SYS/monitor/Clients", false},
        {"+/monitor/Clients", "$SYS/monitor/Clients", false},
        {"+", "$SYS", false},
        {"$SYS/#", "$SYS/monitor/Clients", true},
        {"$SYS/#", "$SYS", true},
        {"$SYS/monitor/+", "$SYS/monitor/Clients", true},
        {"a/+", "a/$b", true},
        {"#", "a/$b", true},
        // 4.7.3 exact, case-sensitive comparison; leading and trailing separators count.
        {"ACCOUNTS", "Accounts", false},
        {"Accounts payable", "Accounts payable", true},
        {"/finance", "finance", false},
        {"finance/", "finance", false},
        {"a//b", "a//b", true},
        {"a//b", "a/b", false},
        {"caf\xC3\xA9", "cafe\xCC\x81", false}, // NFC vs NFD: no normalisation
    };
    return cases;
}

TEST(TopicMatches, FollowsTheSpecificationExamples) {
    // [MQTT-4.7.1-1] (5.0) / [MQTT-4.7.1-2] (3.1.1) '#' matches the parent and all children.
    // [MQTT-4.7.1-2] (5.0) / [MQTT-4.7.1-3] (3.1.1) '+' matches exactly one level.
    // [MQTT-4.7.2-1] leading wildcards never match names starting with '$'.
    // [MQTT-4.7.3-4] no normalisation; [MQTT-3.3.2-3] a delivered name matches its filter.
    for (const auto& test_case : specification_match_cases()) {
        SCOPED_TRACE(std::string(test_case.filter) + " vs " + std::string(test_case.name));
        EXPECT_EQ(topic_matches(test_case.filter, test_case.name), test_case.is_match);
    }
}

TEST(TopicMatches, HandlesLongTopicsWithoutRecursion) {
    // [MQTT-4.7.3-3] a filter or name may have tens of thousands of levels.
    std::string name;
    for (int level = 0; level < 30'000; ++level) {
        name += "a/";
    }
    name += "end";
    const std::string filter = std::string(name).replace(name.size() - 3, 3, "+");
    EXPECT_TRUE(topic_matches(filter, name));
    EXPECT_TRUE(topic_matches("a/#", name));
    EXPECT_FALSE(topic_matches(filter, name + "/more"));
}

} // namespace
} // namespace perch::mqtt
