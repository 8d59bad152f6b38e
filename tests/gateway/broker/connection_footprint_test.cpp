// Size guards for what every idle plain-TCP connection holds: the connection object (with its
// session) and its transport. An idle connection costs about 700 bytes of broker memory
// (docs/PERFORMANCE.md, "Round 6"), below Mosquitto's; a field added here raises that for every
// connected client, so growing these limits needs a reason (a cold field goes behind a pointer
// made on demand, as the chat part and the session's extras do).
#include <gtest/gtest.h>

#include "gateway/broker/connection.hpp"
#include "gateway/stream/transport.hpp"

namespace perch::gateway {
namespace {

TEST(ConnectionFootprint, ConnectionObjectStaysSmall) {
    // 344 plus the pointer to the quota part (docs/LIMITS.md): quotas are on by default, so every
    // client that publishes or subscribes has one; its buckets live behind it, not here, and an
    // idle client holds none.
    EXPECT_LE(sizeof(connection), 352u);
}

TEST(ConnectionFootprint, PlainTransportStaysSmall) {
    EXPECT_LE(sizeof(tcp_transport), 104u);
}

TEST(ConnectionFootprint, ReadWaitHandlerHoldsTheConnectionWithoutTheHeap) {
    // The connection's wait and write handlers capture one shared_ptr.
    EXPECT_GE(transport::wait_handler::capacity, sizeof(std::shared_ptr<connection>));
    EXPECT_GE(transport::write_handler::capacity, sizeof(std::shared_ptr<connection>));
}

} // namespace
} // namespace perch::gateway
