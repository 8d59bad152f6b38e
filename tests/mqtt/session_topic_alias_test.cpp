// Tests of mqtt/session_publish.cpp: the Topic Aliases the server gives its PUBLISH packets (5.0
// 3.3.2.3.4), chosen as the gateway writes each one (session::choose_topic_alias).
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "mqtt/encoder.hpp"
#include "mqtt/session.hpp"

#include "tests/mqtt/session_script.hpp"

namespace perch::mqtt {
namespace {

using namespace testing_support;

const std::string kitchen_alice = "chat/room/kitchen/alice";
const std::string kitchen_bob = "chat/room/kitchen/bob";

session_limits with_outbound_aliases(std::uint16_t maximum) {
    session_limits limits;
    limits.outbound_topic_alias_maximum = maximum;
    return limits;
}

connect allowing_aliases(std::uint16_t client_maximum, bool clean_start = true) {
    connect request = make_connect(protocol_version::v5, "c1", clean_start);
    request.props.topic_alias_maximum = client_maximum;
    if (!clean_start) {
        request.props.session_expiry_interval = 3600;
    }
    return request;
}

/// Delivers `topic_name` at QoS 0 and returns the PUBLISH as the gateway writes it.
publish written(session& s, const std::string& topic_name, std::string_view payload = "x") {
    s.handle_delivery(make_routed(topic_name, payload, qos::at_most_once), {}, start);
    publish out = single_sent<publish>(s);
    s.choose_topic_alias(out);
    return out;
}

TEST(SessionTopicAlias, FirstPublishSetsTheAliasLaterOnesSendItAlone) {
    // 3.3.2.3.4: the topic name with a new alias sets the mapping; then alias and empty name.
    session s = connected_session(allowing_aliases(10), with_outbound_aliases(16));
    const publish first = written(s, kitchen_alice, "1");
    EXPECT_EQ(first.topic_name, kitchen_alice);
    EXPECT_EQ(first.props.topic_alias, 1);
    for (const char* payload : {"2", "3"}) {
        const publish later = written(s, kitchen_alice, payload);
        EXPECT_EQ(later.topic_name, "");
        EXPECT_EQ(later.props.topic_alias, 1);
        EXPECT_EQ(later.payload.as_string(), payload);
    }
    const publish other = written(s, kitchen_bob);
    EXPECT_EQ(other.topic_name, kitchen_bob);
    EXPECT_EQ(other.props.topic_alias, 2);
}

TEST(SessionTopicAlias, NeverAboveTheClientMaximum) {
    // [MQTT-3.3.2-9, MQTT-3.1.2-26 (5.0)] the client allows one alias, the server would use 16:
    // a second topic goes out in full without one, and the first keeps its alias.
    session s = connected_session(allowing_aliases(1), with_outbound_aliases(16));
    EXPECT_EQ(written(s, kitchen_alice).props.topic_alias, 1);
    EXPECT_EQ(written(s, kitchen_alice).topic_name, "");
    const publish bob = written(s, kitchen_bob);
    EXPECT_EQ(bob.topic_name, kitchen_bob);
    EXPECT_FALSE(bob.props.topic_alias.has_value());
    const publish alice_again = written(s, kitchen_alice);
    EXPECT_EQ(alice_again.topic_name, "");
    EXPECT_EQ(alice_again.props.topic_alias, 1);
}

TEST(SessionTopicAlias, TheServerCapBoundsWhatTheClientAllows) {
    // The client allows 65535 aliases, the server keeps 2.
    session s = connected_session(allowing_aliases(65535), with_outbound_aliases(2));
    EXPECT_EQ(written(s, "a").props.topic_alias, 1);
    EXPECT_EQ(written(s, "b").props.topic_alias, 2);
    const publish c = written(s, "c");
    EXPECT_EQ(c.topic_name, "c");
    EXPECT_FALSE(c.props.topic_alias.has_value());
    EXPECT_EQ(written(s, "a").topic_name, "");
    EXPECT_EQ(written(s, "b").topic_name, "");
}

TEST(SessionTopicAlias, OnceAllAreTakenAnOccasionalMissReplacesTheLeastRecentlyUsed) {
    // Every outbound_topic_aliases::default_replacement_interval-th delivery without an alias
    // takes over the least recently used one ("b" here), naming its topic to set the mapping.
    session s = connected_session(allowing_aliases(10), with_outbound_aliases(2));
    written(s, "a");
    written(s, "b");
    written(s, "a");
    for (int miss = 1; miss < outbound_topic_aliases::default_replacement_interval; ++miss) {
        const publish unaliased = written(s, "c");
        EXPECT_EQ(unaliased.topic_name, "c");
        EXPECT_FALSE(unaliased.props.topic_alias.has_value());
    }
    const publish replacing = written(s, "c");
    EXPECT_EQ(replacing.topic_name, "c");
    EXPECT_EQ(replacing.props.topic_alias, 2);
    EXPECT_EQ(written(s, "c").topic_name, "");
    EXPECT_EQ(written(s, "a").props.topic_alias, 1);
    EXPECT_FALSE(written(s, "b").props.topic_alias.has_value());
}

TEST(SessionTopicAlias, NoneWithoutClientMaximumOrServerCapOrAt311) {
    // [MQTT-3.1.2-27 (5.0)] Topic Alias Maximum absent or 0: no aliases; 3.1.1 has none.
    std::vector<session> sessions;
    sessions.push_back(
        connected_session(make_connect(protocol_version::v5, "c1"), with_outbound_aliases(16)));
    sessions.push_back(connected_session(allowing_aliases(0), with_outbound_aliases(16)));
    sessions.push_back(connected_session(allowing_aliases(10), with_outbound_aliases(0)));
    sessions.push_back(
        connected_session(make_connect(protocol_version::v3_1_1, "c1"), with_outbound_aliases(16)));
    for (session& s : sessions) {
        for (int i = 0; i < 2; ++i) {
            const publish out = written(s, kitchen_alice);
            EXPECT_EQ(out.topic_name, kitchen_alice);
            EXPECT_FALSE(out.props.topic_alias.has_value());
        }
    }
}

TEST(SessionTopicAlias, ANewConnectionStartsWithoutAliases) {
    // [MQTT-3.3.2-7 (5.0)] mappings end with the network connection, even when the session
    // lives on: the first PUBLISH after resuming names its topic again.
    const connect request = allowing_aliases(10, false);
    const session_limits limits = with_outbound_aliases(16);
    session first = connected_session(request, limits);
    written(first, kitchen_alice);
    EXPECT_EQ(written(first, kitchen_alice).topic_name, "");
    first.handle_connection_lost(start + 1s);
    drain(first);

    session second(limits, our_connection + 1, start + 2s);
    second.handle_packet(request, start + 2s);
    drain(second);
    second.accept_connect(connect_acceptance{first.take_state(start + 2s), {}, {}}, start + 2s);
    drain(second);
    const publish again = written(second, kitchen_alice);
    EXPECT_EQ(again.topic_name, kitchen_alice);
    EXPECT_EQ(again.props.topic_alias, 1);
}

TEST(SessionTopicAlias, AResentPublishNamesItsTopic) {
    // [MQTT-4.4.0-1, MQTT-3.3.2-7 (5.0)] the resends (DUP 1) after resuming carry the full topic
    // and set no mapping; the next new PUBLISH sets one.
    const connect request = allowing_aliases(10, false);
    const session_limits limits = with_outbound_aliases(16);
    session first = connected_session(request, limits);
    for (const char* payload : {"1", "2"}) {
        first.handle_delivery(make_routed(kitchen_alice, payload, qos::at_least_once), {}, start);
        publish out = single_sent<publish>(first);
        first.choose_topic_alias(out);
    }
    first.handle_connection_lost(start + 1s);
    drain(first);

    session second(limits, our_connection + 1, start + 2s);
    second.handle_packet(request, start + 2s);
    drain(second);
    second.accept_connect(connect_acceptance{first.take_state(start + 2s), {}, {}}, start + 2s);
    const auto resent = sent_packets(drain(second));
    ASSERT_EQ(resent.size(), 3u); // CONNACK and both PUBLISH packets
    for (std::size_t i = 1; i < resent.size(); ++i) {
        publish out = std::get<publish>(resent[i]);
        EXPECT_TRUE(out.is_duplicate);
        second.choose_topic_alias(out);
        EXPECT_EQ(out.topic_name, kitchen_alice);
        EXPECT_FALSE(out.props.topic_alias.has_value());
    }
    const publish fresh = written(second, kitchen_alice);
    EXPECT_EQ(fresh.topic_name, kitchen_alice);
    EXPECT_EQ(fresh.props.topic_alias, 1);
    EXPECT_EQ(written(second, kitchen_alice).topic_name, "");
}

TEST(SessionTopicAlias, ANewMappingThatWouldNotFitTheClientIsNotMade) {
    // [MQTT-3.1.2-24 (5.0)] the alias property adds three bytes: a PUBLISH that fits only
    // without it goes out in full and sets nothing.
    connect request = allowing_aliases(10);
    publish probe;
    probe.topic_name = kitchen_alice;
    probe.payload = shared_bytes::copy_of("x");
    request.props.maximum_packet_size =
        static_cast<std::uint32_t>(publish_header_size(probe, protocol_version::v5) + 1);
    session s = connected_session(request, with_outbound_aliases(16));
    for (int i = 0; i < 2; ++i) {
        const publish out = written(s, kitchen_alice);
        EXPECT_EQ(out.topic_name, kitchen_alice);
        EXPECT_FALSE(out.props.topic_alias.has_value());
    }
    // A shorter topic still gets one.
    EXPECT_EQ(written(s, "a").props.topic_alias, 1);
}

TEST(SessionTopicAlias, APublishNotWrittenSetsNothing) {
    // A PUBLISH the gateway drops (QoS 0 over its output limit) never reaches
    // choose_topic_alias, so the next one still names the topic.
    session s = connected_session(allowing_aliases(10), with_outbound_aliases(16));
    s.handle_delivery(make_routed(kitchen_alice, "dropped", qos::at_most_once), {}, start);
    EXPECT_EQ(single_sent<publish>(s).topic_name, kitchen_alice);
    const publish next = written(s, kitchen_alice);
    EXPECT_EQ(next.topic_name, kitchen_alice);
    EXPECT_EQ(next.props.topic_alias, 1);
}

} // namespace
} // namespace perch::mqtt
