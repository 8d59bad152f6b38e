// mosquitto_pub and mosquitto_sub, at MQTT 3.1.1 and 5.0, against the broker under test: QoS
// levels, retained messages, persistent sessions, wills and a 1000-message stream.
#include <chrono>
#include <filesystem>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include <gtest/gtest.h>

#include "broker_process.hpp"
#include <signal.h>

namespace perch::integration {
namespace {

using namespace std::chrono_literals;

/// How long a client command may run before it is killed.
constexpr auto command_timeout = 10s;
/// How long a subscriber may take to have its SUBACK.
constexpr auto subscribe_timeout = 5s;
/// mosquitto_sub prints each message as one line in this shape.
constexpr std::string_view message_format = "M|%r|%q|%t|%p";

/// One message as mosquitto_sub printed it.
struct printed_message {
    bool is_retained = false;
    int qos = 0;
    std::string topic;
    std::string payload;
};

/// The messages in mosquitto_sub's output (lines in message_format; debug lines are skipped).
std::vector<printed_message> parse_messages(const std::string& output) {
    std::vector<printed_message> messages;
    std::istringstream lines(output);
    std::string line;
    while (std::getline(lines, line)) {
        if (line.rfind("M|", 0) != 0 || line.size() < 7) {
            continue;
        }
        printed_message message;
        message.is_retained = line[2] == '1';
        message.qos = line[4] - '0';
        const auto topic_end = line.find('|', 6);
        if (topic_end == std::string::npos) {
            continue;
        }
        message.topic = line.substr(6, topic_end - 6);
        message.payload = line.substr(topic_end + 1);
        messages.push_back(message);
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

/// mosquitto_sub running in the background, its output (debug lines included, line-buffered
/// through stdbuf so it can be watched) collected in a file of the broker's scratch directory.
class background_subscriber {
public:
    background_subscriber(const broker_process& broker, const std::string& name,
                          std::vector<std::string> arguments)
        : output_path_(broker.scratch_directory() / (name + ".out")) {
        std::vector<std::string> argv{"stdbuf",
                                      "-oL",
                                      "mosquitto_sub",
                                      "-h",
                                      broker_process::host(),
                                      "-p",
                                      std::to_string(broker.port()),
                                      "-d",
                                      "-F",
                                      std::string(message_format)};
        argv.insert(argv.end(), arguments.begin(), arguments.end());
        process_ =
            std::make_unique<child_process>(argv, process_streams{{}, output_path_, output_path_});
    }

    /// Waits until mosquitto_sub has its SUBACK.
    bool wait_until_subscribed() {
        return wait_for_text(output_path_, "received SUBACK", subscribe_timeout);
    }

    /// Waits for the subscriber to exit by itself (its -C count or -W timeout).
    std::optional<process_exit> wait() { return process_->wait_for(command_timeout); }

    /// Kills the subscriber without letting it send DISCONNECT.
    void kill() { process_->stop(0ms, SIGKILL); }

    std::vector<printed_message> messages() const {
        return parse_messages(read_file_text(output_path_));
    }

    std::string output() const { return read_file_text(output_path_); }

private:
    std::filesystem::path output_path_;
    std::unique_ptr<child_process> process_;
};

/// Tests run for each protocol level; the parameter is mosquitto's -V value.
class MosquittoClients : public broker_test, public ::testing::WithParamInterface<std::string> {
protected:
    const std::string& level() const { return GetParam(); }

    /// A subscriber at this level, started and subscribed.
    std::unique_ptr<background_subscriber> subscribe(const std::string& name,
                                                     std::vector<std::string> arguments) {
        arguments.insert(arguments.begin(), {"-V", level()});
        auto subscriber = std::make_unique<background_subscriber>(broker(), name, arguments);
        EXPECT_TRUE(subscriber->wait_until_subscribed()) << name << " never got its SUBACK:\n"
                                                         << subscriber->output();
        return subscriber;
    }

    /// Runs mosquitto_pub at this level with `arguments`, feeding it `input`.
    command_result publish(std::vector<std::string> arguments, std::string_view input = {}) {
        std::vector<std::string> argv{"mosquitto_pub",
                                      "-h",
                                      broker_process::host(),
                                      "-p",
                                      std::to_string(broker().port()),
                                      "-V",
                                      level()};
        argv.insert(argv.end(), arguments.begin(), arguments.end());
        auto result = run_command(argv, input, command_timeout);
        EXPECT_TRUE(result.ending.is_success())
            << "mosquitto_pub " << describe(result.ending) << ": " << result.errors;
        return result;
    }

    /// Runs mosquitto_sub in the foreground at this level until it exits.
    command_result subscribe_until_done(std::vector<std::string> arguments) {
        std::vector<std::string> argv{"mosquitto_sub",
                                      "-h",
                                      broker_process::host(),
                                      "-p",
                                      std::to_string(broker().port()),
                                      "-V",
                                      level(),
                                      "-F",
                                      std::string(message_format)};
        argv.insert(argv.end(), arguments.begin(), arguments.end());
        return run_command(argv, {}, command_timeout);
    }
};

TEST_P(MosquittoClients, DeliversAtEachQos) {
    // 3.1.1 [MQTT-4.6.0-6], 5.0 [MQTT-4.6.0-5]: in order; 3.1.1 [MQTT-3.8.4-6], 5.0
    // [MQTT-3.8.4-8]: at the lower of the published and the subscribed QoS.
    for (int qos = 0; qos <= 2; ++qos) {
        const std::string topic = "it/cli/qos" + std::to_string(qos);
        auto subscriber = subscribe("qos" + std::to_string(qos),
                                    {"-t", topic, "-q", std::to_string(qos), "-C", "6"});
        for (int index = 0; index < 3; ++index) {
            publish({"-t", topic, "-q", "2", "-m", "at-two-" + std::to_string(index)});
        }
        for (int index = 0; index < 3; ++index) {
            publish(
                {"-t", topic, "-q", std::to_string(qos), "-m", "same-" + std::to_string(index)});
        }
        const auto ending = subscriber->wait();
        ASSERT_TRUE(ending && ending->is_success()) << subscriber->output();
        const auto messages = subscriber->messages();
        EXPECT_EQ(payloads_of(messages),
                  (std::vector<std::string>{"at-two-0", "at-two-1", "at-two-2", "same-0", "same-1",
                                            "same-2"}));
        for (const auto& message : messages) {
            EXPECT_EQ(message.qos, qos) << message.payload;
            EXPECT_EQ(message.topic, topic);
            EXPECT_FALSE(message.is_retained);
        }
    }
}

TEST_P(MosquittoClients, RetainedMessageIsReplacedAndClearedForLateSubscribers) {
    // 3.1.1 [MQTT-3.3.1-5], [MQTT-3.3.1-6], [MQTT-3.3.1-8]; 5.0 [MQTT-3.3.1-5], [MQTT-3.3.1-9]:
    // a late subscriber gets the latest retained message with the retain flag set.
    const std::string topic = "it/cli/retained";
    publish({"-t", topic, "-q", "1", "-r", "-m", "state-1"});
    publish({"-t", topic, "-q", "1", "-r", "-m", "state-2"});
    auto late = subscribe_until_done({"-t", topic, "-q", "1", "-C", "1"});
    ASSERT_TRUE(late.ending.is_success()) << describe(late.ending) << late.errors;
    const auto retained = parse_messages(late.output);
    ASSERT_EQ(retained.size(), 1U) << late.output;
    EXPECT_EQ(retained[0].payload, "state-2");
    EXPECT_TRUE(retained[0].is_retained);
    EXPECT_EQ(retained[0].qos, 1);

    // 3.1.1 [MQTT-3.3.1-10], [MQTT-3.3.1-11]; 5.0 [MQTT-3.3.1-6], [MQTT-3.3.1-7]: an empty
    // retained message clears it, so the next subscriber's first message is the live one.
    publish({"-t", topic, "-q", "1", "-r", "-n"});
    auto later = subscribe("later", {"-t", topic, "-q", "1", "-C", "1"});
    publish({"-t", topic, "-q", "1", "-m", "live"});
    const auto ending = later->wait();
    ASSERT_TRUE(ending && ending->is_success()) << later->output();
    EXPECT_EQ(payloads_of(later->messages()), std::vector<std::string>{"live"});
}

TEST_P(MosquittoClients, PersistentSessionKeepsMessagesWhileOffline) {
    // -c: 3.1.1 clean session 0, 5.0 clean start 0 with a session that does not expire.
    // 3.1.1 [MQTT-3.1.2-4], [MQTT-3.1.2-5]; 5.0 [MQTT-3.1.2-5], [MQTT-3.1.2-23]: QoS 1
    // messages published while the client is away arrive, in order, when it returns.
    const std::string topic = "it/cli/persistent";
    const std::vector<std::string> session{"-c", "-i", "cli-persistent", "-q", "1", "-t", topic};
    auto first = session;
    first.push_back("-E");
    const auto subscribed = subscribe_until_done(first);
    ASSERT_TRUE(subscribed.ending.is_success()) << subscribed.errors;

    std::string lines;
    std::vector<std::string> expected;
    for (int index = 0; index < 10; ++index) {
        expected.push_back("offline-" + std::to_string(index));
        lines += expected.back() + "\n";
    }
    publish({"-t", topic, "-q", "1", "-l"}, lines);

    auto second = session;
    second.insert(second.end(), {"-C", "10"});
    const auto resumed = subscribe_until_done(second);
    ASSERT_TRUE(resumed.ending.is_success()) << describe(resumed.ending) << resumed.output;
    EXPECT_EQ(payloads_of(parse_messages(resumed.output)), expected);
}

TEST_P(MosquittoClients, ThousandMessageStreamArrivesCompleteAndInOrder) {
    // 3.1.1 [MQTT-4.6.0-6], 5.0 [MQTT-4.6.0-5]: one publisher's QoS 1 stream on one topic, read
    // from stdin by mosquitto_pub -l, reaches the subscriber complete and in order.
    const std::string topic = "it/cli/stream";
    auto subscriber = subscribe("stream", {"-t", topic, "-q", "1", "-C", "1000"});
    std::string lines;
    std::vector<std::string> expected;
    for (int index = 0; index < 1000; ++index) {
        expected.push_back("stream-" + std::to_string(index));
        lines += expected.back() + "\n";
    }
    publish({"-t", topic, "-q", "1", "-l"}, lines);
    const auto ending = subscriber->wait();
    ASSERT_TRUE(ending && ending->is_success()) << "the subscriber did not get 1000 messages";
    const auto messages = subscriber->messages();
    EXPECT_EQ(payloads_of(messages), expected);
    for (const auto& message : messages) {
        EXPECT_EQ(message.qos, 1);
    }
}

TEST_P(MosquittoClients, WillIsPublishedWhenTheClientIsKilled) {
    // 3.1.1 [MQTT-3.1.2-8], 5.0 [MQTT-3.1.2-8]: a client killed without DISCONNECT has its will
    // published; 3.1.1 [MQTT-3.1.2-17], 5.0 [MQTT-3.1.2-15]: retained when it asks for that.
    auto watcher = subscribe("watcher", {"-t", "it/cli/status/#", "-q", "1", "-C", "1"});
    auto doomed = subscribe("doomed", {"-t", "it/cli/unused", "-i", "cli-doomed", "--will-topic",
                                       "it/cli/status/doomed", "--will-payload", "offline",
                                       "--will-qos", "1", "--will-retain"});
    doomed->kill();
    const auto ending = watcher->wait();
    ASSERT_TRUE(ending && ending->is_success()) << "no will after kill -9:\n" << watcher->output();
    const auto messages = watcher->messages();
    ASSERT_EQ(messages.size(), 1U);
    EXPECT_EQ(messages[0].topic, "it/cli/status/doomed");
    EXPECT_EQ(messages[0].payload, "offline");

    auto late = subscribe_until_done({"-t", "it/cli/status/#", "-q", "1", "-C", "1"});
    const auto retained = parse_messages(late.output);
    ASSERT_EQ(retained.size(), 1U) << late.output;
    EXPECT_EQ(retained[0].payload, "offline");
    EXPECT_TRUE(retained[0].is_retained);
}

TEST_P(MosquittoClients, NoWillAfterACleanDisconnect) {
    // 3.1.1 [MQTT-3.14.4-3], 5.0 [MQTT-3.14.4-3]: DISCONNECT discards the will, so the
    // watcher's first message is the live one published afterwards.
    auto watcher = subscribe("watcher", {"-t", "it/cli/status/#", "-q", "1", "-C", "1"});
    const auto polite = subscribe_until_done({"-t", "it/cli/unused", "-E", "--will-topic",
                                              "it/cli/status/polite", "--will-payload", "offline"});
    ASSERT_TRUE(polite.ending.is_success()) << polite.errors;
    publish({"-t", "it/cli/status/polite", "-q", "1", "-m", "online"});
    const auto ending = watcher->wait();
    ASSERT_TRUE(ending && ending->is_success()) << watcher->output();
    EXPECT_EQ(payloads_of(watcher->messages()), std::vector<std::string>{"online"});
}

std::string level_name(const ::testing::TestParamInfo<std::string>& info) {
    return info.param == "mqttv5" ? "Mqtt5" : "Mqtt311";
}

INSTANTIATE_TEST_SUITE_P(Cli, MosquittoClients, ::testing::Values("mqttv311", "mqttv5"),
                         level_name);

} // namespace
} // namespace perch::integration
