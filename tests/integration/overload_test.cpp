// The overload rules end to end (docs/DESIGN.md "Overload"): a client that has not logged in
// cannot make perch hold a large packet, a persistent subscriber that stops reading cannot make
// it hold an unbounded backlog, and a flooding client does not keep the others on its worker
// waiting.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "broker_process.hpp"
#include "raw_mqtt_client.hpp"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace perch::integration {
namespace {

using namespace std::chrono_literals;

constexpr std::uint8_t puback_type = 4;
constexpr std::uint8_t publish_type = 3;
constexpr auto answer_timeout = 10s;
/// Config lines that lift the publish rates (docs/LIMITS.md), for tests of what happens when
/// publishers outrun the broker itself.
const std::string without_publish_rates = "max_publish_rate 0\nmax_publish_bytes_rate 0\n";

/// The resident memory of process `pid` in KiB (VmRSS), or 0 when it cannot be read.
std::uint64_t resident_kib(pid_t pid) {
    std::ifstream status("/proc/" + std::to_string(pid) + "/status");
    std::string key;
    while (status >> key) {
        if (key == "VmRSS:") {
            std::uint64_t kib = 0;
            status >> kib;
            return kib;
        }
        status.ignore(4096, '\n');
    }
    return 0;
}

/// A sanitizer build keeps freed memory in quarantine, which would count as held; a broker
/// started after this call frees it at once. No effect on other builds.
void release_freed_memory_at_once() {
    const char* current = std::getenv("ASAN_OPTIONS");
    std::string options = current != nullptr ? current : "";
    if (!options.empty()) {
        options += ':';
    }
    options += "quarantine_size_mb=0:thread_local_quarantine_size_kb=0";
    ::setenv("ASAN_OPTIONS", options.c_str(), 1);
}

/// A blocking loopback socket to `port` with a receive timeout; -1 on failure.
int open_socket(std::uint16_t port) {
    const int socket = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (socket < 0 ||
        ::connect(socket, reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
        if (socket >= 0) {
            ::close(socket);
        }
        return -1;
    }
    return socket;
}

/// Everything the peer sends until it closes the connection, or nullopt when it is still open
/// after `timeout`.
std::optional<std::vector<std::uint8_t>> read_until_closed(int socket,
                                                           std::chrono::milliseconds timeout) {
    std::vector<std::uint8_t> received;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        pollfd watched{socket, POLLIN, 0};
        if (::poll(&watched, 1, 100) <= 0) {
            continue;
        }
        std::uint8_t buffer[256];
        const ssize_t count = ::recv(socket, buffer, sizeof buffer, 0);
        if (count <= 0) {
            return received;
        }
        received.insert(received.end(), buffer, buffer + count);
    }
    return std::nullopt;
}

/// The start of a CONNECT that announces `remaining_length` bytes: fixed header, protocol name
/// and `level`, and nothing more.
std::vector<std::uint8_t> connect_header(std::uint32_t remaining_length, std::uint8_t level) {
    std::vector<std::uint8_t> bytes{0x10};
    do {
        std::uint8_t digit = remaining_length % 128;
        remaining_length /= 128;
        if (remaining_length > 0) {
            digit |= 0x80;
        }
        bytes.push_back(digit);
    } while (remaining_length > 0);
    bytes.insert(bytes.end(), {0x00, 0x04, 'M', 'Q', 'T', 'T', level});
    return bytes;
}

/// A 5.0 client announcing a 200 MB CONNECT gets CONNACK 0x95 Packet too large and the connection
/// closes, from the first bytes on (before the rest is sent); a 3.1.1 client, which has no such
/// return code, is just closed. Several such clients leave the broker's memory where it was.
TEST(Overload, OversizedFirstPacketIsRefusedFromItsFixedHeader) {
    release_freed_memory_at_once();
    broker_process broker(broker_kind::perch, "allow_anonymous false\n");
    const std::uint64_t before_kib = resident_kib(broker.pid());
    for (int round = 0; round < 4; ++round) {
        const int v5 = open_socket(broker.port());
        ASSERT_GE(v5, 0);
        const auto header_v5 = connect_header(200'000'000, 5);
        ASSERT_EQ(::send(v5, header_v5.data(), header_v5.size(), MSG_NOSIGNAL),
                  static_cast<ssize_t>(header_v5.size()));
        const auto answer = read_until_closed(v5, answer_timeout);
        ::close(v5);
        ASSERT_TRUE(answer.has_value()) << "the connection stayed open";
        const std::vector<std::uint8_t> too_large{0x20, 0x03, 0x00, 0x95, 0x00};
        EXPECT_EQ(*answer, too_large);

        const int v311 = open_socket(broker.port());
        ASSERT_GE(v311, 0);
        const auto header_v311 = connect_header(200'000'000, 4);
        ASSERT_EQ(::send(v311, header_v311.data(), header_v311.size(), MSG_NOSIGNAL),
                  static_cast<ssize_t>(header_v311.size()));
        const auto closed = read_until_closed(v311, answer_timeout);
        ::close(v311);
        ASSERT_TRUE(closed.has_value()) << "the connection stayed open";
        EXPECT_TRUE(closed->empty());
    }
    EXPECT_LT(resident_kib(broker.pid()), before_kib + 32 * 1024);
    EXPECT_TRUE(broker.stop().is_success()) << broker.log();
}

/// The number at the front of a flood payload.
int flood_number(const std::string& payload) {
    return std::atoi(payload.substr(0, payload.find('|')).c_str());
}

/// What one flood of a never-reading subscriber left behind.
struct flood_outcome {
    std::uint64_t before_kib = 0;
    std::uint64_t peak_kib = 0;
    /// Numbers of the messages the broker acknowledged, in order.
    std::vector<int> acknowledged;
    int offered = 0;
};

/// Floods "flood/topic" with up to `message_count` QoS 1 messages of 16 KiB each, a window of 64
/// unacknowledged ones, until the broker refuses the publisher (the subscriber's store queue is
/// full: 3.1.1 has no negative PUBACK, so it disconnects), all were offered, or 60 s passed.
flood_outcome flood(const broker_process& broker, int message_count) {
    flood_outcome outcome;
    outcome.before_kib = resident_kib(broker.pid());
    outcome.peak_kib = outcome.before_kib;
    raw_mqtt_client publisher;
    if (!publisher.connect(broker.port(), "flooder", true, answer_timeout)) {
        ADD_FAILURE() << "the publisher cannot connect";
        return outcome;
    }
    const std::string filler(16 * 1024, 'f');
    constexpr std::size_t window = 64;
    std::map<std::uint16_t, int> unacknowledged;
    const auto flood_deadline = std::chrono::steady_clock::now() + 60s;
    int& next = outcome.offered;
    bool is_refused = false;
    while (!is_refused && (next < message_count || !unacknowledged.empty()) &&
           std::chrono::steady_clock::now() < flood_deadline) {
        while (next < message_count && unacknowledged.size() < window) {
            const auto packet_id = static_cast<std::uint16_t>(next % 60'000 + 1);
            if (!publisher.publish("flood/topic", std::to_string(next) + "|" + filler, 1,
                                   packet_id)) {
                is_refused = true;
                break;
            }
            unacknowledged[packet_id] = next++;
        }
        const auto reply = publisher.read_packet(answer_timeout);
        if (!reply) {
            is_refused = true;
            break;
        }
        if (reply->type == puback_type) {
            const auto found = unacknowledged.find(reply->leading_packet_id());
            if (found != unacknowledged.end()) {
                outcome.acknowledged.push_back(found->second);
                unacknowledged.erase(found);
            }
        }
        if (next % 256 == 0) {
            outcome.peak_kib = std::max(outcome.peak_kib, resident_kib(broker.pid()));
        }
    }
    outcome.peak_kib = std::max(outcome.peak_kib, resident_kib(broker.pid()));
    publisher.close();
    std::sort(outcome.acknowledged.begin(), outcome.acknowledged.end());
    std::cout << "broker VmRSS " << outcome.before_kib << " kB before the flood, at most "
              << outcome.peak_kib << " kB during it; " << outcome.acknowledged.size() << " of "
              << next << " messages acknowledged\n";
    return outcome;
}

/// The subscriber reads again: every acknowledged message arrives, in order.
void expect_all_delivered_in_order(raw_mqtt_client& subscriber,
                                   const std::vector<int>& acknowledged) {
    std::vector<int> received;
    while (true) {
        const auto packet = subscriber.read_packet(5s);
        if (!packet) {
            break;
        }
        if (packet->type != publish_type) {
            continue;
        }
        const raw_publish delivered = parse_publish(*packet);
        received.push_back(flood_number(delivered.payload));
        ASSERT_TRUE(subscriber.acknowledge(puback_type, delivered.packet_id));
    }
    for (std::size_t index = 1; index < received.size(); ++index) {
        ASSERT_LT(received[index - 1], received[index]) << "out of order at " << index;
    }
    std::size_t missing = 0;
    for (const int number : acknowledged) {
        missing += std::binary_search(received.begin(), received.end(), number) ? 0 : 1;
    }
    EXPECT_EQ(missing, 0u) << "of " << acknowledged.size() << " acknowledged, " << received.size()
                           << " received";
}

/// A persistent QoS 1 subscriber stops reading while a publisher floods it with 16 KiB messages.
/// The broker's memory stays bounded (past max_output_bytes the deliveries wait in the session's
/// queue and then in the store only, up to the per-session store cap, where the publisher is
/// refused), and once the subscriber reads again every message acknowledged to the publisher
/// arrives, in order.
TEST(Overload, NeverReadingPersistentSubscriberKeepsMemoryBounded) {
    release_freed_memory_at_once();
    // The flood outruns the store, not a publish rate (docs/LIMITS.md): rates off.
    broker_process broker(broker_kind::perch, "durability batched\n" + without_publish_rates);
    raw_mqtt_client subscriber;
    ASSERT_TRUE(subscriber.connect(broker.port(), "sleepy", false, answer_timeout));
    ASSERT_TRUE(subscriber.subscribe("flood/topic", 1, 1, answer_timeout));

    const flood_outcome outcome = flood(broker, 16 * 1024);
    ASSERT_FALSE(outcome.acknowledged.empty());
    // 256 MB offered; what the broker holds for the subscriber is bounded by max_output_bytes
    // (8 MiB), its session queue and its store cap (16 MiB by default).
    EXPECT_LT(outcome.peak_kib, outcome.before_kib + 160 * 1024)
        << "acknowledged " << outcome.acknowledged.size() << " of " << outcome.offered;

    expect_all_delivered_in_order(subscriber, outcome.acknowledged);
    subscriber.disconnect();
    EXPECT_TRUE(broker.stop().is_success()) << broker.log();
}

/// Past its output limit and its session queue, a persistent subscriber's deliveries stay in the
/// store only: with store caps far above the memory bounds, 160 MB stored for a subscriber that
/// does not read take no more memory than its session queue (16 MiB) and output (8 MiB), and
/// all of it arrives, in order, once it reads from the store again.
TEST(Overload, DeliveriesPastTheSessionQueueStayInTheStoreOnly) {
    release_freed_memory_at_once();
    broker_process broker(broker_kind::perch, "durability batched\n"
                                              "max_stored_bytes 268435456\n"
                                              "max_stored_messages 100000\n" +
                                                  without_publish_rates);
    raw_mqtt_client subscriber;
    ASSERT_TRUE(subscriber.connect(broker.port(), "sleepy", false, answer_timeout));
    ASSERT_TRUE(subscriber.subscribe("flood/topic", 1, 1, answer_timeout));

    const flood_outcome outcome = flood(broker, 10 * 1024);
    ASSERT_EQ(outcome.acknowledged.size(), 10u * 1024u) << "the store refused some";
    EXPECT_LT(outcome.peak_kib, outcome.before_kib + 64 * 1024);

    expect_all_delivered_in_order(subscriber, outcome.acknowledged);
    subscriber.disconnect();
    EXPECT_TRUE(broker.stop().is_success()) << broker.log();
}

/// max_inflight_messages bounds the QoS 1 deliveries a (3.1.1) subscriber has unacknowledged; the
/// others wait in its queue and follow, in order, as it acknowledges.
TEST(Overload, MaxInflightMessagesBoundsTheUnacknowledgedDeliveries) {
    broker_process broker(broker_kind::perch, "max_inflight_messages 2\n");
    raw_mqtt_client subscriber;
    ASSERT_TRUE(subscriber.connect(broker.port(), "slow", true, answer_timeout));
    ASSERT_TRUE(subscriber.subscribe("window/topic", 1, 1, answer_timeout));
    raw_mqtt_client publisher;
    ASSERT_TRUE(publisher.connect(broker.port(), "quick", true, answer_timeout));
    for (int number = 0; number < 5; ++number) {
        ASSERT_TRUE(publisher.publish("window/topic", std::to_string(number), 1,
                                      static_cast<std::uint16_t>(number + 1)));
        const auto acknowledged = publisher.read_packet(answer_timeout);
        ASSERT_TRUE(acknowledged && acknowledged->type == puback_type);
    }
    // Two arrive, and nothing more while neither is acknowledged.
    std::vector<raw_publish> received;
    while (const auto packet = subscriber.read_packet(1s)) {
        if (packet->type == publish_type) {
            received.push_back(parse_publish(*packet));
        }
    }
    ASSERT_EQ(received.size(), 2u);
    // Each acknowledgement lets one more through, in order.
    std::vector<std::string> payloads;
    for (std::size_t index = 0; index < received.size(); ++index) {
        payloads.push_back(received[index].payload);
        ASSERT_TRUE(subscriber.acknowledge(puback_type, received[index].packet_id));
        const auto next = subscriber.read_packet(answer_timeout);
        if (next && next->type == publish_type) {
            received.push_back(parse_publish(*next));
        }
        if (received.size() == 5) {
            break;
        }
    }
    for (std::size_t index = payloads.size(); index < received.size(); ++index) {
        payloads.push_back(received[index].payload);
        ASSERT_TRUE(subscriber.acknowledge(puback_type, received[index].packet_id));
    }
    EXPECT_EQ(payloads, (std::vector<std::string>{"0", "1", "2", "3", "4"}));
    subscriber.disconnect();
    publisher.disconnect();
    EXPECT_TRUE(broker.stop().is_success()) << broker.log();
}

/// While one client floods QoS 1 publishes to a persistent subscriber that does not read, another
/// client on the same (only) worker gets its CONNACK and its PINGRESP.
TEST(Overload, OtherClientsAreServedWhileOneFloods) {
    broker_process broker(broker_kind::perch,
                          "workers 1\ndurability none\n" + without_publish_rates);
    raw_mqtt_client subscriber;
    ASSERT_TRUE(subscriber.connect(broker.port(), "sleepy", false, answer_timeout));
    ASSERT_TRUE(subscriber.subscribe("flood/topic", 1, 1, answer_timeout));

    std::atomic<bool> is_stopping{false};
    std::atomic<int> published{0};
    std::thread flooder([&] {
        const std::string payload(512 * 1024, 'f');
        // Once the subscriber's store queue is full the broker refuses the publisher (3.1.1:
        // disconnects it); it comes back and goes on.
        while (!is_stopping.load()) {
            raw_mqtt_client publisher;
            if (!publisher.connect(broker.port(), "flooder", true, answer_timeout)) {
                continue;
            }
            for (int next = 0; !is_stopping.load(); ++next) {
                // Pipelined without waiting for acknowledgements (read and dropped now and then,
                // so that this client's own receive buffer never stops the broker).
                if (!publisher.publish("flood/topic", payload, 1,
                                       static_cast<std::uint16_t>(next % 60'000 + 1))) {
                    break;
                }
                published.fetch_add(1);
                if (next % 64 == 0) {
                    while (publisher.read_packet(0ms)) {
                    }
                }
            }
        }
    });
    // Until about 400 MB were offered: more than the broker-wide output backlog at which readers
    // pause (256 MB), had the subscriber's share of it not been bounded.
    const auto flood_deadline = std::chrono::steady_clock::now() + 30s;
    while (published.load() < 800 && std::chrono::steady_clock::now() < flood_deadline) {
        std::this_thread::sleep_for(10ms);
    }
    raw_mqtt_client other;
    const bool is_connected = other.connect(broker.port(), "other", true, answer_timeout);
    const bool is_pinged = is_connected && other.ping(answer_timeout);
    other.disconnect();
    subscriber.close();
    // Stopping the broker also ends a flooder blocked in a send the broker no longer reads.
    is_stopping = true;
    const process_exit ending = broker.stop();
    flooder.join();
    EXPECT_TRUE(is_connected) << "no CONNACK while another client floods";
    EXPECT_TRUE(is_pinged) << "no PINGRESP while another client floods";
    EXPECT_TRUE(ending.is_success()) << broker.log();
}

} // namespace
} // namespace perch::integration
