// Bridges (docs/BRIDGES.md) against Debian's Mosquitto as the upstream broker: mappings in and out
// at 3.1.1 and 5.0, QoS 1 across an upstream outage and across perch's absence, and two perch
// gateways bridged both ways through one upstream without loops. Paho clients on each side.
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <deque>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <mqtt/async_client.h>

#include "broker_process.hpp"
#include "mosquitto_upstream.hpp"

namespace perch::integration {
namespace {

using namespace std::chrono_literals;

constexpr auto delivery_timeout = 10s;
/// How long the tests listen for a message that must not arrive.
constexpr auto silence_window = 1s;

struct received_message {
    std::string topic;
    std::string payload;
};

/// A Paho client whose received messages queue up in arrival order.
class test_client {
public:
    test_client(const std::string& uri, const std::string& client_id, int version = MQTTVERSION_5)
        : version_(version), client_(uri, client_id, mqtt::create_options(version)) {
        client_.set_message_callback([this](mqtt::const_message_ptr message) {
            std::lock_guard lock(mutex_);
            messages_.push_back({message->get_topic(), message->get_payload_str()});
            changed_.notify_all();
        });
    }
    ~test_client() {
        try {
            if (client_.is_connected()) {
                client_.disconnect()->wait_for(2s);
            }
        } catch (const mqtt::exception&) {
            // Going away either way.
        }
    }
    test_client(const test_client&) = delete;
    test_client& operator=(const test_client&) = delete;

    /// Connects; `is_persistent` keeps the session (3.1.1 clean session 0; 5.0 an expiry).
    void connect(bool is_persistent = false) {
        mqtt::connect_options_builder builder;
        builder.mqtt_version(version_).connect_timeout(5s);
        if (version_ == MQTTVERSION_5) {
            builder.clean_start(!is_persistent);
        } else {
            builder.clean_session(!is_persistent);
        }
        mqtt::connect_options options = builder.finalize();
        if (version_ == MQTTVERSION_5 && is_persistent) {
            options.set_properties({{mqtt::property::SESSION_EXPIRY_INTERVAL, 3600}});
        }
        wait(*client_.connect(options));
    }
    void subscribe(const std::string& filter, int qos) { wait(*client_.subscribe(filter, qos)); }
    void publish(const std::string& topic, const std::string& payload, int qos,
                 bool is_retained = false) {
        wait(*client_.publish(mqtt::message::create(topic, payload, qos, is_retained)));
    }

    std::optional<received_message> next(std::chrono::milliseconds timeout = delivery_timeout) {
        std::unique_lock lock(mutex_);
        if (!changed_.wait_for(lock, timeout, [this] { return !messages_.empty(); })) {
            return std::nullopt;
        }
        received_message message = messages_.front();
        messages_.pop_front();
        return message;
    }

    /// The next message on `topic`, skipping others; nothing when none comes in time.
    std::optional<received_message> next_on(const std::string& topic,
                                            std::chrono::milliseconds timeout = delivery_timeout) {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        while (true) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                deadline - std::chrono::steady_clock::now());
            if (left <= 0ms) {
                return std::nullopt;
            }
            auto message = next(left);
            if (!message || message->topic == topic) {
                return message;
            }
        }
    }

private:
    static void wait(mqtt::token& token) {
        if (!token.wait_for(10s)) {
            throw std::runtime_error("a Paho operation did not complete within 10 s");
        }
    }

    int version_;
    std::mutex mutex_;
    std::condition_variable changed_;
    std::deque<received_message> messages_;
    mqtt::async_client client_;
};

/// The bridge block of a perch bridged to `upstream`.
std::string bridge_block(const upstream_broker& upstream, const std::string& protocol,
                         const std::string& topics) {
    return "connection up\naddress 127.0.0.1:" + std::to_string(upstream.port()) +
           "\nbridge_protocol_version " + protocol + "\nkeepalive_interval 10\n" + topics;
}

/// Waits until perch reports the bridge connected on its state topic.
void wait_bridge_connected(const broker_process& perch) {
    test_client watcher(perch.uri(), "state-watcher");
    watcher.connect();
    watcher.subscribe("$SYS/broker/connection/up/state", 1);
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    while (std::chrono::steady_clock::now() < deadline) {
        auto state = watcher.next(1s);
        if (state && state->payload == "1") {
            return;
        }
    }
    FAIL() << "the bridge did not connect:\n" << perch.log();
}

/// Publishes a retained probe on `from_topic` of `from` and waits until it arrives on `to_topic`
/// of `to_client`: once it has, the bridge's subscriptions on both sides are in place (a retained
/// message reaches a subscription whenever it is made).
void wait_path(test_client& from, const std::string& from_topic, test_client& to_client,
               const std::string& to_topic) {
    from.publish(from_topic, "probe", 1, true);
    ASSERT_TRUE(to_client.next_on(to_topic, 20s)) << "no probe on " << to_topic;
}

class BridgeLevels : public ::testing::TestWithParam<std::string> {};

TEST_P(BridgeLevels, OutAndInWithPrefixes) {
    upstream_broker upstream;
    broker_process perch(broker_kind::perch, bridge_block(upstream, GetParam(),
                                                          "topic sensors/# out 1 \"\" site1/\n"
                                                          "topic cmd/# in 1 hq/ central/\n") +
                                                 "sys_interval 1\n");
    wait_bridge_connected(perch);
    test_client local(perch.uri(), "local-client");
    local.connect();
    local.subscribe("hq/cmd/#", 1);
    test_client remote(upstream.uri(), "remote-client");
    remote.connect();
    remote.subscribe("site1/sensors/#", 1);

    wait_path(local, "sensors/probe", remote, "site1/sensors/probe");
    wait_path(remote, "central/cmd/probe", local, "hq/cmd/probe");

    local.publish("sensors/t1", "21.5", 1);
    auto out = remote.next_on("site1/sensors/t1");
    ASSERT_TRUE(out) << perch.log();
    EXPECT_EQ(out->payload, "21.5");

    remote.publish("central/cmd/reboot", "now", 1);
    auto in = local.next_on("hq/cmd/reboot");
    ASSERT_TRUE(in) << perch.log();
    EXPECT_EQ(in->payload, "now");

    // The counters: the probe and one message each way.
    test_client watcher(perch.uri(), "counter-watcher");
    watcher.connect();
    watcher.subscribe("$SYS/broker/bridge/up/messages/#", 0);
    bool is_out_counted = false;
    bool is_in_counted = false;
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while ((!is_out_counted || !is_in_counted) && std::chrono::steady_clock::now() < deadline) {
        if (auto value = watcher.next(1s)) {
            is_out_counted |= value->topic.ends_with("/out") && value->payload == "2";
            is_in_counted |= value->topic.ends_with("/in") && value->payload == "2";
        }
    }
    EXPECT_TRUE(is_out_counted);
    EXPECT_TRUE(is_in_counted);

    // Outside the mappings nothing crosses.
    local.publish("other/t1", "x", 1);
    remote.publish("cmd/reboot", "x", 1);
    EXPECT_FALSE(remote.next_on("other/t1", silence_window));
    EXPECT_FALSE(local.next_on("cmd/reboot", silence_window));
    EXPECT_EQ(perch.stop().exit_code, 0);
}

INSTANTIATE_TEST_SUITE_P(Protocols, BridgeLevels, ::testing::Values("mqttv311", "mqttv50"));

/// Expects the payloads "0" to "count - 1" on `topic` at `client`, in order, then no more.
void expect_sequence_once(test_client& client, const std::string& topic, int count,
                          const broker_process& perch, const upstream_broker& upstream) {
    for (int index = 0; index < count; ++index) {
        auto message = client.next_on(topic, 30s);
        ASSERT_TRUE(message) << "message " << index << " did not arrive\n"
                             << perch.log() << upstream.log();
        EXPECT_EQ(message->payload, std::to_string(index));
    }
    EXPECT_FALSE(client.next_on(topic, silence_window)) << "a message arrived twice";
}

TEST(Bridge, QosOneMessagesWaitForTheUpstreamAndArriveInOrderOnce) {
    upstream_broker upstream;
    broker_process perch(broker_kind::perch,
                         bridge_block(upstream, "mqttv311", "topic data/# out 1\n"));
    wait_bridge_connected(perch);
    test_client local(perch.uri(), "producer");
    local.connect();
    {
        test_client remote(upstream.uri(), "consumer", MQTTVERSION_3_1_1);
        remote.connect(true);
        remote.subscribe("data/#", 1);
        wait_path(local, "data/probe", remote, "data/probe");
    }

    upstream.stop();
    constexpr int count = 50;
    for (int index = 0; index < count; ++index) {
        local.publish("data/seq", std::to_string(index), 1);
    }
    upstream.start();

    test_client remote(upstream.uri(), "consumer", MQTTVERSION_3_1_1);
    remote.connect(true);
    expect_sequence_once(remote, "data/seq", count, perch, upstream);
    EXPECT_EQ(perch.stop().exit_code, 0);
}

class BridgeLoops : public ::testing::TestWithParam<std::string> {};

TEST_P(BridgeLoops, TwoGatewaysThroughOneUpstreamDeliverOnceEach) {
    upstream_broker upstream;
    const std::string block = bridge_block(upstream, GetParam(), "topic room/# both 1\n");
    broker_process gateway_a(broker_kind::perch, block + "remote_clientid gateway-a\n");
    broker_process gateway_b(broker_kind::perch, block + "remote_clientid gateway-b\n");
    wait_bridge_connected(gateway_a);
    wait_bridge_connected(gateway_b);
    test_client on_a(gateway_a.uri(), "user-a");
    on_a.connect();
    on_a.subscribe("room/#", 1);
    test_client on_b(gateway_b.uri(), "user-b");
    on_b.connect();
    on_b.subscribe("room/#", 1);
    // Each side's probe shows both bridges subscribed on both sides.
    wait_path(on_a, "room/probe-a", on_b, "room/probe-a");
    wait_path(on_b, "room/probe-b", on_a, "room/probe-b");

    on_a.publish("room/lobby", "hello from a", 1);
    auto on_b_message = on_b.next_on("room/lobby");
    ASSERT_TRUE(on_b_message);
    EXPECT_EQ(on_b_message->payload, "hello from a");
    auto on_a_message = on_a.next_on("room/lobby");
    ASSERT_TRUE(on_a_message);
    EXPECT_EQ(on_a_message->payload, "hello from a");
    EXPECT_FALSE(on_a.next_on("room/lobby", silence_window)) << "the message came back to A";
    EXPECT_FALSE(on_b.next_on("room/lobby", silence_window)) << "B got the message twice";
    EXPECT_EQ(gateway_a.stop().exit_code, 0);
    EXPECT_EQ(gateway_b.stop().exit_code, 0);
}

INSTANTIATE_TEST_SUITE_P(Protocols, BridgeLoops, ::testing::Values("mqttv311", "mqttv50"));

// An upstream sends what it queued for the bridge's session right after its CONNACK, before the
// local client has connected; those messages cross then, not only at the next connection.
TEST(Bridge, MessagesQueuedUpstreamWhilePerchWasAwayCrossWhenItReturns) {
    upstream_broker upstream;
    temporary_directory data;
    const std::string config = "data_dir " + data.path().string() + "\n" +
                               bridge_block(upstream, "mqttv50", "topic feed/# in 1\n");
    {
        // The upstream learns the bridge's session and subscription; a persistent local
        // subscriber keeps what crosses while it is away.
        broker_process perch(broker_kind::perch, config);
        wait_bridge_connected(perch);
        test_client local(perch.uri(), "consumer");
        local.connect(true);
        local.subscribe("feed/#", 1);
        EXPECT_EQ(perch.stop().exit_code, 0);
    }
    test_client producer(upstream.uri(), "producer");
    producer.connect();
    constexpr int count = 5;
    for (int index = 0; index < count; ++index) {
        producer.publish("feed/seq", std::to_string(index), 1);
    }

    broker_process perch(broker_kind::perch, config);
    wait_bridge_connected(perch);
    test_client local(perch.uri(), "consumer");
    local.connect(true);
    expect_sequence_once(local, "feed/seq", count, perch, upstream);
    EXPECT_EQ(perch.stop().exit_code, 0);
}

TEST(Bridge, AnUpstreamRefusingTheBridgeBitGetsPlainMqtt311) {
    // perch as the upstream: it refuses protocol level 0x84, and the bridge falls back to 4.
    broker_process upstream(broker_kind::perch);
    broker_process perch(broker_kind::perch,
                         "connection up\naddress 127.0.0.1:" + std::to_string(upstream.port()) +
                             "\ntry_private true\ntopic data/# out 1\n"
                             // perch refuses a will on $SYS/.
                             "notifications_local_only true\n");
    wait_bridge_connected(perch);
    test_client local(perch.uri(), "producer");
    local.connect();
    test_client remote(upstream.uri(), "consumer");
    remote.connect();
    remote.subscribe("data/#", 1);
    wait_path(local, "data/probe", remote, "data/probe");
    local.publish("data/t", "x", 1);
    auto message = remote.next_on("data/t");
    ASSERT_TRUE(message);
    EXPECT_EQ(message->payload, "x");
    EXPECT_EQ(perch.stop().exit_code, 0);
    EXPECT_EQ(upstream.stop().exit_code, 0);
}

/// Makes NAME.key and NAME.pem in `directory`: self-signed, for the host name localhost.
void make_certificate(const std::filesystem::path& directory, const std::string& name) {
    const std::string base = (directory / name).string();
    const auto result = run_command({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                                     "ec_paramgen_curve:P-256", "-nodes", "-keyout", base + ".key",
                                     "-out", base + ".pem", "-days", "2", "-subj", "/CN=localhost",
                                     "-addext", "subjectAltName=DNS:localhost"},
                                    {}, 20s);
    ASSERT_TRUE(result.ending.is_success()) << result.errors;
}

TEST(Bridge, TlsUpstreamWithItsCertificateChecked) {
    temporary_directory certificates;
    make_certificate(certificates.path(), "upstream");
    make_certificate(certificates.path(), "stranger");
    const std::string base = (certificates.path() / "upstream").string();
    upstream_broker upstream("certfile " + base + ".pem\nkeyfile " + base + ".key\n");
    const std::string block =
        "connection up\naddress localhost:" + std::to_string(upstream.port()) +
        "\ntopic data/# out 1\n";
    {
        // Signed by another CA: the handshake fails, nothing connects.
        broker_process refused(broker_kind::perch,
                               block + "bridge_cafile " +
                                   (certificates.path() / "stranger.pem").string() + "\n");
        EXPECT_TRUE(
            wait_for_text(refused.scratch_directory() / "broker.log", "TLS handshake failed", 20s))
            << refused.log();
        EXPECT_EQ(refused.log().find("bridge up: connected"), std::string::npos);
    }
    broker_process perch(broker_kind::perch, block + "bridge_cafile " + base + ".pem\n");
    wait_bridge_connected(perch);
    test_client local(perch.uri(), "producer");
    local.connect();
    mqtt::async_client remote_client("ssl://127.0.0.1:" + std::to_string(upstream.port()),
                                     "consumer");
    mqtt::ssl_options tls;
    tls.set_trust_store(base + ".pem");
    tls.set_enable_server_cert_auth(false);
    tls.set_verify(false);
    mqtt::connect_options options;
    options.set_ssl(tls);
    remote_client.start_consuming();
    ASSERT_TRUE(remote_client.connect(options)->wait_for(10s));
    ASSERT_TRUE(remote_client.subscribe("data/#", 1)->wait_for(10s));
    local.publish("data/probe", "over tls", 1, true);
    mqtt::const_message_ptr message;
    ASSERT_TRUE(remote_client.try_consume_message_for(&message, 20s)) << perch.log();
    EXPECT_EQ(message->get_topic(), "data/probe");
    EXPECT_EQ(message->get_payload_str(), "over tls");
    remote_client.disconnect()->wait_for(5s);
    EXPECT_EQ(perch.stop().exit_code, 0);
}

TEST(Bridge, ChatFromTheUpstreamIsNeverTakenForALocalUser) {
    upstream_broker upstream;
    broker_process perch(
        broker_kind::perch,
        bridge_block(upstream, "mqttv50", "topic chat/# in 1\ntopic probe/# in 1\n"));
    wait_bridge_connected(perch);
    test_client local(perch.uri(), "local-client");
    local.connect();
    local.subscribe("probe/#", 1);
    test_client remote(upstream.uri(), "remote-client");
    remote.connect();
    wait_path(remote, "probe/x", local, "probe/x");
    // A room message claiming to be alice's: the chat layer sees the bridge's user, not alice,
    // and refuses it; the bridge logs the refusal and acknowledges it upstream.
    remote.publish("chat/room/lobby/alice", "{\"text\":\"spoofed\"}", 1);
    EXPECT_TRUE(wait_for_text(perch.scratch_directory() / "broker.log",
                              "the local broker refused a message in", 20s))
        << perch.log();
    EXPECT_EQ(perch.stop().exit_code, 0);
}

TEST(Bridge, TheBridgeUserHasOnlyItsAclRights) {
    upstream_broker upstream;
    temporary_directory rules;
    const auto acl_path = rules.path() / "acl";
    write_file_text(acl_path,
                    "topic read $SYS/#\ntopic readwrite sensors/#\ntopic readwrite secret/#\n"
                    "user bridge-up\ntopic read sensors/#\n");
    broker_process perch(
        broker_kind::perch,
        bridge_block(upstream, "mqttv50", "topic sensors/# out 1\ntopic secret/# out 1\n") +
            "acl_file " + acl_path.string() + "\n");
    wait_bridge_connected(perch);
    test_client local(perch.uri(), "producer");
    local.connect();
    test_client remote(upstream.uri(), "consumer");
    remote.connect();
    remote.subscribe("#", 1);
    wait_path(local, "sensors/probe", remote, "sensors/probe");
    local.publish("secret/plan", "x", 1);
    local.publish("sensors/t1", "y", 1);
    auto message = remote.next();
    ASSERT_TRUE(message);
    EXPECT_EQ(message->topic, "sensors/t1"); // secret/plan never went up
    EXPECT_NE(perch.log().find("subscription to 'secret/#' refused"), std::string::npos)
        << perch.log();
    EXPECT_EQ(perch.stop().exit_code, 0);
}

TEST(Bridge, UnknownBridgeKeyIsRefusedAtStart) {
    temporary_directory directory;
    write_file_text(directory.path() / "perch.conf",
                    "connection up\naddress 127.0.0.1:1\ntopic a/# out\nbridge_attempt_unsubscribe "
                    "false\n");
    const command_result result =
        run_command({PERCH_BROKER_PATH, "-c", (directory.path() / "perch.conf").string()}, "", 20s);
    EXPECT_NE(result.ending.exit_code, 0);
    EXPECT_NE((result.output + result.errors).find("perch.conf:4: bridge_attempt_unsubscribe"),
              std::string::npos)
        << result.output << result.errors;
}

} // namespace
} // namespace perch::integration
