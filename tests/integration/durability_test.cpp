// The durability contract end to end (docs/DURABILITY.md): messages acknowledged to a publisher
// survive a restart and kill -9 of the broker and reach a persistent subscriber that was offline.
// Sizes come from PERCH_DURABILITY_PUBLISHERS, PERCH_DURABILITY_MESSAGES and
// PERCH_DURABILITY_KILLS.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <deque>
#include <iostream>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "broker_process.hpp"
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

/// A perch restarted again and again on one data directory.
class restartable_broker {
public:
    restartable_broker() { start(); }

    void start() {
        current_ = std::make_unique<broker_process>(
            broker_kind::perch, "data_dir " + data_.path().string() + "\ndurability full\n");
        port_ = current_->port();
    }
    process_exit kill() { return current_->kill(); }
    process_exit stop() { return current_->stop(); }
    std::uint16_t port() const { return port_.load(); }
    std::string log() const { return current_->log(); }

private:
    temporary_directory data_;
    std::unique_ptr<broker_process> current_;
    std::atomic<std::uint16_t> port_{0};
};

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

/// Subscribes `client_id` with a persistent session to "durable/#" at `qos`, then leaves.
void subscribe_offline(std::uint16_t port, const std::string& client_id, std::uint8_t qos) {
    raw_mqtt_client client;
    ASSERT_TRUE(client.connect(port, client_id, false, 5000ms));
    // SUBACK of a persistent session comes after its commit (docs/DURABILITY.md).
    ASSERT_TRUE(client.subscribe("durable/#", qos, 1, 5000ms));
    client.disconnect();
}

/// Publishes from several publishers while killing the broker at random moments, then checks
/// what the offline subscriber finds.
void run_crash_scenario(std::uint8_t qos) {
    const int publishers = env_count("PERCH_DURABILITY_PUBLISHERS", 3);
    const int messages = env_count("PERCH_DURABILITY_MESSAGES", 1500);
    const int kills = env_count("PERCH_DURABILITY_KILLS", 4);
    const auto deadline = std::chrono::steady_clock::now() + 45s;
    restartable_broker broker;
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
        const process_exit ending = broker.kill();
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
              << ", delivered " << delivered << ", duplicates " << duplicates << "\n";
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

} // namespace
} // namespace perch::integration
