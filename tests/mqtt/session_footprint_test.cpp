// Tests of what an idle mqtt/session holds: its size, the rarely used state made only when a
// client needs it (Will, pending requests, Topic Aliases, counters), and the per-turn block that
// carries actions and a partial packet between reads without being shared between sessions.
#include <cstddef>
#include <string>
#include <variant>
#include <vector>

#include <gtest/gtest.h>

#include "mqtt/session.hpp"

#include "tests/mqtt/session_script.hpp"

namespace perch::mqtt {
namespace {

using namespace testing_support;

/// The topic and payload of every route_publish among `actions`, as "topic=payload".
std::vector<std::string> routed(const std::vector<session_action>& actions) {
    std::vector<std::string> out;
    for (const auto& action : actions) {
        if (const auto* route = std::get_if<route_publish>(&action)) {
            out.push_back(route->content->topic_name + "=" +
                          std::string(route->content->payload.as_string()));
        }
    }
    return out;
}

byte_view first_bytes(const byte_vector& bytes, std::size_t count) {
    return byte_view(bytes).first(count);
}

byte_view bytes_after(const byte_vector& bytes, std::size_t count) {
    return byte_view(bytes).subspan(count);
}

TEST(SessionFootprint, SessionObjectStaysSmall) {
    // Every connection embeds one session; this is most of an idle connection's memory.
    EXPECT_LE(sizeof(session), 176u);
}

TEST(SessionFootprint, FreshSessionsShareOneSetOfZeroCounters) {
    const session a(session_limits{}, our_connection, start);
    const session b(session_limits{}, other_connection, start);
    EXPECT_EQ(a.counters(), session_counters{});
    // Nothing was counted, so neither session holds counters of its own.
    EXPECT_EQ(&a.counters(), &b.counters());
    EXPECT_FALSE(a.has_will());
}

TEST(SessionFootprint, PlainConnectedClientHoldsNoRareState) {
    const session fresh(session_limits{}, other_connection, start);
    for (const auto version : {protocol_version::v5, protocol_version::v3_1_1}) {
        session s = connected_session(make_connect(version, "c1"));
        s.handle_bytes(bytes_of(make_publish("a/b", "x", qos::at_most_once), version), start);
        EXPECT_EQ(routed(drain(s)), std::vector<std::string>{"a/b=x"});
        EXPECT_EQ(&s.counters(), &fresh.counters());
        EXPECT_FALSE(s.has_will());
    }
}

TEST(SessionFootprint, ViolationIsCountedByThatSessionOnly) {
    const session fresh(session_limits{}, other_connection, start);
    session s = connected_v5();
    s.handle_packet(pingresp{}, start);
    const auto actions = drain(s);
    ASSERT_FALSE(actions.empty());
    EXPECT_EQ(actions[0], sent_disconnect(reason_code::protocol_error));
    EXPECT_EQ(s.counters().protocol_violations, 1u);
    EXPECT_EQ(fresh.counters(), session_counters{});
}

TEST(SessionFootprint, AnsweredSubscribeLeavesNothingBehind) {
    const session fresh(session_limits{}, other_connection, start);
    session s = connected_v5();
    subscribe request{1, {{"a/#", subscription_options{qos::at_least_once}}}, {}};
    s.handle_packet(request, start);
    const auto asked = drain(s);
    ASSERT_EQ(asked.size(), 1u);
    EXPECT_TRUE(std::holds_alternative<subscribe_requested>(asked[0]));

    // A second SUBSCRIBE with the same id while the first is pending is refused for it.
    s.handle_packet(subscribe{1, {{"b", subscription_options{}}}, {}}, start);
    const auto refused = single_sent<suback>(s);
    EXPECT_EQ(refused.reasons, std::vector<reason_code>{reason_code::packet_identifier_in_use});

    s.complete_subscribe(1, {reason_code::granted_qos_1}, start);
    const auto answer = single_sent<suback>(s);
    EXPECT_EQ(answer.reasons, std::vector<reason_code>{reason_code::granted_qos_1});
    EXPECT_EQ(s.state().subscriptions.size(), 1u);
    EXPECT_EQ(&s.counters(), &fresh.counters());

    // The id is free again.
    s.handle_packet(unsubscribe{1, {"a/#"}, {}}, start);
    EXPECT_TRUE(std::holds_alternative<unsubscribe_requested>(drain(s).at(0)));
    s.complete_unsubscribe(1, {reason_code::success}, start);
    EXPECT_EQ(single_sent<unsuback>(s).reasons, std::vector<reason_code>{reason_code::success});
    EXPECT_TRUE(s.state().subscriptions.empty());
}

TEST(SessionFootprint, DrainedQueuesReleaseTheirStorage) {
    // A chat user sends and receives now and then: between messages its session holds no
    // acknowledgement queue, no queue of waiting deliveries and no in-flight window.
    connect request = make_connect(protocol_version::v5, "c1", false);
    request.props.session_expiry_interval = 3600;
    request.props.receive_maximum = 1;
    session s = connected_session(request);
    EXPECT_FALSE(s.holds_queue_storage());
    s.handle_delivery(make_routed("a", "1", qos::at_least_once), {}, start);
    s.handle_delivery(make_routed("a", "2", qos::at_least_once), {}, start);
    const auto first = single_sent<publish>(s);
    EXPECT_EQ(s.state().queued.size(), 1u);
    EXPECT_TRUE(s.holds_queue_storage());
    s.handle_packet(puback{first.packet_id, reason_code::success, {}}, start);
    const auto second = single_sent<publish>(s);
    EXPECT_EQ(second.payload.as_string(), "2");
    s.handle_packet(puback{second.packet_id, reason_code::success, {}}, start);
    EXPECT_TRUE(drain(s).empty());
    EXPECT_FALSE(s.holds_queue_storage());

    s.handle_packet(make_publish("a/b", "x", qos::at_least_once, 17), start);
    const auto routes = drain(s);
    ASSERT_EQ(routes.size(), 1u);
    ASSERT_TRUE(std::holds_alternative<route_publish>(routes[0]));
    EXPECT_EQ(std::get<route_publish>(routes[0]).packet_id, 17);
    EXPECT_TRUE(s.holds_queue_storage());
    s.complete_publish(17, reason_code::success, start);
    EXPECT_EQ(single_sent<puback>(s), (puback{17, reason_code::success, {}}));
    EXPECT_FALSE(s.holds_queue_storage());

    // The queues work again after their storage was released.
    s.handle_delivery(make_routed("a", "3", qos::at_least_once), {}, start);
    EXPECT_EQ(single_sent<publish>(s).payload.as_string(), "3");
    EXPECT_EQ(s.state().inflight.size(), 1u);
}

TEST(SessionFootprint, WillIsHeldUntilTheConnectionEnds) {
    connect request = make_connect(protocol_version::v5, "c1");
    request.will = make_will("gone", "bye");
    request.props.session_expiry_interval = 60;
    session s = connected_session(request);
    EXPECT_TRUE(s.has_will());
    s.handle_connection_lost(start);
    const auto actions = drain(s);
    ASSERT_FALSE(actions.empty());
    EXPECT_TRUE(std::holds_alternative<publish_will>(actions.back()));
    EXPECT_FALSE(s.has_will());
    EXPECT_EQ(s.poll_deadline(), start + std::chrono::seconds(60));
    s.handle_deadline(start + std::chrono::seconds(60));
    EXPECT_EQ(drain(s), std::vector<session_action>{session_expired{}});
    EXPECT_EQ(s.poll_deadline(), std::nullopt);
}

TEST(SessionFootprint, InboundAliasAboveTheMaximumIsRefusedWhateverWasUsedBefore) {
    session_limits limits;
    limits.topic_alias_maximum = 2;
    for (const bool is_alias_used_first : {false, true}) {
        session s = connected_v5("c1", limits);
        if (is_alias_used_first) {
            publish setting = make_publish("a", "1", qos::at_most_once);
            setting.props.topic_alias = 2;
            s.handle_packet(setting, start);
            EXPECT_EQ(routed(drain(s)), std::vector<std::string>{"a=1"});
        }
        publish beyond = make_publish("b", "2", qos::at_most_once);
        beyond.props.topic_alias = 3;
        s.handle_packet(beyond, start);
        const auto actions = drain(s);
        ASSERT_EQ(actions.size(), 3u);
        EXPECT_EQ(actions[0], sent_disconnect(reason_code::topic_alias_invalid));
        EXPECT_EQ(actions[1], closed_with(reason_code::topic_alias_invalid, "MQTT-3.3.2-9"));
    }
}

TEST(SessionFootprint, InboundAliasWithNoneAnnouncedIsRefused) {
    session_limits limits;
    limits.topic_alias_maximum = 0;
    session s = connected_v5("c1", limits);
    publish aliased = make_publish("a", "1", qos::at_most_once);
    aliased.props.topic_alias = 1;
    s.handle_packet(aliased, start);
    const auto actions = drain(s);
    ASSERT_EQ(actions.size(), 3u);
    EXPECT_EQ(actions[1], closed_with(reason_code::topic_alias_invalid, "MQTT-3.3.2-9"));
}

TEST(SessionFootprint, PartialPacketSurvivesReadsDrainsAndOtherSessions) {
    session a = connected_v5("a");
    session b = connected_v5("b");
    const byte_vector first =
        bytes_of(make_publish("t/a", "first", qos::at_most_once), protocol_version::v5);
    const byte_vector other =
        bytes_of(make_publish("t/b", "other", qos::at_most_once), protocol_version::v5);

    a.handle_bytes(first_bytes(first, 3), start);
    EXPECT_TRUE(drain(a).empty());
    // Another session on the same thread runs whole turns meanwhile.
    for (int round = 0; round < 3; ++round) {
        b.handle_bytes(other, start);
        EXPECT_EQ(routed(drain(b)), std::vector<std::string>{"t/b=other"});
    }
    a.handle_bytes(bytes_after(first, 3).first(2), start);
    EXPECT_TRUE(drain(a).empty());
    a.handle_bytes(bytes_after(first, 5), start);
    EXPECT_EQ(routed(drain(a)), std::vector<std::string>{"t/a=first"});
}

TEST(SessionFootprint, OneByteAtATimeWithATailLeftAfterWholePackets) {
    session s = connected_v311();
    byte_vector stream =
        bytes_of(make_publish("x", "1", qos::at_most_once), protocol_version::v3_1_1);
    const byte_vector second =
        bytes_of(make_publish("y", "2", qos::at_most_once), protocol_version::v3_1_1);
    stream.insert(stream.end(), second.begin(), second.end());
    // Whole first packet plus part of the second, then the rest a byte at a time.
    const std::size_t split = stream.size() - second.size() + 2;
    s.handle_bytes(first_bytes(stream, split), start);
    EXPECT_EQ(routed(drain(s)), std::vector<std::string>{"x=1"});
    std::vector<std::string> later;
    for (std::size_t i = split; i < stream.size(); ++i) {
        s.handle_bytes(byte_view(stream).subspan(i, 1), start);
        for (auto& each : routed(drain(s))) {
            later.push_back(each);
        }
    }
    EXPECT_EQ(later, std::vector<std::string>{"y=2"});
}

TEST(SessionFootprint, ManySessionsHoldTailsAtOnce) {
    // More sessions than a thread keeps spare turn blocks for, each mid-packet at the same time.
    std::vector<session> sessions;
    std::vector<byte_vector> packets;
    for (int i = 0; i < 150; ++i) {
        sessions.push_back(connected_v5("c" + std::to_string(i)));
        packets.push_back(
            bytes_of(make_publish("t/" + std::to_string(i), std::string(i, 'p'), qos::at_most_once),
                     protocol_version::v5));
    }
    for (int round = 0; round < 2; ++round) {
        for (std::size_t i = 0; i < sessions.size(); ++i) {
            sessions[i].handle_bytes(first_bytes(packets[i], 2), start);
        }
        for (std::size_t i = 0; i < sessions.size(); ++i) {
            sessions[i].handle_bytes(bytes_after(packets[i], 2), start);
        }
        for (std::size_t i = 0; i < sessions.size(); ++i) {
            EXPECT_EQ(
                routed(drain(sessions[i])),
                std::vector<std::string>{"t/" + std::to_string(i) + "=" + std::string(i, 'p')});
        }
    }
}

TEST(SessionFootprint, LargePacketInPiecesThenSmallOnes) {
    session s = connected_v5();
    const std::string payload(200 * 1024, 'z');
    const byte_vector large =
        bytes_of(make_publish("big", payload, qos::at_most_once), protocol_version::v5);
    for (std::size_t at = 0; at < large.size(); at += 4096) {
        s.handle_bytes(byte_view(large).subspan(at, std::min<std::size_t>(4096, large.size() - at)),
                       start);
        const auto actions = drain(s);
        if (at + 4096 < large.size()) {
            EXPECT_TRUE(actions.empty());
        } else {
            EXPECT_EQ(routed(actions), std::vector<std::string>{"big=" + payload});
        }
    }
    for (int i = 0; i < 3; ++i) {
        s.handle_bytes(
            bytes_of(make_publish("small", "s", qos::at_most_once), protocol_version::v5), start);
        EXPECT_EQ(routed(drain(s)), std::vector<std::string>{"small=s"});
    }
}

TEST(SessionFootprint, DeliveriesWhileDrainingKeepTheirOrder) {
    session a = connected_v5("a");
    session b = connected_v5("b");
    delivery_options options;
    // Two actions waiting: a PUBLISH to route and a PINGRESP.
    byte_vector stream = bytes_of(make_publish("t", "1", qos::at_most_once), protocol_version::v5);
    const byte_vector ping = bytes_of(pingreq{}, protocol_version::v5);
    stream.insert(stream.end(), ping.begin(), ping.end());
    a.handle_bytes(stream, start);
    auto next = a.poll_action();
    ASSERT_TRUE(next.has_value());
    ASSERT_TRUE(std::holds_alternative<route_publish>(*next));
    // Routing the message delivers it to both sessions, the publisher included, mid-drain.
    const message_ptr content = std::get<route_publish>(*next).content;
    EXPECT_EQ(a.handle_delivery(content, options, start), delivery_outcome::sent);
    EXPECT_EQ(b.handle_delivery(content, options, start), delivery_outcome::sent);
    const auto rest = sent_packets(drain(a));
    ASSERT_EQ(rest.size(), 2u);
    EXPECT_TRUE(std::holds_alternative<pingresp>(rest[0]));
    EXPECT_EQ(std::get<publish>(rest[1]).topic_name, "t");
    EXPECT_EQ(single_sent<publish>(b).topic_name, "t");

    // The last action polled, then a delivery: it starts a new turn.
    a.handle_bytes(bytes_of(make_publish("u", "2", qos::at_most_once), protocol_version::v5),
                   start);
    next = a.poll_action();
    ASSERT_TRUE(next.has_value());
    EXPECT_FALSE(a.poll_action().has_value());
    EXPECT_EQ(a.handle_delivery(std::get<route_publish>(*next).content, options, start),
              delivery_outcome::sent);
    EXPECT_EQ(single_sent<publish>(a).topic_name, "u");
}

} // namespace
} // namespace perch::mqtt
