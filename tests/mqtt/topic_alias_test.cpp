// Tests of mqtt/topic_alias.cpp: inbound alias resolution and outbound alias assignment (5.0).
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

TEST(OutboundTopicAliases, AssignsUpToTheMaximum) {
    // [MQTT-3.3.2-11 (5.0)] never above the client's Topic Alias Maximum.
    outbound_topic_aliases aliases(2);
    const auto first = aliases.assign("a");
    ASSERT_TRUE(first.has_value());
    EXPECT_EQ(first->alias, 1);
    EXPECT_TRUE(first->is_new);
    const auto again = aliases.assign("a");
    ASSERT_TRUE(again.has_value());
    EXPECT_EQ(again->alias, 1);
    EXPECT_FALSE(again->is_new);
    EXPECT_EQ(aliases.assign("b")->alias, 2);
    EXPECT_FALSE(aliases.assign("c").has_value());
}

TEST(OutboundTopicAliases, DisabledAtZero) {
    // [MQTT-3.1.2-27 (5.0)]
    outbound_topic_aliases aliases(0);
    EXPECT_FALSE(aliases.assign("a").has_value());
}

} // namespace
} // namespace perch::mqtt
