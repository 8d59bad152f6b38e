// Tests of the per-connection output buffer: what goes on the wire equals the encoder's bytes,
// large payloads are referenced rather than copied, and writes are double-buffered.
#include <memory>
#include <vector>

#include <gtest/gtest.h>

#include "gateway/stream/output_queue.hpp"
#include "mqtt/encoder.hpp"

namespace perch::gateway {
namespace {

mqtt::byte_vector gather(std::span<const boost::asio::const_buffer> buffers) {
    mqtt::byte_vector bytes;
    for (const auto& buffer : buffers) {
        const auto* data = static_cast<const std::uint8_t*>(buffer.data());
        bytes.insert(bytes.end(), data, data + buffer.size());
    }
    return bytes;
}

mqtt::publish make_publish(std::size_t payload_size, mqtt::qos level = mqtt::qos::at_least_once) {
    mqtt::publish message;
    message.topic_name = "sensors/kitchen";
    message.payload = mqtt::shared_bytes(mqtt::byte_vector(payload_size, 0x5a));
    message.qos_level = level;
    message.packet_id = level == mqtt::qos::at_most_once ? 0 : 17;
    return message;
}

TEST(OutputQueue, WireBytesEqualTheEncodedPackets) {
    for (const auto version : {mqtt::protocol_version::v3_1_1, mqtt::protocol_version::v5}) {
        output_buffer_pool pool;
        output_queue queue(pool);
        const mqtt::packet ack = mqtt::puback{5, mqtt::reason_code::success, {}};
        const mqtt::packet small = make_publish(10);
        const mqtt::packet large = make_publish(5000, mqtt::qos::at_most_once);
        queue.append_packet(ack, version);
        queue.append_packet(small, version);
        queue.append_packet(large, version);
        queue.append_packet(mqtt::pingresp{}, version);

        mqtt::byte_vector expected;
        for (const mqtt::packet* content : {&ack, &small, &large}) {
            mqtt::encode_append(*content, version, expected);
        }
        mqtt::encode_append(mqtt::pingresp{}, version, expected);

        EXPECT_EQ(queue.pending_bytes(), expected.size());
        const auto buffers = queue.begin_write();
        EXPECT_EQ(gather(buffers), expected);
        EXPECT_EQ(queue.writing_bytes(), expected.size());
        EXPECT_EQ(queue.pending_bytes(), 0U);
    }
}

TEST(OutputQueue, LargePayloadIsReferencedNotCopied) {
    output_buffer_pool pool;
    output_queue queue(pool);
    const mqtt::publish message = make_publish(output_queue::inline_payload_bytes + 1);
    queue.append_publish(message, mqtt::protocol_version::v5);
    const auto buffers = queue.begin_write();
    ASSERT_EQ(buffers.size(), 2U);
    EXPECT_EQ(buffers[1].data(), static_cast<const void*>(message.payload.data()));
    EXPECT_EQ(buffers[1].size(), message.payload.size());
}

TEST(OutputQueue, SmallPacketsShareOneBuffer) {
    output_buffer_pool pool;
    output_queue queue(pool);
    for (int index = 0; index < 50; ++index) {
        queue.append_publish(make_publish(20), mqtt::protocol_version::v5);
        queue.append_packet(mqtt::pingresp{}, mqtt::protocol_version::v5);
    }
    EXPECT_EQ(queue.begin_write().size(), 1U);
}

TEST(OutputQueue, PacketsAppendedDuringAWriteWaitForTheNext) {
    output_buffer_pool pool;
    output_queue queue(pool);
    queue.append_packet(mqtt::pingresp{}, mqtt::protocol_version::v5);
    const auto first = gather(queue.begin_write());
    EXPECT_TRUE(queue.is_writing());
    queue.append_packet(mqtt::puback{9, mqtt::reason_code::success, {}},
                        mqtt::protocol_version::v3_1_1);
    EXPECT_EQ(first.size(), 2U);
    EXPECT_EQ(queue.pending_bytes(), 4U);
    queue.end_write();
    EXPECT_FALSE(queue.is_writing());
    EXPECT_EQ(queue.writing_bytes(), 0U);
    EXPECT_EQ(gather(queue.begin_write()), (mqtt::byte_vector{0x40, 0x02, 0x00, 0x09}));
}

TEST(OutputQueue, ClearDropsEverything) {
    output_buffer_pool pool;
    output_queue queue(pool);
    queue.append_publish(make_publish(4000), mqtt::protocol_version::v5);
    queue.begin_write();
    queue.append_packet(mqtt::pingresp{}, mqtt::protocol_version::v5);
    queue.clear();
    EXPECT_FALSE(queue.has_pending());
    EXPECT_FALSE(queue.is_writing());
    EXPECT_EQ(queue.pending_bytes() + queue.writing_bytes(), 0U);
}

TEST(OutputQueue, HoldsBuffersOnlyWhileItHasSomethingToWrite) {
    output_buffer_pool pool;
    output_queue queue(pool);
    EXPECT_FALSE(queue.holds_buffers());
    queue.append_packet(mqtt::pingresp{}, mqtt::protocol_version::v5);
    EXPECT_TRUE(queue.holds_buffers());
    queue.begin_write();
    queue.append_packet(mqtt::pingresp{}, mqtt::protocol_version::v5);
    queue.end_write();
    // A packet arrived during the write: the buffers stay for the next one.
    EXPECT_TRUE(queue.holds_buffers());
    EXPECT_EQ(pool.size(), 0U);
    queue.begin_write();
    queue.end_write();
    EXPECT_FALSE(queue.holds_buffers());
    EXPECT_EQ(pool.size(), 1U);
}

TEST(OutputQueue, AnotherQueueReusesPooledBuffersWithTheirCapacity) {
    output_buffer_pool pool;
    output_queue first(pool);
    first.append_publish(make_publish(400), mqtt::protocol_version::v5);
    first.begin_write();
    first.end_write();
    ASSERT_EQ(pool.size(), 1U);
    output_queue second(pool);
    second.append_packet(mqtt::pingresp{}, mqtt::protocol_version::v5);
    EXPECT_EQ(pool.size(), 0U);
    // What the second queue writes is its own packet only.
    EXPECT_EQ(gather(second.begin_write()), (mqtt::byte_vector{0xd0, 0x00}));
}

TEST(OutputQueue, ThePoolKeepsABoundedNumberOfBufferSets) {
    output_buffer_pool pool;
    std::vector<std::unique_ptr<output_queue>> queues;
    for (std::size_t index = 0; index < output_buffer_pool::max_kept + 10; ++index) {
        queues.push_back(std::make_unique<output_queue>(pool));
        queues.back()->append_packet(mqtt::pingresp{}, mqtt::protocol_version::v5);
    }
    for (const auto& queue : queues) {
        queue->clear();
    }
    EXPECT_EQ(pool.size(), output_buffer_pool::max_kept);
}

} // namespace
} // namespace perch::gateway
