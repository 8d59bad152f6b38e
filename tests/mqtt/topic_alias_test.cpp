// Tests of mqtt/topic_alias.cpp: inbound alias resolution and outbound alias assignment (5.0).
#include <string>

#include <gtest/gtest.h>

#include "mqtt/topic_alias.hpp"

namespace perch::mqtt {
namespace {

std::string resolved(const std::variant<std::string, protocol_violation>& outcome) {
    return std::holds_alternative<std::string>(outcome) ? std::get<std::string>(outcome)
                                                        : std::string("<violation>");
}

TEST(InboundTopicAliases, WithoutAliasTheTopicStands) {
    inbound_topic_aliases aliases(4);
    EXPECT_EQ(resolved(aliases.resolve("a/b", std::nullopt)), "a/b");
    const auto empty = aliases.resolve("", std::nullopt);
    ASSERT_TRUE(std::holds_alternative<protocol_violation>(empty));
    EXPECT_EQ(std::get<protocol_violation>(empty).rule, "MQTT-4.7.3-1");
}

TEST(InboundTopicAliases, SetThenUseThenReplace) {
    // [MQTT-3.3.2-12 (5.0)] every alias from 1 to the maximum is accepted.
    inbound_topic_aliases aliases(4);
    EXPECT_EQ(resolved(aliases.resolve("one", 1)), "one");
    EXPECT_EQ(resolved(aliases.resolve("four", 4)), "four");
    EXPECT_EQ(resolved(aliases.resolve("", 1)), "one");
    EXPECT_EQ(resolved(aliases.resolve("", 4)), "four");
    EXPECT_EQ(resolved(aliases.resolve("uno", 1)), "uno");
    EXPECT_EQ(resolved(aliases.resolve("", 1)), "uno");
}

TEST(InboundTopicAliases, ZeroAndAboveMaximumAreInvalid) {
    // [MQTT-3.3.2-8, MQTT-3.3.2-9 (5.0)] Topic Alias invalid (0x94); nothing is recorded.
    inbound_topic_aliases aliases(2);
    const auto zero = aliases.resolve("a", 0);
    ASSERT_TRUE(std::holds_alternative<protocol_violation>(zero));
    EXPECT_EQ(std::get<protocol_violation>(zero).reason, reason_code::topic_alias_invalid);
    EXPECT_EQ(std::get<protocol_violation>(zero).rule, "MQTT-3.3.2-8");
    const auto above = aliases.resolve("a", 3);
    ASSERT_TRUE(std::holds_alternative<protocol_violation>(above));
    EXPECT_EQ(std::get<protocol_violation>(above).rule, "MQTT-3.3.2-9");
    EXPECT_TRUE(std::holds_alternative<protocol_violation>(aliases.resolve("", 2)));
}

TEST(InboundTopicAliases, NoAliasesWhenMaximumIsZero) {
    // [MQTT-3.2.2-18 (5.0)] none allowed when none were announced.
    inbound_topic_aliases aliases(0);
    EXPECT_TRUE(std::holds_alternative<protocol_violation>(aliases.resolve("a", 1)));
}

TEST(InboundTopicAliases, UnknownAliasIsAProtocolError) {
    inbound_topic_aliases aliases(8);
    const auto unknown = aliases.resolve("", 3);
    ASSERT_TRUE(std::holds_alternative<protocol_violation>(unknown));
    EXPECT_EQ(std::get<protocol_violation>(unknown).reason, reason_code::protocol_error);
}

TEST(OutboundTopicAliases, FirstUseSetsLaterUsesReuse) {
    // 3.3.2.3.4: the first PUBLISH of a topic carries the name with the new alias, later ones the
    // alias alone.
    outbound_topic_aliases aliases(4);
    const auto first = aliases.assign("chat/room/kitchen/alice");
    ASSERT_TRUE(first.has_value());
    EXPECT_EQ(first->alias, 1);
    EXPECT_TRUE(first->is_new);
    const auto again = aliases.assign("chat/room/kitchen/alice");
    ASSERT_TRUE(again.has_value());
    EXPECT_EQ(again->alias, 1);
    EXPECT_FALSE(again->is_new);
    const auto other = aliases.assign("chat/room/kitchen/bob");
    ASSERT_TRUE(other.has_value());
    EXPECT_EQ(other->alias, 2);
    EXPECT_TRUE(other->is_new);
    EXPECT_EQ(aliases.size(), 2u);
}

TEST(OutboundTopicAliases, ReplacesTheLeastRecentlyUsedOnceAllAreTaken) {
    outbound_topic_aliases aliases(2, 1); // every miss replaces
    EXPECT_EQ(aliases.assign("a")->alias, 1);
    EXPECT_EQ(aliases.assign("b")->alias, 2);
    EXPECT_FALSE(aliases.assign("a")->is_new); // "a" is now the more recent
    const auto c = aliases.assign("c");
    ASSERT_TRUE(c.has_value());
    EXPECT_EQ(c->alias, 2); // took over "b"
    EXPECT_TRUE(c->is_new);
    EXPECT_FALSE(aliases.find("b").has_value());
    const auto b = aliases.assign("b");
    EXPECT_EQ(b->alias, 1); // took over "a", the oldest now
    EXPECT_TRUE(b->is_new);
    EXPECT_FALSE(aliases.assign("c")->is_new);
    EXPECT_EQ(aliases.size(), 2u);
}

TEST(OutboundTopicAliases, NeverAboveTheMaximum) {
    // [MQTT-3.3.2-9 (5.0)] never above the client's Topic Alias Maximum, however many topics.
    outbound_topic_aliases aliases(5);
    for (int round = 0; round < 3; ++round) {
        for (int topic = 0; topic < 40; ++topic) {
            const auto chosen = aliases.assign("t/" + std::to_string(topic % (7 + round)));
            if (chosen) {
                EXPECT_GE(chosen->alias, 1);
                EXPECT_LE(chosen->alias, 5);
            }
        }
    }
    EXPECT_EQ(aliases.size(), 5u);
}

TEST(OutboundTopicAliases, OnceAllAreTakenOnlyEveryIntervalthMissReplaces) {
    // Three topics in turn over two aliases: replacing on every miss would give each delivery a
    // new mapping; replacing on every third miss keeps most of them aliased.
    outbound_topic_aliases aliases(2, 3);
    EXPECT_EQ(aliases.assign("a")->alias, 1);
    EXPECT_EQ(aliases.assign("b")->alias, 2);
    EXPECT_FALSE(aliases.assign("c").has_value()); // miss 1: in full, unaliased
    EXPECT_FALSE(aliases.assign("a")->is_new);
    EXPECT_FALSE(aliases.assign("b")->is_new);
    EXPECT_FALSE(aliases.assign("c").has_value()); // miss 2
    EXPECT_FALSE(aliases.assign("a")->is_new);
    const auto replaced = aliases.assign("c"); // miss 3 takes over the oldest, "b"
    ASSERT_TRUE(replaced.has_value());
    EXPECT_EQ(replaced->alias, 2);
    EXPECT_TRUE(replaced->is_new);
    EXPECT_FALSE(aliases.assign("c")->is_new);
    EXPECT_FALSE(aliases.assign("b").has_value()); // the count starts again
}

TEST(OutboundTopicAliases, ForgottenAliasIsReusedAndFindChangesNothing) {
    outbound_topic_aliases aliases(2, 1);
    aliases.assign("a");
    aliases.assign("b");
    EXPECT_EQ(aliases.find("a"), 1);
    aliases.forget(1);
    EXPECT_FALSE(aliases.find("a").has_value());
    EXPECT_EQ(aliases.size(), 1u);
    const auto c = aliases.assign("c");
    EXPECT_EQ(c->alias, 1);
    EXPECT_TRUE(c->is_new);
    // find("c") did not make "c" recent: "b" is older, yet only use counts.
    EXPECT_EQ(aliases.find("b"), 2);
    EXPECT_EQ(aliases.assign("d")->alias, 2);
    aliases.forget(0);
    aliases.forget(9);
    EXPECT_EQ(aliases.size(), 2u);
}

TEST(OutboundTopicAliases, DisabledAtZero) {
    // [MQTT-3.1.2-27 (5.0)]
    outbound_topic_aliases aliases(0);
    EXPECT_FALSE(aliases.assign("a").has_value());
}

} // namespace
} // namespace perch::mqtt
