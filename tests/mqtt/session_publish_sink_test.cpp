// Tests of the publish sink of mqtt/session (mqtt/publish_sink.hpp): deliveries go straight to
// the sink only while no action waits to be polled, a declined one falls back to send_packet, and
// the order the gateway sees is the same either way.
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "mqtt/publish_sink.hpp"
#include "mqtt/session.hpp"

#include "tests/mqtt/session_script.hpp"

namespace perch::mqtt {
namespace {

using namespace testing_support;

/// Records what it takes; declines while `is_declining` is set.
class recording_sink final : public publish_sink {
public:
    bool take_publish(publish& out) override {
        if (is_declining) {
            return false;
        }
        taken.push_back(out);
        return true;
    }

    bool is_declining = false;
    std::vector<publish> taken;
};

delivery_options granted(qos granted_qos) {
    delivery_options options;
    options.granted_qos = granted_qos;
    return options;
}

TEST(SessionPublishSink, DeliveryGoesToTheSinkWhenNothingIsWaiting) {
    for (const auto version : {protocol_version::v5, protocol_version::v3_1_1}) {
        session s = connected_session(make_connect(version, "c1"));
        drain(s);
        recording_sink sink;
        s.set_publish_sink(&sink);
        EXPECT_EQ(s.handle_delivery(make_routed("a/b", "hello", qos::at_least_once),
                                    granted(qos::at_least_once), start),
                  delivery_outcome::sent);
        EXPECT_TRUE(drain(s).empty());
        ASSERT_EQ(sink.taken.size(), 1u);
        EXPECT_EQ(sink.taken[0].topic_name, "a/b");
        EXPECT_EQ(sink.taken[0].qos_level, qos::at_least_once);
        EXPECT_NE(sink.taken[0].packet_id, 0);
        // Still tracked as in flight: the sink only changes how the packet leaves.
        EXPECT_EQ(s.state().inflight.size(), 1u);
    }
}

TEST(SessionPublishSink, DeclinedDeliveryIsPolledAsSendPacket) {
    session s = connected_v311();
    drain(s);
    recording_sink sink;
    sink.is_declining = true;
    s.set_publish_sink(&sink);
    s.handle_delivery(make_routed("a", "x", qos::at_most_once), granted(qos::at_most_once), start);
    EXPECT_TRUE(sink.taken.empty());
    EXPECT_EQ(single_sent<publish>(s).topic_name, "a");
}

TEST(SessionPublishSink, WaitingActionsKeepTheirOrder) {
    // A CONNACK not yet polled must leave before the delivery that follows it.
    session s(session_limits{}, 7, start);
    recording_sink sink;
    s.set_publish_sink(&sink);
    s.handle_packet(make_connect(protocol_version::v3_1_1, "c1"), start);
    drain(s); // connect_requested
    s.accept_connect({}, start);
    s.handle_delivery(make_routed("a", "x", qos::at_most_once), granted(qos::at_most_once), start);
    EXPECT_TRUE(sink.taken.empty());
    const auto packets = sent_packets(drain(s));
    ASSERT_EQ(packets.size(), 2u);
    EXPECT_TRUE(std::holds_alternative<connack>(packets[0]));
    EXPECT_TRUE(std::holds_alternative<publish>(packets[1]));
    // Once drained, the next delivery takes the short way.
    s.handle_delivery(make_routed("a", "y", qos::at_most_once), granted(qos::at_most_once), start);
    EXPECT_EQ(sink.taken.size(), 1u);
}

TEST(SessionPublishSink, NoSinkMeansEveryPacketIsPolled) {
    session s = connected_v5();
    drain(s);
    s.set_publish_sink(nullptr);
    s.handle_delivery(make_routed("a", "x", qos::at_most_once), granted(qos::at_most_once), start);
    EXPECT_EQ(single_sent<publish>(s).topic_name, "a");
}

} // namespace
} // namespace perch::mqtt
