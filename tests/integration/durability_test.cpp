// The durability contract end to end (docs/DURABILITY.md): messages acknowledged to a publisher
// survive a restart and kill -9 of the broker and reach a persistent subscriber that was offline.
// Sizes come from PERCH_DURABILITY_PUBLISHERS, PERCH_DURABILITY_MESSAGES and
// PERCH_DURABILITY_KILLS; PERCH_DURABILITY_SECONDS bounds the publishing (default 45). Also: the
// CONNACK of a persistent session follows the commit of its record, wills and session expiry times
// outlive a restart.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <deque>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "mqtt/packet.hpp"

#include "broker_process.hpp"
#include "packet_client.hpp"
#include "power_cut/power_cut.hpp"
#include "raw_mqtt_client.hpp"

namespace perch::integration {
namespace {

using namespace std::chrono_literals;

constexpr std::uint8_t puback_type = 4;
constexpr std::uint8_t pubrec_type = 5;
constexpr std::uint8_t pubrel_type = 6;
constexpr std::uint8_t pubcomp_type = 7;
constexpr std::uint8_t publish_type = 3;

int env_count(const char* name, int fallback) {
    const char* text = std::getenv(name);
    if (text == nullptr || *text == '\0') {
        return fallback;
    }
    return std::max(1, std::atoi(text));
}

/// How a crash scenario ends the broker.
enum class crash_kind {
    /// kill -9: the process dies, the kernel keeps every write it made.
    kill,
    /// kill -9, then every file rolled back to its last fsync (tests/integration/power_cut).
    power_cut,
};

/// A perch restarted again and again on one data directory; `extra_config` is appended to its
/// configuration. With crash_kind::power_cut its writes are journaled, and crash() also rolls
/// them back to the last fsync.
class restartable_broker {
public:
    explicit restartable_broker(std::string extra_config = {}, crash_kind crash = crash_kind::kill)
        : extra_config_(std::move(extra_config)) {
        if (crash == crash_kind::power_cut) {
            power_cut_.emplace(data_.path(), journal_.path());
        }
        start();
    }

    void start() {
        current_ = std::make_unique<broker_process>(
            broker_kind::perch,
            "data_dir " + data_.path().string() + "\ndurability full\n" + extra_config_,
            power_cut_ ? power_cut_->environment() : std::vector<std::string>{});
        port_ = current_->port();
    }
    process_exit kill() { return current_->kill(); }
    /// kill -9, and the power cut when this broker has them.
    process_exit crash() {
        const process_exit ending = current_->kill();
        if (power_cut_) {
            const power_cut_result cut = power_cut_->cut();
            cut_totals_.writes_journaled += cut.writes_journaled;
            cut_totals_.writes_undone += cut.writes_undone;
            cut_totals_.files_rolled_back += cut.files_rolled_back;
        }
        return ending;
    }
    process_exit stop() { return current_->stop(); }
    std::uint16_t port() const { return port_.load(); }
    std::string log() const { return current_->log(); }
    /// What the power cuts so far journaled and took back.
    const power_cut_result& cut_totals() const { return cut_totals_; }

private:
    std::string extra_config_;
    temporary_directory data_;
    temporary_directory journal_;
    std::optional<power_cut_journal> power_cut_;
    power_cut_result cut_totals_;
    std::unique_ptr<broker_process> current_;
    std::atomic<std::uint16_t> port_{0};
};

/// A CONNECT without Clean Start, with a QoS 1 will on `will_topic` when it is not empty.
mqtt::connect persistent_connect(mqtt::protocol_version version, const std::string& client_id,
                                 const std::string& will_topic, std::uint32_t session_expiry_s = 0,
                                 std::uint32_t will_delay_s = 0) {
    mqtt::connect request;
    request.version = version;
    request.clean_start = false;
    request.client_id = client_id;
    if (version == mqtt::protocol_version::v5) {
        request.props.session_expiry_interval = session_expiry_s;
    }
    if (!will_topic.empty()) {
        mqtt::will_message will;
        will.topic_name = will_topic;
        const std::string payload = "gone:" + client_id;
        will.payload = mqtt::shared_bytes::copy_of(
            mqtt::byte_view(reinterpret_cast<const std::uint8_t*>(payload.data()), payload.size()));
        will.qos_level = mqtt::qos::at_least_once;
        if (version == mqtt::protocol_version::v5 && will_delay_s > 0) {
            will.props.will_delay_interval = will_delay_s;
        }
        request.will = std::move(will);
    }
    return request;
}

/// Connects the persistent 3.1.1 session `client_id` (which must be present) and returns the
/// topics of the messages it receives until nothing arrives for two seconds.
std::vector<std::string> drain_topics(std::uint16_t port, const std::string& client_id) {
    std::vector<std::string> topics;
    raw_mqtt_client client;
    bool session_present = false;
    EXPECT_TRUE(client.connect(port, client_id, false, 5000ms, &session_present));
    EXPECT_TRUE(session_present);
    while (const auto packet = client.read_packet(2000ms)) {
        if (packet->type != publish_type) {
            continue;
        }
        const raw_publish message = parse_publish(*packet);
        topics.push_back(message.topic);
        if (message.qos == 1) {
            client.acknowledge(puback_type, message.packet_id);
        }
    }
    client.disconnect();
    std::sort(topics.begin(), topics.end());
    return topics;
}

/// Skips the test unless the broker under test is perch (the store is perch's).
bool is_perch_under_test() {
    return broker_under_test() == broker_kind::perch;
}

/// One publisher of `count` messages at `qos` on "durable/{index}", resending what is not yet
/// acknowledged whenever the connection breaks. `completed[seq]` is set when the publisher holds
/// the final acknowledgement (PUBACK, or PUBCOMP at QoS 2).
void run_publisher(int index, int count, std::uint8_t qos, const restartable_broker& broker,
                   std::vector<char>& completed, std::chrono::steady_clock::time_point deadline) {
    struct pending_publish {
        int sequence = 0;
        std::uint16_t packet_id = 0;
        bool is_released = false;
    };
    const std::string client_id = "durable-pub-" + std::to_string(index);
    const std::string topic = "durable/" + std::to_string(index);
    const auto payload_of = [index](int sequence) {
        return std::to_string(index) + ":" + std::to_string(sequence);
    };
    // A QoS 2 publisher keeps its session, so its unreleased packet ids survive a restart.
    const bool is_clean_session = qos == 1;
    constexpr std::size_t window = 32;
    raw_mqtt_client client;
    std::deque<pending_publish> pending;
    int next_sequence = 0;
    int done_count = 0;
    std::uint16_t next_packet_id = 1;
    while (done_count < count && std::chrono::steady_clock::now() < deadline) {
        if (!client.is_open()) {
            if (!client.connect(broker.port(), client_id, is_clean_session, 1000ms)) {
                std::this_thread::sleep_for(20ms);
                continue;
            }
            // [MQTT-4.4.0-1] unacknowledged PUBLISH and PUBREL packets are resent, in order.
            for (const pending_publish& waiting : pending) {
                if (waiting.is_released) {
                    client.acknowledge(pubrel_type, waiting.packet_id);
                } else {
                    client.publish(topic, payload_of(waiting.sequence), qos, waiting.packet_id,
                                   true);
                }
            }
        }
        while (pending.size() < window && next_sequence < count && client.is_open()) {
            const std::uint16_t packet_id = next_packet_id;
            next_packet_id = next_packet_id == 65535 ? 1 : next_packet_id + 1;
            pending.push_back({next_sequence, packet_id, false});
            client.publish(topic, payload_of(next_sequence), qos, packet_id);
            ++next_sequence;
        }
        const auto packet = client.read_packet(200ms);
        if (!packet) {
            continue;
        }
        const std::uint16_t packet_id = packet->leading_packet_id();
        for (auto waiting = pending.begin(); waiting != pending.end(); ++waiting) {
            if (waiting->packet_id != packet_id) {
                continue;
            }
            if (packet->type == pubrec_type && qos == 2) {
                waiting->is_released = true;
                client.acknowledge(pubrel_type, packet_id);
            } else if ((packet->type == puback_type && qos == 1) ||
                       (packet->type == pubcomp_type && qos == 2 && waiting->is_released)) {
                completed[static_cast<std::size_t>(waiting->sequence)] = 1;
                ++done_count;
                pending.erase(waiting);
            }
            break;
        }
    }
    client.disconnect();
}

/// What the persistent subscriber received: per publisher, every sequence in arrival order.
using arrivals = std::map<int, std::vector<int>>;

/// Connects the persistent subscriber `client_id` and reads until nothing arrives for a while,
/// acknowledging every message (QoS 2: PUBREC, then PUBCOMP for each PUBREL).
arrivals drain_subscriber(std::uint16_t port, const std::string& client_id,
                          std::chrono::steady_clock::time_point deadline) {
    arrivals received;
    raw_mqtt_client client;
    bool session_present = false;
    EXPECT_TRUE(client.connect(port, client_id, false, 5000ms, &session_present));
    // [MQTT-3.2.2-2 (3.1.1)] the stored session is resumed.
    EXPECT_TRUE(session_present);
    while (std::chrono::steady_clock::now() < deadline) {
        const auto packet = client.read_packet(2000ms);
        if (!packet) {
            break;
        }
        if (packet->type == pubrel_type) {
            client.acknowledge(pubcomp_type, packet->leading_packet_id());
            continue;
        }
        if (packet->type != publish_type) {
            continue;
        }
        const raw_publish message = parse_publish(*packet);
        const auto colon = message.payload.find(':');
        if (colon != std::string::npos) {
            received[std::stoi(message.payload.substr(0, colon))].push_back(
                std::stoi(message.payload.substr(colon + 1)));
        }
        if (message.qos == 1) {
            client.acknowledge(puback_type, message.packet_id);
        } else if (message.qos == 2) {
            client.acknowledge(pubrec_type, message.packet_id);
        }
    }
    client.disconnect();
    return received;
}

/// Subscribes `client_id` with a persistent session to `topic_filter` at `qos`, then leaves.
void subscribe_offline(std::uint16_t port, const std::string& client_id, std::uint8_t qos,
                       const std::string& topic_filter = "durable/#") {
    raw_mqtt_client client;
    ASSERT_TRUE(client.connect(port, client_id, false, 5000ms));
    // SUBACK of a persistent session comes after its commit (docs/DURABILITY.md).
    ASSERT_TRUE(client.subscribe(topic_filter, qos, 1, 5000ms));
    client.disconnect();
}

/// Publishes from several publishers while killing the broker at random moments, then checks
/// what the offline subscriber finds.
void run_crash_scenario(std::uint8_t qos, crash_kind crash = crash_kind::kill) {
    const int publishers = env_count("PERCH_DURABILITY_PUBLISHERS", 3);
    const int messages = env_count("PERCH_DURABILITY_MESSAGES", 1500);
    const int kills = env_count("PERCH_DURABILITY_KILLS", 4);
    const auto deadline = std::chrono::steady_clock::now() +
                          std::chrono::seconds(env_count("PERCH_DURABILITY_SECONDS", 45));
    // Every message goes to one offline subscriber: larger runs than the default pass its
    // stored-queue caps, which this scenario is not about.
    restartable_broker broker("max_stored_messages 0\nmax_stored_bytes 0\n", crash);
    const std::string subscriber_id = "durable-sub-qos" + std::to_string(qos);
    subscribe_offline(broker.port(), subscriber_id, qos);

    std::vector<std::vector<char>> completed(static_cast<std::size_t>(publishers),
                                             std::vector<char>(static_cast<std::size_t>(messages)));
    std::vector<std::thread> threads;
    for (int index = 0; index < publishers; ++index) {
        threads.emplace_back([&, index] {
            run_publisher(index, messages, qos, broker, completed[static_cast<std::size_t>(index)],
                          deadline);
        });
    }
    std::mt19937 random(std::random_device{}());
    std::uniform_int_distribution<int> pause_ms(100, 600);
    int performed_kills = 0;
    for (int kill = 0; kill < kills; ++kill) {
        std::this_thread::sleep_for(std::chrono::milliseconds(pause_ms(random)));
        const process_exit ending = broker.crash();
        EXPECT_EQ(ending.signal_number, 9) << describe(ending);
        ++performed_kills;
        broker.start();
    }
    for (std::thread& running : threads) {
        running.join();
    }
    const arrivals received = drain_subscriber(broker.port(), subscriber_id, deadline + 10s);

    std::size_t acknowledged = 0;
    std::size_t delivered = 0;
    std::size_t duplicates = 0;
    std::size_t lost = 0;
    std::size_t duplicated_completed = 0;
    std::size_t out_of_order = 0;
    for (int index = 0; index < publishers; ++index) {
        const auto& flags = completed[static_cast<std::size_t>(index)];
        const auto found = received.find(index);
        const std::vector<int> empty;
        const std::vector<int>& order = found == received.end() ? empty : found->second;
        std::vector<int> copies(static_cast<std::size_t>(messages));
        int highest_first = -1;
        for (const int sequence : order) {
            ASSERT_GE(sequence, 0);
            ASSERT_LT(sequence, messages);
            if (copies[static_cast<std::size_t>(sequence)]++ == 0) {
                // Per-publisher order: first arrivals never go backwards.
                if (sequence < highest_first) {
                    ++out_of_order;
                }
                highest_first = std::max(highest_first, sequence);
            } else {
                ++duplicates;
            }
        }
        delivered += order.size();
        for (int sequence = 0; sequence < messages; ++sequence) {
            if (flags[static_cast<std::size_t>(sequence)] == 0) {
                continue;
            }
            ++acknowledged;
            const int count = copies[static_cast<std::size_t>(sequence)];
            // Acknowledged means durable: never lost.
            lost += count == 0 ? 1 : 0;
            duplicated_completed += count > 1 ? 1 : 0;
        }
    }
    std::cout << "durability qos " << int{qos} << ": publishers " << publishers << " x " << messages
              << ", kills " << performed_kills << ", acknowledged " << acknowledged
              << ", delivered " << delivered << ", duplicates " << duplicates;
    if (crash == crash_kind::power_cut) {
        std::cout << ", power cuts took back " << broker.cut_totals().writes_undone << " of "
                  << broker.cut_totals().writes_journaled << " writes";
        // The broker's writes went through the journal: the cuts had something to take back.
        EXPECT_GT(broker.cut_totals().writes_journaled, 0U);
    }
    std::cout << "\n";
    EXPECT_EQ(lost, 0U) << "acknowledged messages lost";
    EXPECT_EQ(out_of_order, 0U) << "first arrivals out of per-publisher order";
    if (qos == 2) {
        // QoS 2 [MQTT-4.3.3-1]: a message whose PUBCOMP the publisher holds arrives exactly
        // once, across every crash.
        EXPECT_EQ(duplicated_completed, 0U) << "completed QoS 2 messages delivered twice";
    }
    EXPECT_EQ(acknowledged, static_cast<std::size_t>(publishers * messages))
        << "publishers did not finish in time";
    const process_exit ending = broker.stop();
    EXPECT_TRUE(ending.is_success()) << describe(ending) << "\n" << broker.log();
}

// DESIGN.md "Durability contract": a persistent session, its queue and the retained messages
// survive a restart (SIGTERM).
TEST(Durability, RestartKeepsQueuedMessagesAndRetainedMessages) {
    if (!is_perch_under_test()) {
        GTEST_SKIP() << "perch's store only";
    }
    restartable_broker broker;
    subscribe_offline(broker.port(), "restart-sub", 1);
    {
        raw_mqtt_client publisher;
        ASSERT_TRUE(publisher.connect(broker.port(), "restart-pub", true, 5000ms));
        for (int sequence = 0; sequence < 20; ++sequence) {
            ASSERT_TRUE(publisher.publish("durable/0", "0:" + std::to_string(sequence), 1,
                                          static_cast<std::uint16_t>(sequence + 1)));
            const auto ack = publisher.read_packet(5000ms);
            ASSERT_TRUE(ack && ack->type == puback_type);
        }
        ASSERT_TRUE(publisher.publish("retained/state", "kept", 1, 100, false, true));
        const auto ack = publisher.read_packet(5000ms);
        ASSERT_TRUE(ack && ack->type == puback_type);
        publisher.disconnect();
    }
    const process_exit stopped = broker.stop();
    EXPECT_TRUE(stopped.is_success()) << describe(stopped);
    broker.start();

    const arrivals received =
        drain_subscriber(broker.port(), "restart-sub", std::chrono::steady_clock::now() + 20s);
    std::vector<int> expected(20);
    for (int sequence = 0; sequence < 20; ++sequence) {
        expected[static_cast<std::size_t>(sequence)] = sequence;
    }
    ASSERT_TRUE(received.contains(0));
    EXPECT_EQ(received.at(0), expected);

    // [MQTT-3.3.1-6 (3.1.1)] the retained message is sent to a new subscription, after restart.
    raw_mqtt_client reader;
    ASSERT_TRUE(reader.connect(broker.port(), "restart-reader", true, 5000ms));
    ASSERT_TRUE(reader.subscribe("retained/#", 1, 7, 5000ms));
    const auto retained = reader.read_packet(5000ms);
    ASSERT_TRUE(retained && retained->type == publish_type);
    const raw_publish message = parse_publish(*retained);
    EXPECT_EQ(message.topic, "retained/state");
    EXPECT_EQ(message.payload, "kept");
    EXPECT_TRUE(message.is_retained);
    reader.disconnect();
    const process_exit ending = broker.stop();
    EXPECT_TRUE(ending.is_success()) << describe(ending);
}

/// A stored queue longer than the session's memory queue (max_queued_messages) is read back from
/// the store after a restart as the subscriber takes it: all of it, in order, once.
TEST(Durability, RestartReadsBackAQueueLongerThanTheSessionQueue) {
    if (!is_perch_under_test()) {
        GTEST_SKIP() << "perch's store only";
    }
    restartable_broker broker("max_queued_messages 8\n");
    subscribe_offline(broker.port(), "long-sub", 1);
    constexpr int message_count = 300;
    {
        raw_mqtt_client publisher;
        ASSERT_TRUE(publisher.connect(broker.port(), "long-pub", true, 5000ms));
        for (int sequence = 0; sequence < message_count; ++sequence) {
            ASSERT_TRUE(publisher.publish("durable/0", "0:" + std::to_string(sequence), 1,
                                          static_cast<std::uint16_t>(sequence + 1)));
            const auto ack = publisher.read_packet(5000ms);
            ASSERT_TRUE(ack && ack->type == puback_type);
        }
        publisher.disconnect();
    }
    const process_exit stopped = broker.stop();
    EXPECT_TRUE(stopped.is_success()) << describe(stopped);
    broker.start();

    const arrivals received =
        drain_subscriber(broker.port(), "long-sub", std::chrono::steady_clock::now() + 30s);
    std::vector<int> expected(message_count);
    for (int sequence = 0; sequence < message_count; ++sequence) {
        expected[static_cast<std::size_t>(sequence)] = sequence;
    }
    ASSERT_TRUE(received.contains(0));
    EXPECT_EQ(received.at(0), expected);
    const process_exit ending = broker.stop();
    EXPECT_TRUE(ending.is_success()) << describe(ending);
}

// DESIGN.md "Durability contract": every QoS 1 message whose PUBACK a publisher received reaches
// the offline persistent subscriber, in per-publisher order, across repeated kill -9
// (duplicates allowed at QoS 1 [MQTT-4.3.2-1 (3.1.1)]).
TEST(Durability, AcknowledgedQos1MessagesSurviveKills) {
    if (!is_perch_under_test()) {
        GTEST_SKIP() << "perch's store only";
    }
    run_crash_scenario(1);
}

// The same for QoS 2: every message whose PUBCOMP a publisher received arrives exactly once.
TEST(Durability, AcknowledgedQos2MessagesArriveExactlyOnceAcrossKills) {
    if (!is_perch_under_test()) {
        GTEST_SKIP() << "perch's store only";
    }
    run_crash_scenario(2);
}

// The same scenarios with power cuts: after each kill -9 every file is rolled back to its last
// fsync, as a machine that lost power would find it. At `durability full` a PUBACK or PUBCOMP
// follows the fsync of the commit that holds the message (docs/DURABILITY.md), so nothing
// acknowledged is lost. (The same scenario at `durability batched` loses messages: the cut is
// real; the next test shows it on every run.)
TEST(Durability, AcknowledgedQos1MessagesSurvivePowerCuts) {
    if (!is_perch_under_test()) {
        GTEST_SKIP() << "perch's store only";
    }
    run_crash_scenario(1, crash_kind::power_cut);
}

TEST(Durability, AcknowledgedQos2MessagesArriveExactlyOnceAcrossPowerCuts) {
    if (!is_perch_under_test()) {
        GTEST_SKIP() << "perch's store only";
    }
    run_crash_scenario(2, crash_kind::power_cut);
}

// The power cut is real: at `durability batched` (fsync only at checkpoints) it takes back
// commits that a kill -9 would have kept, and the store still opens afterwards ("a power cut may
// lose the last commits, never the file").
TEST(Durability, APowerCutAtDurabilityBatchedTakesBackUnsyncedCommitsButNeverTheFile) {
    if (!is_perch_under_test()) {
        GTEST_SKIP() << "perch's store only";
    }
    restartable_broker broker("durability batched\n", crash_kind::power_cut);
    subscribe_offline(broker.port(), "batched-sub", 1);
    raw_mqtt_client publisher;
    ASSERT_TRUE(publisher.connect(broker.port(), "batched-pub", true, 5000ms));
    for (std::uint16_t packet_id = 1; packet_id <= 50; ++packet_id) {
        ASSERT_TRUE(
            publisher.publish("durable/batched", "m" + std::to_string(packet_id), 1, packet_id));
        const auto acknowledgement = publisher.read_packet(5000ms);
        ASSERT_TRUE(acknowledgement);
        ASSERT_EQ(acknowledgement->type, puback_type);
    }
    const process_exit ending = broker.crash();
    EXPECT_EQ(ending.signal_number, 9) << describe(ending);
    EXPECT_GT(broker.cut_totals().writes_undone, 0U);

    broker.start();
    raw_mqtt_client after;
    ASSERT_TRUE(after.connect(broker.port(), "after-the-cut", true, 5000ms));
    ASSERT_TRUE(after.subscribe("durable/after", 1, 1, 5000ms));
    ASSERT_TRUE(after.publish("durable/after", "still-serving", 1, 2));
    bool is_delivered = false;
    for (int packet = 0; packet < 4 && !is_delivered; ++packet) {
        const auto received = after.read_packet(5000ms);
        ASSERT_TRUE(received);
        is_delivered =
            received->type == publish_type && parse_publish(*received).payload == "still-serving";
    }
    EXPECT_TRUE(is_delivered);
    EXPECT_TRUE(broker.stop().is_success()) << broker.log();
}

// DESIGN.md "Durability contract": the CONNACK of a new persistent session leaves only after its
// session record is committed, so a kill -9 right after it cannot lose the session. The long
// commit interval would let a CONNACK sent before the commit race far ahead of it.
TEST(Durability, ConnackOfAPersistentSessionFollowsTheCommitOfItsRecord) {
    if (!is_perch_under_test()) {
        GTEST_SKIP() << "perch's store only";
    }
    restartable_broker broker("commit_interval_ms 1500\n");
    for (const auto version : {mqtt::protocol_version::v3_1_1, mqtt::protocol_version::v5}) {
        const std::string client_id =
            version == mqtt::protocol_version::v5 ? "early-bird-5" : "early-bird-4";
        packet_client client(version);
        const auto accepted =
            client.connect(broker.port(), persistent_connect(version, client_id, "", 600), 10s);
        ASSERT_TRUE(accepted);
        EXPECT_EQ(accepted->reason, mqtt::reason_code::success);
        EXPECT_FALSE(accepted->session_present);
        client.close();
        const process_exit ending = broker.kill();
        EXPECT_EQ(ending.signal_number, 9) << describe(ending);
        broker.start();
        const auto resumed =
            client.connect(broker.port(), persistent_connect(version, client_id, "", 600), 10s);
        ASSERT_TRUE(resumed);
        EXPECT_EQ(resumed->reason, mqtt::reason_code::success);
        // [MQTT-3.2.2-2 (5.0), MQTT-3.2.2-2 (3.1.1)] the session told "accepted" exists.
        EXPECT_TRUE(resumed->session_present) << "session of " << client_id << " lost";
        client.close();
    }
    EXPECT_TRUE(broker.stop().is_success());
}

// A session record that cannot be written refuses the CONNECT: Server unavailable (0x88 at 5.0,
// return code 3 at 3.1.1), then the connection closes. The database is capped and filled first.
TEST(Durability, UnwritableSessionRecordAnswersServerUnavailable) {
    if (!is_perch_under_test()) {
        GTEST_SKIP() << "perch's store only";
    }
    restartable_broker broker("max_database_bytes 262144\n");
    {
        raw_mqtt_client filler;
        ASSERT_TRUE(filler.connect(broker.port(), "filler", true, 5000ms));
        const std::string big(400'000, 'x');
        ASSERT_TRUE(filler.publish("retained/big", big, 1, 1, false, true));
        // 3.1.1 has no negative PUBACK: the publisher is disconnected, never acknowledged.
        const auto answer = filler.read_packet(10s);
        EXPECT_FALSE(answer && answer->type == puback_type);
    }
    for (const auto version : {mqtt::protocol_version::v3_1_1, mqtt::protocol_version::v5}) {
        packet_client client(version);
        const auto refused = client.connect(
            broker.port(), persistent_connect(version, "no-room", "will/no-room", 600), 10s);
        ASSERT_TRUE(refused);
        EXPECT_EQ(refused->reason, mqtt::reason_code::server_unavailable);
        EXPECT_FALSE(refused->session_present);
        EXPECT_FALSE(client.read(5s).has_value()) << "the connection stays open";
    }
    // A clean session needs no record and is still accepted.
    raw_mqtt_client clean;
    EXPECT_TRUE(clean.connect(broker.port(), "clean", true, 5000ms));
    clean.disconnect();
    EXPECT_TRUE(broker.stop().is_success());
}

// Wills are stored with their session: the will of a client that was connected when perch was
// killed is published after the restart (the connection was lost [MQTT-3.1.2-8]); a will
// discarded by a normal DISCONNECT [MQTT-3.1.2-10] is cleared in the store and never published.
TEST(Durability, StoredWillOfAClientConnectedAtAKillIsPublishedAfterTheRestart) {
    if (!is_perch_under_test()) {
        GTEST_SKIP() << "perch's store only";
    }
    restartable_broker broker;
    subscribe_offline(broker.port(), "will-watcher", 1, "will/#");
    packet_client crashed(mqtt::protocol_version::v3_1_1);
    ASSERT_TRUE(crashed.connect(
        broker.port(),
        persistent_connect(mqtt::protocol_version::v3_1_1, "crashed", "will/crashed"), 5s));
    packet_client polite(mqtt::protocol_version::v5);
    ASSERT_TRUE(polite.connect(
        broker.port(), persistent_connect(mqtt::protocol_version::v5, "polite", "will/polite", 600),
        5s));
    ASSERT_TRUE(polite.send(mqtt::disconnect{}));
    // The DISCONNECT's record (without the will) reaches the disk within a commit interval.
    std::this_thread::sleep_for(1s);
    const process_exit ending = broker.kill();
    EXPECT_EQ(ending.signal_number, 9) << describe(ending);
    broker.start();
    EXPECT_EQ(drain_topics(broker.port(), "will-watcher"),
              std::vector<std::string>{"will/crashed"});
    // Published once: a second restart does not publish it again.
    EXPECT_TRUE(broker.stop().is_success());
    broker.start();
    EXPECT_TRUE(drain_topics(broker.port(), "will-watcher").empty());
    EXPECT_TRUE(broker.stop().is_success());
}

// A QoS 1 will routed to a persistent session that is offline is stored in its queue like a
// QoS 1 PUBLISH: it reaches the session after a kill -9 of the broker.
TEST(Durability, WillQueuedForAnOfflineSessionSurvivesAKill) {
    if (!is_perch_under_test()) {
        GTEST_SKIP() << "perch's store only";
    }
    restartable_broker broker;
    subscribe_offline(broker.port(), "offline-watcher", 1, "will/#");
    {
        packet_client dropped(mqtt::protocol_version::v3_1_1);
        mqtt::connect request =
            persistent_connect(mqtt::protocol_version::v3_1_1, "dropped", "will/dropped");
        request.clean_start = true;
        ASSERT_TRUE(dropped.connect(broker.port(), request, 5s));
        // Closed without DISCONNECT: the will is published [MQTT-3.1.2-8].
    }
    // The queue entry reaches the disk within a commit interval.
    std::this_thread::sleep_for(1s);
    const process_exit ending = broker.kill();
    EXPECT_EQ(ending.signal_number, 9) << describe(ending);
    broker.start();
    EXPECT_EQ(drain_topics(broker.port(), "offline-watcher"),
              std::vector<std::string>{"will/dropped"});
    // Delivered and acknowledged once: gone from the queue after another restart.
    EXPECT_TRUE(broker.stop().is_success());
    broker.start();
    EXPECT_TRUE(drain_topics(broker.port(), "offline-watcher").empty());
    EXPECT_TRUE(broker.stop().is_success());
}

// Session expiry and will delay count from the stored disconnect time, not from the restart: a
// session whose expiry passed while perch was down is deleted at start (no session present) and
// its will, owed at the latest when the session ends [MQTT-3.1.2-8 (5.0)], is published; a
// session with time left is still there and its delayed will is not published.
TEST(Durability, SessionThatExpiredWhileDownIsGoneAndItsWillPublished) {
    if (!is_perch_under_test()) {
        GTEST_SKIP() << "perch's store only";
    }
    restartable_broker broker;
    subscribe_offline(broker.port(), "expiry-watcher", 1, "will/#");
    const auto v5 = mqtt::protocol_version::v5;
    {
        packet_client short_lived(v5);
        ASSERT_TRUE(short_lived.connect(
            broker.port(), persistent_connect(v5, "short-lived", "will/short-lived", 2, 600), 5s));
        packet_client long_lived(v5);
        ASSERT_TRUE(long_lived.connect(
            broker.port(), persistent_connect(v5, "long-lived", "will/long-lived", 3600, 3600),
            5s));
        // Both connections are lost: each will waits for its delay, each session for its expiry.
    }
    const process_exit stopped = broker.stop();
    EXPECT_TRUE(stopped.is_success()) << describe(stopped);
    // Down for longer than the short session's 2 seconds.
    std::this_thread::sleep_for(3500ms);
    broker.start();
    EXPECT_EQ(drain_topics(broker.port(), "expiry-watcher"),
              std::vector<std::string>{"will/short-lived"});
    packet_client again(v5);
    const auto short_again =
        again.connect(broker.port(), persistent_connect(v5, "short-lived", "", 2), 5s);
    ASSERT_TRUE(short_again);
    EXPECT_FALSE(short_again->session_present) << "an expired session came back";
    again.close();
    const auto long_again =
        again.connect(broker.port(), persistent_connect(v5, "long-lived", "", 3600), 5s);
    ASSERT_TRUE(long_again);
    EXPECT_TRUE(long_again->session_present);
    again.close();
    EXPECT_TRUE(broker.stop().is_success());
}

// docs/DURABILITY.md "What is written when": the record a session gets when its connection ends
// waits a minute, and a session back before then takes it back: its CONNECT writes nothing when
// the committed record says all a restart needs, and its CONNACK goes at once. That record still
// restores the session after a kill -9 (the long commit interval would let a CONNACK sent before
// a write it needed race far ahead of it).
TEST(Durability, ASessionBackBeforeItsEndIsWrittenSurvivesAKill) {
    if (!is_perch_under_test()) {
        GTEST_SKIP() << "perch's store only";
    }
    restartable_broker broker("commit_interval_ms 1500\n");
    for (const auto version : {mqtt::protocol_version::v3_1_1, mqtt::protocol_version::v5}) {
        const std::string client_id =
            version == mqtt::protocol_version::v5 ? "back-soon-5" : "back-soon-4";
        packet_client client(version);
        ASSERT_TRUE(
            client.connect(broker.port(), persistent_connect(version, client_id, "", 600), 10s));
        client.close();
        const auto back =
            client.connect(broker.port(), persistent_connect(version, client_id, "", 600), 10s);
        ASSERT_TRUE(back);
        EXPECT_TRUE(back->session_present);
        ASSERT_TRUE(client.send(mqtt::disconnect{}));
        const auto again =
            client.connect(broker.port(), persistent_connect(version, client_id, "", 600), 10s);
        ASSERT_TRUE(again);
        EXPECT_TRUE(again->session_present);
        client.close();
        const process_exit ending = broker.kill();
        EXPECT_EQ(ending.signal_number, 9) << describe(ending);
        broker.start();
        const auto resumed =
            client.connect(broker.port(), persistent_connect(version, client_id, "", 600), 10s);
        ASSERT_TRUE(resumed);
        EXPECT_TRUE(resumed->session_present) << "session of " << client_id << " lost";
        client.close();
    }
    EXPECT_TRUE(broker.stop().is_success());
}

// The end's record of a session without a will is written at a clean stop even before its delay
// has passed: the session's time counts from its disconnect across the restart, and one whose
// expiry passed while perch was down is gone.
TEST(Durability, ACleanStopWritesTheEndsOfSessionsItHeld) {
    if (!is_perch_under_test()) {
        GTEST_SKIP() << "perch's store only";
    }
    restartable_broker broker;
    const auto v5 = mqtt::protocol_version::v5;
    {
        packet_client short_lived(v5);
        ASSERT_TRUE(
            short_lived.connect(broker.port(), persistent_connect(v5, "short-no-will", "", 2), 5s));
        packet_client long_lived(v5);
        ASSERT_TRUE(long_lived.connect(broker.port(),
                                       persistent_connect(v5, "long-no-will", "", 3600), 5s));
    }
    const process_exit stopped = broker.stop();
    EXPECT_TRUE(stopped.is_success()) << describe(stopped);
    // Down for longer than the short session's 2 seconds.
    std::this_thread::sleep_for(3500ms);
    broker.start();
    packet_client again(v5);
    const auto short_again =
        again.connect(broker.port(), persistent_connect(v5, "short-no-will", "", 2), 5s);
    ASSERT_TRUE(short_again);
    EXPECT_FALSE(short_again->session_present) << "an expired session came back";
    again.close();
    const auto long_again =
        again.connect(broker.port(), persistent_connect(v5, "long-no-will", "", 3600), 5s);
    ASSERT_TRUE(long_again);
    EXPECT_TRUE(long_again->session_present);
    again.close();
    EXPECT_TRUE(broker.stop().is_success());
}

// A kill -9 before the end's record was written finds the session connected: as for a session
// connected at the kill, its time counts from the restart (docs/DURABILITY.md "Restart"), so it
// outlives its stored expiry instead of ending before it.
TEST(Durability, ASessionThatEndedJustBeforeAKillCountsFromTheRestart) {
    if (!is_perch_under_test()) {
        GTEST_SKIP() << "perch's store only";
    }
    restartable_broker broker;
    const auto v5 = mqtt::protocol_version::v5;
    {
        packet_client dropped(v5);
        ASSERT_TRUE(
            dropped.connect(broker.port(), persistent_connect(v5, "ended-at-kill", "", 3), 5s));
    }
    const process_exit ending = broker.kill();
    EXPECT_EQ(ending.signal_number, 9) << describe(ending);
    // Down for longer than the session's 3 seconds.
    std::this_thread::sleep_for(4s);
    broker.start();
    packet_client again(v5);
    const auto resumed =
        again.connect(broker.port(), persistent_connect(v5, "ended-at-kill", "", 3), 5s);
    ASSERT_TRUE(resumed);
    EXPECT_TRUE(resumed->session_present);
    again.close();
    EXPECT_TRUE(broker.stop().is_success());
}

} // namespace
} // namespace perch::integration
