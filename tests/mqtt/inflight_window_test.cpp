// Tests of mqtt/inflight_window.cpp: packet identifier allocation and in-flight bookkeeping.
#include <gtest/gtest.h>

#include "mqtt/inflight_window.hpp"

namespace perch::mqtt {
namespace {

outbound_delivery delivery_with(std::uint16_t packet_id) {
    outbound_delivery delivery;
    delivery.packet_id = packet_id;
    return delivery;
}

TEST(InflightWindow, IdsAreNonZeroAndIncreasing) {
    // [MQTT-2.2.1-4 (5.0), MQTT-2.3.1-1 (3.1.1)] non-zero identifiers.
    inflight_window window;
    const std::uint16_t first = window.allocate_packet_id();
    window.push(delivery_with(first));
    const std::uint16_t second = window.allocate_packet_id();
    EXPECT_EQ(first, 1);
    EXPECT_EQ(second, 2);
}

TEST(InflightWindow, WrapSkipsZeroAndIdsInFlight) {
    // [MQTT-2.2.1-4 (5.0), MQTT-2.3.1-2 (3.1.1)] never an identifier currently in use.
    inflight_window window;
    window.push(delivery_with(1));
    window.push(delivery_with(2));
    window.set_next_packet_id(65535);
    EXPECT_EQ(window.allocate_packet_id(), 65535);
    window.push(delivery_with(65535));
    EXPECT_EQ(window.allocate_packet_id(), 3);
}

TEST(InflightWindow, EveryIdInFlightIsSkippedEvenOutOfOrder) {
    // A window restored in an arbitrary order is still checked exactly.
    inflight_window window;
    for (const std::uint16_t id : {9, 4, 5, 6}) {
        window.push(delivery_with(id));
    }
    window.set_next_packet_id(4);
    EXPECT_EQ(window.allocate_packet_id(), 7);
    EXPECT_TRUE(window.contains(9));
    EXPECT_TRUE(window.contains(4));
    EXPECT_FALSE(window.contains(8));
}

TEST(InflightWindow, FullCycleNeverRepeatsAnIdInFlight) {
    inflight_window window;
    std::vector<std::uint16_t> held;
    for (int i = 0; i < 1000; ++i) {
        const std::uint16_t id = window.allocate_packet_id();
        ASSERT_NE(id, 0);
        ASSERT_FALSE(window.contains(id));
        window.push(delivery_with(id));
        held.push_back(id);
        if (held.size() > 100) {
            ASSERT_TRUE(window.remove(held[held.size() - 101]));
        }
    }
    window.set_next_packet_id(static_cast<std::uint16_t>(held.back() - 50));
    const std::uint16_t fresh = window.allocate_packet_id();
    EXPECT_FALSE(window.contains(fresh));
    EXPECT_EQ(fresh, static_cast<std::uint16_t>(held.back() + 1));
}

TEST(InflightWindow, FindAndRemoveKeepOrder) {
    // [MQTT-4.4.0-1] resends go in the original order.
    inflight_window window;
    for (const std::uint16_t id : {1, 2, 3}) {
        window.push(delivery_with(id));
    }
    ASSERT_NE(window.find(2), nullptr);
    window.find(2)->stage = outbound_stage::awaiting_pubcomp;
    EXPECT_TRUE(window.remove(1));
    EXPECT_FALSE(window.remove(1));
    EXPECT_EQ(window.find(1), nullptr);
    ASSERT_EQ(window.size(), 2u);
    EXPECT_EQ(window.entries()[0].packet_id, 2);
    EXPECT_EQ(window.entries()[0].stage, outbound_stage::awaiting_pubcomp);
    EXPECT_EQ(window.entries()[1].packet_id, 3);
}

TEST(InflightWindow, ZeroIsNeverInFlightAndNeverHandedOut) {
    inflight_window window;
    window.set_next_packet_id(0);
    EXPECT_EQ(window.allocate_packet_id(), 1);
    EXPECT_FALSE(window.contains(0));
}

} // namespace
} // namespace perch::mqtt
