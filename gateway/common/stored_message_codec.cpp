// Conversion between routed messages and store records.
#include "gateway/common/stored_message_codec.hpp"

#include <chrono>
#include <memory>
#include <span>

#include "mqtt/property_codec.hpp"
#include "mqtt/varint.hpp"

namespace perch::gateway {

namespace {

/// `props` in the 5.0 property encoding of `context` (Property Length first); empty when there
/// are none.
store::byte_vector encode_properties(const mqtt::properties& props,
                                     mqtt::property_context context) {
    store::byte_vector encoded;
    const std::size_t content_size = mqtt::properties_content_size(props, context);
    if (content_size > 0) {
        encoded.resize(content_size + mqtt::varint_size(static_cast<std::uint32_t>(content_size)));
        mqtt::wire_writer writer{std::span<std::uint8_t>(encoded)};
        mqtt::write_properties(writer, props, context, content_size);
        encoded.resize(writer.written());
    }
    return encoded;
}

} // namespace

std::uint64_t unix_now_ms() {
    const auto since_epoch = std::chrono::system_clock::now().time_since_epoch();
    return static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::milliseconds>(since_epoch).count());
}

store::stored_message to_stored_message(const mqtt::message& content, mqtt::time_point now,
                                        std::uint64_t now_unix_ms) {
    store::stored_message stored;
    stored.topic = content.topic_name;
    const mqtt::byte_view payload = content.payload.view();
    stored.payload.assign(payload.begin(), payload.end());
    stored.qos = static_cast<std::uint8_t>(content.qos_level);
    stored.is_retained = content.is_retained;
    stored.created_unix_ms = now_unix_ms;
    if (content.expiry_deadline) {
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(*content.expiry_deadline - now);
        stored.expiry_unix_ms =
            now_unix_ms + static_cast<std::uint64_t>(std::max<std::int64_t>(left.count(), 1));
    }
    if (!content.props.empty()) {
        mqtt::properties forwarded;
        content.props.copy_to(forwarded);
        stored.properties = encode_properties(forwarded, mqtt::property_context::publish);
    }
    return stored;
}

store::stored_will to_stored_will(const mqtt::will_message& will) {
    store::stored_will stored;
    stored.topic = will.topic_name;
    const mqtt::byte_view payload = will.payload.view();
    stored.payload.assign(payload.begin(), payload.end());
    stored.qos = static_cast<std::uint8_t>(will.qos_level);
    stored.is_retained = will.is_retained;
    stored.properties = encode_properties(will.props, mqtt::property_context::will);
    stored.will_delay_interval_s = will.props.will_delay_interval.value_or(0);
    return stored;
}

std::optional<mqtt::will_message> to_will_message(const store::stored_will& stored) {
    mqtt::will_message will;
    will.topic_name = stored.topic;
    will.payload =
        mqtt::shared_bytes::copy_of(mqtt::byte_view(stored.payload.data(), stored.payload.size()));
    will.qos_level = static_cast<mqtt::qos>(stored.qos);
    will.is_retained = stored.is_retained;
    if (!stored.properties.empty()) {
        mqtt::wire_reader reader{
            mqtt::byte_view(stored.properties.data(), stored.properties.size())};
        if (mqtt::read_properties(reader, mqtt::property_context::will, will.props)) {
            return std::nullopt;
        }
    }
    return will;
}

std::optional<mqtt::message_ptr> to_routed_message(const store::stored_message& stored,
                                                   mqtt::time_point now,
                                                   std::uint64_t now_unix_ms) {
    auto built = std::make_shared<mqtt::message>();
    built->topic_name = stored.topic;
    built->payload =
        mqtt::shared_bytes::copy_of(mqtt::byte_view(stored.payload.data(), stored.payload.size()));
    built->qos_level = static_cast<mqtt::qos>(stored.qos);
    built->is_retained = stored.is_retained;
    if (!stored.properties.empty()) {
        mqtt::wire_reader reader{
            mqtt::byte_view(stored.properties.data(), stored.properties.size())};
        mqtt::properties read;
        if (mqtt::read_properties(reader, mqtt::property_context::publish, read)) {
            return std::nullopt;
        }
        built->props = mqtt::forwarded_properties::of(read);
    }
    if (stored.expiry_unix_ms != 0) {
        const std::uint64_t left =
            stored.expiry_unix_ms > now_unix_ms ? stored.expiry_unix_ms - now_unix_ms : 0;
        built->expiry_deadline = now + std::chrono::milliseconds(left);
    }
    return mqtt::message_ptr(std::move(built));
}

} // namespace perch::gateway
