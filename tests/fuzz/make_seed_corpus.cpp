// Writes the seed corpora of the fuzzers: valid packets of every type at both protocol levels
// (decoder/) and a full property block for every context (properties/).
// usage: make_seed_corpus DIRECTORY   (writes DIRECTORY/decoder/* and DIRECTORY/properties/*)
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "mqtt/encoder.hpp"
#include "mqtt/property_codec.hpp"

namespace {

using namespace perch::mqtt;

/// Properties with a valid value for everything `context` admits; User Property twice.
properties sample_properties(property_context context) {
    properties all;
    auto admits = [context](property_id id) { return is_property_allowed(id, context); };
    using enum property_id;
    if (admits(payload_format_indicator)) {
        all.payload_format_indicator = 1;
    }
    if (admits(message_expiry_interval)) {
        all.message_expiry_interval = 60;
    }
    if (admits(content_type)) {
        all.content_type = "text/plain";
    }
    if (admits(response_topic)) {
        all.response_topic = "reply/here";
    }
    if (admits(correlation_data)) {
        all.correlation_data = byte_vector{1, 2, 3};
    }
    if (admits(subscription_identifier)) {
        all.subscription_identifiers = {5};
    }
    if (admits(session_expiry_interval)) {
        all.session_expiry_interval = 3600;
    }
    if (admits(assigned_client_identifier)) {
        all.assigned_client_identifier = "auto-1";
    }
    if (admits(server_keep_alive)) {
        all.server_keep_alive = 30;
    }
    if (admits(authentication_method)) {
        all.authentication_method = "SCRAM-SHA-256";
        all.authentication_data = byte_vector{7, 7};
    }
    if (admits(request_problem_information)) {
        all.request_problem_information = 1;
        all.request_response_information = 1;
    }
    if (admits(will_delay_interval)) {
        all.will_delay_interval = 10;
    }
    if (admits(response_information)) {
        all.response_information = "responses/";
    }
    if (admits(server_reference)) {
        all.server_reference = "other:1883";
    }
    if (admits(reason_string)) {
        all.reason_string = "why";
    }
    if (admits(receive_maximum)) {
        all.receive_maximum = 100;
        all.topic_alias_maximum = 10;
        all.maximum_packet_size = 65'536;
    }
    if (admits(topic_alias)) {
        all.topic_alias = 1;
    }
    if (admits(maximum_qos)) {
        all.maximum_qos = 1;
        all.retain_available = 1;
        all.wildcard_subscription_available = 1;
        all.subscription_identifier_available = 1;
        all.shared_subscription_available = 0;
    }
    all.user_properties = {{"k", "v"}, {"k", "w"}};
    return all;
}

std::vector<packet> sample_packets(protocol_version version, bool with_properties) {
    auto props = [with_properties](property_context context) {
        return with_properties ? sample_properties(context) : properties{};
    };
    connect hello;
    hello.version = version;
    hello.client_id = "seed-client";
    hello.keep_alive_seconds = 60;
    hello.will = will_message{"status/seed", shared_bytes::copy_of("bye"), qos::at_least_once, true,
                              props(property_context::will)};
    hello.user_name = "user";
    hello.password = byte_vector{'p', 'w'};
    hello.props = props(property_context::connect);
    std::vector<packet> packets;
    packets.emplace_back(hello);
    packets.emplace_back(connack{true, reason_code::success, props(property_context::connack)});
    packets.emplace_back(publish{"a/b", shared_bytes::copy_of("hello"), qos::exactly_once, true,
                                 true, 10, props(property_context::publish)});
    packets.emplace_back(
        publish{"a/b", shared_bytes::copy_of("q0"), qos::at_most_once, false, false, 0, {}});
    packets.emplace_back(puback{10, reason_code::success, props(property_context::puback)});
    packets.emplace_back(pubrec{10, reason_code::success, props(property_context::pubrec)});
    packets.emplace_back(pubrel{10, reason_code::success, props(property_context::pubrel)});
    packets.emplace_back(pubcomp{10, reason_code::success, props(property_context::pubcomp)});
    packets.emplace_back(
        subscribe{11,
                  {{"a/+", {qos::at_least_once, false, false, {}}},
                   {"b/#", {qos::exactly_once, true, true, retain_handling::do_not_send}}},
                  props(property_context::subscribe)});
    packets.emplace_back(suback{11,
                                {reason_code::granted_qos_1, reason_code::unspecified_error},
                                props(property_context::suback)});
    packets.emplace_back(unsubscribe{12, {"a/+", "b/#"}, props(property_context::unsubscribe)});
    packets.emplace_back(
        unsuback{12,
                 version == protocol_version::v5
                     ? std::vector<reason_code>{reason_code::success, reason_code::success}
                     : std::vector<reason_code>{},
                 props(property_context::unsuback)});
    packets.emplace_back(pingreq{});
    packets.emplace_back(pingresp{});
    packets.emplace_back(
        disconnect{reason_code::normal_disconnection, props(property_context::disconnect)});
    if (version == protocol_version::v5) {
        packets.emplace_back(
            auth{reason_code::continue_authentication, props(property_context::auth)});
    }
    return packets;
}

void write_file(const std::filesystem::path& path, const byte_vector& bytes) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(bytes.data()),
              static_cast<std::streamsize>(bytes.size()));
}

} // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: %s DIRECTORY\n", argv[0]);
        return 2;
    }
    const std::filesystem::path root(argv[1]);
    std::filesystem::create_directories(root / "decoder");
    std::filesystem::create_directories(root / "properties");
    for (const auto version : {protocol_version::v3_1_1, protocol_version::v5}) {
        const std::uint8_t selector = version == protocol_version::v5 ? 1 : 0;
        const std::string level = version == protocol_version::v5 ? "v5" : "v4";
        byte_vector stream = {selector};
        for (const bool with_properties : {false, true}) {
            if (with_properties && version != protocol_version::v5) {
                continue;
            }
            int index = 0;
            for (const packet& p : sample_packets(version, with_properties)) {
                byte_vector file = {selector};
                encode_append(p, version, file);
                encode_append(p, version, stream);
                const std::string name = level + (with_properties ? "-props-" : "-") +
                                         std::to_string(static_cast<int>(type_of(p))) + "-" +
                                         std::to_string(index++);
                write_file(root / "decoder" / name, file);
            }
        }
        write_file(root / "decoder" / (level + "-stream"), stream);
    }
    for (unsigned context = 0; context <= static_cast<unsigned>(property_context::auth);
         ++context) {
        const properties props = sample_properties(static_cast<property_context>(context));
        const std::size_t content_size =
            properties_content_size(props, static_cast<property_context>(context));
        byte_vector file(1 + varint_size(static_cast<std::uint32_t>(content_size)) + content_size);
        file[0] = static_cast<std::uint8_t>(context);
        wire_writer writer(std::span<std::uint8_t>(file).subspan(1));
        write_properties(writer, props, static_cast<property_context>(context), content_size);
        write_file(root / "properties" / ("context-" + std::to_string(context)), file);
    }
    return 0;
}
