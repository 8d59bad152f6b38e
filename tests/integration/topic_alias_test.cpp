// Outbound Topic Aliases on the wire (MQTT 5.0 3.3.2.3.4): a Paho C++ subscriber that allows
// aliases connects through a loopback relay that keeps every byte the broker sends it. Paho C 1.3
// hands a message to the application as it came (empty topic, Topic Alias property) and leaves
// the mapping to it; MQTT.js resolves aliases itself (mqttjs_test.cpp).
#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <gtest/gtest.h>
#include <mqtt/async_client.h>

#include "mqtt/decoder.hpp"

#include "broker_process.hpp"
#include "raw_mqtt_client.hpp"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

// Paho C++ lives in namespace ::mqtt and perch's protocol core in perch::mqtt: inside
// perch::integration the short name would find perch's, so Paho is always written ::mqtt.
namespace perch::integration {
namespace {

using namespace std::chrono_literals;

constexpr auto answer_timeout = 5s;

/// Listens on 127.0.0.1, accepts one client and relays its bytes to and from `target_port`,
/// keeping a copy of everything the target sends. Stops when either side closes or the relay is
/// destroyed.
class recording_relay {
public:
    explicit recording_relay(std::uint16_t target_port) : target_port_(target_port) {
        listener_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t length = sizeof(address);
        if (listener_ < 0 ||
            ::bind(listener_, reinterpret_cast<const sockaddr*>(&address), length) != 0 ||
            ::listen(listener_, 1) != 0 ||
            ::getsockname(listener_, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
            throw std::runtime_error("recording_relay: cannot listen on 127.0.0.1");
        }
        port_ = ntohs(address.sin_port);
        thread_ = std::thread([this] { run(); });
    }

    ~recording_relay() {
        is_stopping_ = true;
        thread_.join();
        ::close(listener_);
    }

    recording_relay(const recording_relay&) = delete;
    recording_relay& operator=(const recording_relay&) = delete;

    /// "tcp://127.0.0.1:PORT" of the relay, for Paho.
    std::string uri() const { return "tcp://127.0.0.1:" + std::to_string(port_); }

    /// Everything the target has sent so far.
    std::vector<std::uint8_t> from_target() const {
        std::lock_guard lock(mutex_);
        return from_target_;
    }

private:
    /// Waits for `fd` to be readable for a few milliseconds; false while stopping.
    bool wait_readable(int fd) const {
        while (!is_stopping_) {
            pollfd readable{fd, POLLIN, 0};
            if (::poll(&readable, 1, 10) > 0) {
                return true;
            }
        }
        return false;
    }

    int connect_target() const {
        const int target = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        address.sin_port = htons(target_port_);
        if (target >= 0 &&
            ::connect(target, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) == 0) {
            return target;
        }
        if (target >= 0) {
            ::close(target);
        }
        return -1;
    }

    /// Writes all of `bytes` to `fd`; false when it cannot.
    static bool write_all(int fd, const std::uint8_t* bytes, std::size_t size) {
        while (size > 0) {
            const ssize_t written = ::write(fd, bytes, size);
            if (written <= 0) {
                return false;
            }
            bytes += written;
            size -= static_cast<std::size_t>(written);
        }
        return true;
    }

    void run() {
        if (!wait_readable(listener_)) {
            return;
        }
        const int client = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
        if (client < 0) {
            return;
        }
        const int target = connect_target();
        std::array<std::uint8_t, 4096> buffer{};
        while (target >= 0 && !is_stopping_) {
            std::array<pollfd, 2> sides{pollfd{client, POLLIN, 0}, pollfd{target, POLLIN, 0}};
            if (::poll(sides.data(), sides.size(), 10) <= 0) {
                continue;
            }
            if (sides[0].revents != 0) {
                const ssize_t count = ::read(client, buffer.data(), buffer.size());
                if (count <= 0 ||
                    !write_all(target, buffer.data(), static_cast<std::size_t>(count))) {
                    break;
                }
            }
            if (sides[1].revents != 0) {
                const ssize_t count = ::read(target, buffer.data(), buffer.size());
                if (count <= 0) {
                    break;
                }
                {
                    std::lock_guard lock(mutex_);
                    from_target_.insert(from_target_.end(), buffer.data(), buffer.data() + count);
                }
                if (!write_all(client, buffer.data(), static_cast<std::size_t>(count))) {
                    break;
                }
            }
        }
        if (target >= 0) {
            ::close(target);
        }
        ::close(client);
    }

    std::uint16_t target_port_;
    std::uint16_t port_ = 0;
    int listener_ = -1;
    std::atomic<bool> is_stopping_{false};
    mutable std::mutex mutex_;
    std::vector<std::uint8_t> from_target_;
    std::thread thread_;
};

/// The PUBLISH packets in `bytes`, decoded at 5.0 as the client read them (topic name as sent,
/// alias unresolved). A malformed packet fails the test.
std::vector<mqtt::publish> publishes_in(const std::vector<std::uint8_t>& bytes) {
    std::vector<mqtt::publish> found;
    std::size_t offset = 0;
    while (offset < bytes.size()) {
        std::size_t consumed = 0;
        auto outcome = mqtt::decode_next(
            mqtt::byte_view(bytes.data() + offset, bytes.size() - offset), {}, consumed);
        auto* decoded = std::get_if<mqtt::packet>(&outcome);
        if (decoded == nullptr) {
            EXPECT_TRUE(std::holds_alternative<mqtt::need_more>(outcome))
                << "the broker sent a malformed packet";
            break;
        }
        if (auto* message = std::get_if<mqtt::publish>(decoded)) {
            found.push_back(std::move(*message));
        }
        offset += consumed;
    }
    return found;
}

/// One message as Paho delivered it.
struct delivered_message {
    std::string topic;
    std::string payload;
    std::optional<std::uint16_t> topic_alias;
};

class TopicAliasTest : public broker_test {};

TEST_F(TopicAliasTest, RepeatedTopicsGoOutAsAliasesSetBeforeUse) {
    if (broker().kind() != broker_kind::perch) {
        GTEST_SKIP() << "checks perch's outbound alias policy";
    }
    recording_relay relay(broker().port());
    ::mqtt::async_client subscriber(relay.uri(), "alias-subscriber",
                                    ::mqtt::create_options(MQTTVERSION_5));
    std::mutex mutex;
    std::condition_variable changed;
    std::deque<delivered_message> delivered;
    subscriber.set_message_callback([&](::mqtt::const_message_ptr message) {
        std::lock_guard lock(mutex);
        const auto& properties = message->get_properties();
        std::optional<std::uint16_t> alias;
        if (properties.contains(::mqtt::property::TOPIC_ALIAS)) {
            alias = ::mqtt::get<std::uint16_t>(properties, ::mqtt::property::TOPIC_ALIAS);
        }
        delivered.push_back({message->get_topic(), message->get_payload_str(), alias});
        changed.notify_all();
    });
    ::mqtt::connect_options options;
    options.set_mqtt_version(MQTTVERSION_5);
    options.set_clean_start(true);
    options.set_connect_timeout(5);
    // [MQTT-3.1.2-26 (5.0)] the subscriber accepts two aliases from the server.
    options.set_properties({{::mqtt::property::TOPIC_ALIAS_MAXIMUM, 2}});
    ASSERT_TRUE(subscriber.connect(options)->wait_for(answer_timeout));
    ASSERT_TRUE(subscriber.subscribe("alias/#", 1)->wait_for(answer_timeout));

    raw_mqtt_client publisher;
    ASSERT_TRUE(publisher.connect(broker().port(), "alias-publisher", true, answer_timeout));
    const std::string alice = "alias/room/kitchen/alice";
    const std::string bob = "alias/room/kitchen/bob";
    const std::string carol = "alias/room/hall/carol";
    const std::vector<std::pair<std::string, std::uint8_t>> sent{
        {alice, 0}, {alice, 1}, {alice, 1}, {bob, 1}, {bob, 0}, {carol, 1}, {alice, 1}};
    std::uint16_t packet_id = 0;
    for (std::size_t index = 0; index < sent.size(); ++index) {
        ASSERT_TRUE(publisher.publish(sent[index].first, "message " + std::to_string(index),
                                      sent[index].second, ++packet_id));
    }

    std::vector<delivered_message> received;
    {
        std::unique_lock lock(mutex);
        changed.wait_for(lock, answer_timeout, [&] { return delivered.size() >= sent.size(); });
        received.assign(delivered.begin(), delivered.end());
    }
    // On the wire: the first PUBLISH of a topic names it with a new alias, later ones send the
    // alias and an empty topic; with both aliases taken, carol's goes out in full without one
    // (alias 0 here) and alice keeps hers. Never above 2 [MQTT-3.3.2-9 (5.0)].
    const std::vector<std::pair<std::string, std::uint16_t>> expected_on_wire{
        {alice, 1}, {"", 1}, {"", 1}, {bob, 2}, {"", 2}, {carol, 0}, {"", 1}};
    const auto on_wire = publishes_in(relay.from_target());
    ASSERT_EQ(on_wire.size(), expected_on_wire.size());
    for (std::size_t index = 0; index < on_wire.size(); ++index) {
        EXPECT_EQ(on_wire[index].topic_name, expected_on_wire[index].first) << "PUBLISH " << index;
        EXPECT_EQ(on_wire[index].props.topic_alias.value_or(0), expected_on_wire[index].second)
            << "PUBLISH " << index;
    }

    // Paho delivers each message in order with the topic and alias it came with; mapping them as
    // a Paho application must gives every message its full topic.
    ASSERT_EQ(received.size(), sent.size());
    std::array<std::string, 3> mapped_topics; // by alias; [0] holds an unaliased message's topic
    for (std::size_t index = 0; index < sent.size(); ++index) {
        const delivered_message& message = received[index];
        EXPECT_EQ(message.payload, "message " + std::to_string(index));
        EXPECT_EQ(message.topic, expected_on_wire[index].first) << "message " << index;
        EXPECT_EQ(message.topic_alias.value_or(0), expected_on_wire[index].second)
            << "message " << index;
        std::string& mapped = mapped_topics.at(message.topic_alias.value_or(0));
        if (!message.topic.empty()) {
            mapped = message.topic;
        }
        EXPECT_EQ(mapped, sent[index].first) << "message " << index;
    }
    subscriber.disconnect()->wait_for(answer_timeout);
    publisher.disconnect();
}

} // namespace
} // namespace perch::integration
