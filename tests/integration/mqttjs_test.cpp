// MQTT.js (the npm package mqtt, run by Node) at MQTT 3.1.1 and 5.0 against the broker under test:
// connect, subscribe, QoS 1 publish and receive, across levels, with 5.0 properties and wills.
// The client is tests/integration/node/mqttjs_client.js, on Debian's MQTT.js (node-mqtt).
#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "broker_process.hpp"

namespace perch::integration {
namespace {

using namespace std::chrono_literals;

/// Node start-up plus the job; the script gives up on its own after ten seconds.
constexpr auto node_timeout = 15s;
constexpr auto subscribe_timeout = 10s;

const std::filesystem::path client_directory = PERCH_MQTTJS_DIRECTORY;

/// A fatal failure explaining how to get Node and MQTT.js, if either is missing.
::testing::AssertionResult mqttjs_is_installed() {
    const std::string node = PERCH_NODE_PATH;
    if (node.empty() || node.find("NOTFOUND") != std::string::npos) {
        return ::testing::AssertionFailure() << "node was not found when CMake ran";
    }
    if (!std::filesystem::exists("/usr/share/nodejs/mqtt/package.json")) {
        return ::testing::AssertionFailure()
               << "MQTT.js is not installed: deploy/install-deps.sh test installs node-mqtt";
    }
    return ::testing::AssertionSuccess();
}

/// The tab-separated fields of each line the script printed.
std::vector<std::vector<std::string>> parse_lines(const std::string& output) {
    std::vector<std::vector<std::string>> lines;
    std::istringstream stream(output);
    std::string line;
    while (std::getline(stream, line)) {
        std::vector<std::string> fields;
        std::size_t start = 0;
        while (true) {
            const auto tab = line.find('\t', start);
            fields.push_back(line.substr(start, tab - start));
            if (tab == std::string::npos) {
                break;
            }
            start = tab + 1;
        }
        lines.push_back(fields);
    }
    return lines;
}

/// One message as the script printed it.
struct printed_message {
    int qos = -1;
    bool is_retained = false;
    std::string topic;
    std::string payload;
    std::string user_properties; ///< "name=value;name=value", in arrival order.
    std::string topic_alias;     ///< The PUBLISH's Topic Alias; empty when it had none.
};

std::vector<printed_message> parse_messages(const std::string& output) {
    std::vector<printed_message> messages;
    for (const auto& fields : parse_lines(output)) {
        if (fields.size() == 7 && fields[0] == "message") {
            messages.push_back({std::stoi(fields[1]), fields[2] == "1", fields[3], fields[4],
                                fields[5], fields[6]});
        }
    }
    return messages;
}

std::vector<std::string> payloads_of(const std::vector<printed_message>& messages) {
    std::vector<std::string> payloads;
    for (const auto& message : messages) {
        payloads.push_back(message.payload);
    }
    return payloads;
}

std::vector<std::string> numbered(const std::string& prefix, int count) {
    std::vector<std::string> payloads;
    for (int index = 0; index < count; ++index) {
        payloads.push_back(prefix + "-" + std::to_string(index));
    }
    return payloads;
}

class MqttJs : public broker_test {
protected:
    void SetUp() override {
        ASSERT_TRUE(mqttjs_is_installed());
        broker_test::SetUp();
    }

    /// node mqttjs_client.js MODE --url URL --version LEVEL ARGUMENTS...
    std::vector<std::string> script(const std::string& mode, int level,
                                    const std::vector<std::string>& arguments) {
        std::vector<std::string> argv{PERCH_NODE_PATH,
                                      (client_directory / "mqttjs_client.js").string(),
                                      mode,
                                      "--url",
                                      broker().url(),
                                      "--version",
                                      std::to_string(level)};
        argv.insert(argv.end(), arguments.begin(), arguments.end());
        return argv;
    }

    /// Starts a subscriber in the background and waits for its SUBACK.
    std::unique_ptr<child_process> start_subscriber(const std::string& name, int level,
                                                    const std::vector<std::string>& arguments) {
        const auto output = output_path(name);
        auto subscriber = std::make_unique<child_process>(script("subscribe", level, arguments),
                                                          process_streams{{}, output, output});
        EXPECT_TRUE(wait_for_text(output, "subscribed\t", subscribe_timeout))
            << name << " did not subscribe:\n"
            << read_file_text(output);
        return subscriber;
    }

    /// Runs the script to completion and expects it to succeed.
    command_result run_script(const std::string& mode, int level,
                              const std::vector<std::string>& arguments) {
        auto result = run_command(script(mode, level, arguments), {}, node_timeout);
        EXPECT_TRUE(result.ending.is_success()) << mode << ": " << describe(result.ending) << "\n"
                                                << result.output << result.errors;
        return result;
    }

    /// Waits for a background subscriber and returns what it received.
    std::vector<printed_message> finish(child_process& subscriber, const std::string& name) {
        const auto ending = subscriber.wait_for(node_timeout);
        const auto output = read_file_text(output_path(name));
        EXPECT_TRUE(ending && ending->is_success()) << name << " did not finish:\n" << output;
        return parse_messages(output);
    }

    std::filesystem::path output_path(const std::string& name) {
        return broker().scratch_directory() / (name + ".out");
    }
};

/// Tests run at both levels; the parameter is MQTT.js's protocolVersion (4 or 5).
class MqttJsBothLevels : public MqttJs, public ::testing::WithParamInterface<int> {};

TEST_P(MqttJsBothLevels, PublishesAndReceivesAtQos1) {
    // 3.1.1 [MQTT-3.8.4-5], 5.0 [MQTT-3.8.4-6]: the SUBACK grants QoS 1; 3.1.1 [MQTT-4.6.0-6],
    // 5.0 [MQTT-4.6.0-5]: the QoS 1 messages arrive in order, at QoS 1, not retained.
    const int level = GetParam();
    auto subscriber =
        start_subscriber("sub", level, {"--topic", "it/js/qos1", "--qos", "1", "--count", "10"});
    run_script("publish", level,
               {"--topic", "it/js/qos1", "--qos", "1", "--count", "10", "--prefix", "js"});
    const auto messages = finish(*subscriber, "sub");
    EXPECT_EQ(payloads_of(messages), numbered("js", 10));
    for (const auto& message : messages) {
        EXPECT_EQ(message.topic, "it/js/qos1");
        EXPECT_EQ(message.qos, 1);
        EXPECT_FALSE(message.is_retained);
    }
    const auto lines = parse_lines(read_file_text(output_path("sub")));
    ASSERT_GE(lines.size(), 2U);
    EXPECT_EQ(lines[0], (std::vector<std::string>{"connected", "0"})) << "clean session";
    EXPECT_EQ(lines[1], (std::vector<std::string>{"subscribed", "1"}));
}

TEST_P(MqttJsBothLevels, ReceivesFromAPublisherOfTheOtherLevel) {
    // A message crosses protocol levels unchanged: a 3.1.1 subscriber gets what a 5.0 client
    // published and the other way round.
    const int level = GetParam();
    const int other_level = level == 5 ? 4 : 5;
    auto subscriber =
        start_subscriber("sub", level, {"--topic", "it/js/cross", "--qos", "1", "--count", "5"});
    run_script("publish", other_level,
               {"--topic", "it/js/cross", "--qos", "1", "--count", "5", "--prefix", "other"});
    const auto messages = finish(*subscriber, "sub");
    EXPECT_EQ(payloads_of(messages), numbered("other", 5));
    for (const auto& message : messages) {
        EXPECT_EQ(message.qos, 1);
    }
}

TEST_F(MqttJs, UserPropertiesReachA5Subscriber) {
    // 5.0 [MQTT-3.3.2-17], [MQTT-3.3.2-18]: User Properties forwarded unaltered and in order.
    auto subscriber =
        start_subscriber("sub", 5, {"--topic", "it/js/props", "--qos", "1", "--count", "1"});
    run_script("publish", 5,
               {"--topic", "it/js/props", "--qos", "1", "--count", "1", "--user-property",
                "origin=mqttjs", "--user-property", "trace=42"});
    const auto messages = finish(*subscriber, "sub");
    ASSERT_EQ(messages.size(), 1U);
    EXPECT_EQ(messages[0].user_properties, "origin=mqttjs;trace=42");
}

TEST_F(MqttJs, DisconnectWithWillMessagePublishesTheWill) {
    // 5.0 section 3.14.2.1 and [MQTT-3.1.2-8]: a DISCONNECT with reason 0x04 (Disconnect with
    // Will Message) leaves the will to be published.
    auto subscriber =
        start_subscriber("sub", 5, {"--topic", "it/js/will", "--qos", "1", "--count", "1"});
    run_script("will", 5, {"--topic", "it/js/will", "--payload", "left with will"});
    const auto messages = finish(*subscriber, "sub");
    EXPECT_EQ(payloads_of(messages), std::vector<std::string>{"left with will"});
}

TEST_F(MqttJs, PersistentSessionCollectsMessagesWhileOffline) {
    // 3.1.1 [MQTT-3.1.2-5], [MQTT-3.2.2-2]: a 3.1.1 MQTT.js client with clean: false gets the
    // QoS 1 messages published while it was away, and Session Present 1.
    const std::vector<std::string> session{"--topic",     "it/js/offline", "--qos",       "1",
                                           "--client-id", "js-persistent", "--persistent"};
    auto first = session;
    first.insert(first.end(), {"--count", "1"});
    auto subscriber = start_subscriber("first", 4, first);
    run_script("publish", 4, {"--topic", "it/js/offline", "--qos", "1", "--count", "1"});
    finish(*subscriber, "first");

    run_script("publish", 5,
               {"--topic", "it/js/offline", "--qos", "1", "--count", "3", "--prefix", "queued"});
    auto second = session;
    second.insert(second.end(), {"--count", "3"});
    subscriber = start_subscriber("second", 4, second);
    const auto messages = finish(*subscriber, "second");
    EXPECT_EQ(payloads_of(messages), numbered("queued", 3));
    const auto lines = parse_lines(read_file_text(output_path("second")));
    ASSERT_FALSE(lines.empty());
    EXPECT_EQ(lines[0], (std::vector<std::string>{"connected", "1"}));
}

TEST_F(MqttJs, ResolvesTheTopicAliasesTheBrokerAssigns) {
    // 5.0 3.3.2.3.4: a subscriber allowing two aliases gets them on the first two topics (carol's
    // message, once both are taken, comes without one), and MQTT.js hands each message over with
    // its full topic. The bytes on the wire: topic_alias_test.cpp.
    if (broker().kind() != broker_kind::perch) {
        GTEST_SKIP() << "Mosquitto assigns no topic aliases of its own";
    }
    auto subscriber = start_subscriber(
        "sub", 5,
        {"--topic", "it/js/alias/#", "--qos", "1", "--count", "7", "--topic-alias-maximum", "2"});
    const std::vector<std::pair<std::string, int>> runs{{"it/js/alias/kitchen/alice", 3},
                                                        {"it/js/alias/kitchen/bob", 2},
                                                        {"it/js/alias/hall/carol", 1},
                                                        {"it/js/alias/kitchen/alice", 1}};
    std::vector<std::string> expected_topics;
    for (std::size_t run = 0; run < runs.size(); ++run) {
        run_script("publish", 5,
                   {"--topic", runs[run].first, "--qos", "1", "--count",
                    std::to_string(runs[run].second), "--prefix", "run" + std::to_string(run)});
        expected_topics.insert(expected_topics.end(), runs[run].second, runs[run].first);
    }
    const auto messages = finish(*subscriber, "sub");
    ASSERT_EQ(messages.size(), expected_topics.size());
    const std::vector<std::string> expected_aliases{"1", "1", "1", "2", "2", "", "1"};
    for (std::size_t index = 0; index < messages.size(); ++index) {
        EXPECT_EQ(messages[index].topic, expected_topics[index]) << "message " << index;
        EXPECT_EQ(messages[index].topic_alias, expected_aliases[index]) << "message " << index;
    }
}

std::string level_name(const ::testing::TestParamInfo<int>& info) {
    return info.param == 5 ? "Mqtt5" : "Mqtt311";
}

INSTANTIATE_TEST_SUITE_P(MqttJs, MqttJsBothLevels, ::testing::Values(4, 5), level_name);

} // namespace
} // namespace perch::integration
