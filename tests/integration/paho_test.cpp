// Eclipse Paho MQTT C++ clients at MQTT 3.1.1 and 5.0 against the broker under test: delivery at
// each QoS, retained messages, wildcards, wills, sessions, and the 5.0 properties and options.
#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include <gtest/gtest.h>
#include <mqtt/async_client.h>

#include "broker_process.hpp"
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace perch::integration {
namespace {

using namespace std::chrono_literals;

/// How long a message that must arrive may take.
constexpr auto delivery_timeout = 5s;
/// How long the tests listen for a message that must not arrive.
constexpr auto silence_window = 300ms;
constexpr int mqtt_311 = MQTTVERSION_3_1_1;
constexpr int mqtt_5 = MQTTVERSION_5;
/// Session Expiry Interval the 5.0 tests ask for when they want a session to outlive the
/// connection.
constexpr std::int32_t session_expiry_seconds = 300;

/// One message as a subscriber received it.
struct received_message {
    std::string topic;
    std::string payload;
    int qos = 0;
    bool is_retained = false;
    mqtt::properties properties;
};

std::vector<std::string> payloads_of(const std::vector<received_message>& messages) {
    std::vector<std::string> payloads;
    for (const auto& message : messages) {
        payloads.push_back(message.payload);
    }
    return payloads;
}

std::vector<std::string> topics_of(const std::vector<received_message>& messages) {
    std::vector<std::string> topics;
    for (const auto& message : messages) {
        topics.push_back(message.topic);
    }
    return topics;
}

/// Every User Property of `properties`, in order.
std::vector<std::pair<std::string, std::string>>
user_properties_of(const mqtt::properties& properties) {
    std::vector<std::pair<std::string, std::string>> pairs;
    for (std::size_t index = 0; index < properties.count(mqtt::property::USER_PROPERTY); ++index) {
        const auto pair =
            mqtt::get<mqtt::string_pair>(properties, mqtt::property::USER_PROPERTY, index);
        pairs.emplace_back(std::get<0>(pair), std::get<1>(pair));
    }
    return pairs;
}

/// Every Subscription Identifier of `properties`.
std::multiset<std::uint32_t> subscription_identifiers_of(const mqtt::properties& properties) {
    std::multiset<std::uint32_t> identifiers;
    const auto code = mqtt::property::SUBSCRIPTION_IDENTIFIER;
    for (std::size_t index = 0; index < properties.count(code); ++index) {
        identifiers.insert(mqtt::get<std::uint32_t>(properties, code, index));
    }
    return identifiers;
}

/// The loopback sockets of this process that are connected to `port`.
std::set<int> sockets_connected_to(std::uint16_t port) {
    std::set<int> sockets;
    for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
        const std::string name = entry.path().filename().string();
        if (name.empty() || !std::all_of(name.begin(), name.end(), ::isdigit)) {
            continue;
        }
        const int fd = std::stoi(name);
        sockaddr_in peer{};
        socklen_t length = sizeof(peer);
        if (::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &length) == 0 &&
            peer.sin_family == AF_INET && ntohs(peer.sin_port) == port) {
            sockets.insert(fd);
        }
    }
    return sockets;
}

/// Paho C runs the network I/O of every client in the process on one thread that sleeps up to a
/// second in poll(). A client connecting while others are idle waits one to two seconds for that
/// thread to notice its new socket and send CONNECT. To keep the suite fast, one extra Paho client
/// stays connected to a stub server inside this process, which sends it PINGRESP packets while a
/// connect is in progress: each wakes the I/O thread. The broker under test never sees any of it.
class paho_wakeup {
public:
    /// Holds the I/O thread awake for as long as it lives.
    class awake_guard {
    public:
        explicit awake_guard(std::atomic<int>& holders) : holders_(holders) { ++holders_; }
        ~awake_guard() { --holders_; }
        awake_guard(const awake_guard&) = delete;
        awake_guard& operator=(const awake_guard&) = delete;

    private:
        std::atomic<int>& holders_;
    };

    /// The process-wide instance, connected on first use (first use comes before any other
    /// client connects, when Paho's I/O thread starts with a short timeout).
    static paho_wakeup& instance() {
        static paho_wakeup wakeup;
        return wakeup;
    }

    [[nodiscard]] awake_guard keep_awake() { return awake_guard(holders_); }

private:
    paho_wakeup() {
        listener_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t length = sizeof(address);
        if (listener_fd_ < 0 ||
            ::bind(listener_fd_, reinterpret_cast<const sockaddr*>(&address), length) != 0 ||
            ::listen(listener_fd_, 1) != 0 ||
            ::getsockname(listener_fd_, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
            throw std::runtime_error("paho_wakeup: cannot listen on 127.0.0.1");
        }
        server_ = std::thread([this] { serve(); });
        client_ = std::make_unique<mqtt::async_client>(
            "tcp://127.0.0.1:" + std::to_string(ntohs(address.sin_port)), "paho-wakeup",
            mqtt::create_options(mqtt_311));
        mqtt::connect_options options;
        options.set_mqtt_version(mqtt_311);
        options.set_keep_alive_interval(0);
        options.set_connect_timeout(5);
        if (!client_->connect(options)->wait_for(delivery_timeout)) {
            throw std::runtime_error("paho_wakeup: no CONNACK from the stub server");
        }
    }

    ~paho_wakeup() {
        is_stopping_ = true;
        try {
            client_->disconnect()->wait_for(1s);
        } catch (const mqtt::exception&) {
            // Closing anyway.
        }
        client_.reset();
        server_.join();
        ::close(listener_fd_);
    }

    /// Accepts the one client, answers its CONNECT, then sends PINGRESP every couple of
    /// milliseconds while a guard is held, until the client goes away.
    void serve() {
        const int connection = ::accept4(listener_fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (connection < 0) {
            return;
        }
        std::array<char, 512> buffer{};
        bool has_answered_connect = false;
        while (!is_stopping_) {
            pollfd readable{connection, POLLIN, 0};
            if (::poll(&readable, 1, 2) > 0) {
                if (::read(connection, buffer.data(), buffer.size()) <= 0) {
                    break;
                }
                if (!has_answered_connect) {
                    constexpr std::array<char, 4> connack{0x20, 0x02, 0x00, 0x00};
                    has_answered_connect = ::write(connection, connack.data(), connack.size()) == 4;
                }
            }
            if (has_answered_connect && holders_ > 0) {
                constexpr std::array<char, 2> pingresp{static_cast<char>(0xD0), 0x00};
                if (::write(connection, pingresp.data(), pingresp.size()) != 2) {
                    break;
                }
            }
        }
        ::close(connection);
    }

    int listener_fd_ = -1;
    std::atomic<int> holders_{0};
    std::atomic<bool> is_stopping_{false};
    std::thread server_;
    std::unique_ptr<mqtt::async_client> client_;
};

/// One Paho async client. Everything it receives is queued in arrival order for the test to take;
/// a lost connection and a DISCONNECT from the server are recorded.
class paho_client {
public:
    paho_client(const broker_process& broker, const std::string& client_id, int mqtt_version)
        : mqtt_version_(mqtt_version),
          client_(broker.uri(), client_id, mqtt::create_options(mqtt_version)) {
        client_.set_message_callback([this](mqtt::const_message_ptr message) {
            std::lock_guard lock(mutex_);
            messages_.push_back({message->get_topic(), message->get_payload_str(),
                                 message->get_qos(), message->is_retained(),
                                 message->get_properties()});
            changed_.notify_all();
        });
        client_.set_connection_lost_handler([this](const std::string&) {
            std::lock_guard lock(mutex_);
            is_connection_lost_ = true;
            changed_.notify_all();
        });
        client_.set_disconnected_handler(
            [this](const mqtt::properties&, mqtt::ReasonCode reason_code) {
                std::lock_guard lock(mutex_);
                server_disconnect_reason_ = reason_code;
                is_connection_lost_ = true;
                changed_.notify_all();
            });
    }

    ~paho_client() {
        try {
            if (client_.is_connected()) {
                client_.disconnect()->wait_for(1s);
            }
        } catch (const mqtt::exception&) {
            // The connection is going away either way.
        }
    }

    paho_client(const paho_client&) = delete;
    paho_client& operator=(const paho_client&) = delete;

    /// Connect options for this client's protocol level, without session choices.
    mqtt::connect_options_builder base_options() const {
        mqtt::connect_options_builder builder;
        builder.mqtt_version(mqtt_version_).connect_timeout(5s);
        return builder;
    }

    /// A new session that ends with the connection: Clean Session (3.1.1), Clean Start and no
    /// Session Expiry Interval (5.0).
    mqtt::connect_options clean_options() const {
        auto builder = base_options();
        if (mqtt_version_ == mqtt_5) {
            builder.clean_start(true);
        } else {
            builder.clean_session(true);
        }
        return builder.finalize();
    }

    /// Resume the session or create one that outlives the connection: Clean Session 0 (3.1.1),
    /// Clean Start 0 with a Session Expiry Interval (5.0).
    mqtt::connect_options persistent_options() const {
        auto builder = base_options();
        if (mqtt_version_ == mqtt_5) {
            builder.clean_start(false).properties(
                {{mqtt::property::SESSION_EXPIRY_INTERVAL, session_expiry_seconds}});
        } else {
            builder.clean_session(false);
        }
        return builder.finalize();
    }

    /// Connects and returns the CONNACK. Throws mqtt::exception when the server refuses.
    mqtt::connect_response connect(const mqtt::connect_options& options) {
        // Paho C++ 1.2 copies and moves connect_options without re-pointing the C structure at
        // the copy's properties, so a moved-from builder sends none. Re-setting them on the copy
        // that connect() reads keeps the Session Expiry Interval and friends on the wire.
        mqtt::connect_options sent(options);
        if (!options.get_properties().empty()) {
            sent.set_properties(options.get_properties());
        }
        const auto awake = paho_wakeup::instance().keep_awake();
        auto token = client_.connect(sent);
        wait(*token, "CONNECT");
        return token->get_connect_response();
    }

    mqtt::connect_response connect_clean() { return connect(clean_options()); }

    void disconnect() { wait(*client_.disconnect(), "DISCONNECT"); }

    /// Subscribes to one filter and returns the SUBACK reason codes.
    std::vector<mqtt::ReasonCode> subscribe(const std::string& topic_filter, int qos,
                                            const mqtt::subscribe_options& options = {},
                                            const mqtt::properties& properties = {}) {
        auto token = client_.subscribe(topic_filter, qos, options, properties);
        wait(*token, "SUBSCRIBE");
        return token->get_subscribe_response().get_reason_codes();
    }

    /// Subscribes to several filters in one SUBSCRIBE and returns the SUBACK reason codes.
    std::vector<mqtt::ReasonCode> subscribe(const std::vector<std::string>& topic_filters,
                                            const std::vector<int>& qos) {
        auto token = client_.subscribe(mqtt::string_collection::create(topic_filters),
                                       mqtt::iasync_client::qos_collection(qos));
        wait(*token, "SUBSCRIBE");
        return token->get_subscribe_response().get_reason_codes();
    }

    /// Publishes and waits until the exchange for `qos` is complete.
    void publish(const std::string& topic, const std::string& payload, int qos,
                 bool is_retained = false, const mqtt::properties& properties = {}) {
        auto token =
            client_.publish(mqtt::message::create(topic, payload, qos, is_retained, properties));
        wait(*token, "PUBLISH");
    }

    /// The next message received, or nullopt when none arrives within `timeout`.
    std::optional<received_message> next_message(std::chrono::milliseconds timeout) {
        std::unique_lock lock(mutex_);
        if (!changed_.wait_for(lock, timeout, [this] { return !messages_.empty(); })) {
            return std::nullopt;
        }
        received_message message = std::move(messages_.front());
        messages_.pop_front();
        return message;
    }

    std::optional<received_message> next_message() { return next_message(delivery_timeout); }

    /// Up to `count` messages, waiting at most `timeout` for all of them.
    std::vector<received_message> take_messages(std::size_t count,
                                                std::chrono::milliseconds timeout = 5s) {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        std::vector<received_message> messages;
        while (messages.size() < count) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                deadline - std::chrono::steady_clock::now());
            auto message = next_message(std::max(left, 0ms));
            if (!message) {
                break;
            }
            messages.push_back(std::move(*message));
        }
        return messages;
    }

    /// The messages received before the one whose payload is `fence`. The fence itself is
    /// consumed; when it does not arrive in time, is_fence_seen is false.
    std::vector<received_message> messages_before(const std::string& fence, bool& is_fence_seen) {
        std::vector<received_message> messages;
        is_fence_seen = false;
        while (auto message = next_message()) {
            if (message->payload == fence) {
                is_fence_seen = true;
                break;
            }
            messages.push_back(std::move(*message));
        }
        return messages;
    }

    /// Waits until the connection is gone (closed by the server or lost).
    bool wait_for_connection_lost(std::chrono::milliseconds timeout = delivery_timeout) {
        std::unique_lock lock(mutex_);
        return changed_.wait_for(lock, timeout, [this] { return is_connection_lost_; });
    }

    /// The reason code of a DISCONNECT the server sent (5.0), if any.
    std::optional<mqtt::ReasonCode> server_disconnect_reason() {
        std::lock_guard lock(mutex_);
        return server_disconnect_reason_;
    }

    bool is_connected() { return client_.is_connected(); }

private:
    static void wait(mqtt::token& token, const char* what) {
        if (!token.wait_for(delivery_timeout)) {
            throw std::runtime_error(std::string(what) + " not completed within 5 s");
        }
    }

    int mqtt_version_;
    std::mutex mutex_;
    std::condition_variable changed_;
    std::deque<received_message> messages_;
    bool is_connection_lost_ = false;
    std::optional<mqtt::ReasonCode> server_disconnect_reason_;
    // Declared last: destroyed first, so no callback runs into destroyed members.
    mqtt::async_client client_;
};

/// Tests that run at both protocol levels; the parameter is the Paho MQTT version (4 or 5).
class PahoBothLevels : public broker_test, public ::testing::WithParamInterface<int> {
protected:
    int level() const { return GetParam(); }
    bool is_v5() const { return GetParam() == mqtt_5; }

    /// A client of this test's level, connected with a clean session.
    std::unique_ptr<paho_client> connected_client(const std::string& client_id) {
        auto client = std::make_unique<paho_client>(broker(), client_id, level());
        client->connect_clean();
        return client;
    }
};

/// Tests of MQTT 3.1.1 only rules.
class PahoV311 : public broker_test {};

/// Tests of MQTT 5.0 features.
class PahoV5 : public broker_test {
protected:
    std::unique_ptr<paho_client> connected_client(const std::string& client_id) {
        auto client = std::make_unique<paho_client>(broker(), client_id, mqtt_5);
        client->connect_clean();
        return client;
    }
};

TEST_P(PahoBothLevels, DeliversEveryQosInOrderWithPayloadsIntact) {
    // 3.1.1 [MQTT-4.6.0-6], 5.0 [MQTT-4.6.0-5]: messages from one client on one topic reach a
    // subscriber in the order they were published; [MQTT-3.3.4-1]: each at its QoS, exactly
    // once for QoS 2, payload bytes unchanged.
    auto subscriber = connected_client("order-sub");
    auto publisher = connected_client("order-pub");
    const std::string binary_payload("\x00\x01\xfe\xff binary\n", 12);
    for (int qos = 0; qos <= 2; ++qos) {
        const std::string topic = "it/order/qos" + std::to_string(qos);
        subscriber->subscribe(topic, 2);
        std::vector<std::string> expected{binary_payload};
        for (int index = 1; index < 50; ++index) {
            expected.push_back("qos" + std::to_string(qos) + "-" + std::to_string(index));
        }
        for (const auto& payload : expected) {
            publisher->publish(topic, payload, qos);
        }
        const auto received = subscriber->take_messages(expected.size());
        EXPECT_EQ(payloads_of(received), expected) << "published at QoS " << qos;
        for (const auto& message : received) {
            EXPECT_EQ(message.topic, topic);
            EXPECT_EQ(message.qos, qos);
            EXPECT_FALSE(message.is_retained);
        }
        EXPECT_FALSE(subscriber->next_message(silence_window)) << "a duplicate at QoS " << qos;
    }
}

TEST_P(PahoBothLevels, DeliversAtTheLowerOfPublishedAndGrantedQos) {
    // 3.1.1 [MQTT-3.8.4-6], 5.0 [MQTT-3.8.4-8]: delivery QoS is the minimum of the published
    // QoS and the QoS the server granted. 3.1.1 [MQTT-3.8.4-5], 5.0 [MQTT-3.8.4-6]: one return
    // code per filter.
    auto subscriber = connected_client("downgrade-sub");
    auto publisher = connected_client("downgrade-pub");
    for (int subscribed_qos = 0; subscribed_qos <= 2; ++subscribed_qos) {
        const std::string topic = "it/downgrade/" + std::to_string(subscribed_qos);
        const auto granted = subscriber->subscribe(topic, subscribed_qos);
        ASSERT_EQ(granted.size(), 1U);
        ASSERT_LE(static_cast<int>(granted[0]), subscribed_qos);
        for (int published_qos = 0; published_qos <= 2; ++published_qos) {
            publisher->publish(topic, "p" + std::to_string(published_qos), published_qos);
            const auto message = subscriber->next_message();
            ASSERT_TRUE(message) << "subscribed " << subscribed_qos << " published "
                                 << published_qos;
            EXPECT_EQ(message->payload, "p" + std::to_string(published_qos));
            EXPECT_EQ(message->qos, std::min(published_qos, static_cast<int>(granted[0])))
                << "subscribed " << subscribed_qos << " published " << published_qos;
        }
    }
}

TEST_P(PahoBothLevels, RetainedMessageIsSetReplacedAndCleared) {
    const std::string topic = "it/retained/state";
    auto publisher = connected_client("retain-pub");
    publisher->publish(topic, "first", 1, true);
    publisher->publish(topic, "second", 1, true);
    // 3.1.1 [MQTT-3.3.1-12], 5.0 [MQTT-3.3.1-8]: a message without RETAIN leaves the retained
    // one alone.
    publisher->publish(topic, "not retained", 1, false);

    // 3.1.1 [MQTT-3.3.1-5], [MQTT-3.3.1-6], [MQTT-3.3.1-8]; 5.0 [MQTT-3.3.1-5], [MQTT-3.3.1-9]:
    // a new subscription gets the latest retained message, flagged as retained.
    auto late = connected_client("retain-late");
    late->subscribe(topic, 2);
    auto message = late->next_message();
    ASSERT_TRUE(message);
    EXPECT_EQ(message->payload, "second");
    EXPECT_TRUE(message->is_retained);
    EXPECT_EQ(message->qos, 1) << "retained at QoS 1, subscribed at 2";
    EXPECT_FALSE(late->next_message(silence_window)) << "only the latest retained message";

    // 3.1.1 [MQTT-3.3.1-9], 5.0 [MQTT-3.3.1-12]: an established subscription gets a retained
    // publish with RETAIN 0; 3.1.1 [MQTT-3.3.1-10], 5.0 [MQTT-3.3.1-6]: an empty retained
    // payload is forwarded as normal and removes the retained message.
    publisher->publish(topic, "", 1, true);
    message = late->next_message();
    ASSERT_TRUE(message);
    EXPECT_EQ(message->payload, "");
    EXPECT_FALSE(message->is_retained);

    // 3.1.1 [MQTT-3.3.1-11], 5.0 [MQTT-3.3.1-7]: nothing is retained any more.
    auto later = connected_client("retain-later");
    later->subscribe(topic, 1);
    publisher->publish(topic, "fence", 1);
    message = later->next_message();
    ASSERT_TRUE(message);
    EXPECT_EQ(message->payload, "fence") << "a cleared retained message was delivered";
}

TEST_P(PahoBothLevels, WildcardsMatchWholeLevels) {
    // Section 4.7: '+' matches exactly one level, possibly empty (3.1.1 [MQTT-4.7.1-3],
    // 5.0 [MQTT-4.7.1-2]); '#' matches the parent level and everything below (3.1.1
    // [MQTT-4.7.1-2], 5.0 [MQTT-4.7.1-1]); filters starting with a wildcard never match topics
    // starting with '$' ([MQTT-4.7.2-1]); a delivered topic matches its filter ([MQTT-3.3.2-3]).
    auto single = connected_client("wild-single");
    auto multi = connected_client("wild-multi");
    auto everything = connected_client("wild-all");
    single->subscribe("sport/+/player", 1);
    multi->subscribe("sport/tennis/#", 1);
    everything->subscribe("#", 1);
    auto publisher = connected_client("wild-pub");
    const std::vector<std::string> topics{"sport/tennis/player",
                                          "sport/golf/player",
                                          "sport//player",
                                          "sport/tennis",
                                          "sport/tennis/player/ranking",
                                          "sport/player",
                                          "sports/tennis/player",
                                          "sport/tennis/"};
    for (const auto& topic : topics) {
        publisher->publish(topic, topic, 1);
    }
    publisher->publish("sport/tennis/player", "fence", 1);

    bool is_fence_seen = false;
    EXPECT_EQ(
        topics_of(single->messages_before("fence", is_fence_seen)),
        (std::vector<std::string>{"sport/tennis/player", "sport/golf/player", "sport//player"}));
    EXPECT_TRUE(is_fence_seen);
    EXPECT_EQ(topics_of(multi->messages_before("fence", is_fence_seen)),
              (std::vector<std::string>{"sport/tennis/player", "sport/tennis",
                                        "sport/tennis/player/ranking", "sport/tennis/"}));
    EXPECT_TRUE(is_fence_seen);
    const auto all = everything->messages_before("fence", is_fence_seen);
    EXPECT_TRUE(is_fence_seen);
    EXPECT_EQ(topics_of(all), topics);
    for (const auto& message : all) {
        EXPECT_NE(message.topic.front(), '$') << "'#' matched " << message.topic;
    }
}

TEST_P(PahoBothLevels, WillIsPublishedWhenTheConnectionDropsWithoutDisconnect) {
    // 3.1.1 [MQTT-3.1.2-8], 5.0 [MQTT-3.1.2-8]: the will is published when the network
    // connection closes without DISCONNECT; 3.1.1 [MQTT-3.1.2-16], 5.0 [MQTT-3.1.2-14]: as a
    // non-retained message.
    auto watcher = connected_client("will-watcher");
    watcher->subscribe("it/will/#", 2);

    const auto before = sockets_connected_to(broker().port());
    paho_client dying(broker(), "will-dying", level());
    auto options = dying.clean_options();
    options.set_will(mqtt::will_options("it/will/dying", std::string("gone away"), 1, false));
    dying.connect(options);
    std::set<int> dying_sockets;
    for (const int fd : sockets_connected_to(broker().port())) {
        if (before.count(fd) == 0) {
            dying_sockets.insert(fd);
        }
    }
    ASSERT_EQ(dying_sockets.size(), 1U) << "cannot tell which socket is the will client's";
    // The socket dies under the client: the broker sees the stream end without DISCONNECT.
    ::shutdown(*dying_sockets.begin(), SHUT_RDWR);

    const auto will = watcher->next_message();
    ASSERT_TRUE(will) << "no will message after the connection dropped";
    EXPECT_EQ(will->topic, "it/will/dying");
    EXPECT_EQ(will->payload, "gone away");
    EXPECT_EQ(will->qos, 1);
    EXPECT_FALSE(will->is_retained);
}

TEST_P(PahoBothLevels, NoWillAfterACleanDisconnect) {
    // 3.1.1 [MQTT-3.1.2-10], [MQTT-3.14.4-3]; 5.0 [MQTT-3.1.2-10], [MQTT-3.14.4-3]: DISCONNECT
    // (reason 0x00 at 5.0) discards the will.
    auto watcher = connected_client("nowill-watcher");
    watcher->subscribe("it/will/#", 1);
    {
        paho_client leaving(broker(), "nowill-leaving", level());
        auto options = leaving.clean_options();
        options.set_will(
            mqtt::will_options("it/will/leaving", std::string("should not"), 1, false));
        leaving.connect(options);
        leaving.disconnect();
    }
    EXPECT_FALSE(watcher->next_message(silence_window)) << "a will after a clean DISCONNECT";
    auto publisher = connected_client("nowill-pub");
    publisher->publish("it/will/leaving", "fence", 1);
    const auto message = watcher->next_message();
    ASSERT_TRUE(message);
    EXPECT_EQ(message->payload, "fence");
}

TEST_P(PahoBothLevels, PersistentSessionReceivesMessagesQueuedWhileOffline) {
    const std::string topic = "it/persistent/inbox";
    {
        paho_client subscriber(broker(), "persistent-sub", level());
        // 3.1.1 [MQTT-3.2.2-3], 5.0 [MQTT-3.2.2-3]: no session yet, so Session Present is 0.
        EXPECT_FALSE(subscriber.connect(subscriber.persistent_options()).is_session_present());
        subscriber.subscribe(topic, 1);
        subscriber.disconnect();
    }
    auto publisher = connected_client("persistent-pub");
    std::vector<std::string> expected;
    for (int index = 0; index < 20; ++index) {
        expected.push_back("queued-" + std::to_string(index));
        publisher->publish(topic, expected.back(), 1);
    }
    publisher->publish(topic, "at-most-once", 0);

    // 3.1.1 [MQTT-3.1.2-4], [MQTT-3.1.2-5]; 5.0 [MQTT-3.1.2-5], [MQTT-3.1.2-23]: the session,
    // its subscription and the QoS 1 messages published meanwhile survive the disconnection
    // and arrive, in order, without subscribing again. 3.1.1 [MQTT-3.2.2-2], 5.0
    // [MQTT-3.2.2-3]: Session Present is 1.
    paho_client subscriber(broker(), "persistent-sub", level());
    EXPECT_TRUE(subscriber.connect(subscriber.persistent_options()).is_session_present());
    const auto received = subscriber.take_messages(expected.size());
    EXPECT_EQ(payloads_of(received), expected);
    for (const auto& message : received) {
        EXPECT_EQ(message.qos, 1);
    }
    // A QoS 0 message may be queued too, but never ahead of earlier messages.
    if (auto extra = subscriber.next_message(silence_window)) {
        EXPECT_EQ(extra->payload, "at-most-once");
    }
    subscriber.disconnect();

    // 3.1.1 [MQTT-3.1.2-6], 5.0 [MQTT-3.1.2-4]: a clean session discards the old one.
    paho_client fresh(broker(), "persistent-sub", level());
    EXPECT_FALSE(fresh.connect_clean().is_session_present());
    publisher->publish(topic, "after clean start", 1);
    EXPECT_FALSE(fresh.next_message(silence_window)) << "the discarded subscription delivered";
}

TEST_P(PahoBothLevels, SecondConnectionWithTheSameIdTakesOverTheSession) {
    const std::string topic = "it/takeover";
    paho_client first(broker(), "takeover", level());
    first.connect(first.persistent_options());
    first.subscribe(topic, 1);

    paho_client second(broker(), "takeover", level());
    // 3.1.1 [MQTT-3.1.4-2], 5.0 [MQTT-3.1.4-3]: the existing client is disconnected, at 5.0
    // after a DISCONNECT carrying 0x8E Session taken over.
    EXPECT_TRUE(second.connect(second.persistent_options()).is_session_present());
    ASSERT_TRUE(first.wait_for_connection_lost()) << "the first connection was not closed";
    if (is_v5() && broker().kind() == broker_kind::perch) {
        // Mosquitto 2.0 closes the old connection without this DISCONNECT; Perch sends it.
        EXPECT_EQ(first.server_disconnect_reason(),
                  std::optional<mqtt::ReasonCode>(mqtt::ReasonCode::SESSION_TAKEN_OVER));
    }
    // The taken-over session keeps its subscription.
    auto publisher = connected_client("takeover-pub");
    publisher->publish(topic, "to the new connection", 1);
    const auto message = second.next_message();
    ASSERT_TRUE(message);
    EXPECT_EQ(message->payload, "to the new connection");
    EXPECT_FALSE(first.next_message(silence_window));
}

TEST_P(PahoBothLevels, RefusedSubscriptionGetsAFailureCodeInItsPlace) {
    // 3.1.1 [MQTT-3.8.4-5], 5.0 [MQTT-3.8.4-6], [MQTT-3.9.3-1]: one return code per filter, in
    // order; 0x80 (3.1.1) or 0x87 Not authorized (5.0) for a filter the server refuses. Perch
    // refuses chat/ topics to anonymous clients (DESIGN.md, IM contract).
    if (broker().kind() == broker_kind::mosquitto) {
        GTEST_SKIP() << "Mosquitto grants every subscription and applies its ACL on delivery";
    }
    auto client = connected_client("refused-sub");
    const auto codes = client->subscribe({"it/allowed", "chat/room/lobby/+"}, {1, 1});
    ASSERT_EQ(codes.size(), 2U);
    EXPECT_EQ(codes[0], mqtt::ReasonCode::GRANTED_QOS_1);
    EXPECT_EQ(codes[1],
              is_v5() ? mqtt::ReasonCode::NOT_AUTHORIZED : mqtt::ReasonCode::UNSPECIFIED_ERROR);
    EXPECT_TRUE(client->is_connected());
}

TEST_F(PahoV311, EmptyClientIdWithoutCleanSessionIsRejected) {
    // 3.1.1 [MQTT-3.1.3-8]: a zero-byte ClientId with CleanSession 0 is answered with return
    // code 0x02 Identifier rejected.
    paho_client client(broker(), "", mqtt_311);
    auto options = client.base_options().clean_session(false).finalize();
    try {
        client.connect(options);
        ADD_FAILURE() << "the server accepted an empty client id without clean session";
    } catch (const mqtt::exception& refusal) {
        EXPECT_EQ(refusal.get_return_code(), 2) << refusal.what();
    }
}

TEST_F(PahoV5, UserPropertiesAndContentTypeArriveUnaltered) {
    // [MQTT-3.3.2-17], [MQTT-3.3.2-18]: every User Property, unaltered and in order, repeated
    // names included; [MQTT-3.3.2-20] Content Type and [MQTT-3.3.2-4] Payload Format Indicator
    // unaltered.
    auto subscriber = connected_client("props-sub");
    subscriber->subscribe("it/props", 1);
    auto publisher = connected_client("props-pub");
    const std::vector<std::pair<std::string, std::string>> user_properties{
        {"a", "1"}, {"b", "2"}, {"a", "3"}, {"\xc3\xa9t\xc3\xa9", "\xe2\x82\xac"}, {"empty", ""}};
    mqtt::properties properties;
    for (const auto& [name, value] : user_properties) {
        properties.add({mqtt::property::USER_PROPERTY, name, value});
    }
    properties.add({mqtt::property::CONTENT_TYPE, "text/plain; charset=utf-8"});
    properties.add({mqtt::property::PAYLOAD_FORMAT_INDICATOR, 1});
    publisher->publish("it/props", "with properties", 1, false, properties);

    const auto message = subscriber->next_message();
    ASSERT_TRUE(message);
    EXPECT_EQ(message->payload, "with properties");
    EXPECT_EQ(user_properties_of(message->properties), user_properties);
    ASSERT_TRUE(message->properties.contains(mqtt::property::CONTENT_TYPE));
    EXPECT_EQ(mqtt::get<std::string>(message->properties, mqtt::property::CONTENT_TYPE),
              "text/plain; charset=utf-8");
    ASSERT_TRUE(message->properties.contains(mqtt::property::PAYLOAD_FORMAT_INDICATOR));
    EXPECT_EQ(
        mqtt::get<std::uint8_t>(message->properties, mqtt::property::PAYLOAD_FORMAT_INDICATOR), 1);
}

TEST_F(PahoV5, RequestAndResponseCarryResponseTopicAndCorrelationData) {
    // [MQTT-3.3.2-15] Response Topic and [MQTT-3.3.2-16] Correlation Data reach the subscriber
    // unaltered, so a responder can answer the requester (section 4.10).
    auto responder = connected_client("responder");
    responder->subscribe("it/service/request", 1);
    auto requester = connected_client("requester");
    const std::string response_topic = "it/service/response/requester";
    requester->subscribe(response_topic, 1);
    const std::string correlation_data("\x00\x07req-42\xff", 9);
    requester->publish("it/service/request", "what time is it", 1, false,
                       {{mqtt::property::RESPONSE_TOPIC, response_topic},
                        {mqtt::property::CORRELATION_DATA, correlation_data}});

    const auto request = responder->next_message();
    ASSERT_TRUE(request);
    ASSERT_TRUE(request->properties.contains(mqtt::property::RESPONSE_TOPIC));
    ASSERT_TRUE(request->properties.contains(mqtt::property::CORRELATION_DATA));
    const auto reply_topic =
        mqtt::get<std::string>(request->properties, mqtt::property::RESPONSE_TOPIC);
    const auto reply_correlation =
        mqtt::get<std::string>(request->properties, mqtt::property::CORRELATION_DATA);
    EXPECT_EQ(reply_topic, response_topic);
    EXPECT_EQ(reply_correlation, correlation_data);
    responder->publish(reply_topic, "noon", 1, false,
                       {{mqtt::property::CORRELATION_DATA, reply_correlation}});

    const auto response = requester->next_message();
    ASSERT_TRUE(response);
    EXPECT_EQ(response->topic, response_topic);
    EXPECT_EQ(response->payload, "noon");
    ASSERT_TRUE(response->properties.contains(mqtt::property::CORRELATION_DATA));
    EXPECT_EQ(mqtt::get<std::string>(response->properties, mqtt::property::CORRELATION_DATA),
              correlation_data);
}

TEST_F(PahoV5, ExpiredMessagesAreDroppedAndRemainingLifetimeCountsDown) {
    const std::string topic = "it/expiry";
    {
        paho_client subscriber(broker(), "expiry-sub", mqtt_5);
        subscriber.connect(subscriber.persistent_options());
        subscriber.subscribe(topic, 1);
        subscriber.disconnect();
    }
    auto publisher = connected_client("expiry-pub");
    publisher->publish(topic, "short-lived", 1, false,
                       {{mqtt::property::MESSAGE_EXPIRY_INTERVAL, 1}});
    publisher->publish(topic, "long-lived", 1, false,
                       {{mqtt::property::MESSAGE_EXPIRY_INTERVAL, 60}});
    publisher->publish(topic, "immortal", 1);
    std::this_thread::sleep_for(2200ms);

    // [MQTT-3.3.2-5]: a message whose expiry passed before delivery started is deleted;
    // [MQTT-3.3.2-6]: the others carry the interval minus the time they waited.
    paho_client subscriber(broker(), "expiry-sub", mqtt_5);
    EXPECT_TRUE(subscriber.connect(subscriber.persistent_options()).is_session_present());
    const auto received = subscriber.take_messages(2);
    ASSERT_EQ(payloads_of(received), (std::vector<std::string>{"long-lived", "immortal"}));
    ASSERT_TRUE(received[0].properties.contains(mqtt::property::MESSAGE_EXPIRY_INTERVAL));
    const auto remaining =
        mqtt::get<std::uint32_t>(received[0].properties, mqtt::property::MESSAGE_EXPIRY_INTERVAL);
    EXPECT_GE(remaining, 55U);
    EXPECT_LE(remaining, 58U) << "2.2 s of waiting must come off a 60 s interval";
    EXPECT_FALSE(received[1].properties.contains(mqtt::property::MESSAGE_EXPIRY_INTERVAL));
    EXPECT_FALSE(subscriber.next_message(silence_window));
}

TEST_F(PahoV5, SubscriptionIdentifiersComeBackWithMatchingMessages) {
    auto subscriber = connected_client("sid-sub");
    subscriber->subscribe("it/sid/a/#", 1, {}, {{mqtt::property::SUBSCRIPTION_IDENTIFIER, 7}});
    subscriber->subscribe("it/sid/+/b", 1, {}, {{mqtt::property::SUBSCRIPTION_IDENTIFIER, 9}});
    subscriber->subscribe("it/sid/plain", 1);
    auto publisher = connected_client("sid-pub");

    publisher->publish("it/sid/a/x", "only seven", 1);
    auto message = subscriber->next_message();
    ASSERT_TRUE(message);
    EXPECT_EQ(subscription_identifiers_of(message->properties), std::multiset<std::uint32_t>{7});
    publisher->publish("it/sid/c/b", "only nine", 1);
    message = subscriber->next_message();
    ASSERT_TRUE(message);
    EXPECT_EQ(subscription_identifiers_of(message->properties), std::multiset<std::uint32_t>{9});
    publisher->publish("it/sid/plain", "no identifier", 1);
    message = subscriber->next_message();
    ASSERT_TRUE(message);
    EXPECT_TRUE(subscription_identifiers_of(message->properties).empty());

    // [MQTT-3.3.4-3]: overlapping subscriptions return every identifier: all of them in one
    // copy ([MQTT-3.3.4-4]) or each copy with its own ([MQTT-3.3.4-5]).
    publisher->publish("it/sid/a/b", "both", 1);
    publisher->publish("it/sid/a/x", "fence", 1);
    bool is_fence_seen = false;
    const auto copies = subscriber->messages_before("fence", is_fence_seen);
    EXPECT_TRUE(is_fence_seen);
    ASSERT_GE(copies.size(), 1U);
    ASSERT_LE(copies.size(), 2U);
    std::multiset<std::uint32_t> identifiers;
    for (const auto& copy : copies) {
        EXPECT_EQ(copy.payload, "both");
        identifiers.merge(subscription_identifiers_of(copy.properties));
    }
    EXPECT_EQ(identifiers, (std::multiset<std::uint32_t>{7, 9}));
}

TEST_F(PahoV5, NoLocalKeepsAClientsOwnMessagesFromIt) {
    // [MQTT-3.8.3-3]: with No Local, messages are not forwarded to the connection with the
    // publisher's client id; without it they are.
    auto client = connected_client("nolocal");
    client->subscribe("it/nolocal", 1, mqtt::subscribe_options(true));
    client->subscribe("it/local", 1);
    client->publish("it/nolocal", "from myself", 1);
    auto other = connected_client("nolocal-other");
    other->publish("it/nolocal", "from another client", 1);
    auto message = client->next_message();
    ASSERT_TRUE(message);
    EXPECT_EQ(message->payload, "from another client");
    EXPECT_FALSE(client->next_message(silence_window)) << "its own message came back";

    client->publish("it/local", "echo", 1);
    message = client->next_message();
    ASSERT_TRUE(message);
    EXPECT_EQ(message->payload, "echo");
}

TEST_F(PahoV5, RetainAsPublishedKeepsTheRetainFlagOfLiveMessages) {
    auto keeping = connected_client("rap-keep");
    keeping->subscribe("it/rap", 1, mqtt::subscribe_options(false, true));
    auto clearing = connected_client("rap-clear");
    clearing->subscribe("it/rap", 1, mqtt::subscribe_options(false, false));
    auto publisher = connected_client("rap-pub");
    publisher->publish("it/rap", "retained", 1, true);
    publisher->publish("it/rap", "plain", 1, false);

    // [MQTT-3.3.1-13]: Retain As Published 1 forwards the publisher's RETAIN flag.
    auto received = keeping->take_messages(2);
    ASSERT_EQ(payloads_of(received), (std::vector<std::string>{"retained", "plain"}));
    EXPECT_TRUE(received[0].is_retained);
    EXPECT_FALSE(received[1].is_retained);
    // [MQTT-3.3.1-12]: Retain As Published 0 clears it.
    received = clearing->take_messages(2);
    ASSERT_EQ(payloads_of(received), (std::vector<std::string>{"retained", "plain"}));
    EXPECT_FALSE(received[0].is_retained);
    EXPECT_FALSE(received[1].is_retained);
}

TEST_F(PahoV5, RetainHandlingDecidesWhetherRetainedMessagesAreSentOnSubscribe) {
    const std::string topic = "it/retain-handling";
    auto publisher = connected_client("rh-pub");
    publisher->publish(topic, "kept", 1, true);
    using options = mqtt::subscribe_options;

    // Each subscriber is told to expect the retained message or not; a live "fence" published
    // after the subscription shows whether anything came before it.
    const auto first_payload_after_subscribing = [&](paho_client& client,
                                                     options::RetainHandling handling) {
        client.subscribe(topic, 1, options(false, false, handling));
        publisher->publish(topic, "fence", 1);
        bool is_fence_seen = false;
        auto before = client.messages_before("fence", is_fence_seen);
        EXPECT_TRUE(is_fence_seen);
        return before;
    };

    // [MQTT-3.3.1-9]: 0 sends the retained message on every subscribe, including a repeated
    // one ([MQTT-3.8.4-4]).
    auto always = connected_client("rh-always");
    for (int round = 0; round < 2; ++round) {
        const auto before =
            first_payload_after_subscribing(*always, options::SEND_RETAINED_ON_SUBSCRIBE);
        ASSERT_EQ(payloads_of(before), std::vector<std::string>{"kept"}) << "round " << round;
        EXPECT_TRUE(before[0].is_retained);
    }
    // [MQTT-3.3.1-10]: 1 sends it only when the subscription is new.
    auto once = connected_client("rh-once");
    EXPECT_EQ(payloads_of(first_payload_after_subscribing(*once, options::SEND_RETAINED_ON_NEW)),
              std::vector<std::string>{"kept"});
    EXPECT_EQ(payloads_of(first_payload_after_subscribing(*once, options::SEND_RETAINED_ON_NEW)),
              std::vector<std::string>{})
        << "re-subscribing with Retain Handling 1 sent the retained message";
    // [MQTT-3.3.1-11]: 2 never sends it.
    auto never = connected_client("rh-never");
    EXPECT_EQ(payloads_of(first_payload_after_subscribing(*never, options::DONT_SEND_RETAINED)),
              std::vector<std::string>{});
}

TEST_F(PahoV5, SharedSubscriptionSpreadsMessagesOverItsMembers) {
    // Section 4.8.2: each message matching a shared subscription goes to exactly one member of
    // the group; an ordinary subscription to the same topic still gets all of them. Perch also
    // spreads the load, so both members must get some.
    auto first_member = connected_client("share-1");
    auto second_member = connected_client("share-2");
    first_member->subscribe("$share/workers/it/jobs", 1);
    second_member->subscribe("$share/workers/it/jobs", 1);
    auto observer = connected_client("share-observer");
    observer->subscribe("it/jobs", 1);
    auto publisher = connected_client("share-pub");
    std::vector<std::string> expected;
    for (int index = 0; index < 20; ++index) {
        expected.push_back("job-" + std::to_string(index));
        publisher->publish("it/jobs", expected.back(), 1);
    }

    EXPECT_EQ(payloads_of(observer->take_messages(expected.size())), expected);
    std::vector<std::string> shared;
    std::size_t first_count = 0;
    const auto deadline = std::chrono::steady_clock::now() + delivery_timeout;
    while (shared.size() < expected.size() && std::chrono::steady_clock::now() < deadline) {
        if (auto message = first_member->next_message(10ms)) {
            shared.push_back(message->payload);
            ++first_count;
        }
        if (auto message = second_member->next_message(10ms)) {
            shared.push_back(message->payload);
        }
    }
    EXPECT_FALSE(first_member->next_message(silence_window)) << "a message went twice";
    EXPECT_FALSE(second_member->next_message(10ms)) << "a message went twice";
    std::sort(shared.begin(), shared.end());
    auto sorted_expected = expected;
    std::sort(sorted_expected.begin(), sorted_expected.end());
    EXPECT_EQ(shared, sorted_expected) << "every message exactly once across the group";
    EXPECT_GT(first_count, 0U) << "the first member got nothing";
    EXPECT_LT(first_count, expected.size()) << "the second member got nothing";
}

TEST_F(PahoV5, TopicAliasFromThePublisherIsResolvedForSubscribers) {
    auto subscriber = connected_client("alias-sub");
    subscriber->subscribe("it/alias/#", 1);
    paho_client publisher(broker(), "alias-pub", mqtt_5);
    const auto connack = publisher.connect_clean();
    // [MQTT-3.2.2-17]: a client may use aliases up to the server's Topic Alias Maximum.
    ASSERT_TRUE(connack.get_properties().contains(mqtt::property::TOPIC_ALIAS_MAXIMUM))
        << "the server accepts no topic aliases";
    ASSERT_GE(
        mqtt::get<std::uint16_t>(connack.get_properties(), mqtt::property::TOPIC_ALIAS_MAXIMUM), 1);

    // [MQTT-3.3.2-12]: the server accepts aliases up to its maximum: the first PUBLISH sets
    // alias 1, the next ones send an empty topic name with the alias.
    const std::string topic = "it/alias/a/rather/long/topic/name";
    const mqtt::properties alias{{mqtt::property::TOPIC_ALIAS, 1}};
    publisher.publish(topic, "set", 1, false, alias);
    publisher.publish("", "by alias", 1, false, alias);
    publisher.publish("", "by alias again", 0, false, alias);

    const auto received = subscriber->take_messages(3);
    ASSERT_EQ(payloads_of(received),
              (std::vector<std::string>{"set", "by alias", "by alias again"}));
    for (const auto& message : received) {
        EXPECT_EQ(message.topic, topic);
        // [MQTT-3.1.2-27]: the subscriber allowed no aliases, so none is sent to it.
        EXPECT_FALSE(message.properties.contains(mqtt::property::TOPIC_ALIAS));
    }
    EXPECT_TRUE(publisher.is_connected());
}

TEST_F(PahoV5, AssignsAClientIdAndTellsTheServerKeepAlive) {
    paho_client client(broker(), "", mqtt_5);
    auto options = client.base_options()
                       .clean_start(false)
                       .keep_alive_interval(std::chrono::seconds(300))
                       .properties({{mqtt::property::SESSION_EXPIRY_INTERVAL, 60}})
                       .finalize();
    const auto connack = client.connect(options);
    const auto& properties = connack.get_properties();
    // [MQTT-3.1.3-7], [MQTT-3.2.2-16]: an empty client id gets a new, non-empty one in CONNACK.
    ASSERT_TRUE(properties.contains(mqtt::property::ASSIGNED_CLIENT_IDENTIFER));
    const auto assigned =
        mqtt::get<std::string>(properties, mqtt::property::ASSIGNED_CLIENT_IDENTIFER);
    EXPECT_FALSE(assigned.empty());
    // Section 3.2.2.3.14, [MQTT-3.2.2-21]: a keep alive above the server's maximum is answered
    // with the Server Keep Alive the client must use.
    ASSERT_TRUE(properties.contains(mqtt::property::SERVER_KEEP_ALIVE));
    EXPECT_EQ(mqtt::get<std::uint16_t>(properties, mqtt::property::SERVER_KEEP_ALIVE),
              broker_process::max_keep_alive_seconds);

    paho_client other(broker(), "", mqtt_5);
    const auto other_connack = other.connect_clean();
    ASSERT_TRUE(other_connack.get_properties().contains(mqtt::property::ASSIGNED_CLIENT_IDENTIFER));
    EXPECT_NE(mqtt::get<std::string>(other_connack.get_properties(),
                                     mqtt::property::ASSIGNED_CLIENT_IDENTIFER),
              assigned)
        << "two sessions were given the same client id";

    // [MQTT-3.1.3-7]: the session is processed as if the client had sent the assigned id, so it
    // can be resumed under that id.
    client.disconnect();
    paho_client resumed(broker(), assigned, mqtt_5);
    EXPECT_TRUE(resumed.connect(resumed.persistent_options()).is_session_present());
}

std::string level_name(const ::testing::TestParamInfo<int>& info) {
    return info.param == mqtt_5 ? "Mqtt5" : "Mqtt311";
}

INSTANTIATE_TEST_SUITE_P(Paho, PahoBothLevels, ::testing::Values(mqtt_311, mqtt_5), level_name);

} // namespace
} // namespace perch::integration
