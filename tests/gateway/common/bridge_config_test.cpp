// Tests of the bridge blocks of the config file (Mosquitto's syntax) and of the topic mapping.
#include <algorithm>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>

#include <gtest/gtest.h>

#include "gateway/common/bridge_config.hpp"
#include "gateway/common/config.hpp"
#include "gateway/common/gateway_name.hpp"

namespace perch::gateway {
namespace {

std::string error_of(std::string_view text) {
    try {
        parse_config(text, "test.conf");
    } catch (const config_error& error) {
        return error.what();
    }
    return "";
}

TEST(BridgeConfig, ParsesAMosquittoBlock) {
    const std::string text = "port 1884\n"
                             "connection upstream\n"
                             "address 10.0.0.2:1885\n"
                             "topic sensors/# out 1 \"\" site1/\n"
                             "topic cmd/+ in 2 remote/ \"\"\n"
                             "topic chat/# both\n"
                             "remote_username board\n"
                             "remote_password s3cret\n"
                             "remote_clientid board-1\n"
                             "cleansession true\n"
                             "keepalive_interval 30\n"
                             "bridge_protocol_version mqttv50\n"
                             "try_private false\n"
                             "notifications false\n"
                             "notifications_local_only true\n"
                             "local_username relay\n"
                             "max_inflight_messages 20\n";
    const std::vector<bridge_config> bridges = parse_bridges(text, "test.conf");
    ASSERT_EQ(bridges.size(), 1U);
    const bridge_config& bridge = bridges[0];
    EXPECT_EQ(bridge.name, "upstream");
    EXPECT_EQ(bridge.host, "10.0.0.2");
    EXPECT_EQ(bridge.port, 1885);
    ASSERT_EQ(bridge.topics.size(), 3U);
    EXPECT_EQ(bridge.topics[0].pattern, "sensors/#");
    EXPECT_EQ(bridge.topics[0].direction, bridge_direction::out);
    EXPECT_EQ(bridge.topics[0].qos, 1);
    EXPECT_EQ(bridge.topics[0].local_prefix, "");
    EXPECT_EQ(bridge.topics[0].remote_prefix, "site1/");
    EXPECT_EQ(bridge.topics[1].direction, bridge_direction::in);
    EXPECT_EQ(bridge.topics[1].qos, 2);
    EXPECT_EQ(bridge.topics[1].local_prefix, "remote/");
    EXPECT_EQ(bridge.topics[2].direction, bridge_direction::both);
    EXPECT_EQ(bridge.topics[2].qos, 0);
    EXPECT_EQ(bridge.remote_username, "board");
    EXPECT_EQ(bridge.remote_password, "s3cret");
    EXPECT_TRUE(bridge.has_remote_password);
    EXPECT_EQ(bridge.effective_remote_clientid(), "board-1");
    EXPECT_TRUE(bridge.clean_session);
    EXPECT_EQ(bridge.keep_alive_seconds, 30);
    EXPECT_EQ(bridge.protocol, bridge_protocol::mqtt50);
    EXPECT_FALSE(bridge.try_private);
    EXPECT_FALSE(bridge.notifications);
    EXPECT_TRUE(bridge.notifications_local_only);
    EXPECT_EQ(bridge.effective_local_username(), "relay");
    // A general key after the block still sets the broker.
    EXPECT_EQ(parse_config(text, "test.conf").max_inflight_messages, 20U);
}

TEST(BridgeConfig, DefaultsFollowMosquitto) {
    const std::vector<bridge_config> bridges =
        parse_bridges("connection a\naddress upstream.example\ntopic # out\n", "test.conf");
    ASSERT_EQ(bridges.size(), 1U);
    const bridge_config& bridge = bridges[0];
    EXPECT_EQ(bridge.port, 1883);
    EXPECT_FALSE(bridge.clean_session);
    EXPECT_EQ(bridge.keep_alive_seconds, 60);
    EXPECT_EQ(bridge.protocol, bridge_protocol::mqtt311);
    EXPECT_TRUE(bridge.try_private);
    EXPECT_TRUE(bridge.notifications);
    EXPECT_FALSE(bridge.notifications_local_only);
    EXPECT_FALSE(bridge.is_tls());
    EXPECT_EQ(bridge.effective_remote_clientid(), "perch-bridge-a");
    EXPECT_EQ(bridge.effective_local_username(), "bridge-a");
}

TEST(BridgeConfig, SeveralConnections) {
    const std::vector<bridge_config> bridges =
        parse_bridges("connection a\naddress h1\ntopic x/# out\n"
                      "connection b\naddress h2:2000\ntopic y/# in 1\n",
                      "test.conf");
    ASSERT_EQ(bridges.size(), 2U);
    EXPECT_EQ(bridges[0].host, "h1");
    EXPECT_EQ(bridges[1].host, "h2");
    EXPECT_EQ(bridges[1].port, 2000);
    EXPECT_EQ(bridges[1].topics[0].pattern, "y/#");
    EXPECT_TRUE(parse_bridges("port 1\n", "test.conf").empty());
}

TEST(BridgeConfig, ErrorsNameTheLine) {
    EXPECT_EQ(error_of("address h1\n"),
              "test.conf:1: address: a bridge key must follow a `connection NAME` line");
    EXPECT_EQ(error_of("connection a\naddress h1\ntopic x/# sideways\n"),
              "test.conf:3: topic: expected in, out or both, got 'sideways'");
    EXPECT_EQ(error_of("connection a\naddress h1\ntopic x/# out 3\n"),
              "test.conf:3: topic: the QoS must be 0, 1 or 2, got '3'");
    EXPECT_EQ(error_of("connection a\naddress h1\ntopic x/# out 1 local\n"),
              "test.conf:3: topic: the local prefix 'local' must end with '/'");
    EXPECT_EQ(error_of("connection a\naddress h1\ntopic x/# out 1 \"\" remote\n"),
              "test.conf:3: topic: the remote prefix 'remote' must end with '/'");
    EXPECT_EQ(error_of("connection a\naddress h1\ntopic x/#/y out\n"),
              "test.conf:3: topic: 'x/#/y' is not a valid topic filter");
    EXPECT_EQ(error_of("connection a\naddress h1\ntopic a+ out\n"),
              "test.conf:3: topic: 'a+' is not a valid topic filter");
    EXPECT_EQ(error_of("connection a\naddress h1:0\n"),
              "test.conf:2: address: the port must not be 0");
    EXPECT_EQ(error_of("connection a\naddress h1:70000\n"),
              "test.conf:2: address: 70000 is out of range 0..65535");
    EXPECT_EQ(error_of("connection a\nbridge_protocol_version mqttv31\n"),
              "test.conf:2: bridge_protocol_version: expected mqttv311 or mqttv50, got 'mqttv31'");
    EXPECT_EQ(error_of("connection a\ncleansession maybe\n"),
              "test.conf:2: cleansession: expected true or false, got 'maybe'");
    EXPECT_EQ(error_of("connection a\nkeepalive_interval 2\n"),
              "test.conf:2: keepalive_interval: keepalive_interval must be at least 5 seconds");
    EXPECT_EQ(error_of("connection a b\n"), "test.conf:1: connection: expected one value, got 2");
    EXPECT_EQ(error_of("connection a/b\n"),
              "test.conf:1: connection: the name 'a/b' must be 1 to 64 letters, digits, '-', '_' "
              "or '.'");
    EXPECT_EQ(error_of("connection a\naddress h\ntopic # out\nconnection a\n"),
              "test.conf:4: connection: a connection named 'a' already exists");
}

TEST(BridgeConfig, UnsupportedBridgeKeyIsAnError) {
    EXPECT_EQ(error_of("connection a\naddress h1\nbridge_attempt_unsubscribe false\n"),
              "test.conf:3: bridge_attempt_unsubscribe: unknown key");
}

TEST(BridgeConfig, IncompleteBlockNamesItsConnectionLine) {
    EXPECT_EQ(error_of("port 1\n\nconnection a\ntopic # out\n"),
              "test.conf:3: connection: connection a: no address");
    EXPECT_EQ(error_of("connection a\naddress h\nconnection b\naddress h\n"),
              "test.conf:1: connection: connection a: no topic");
    EXPECT_EQ(error_of("connection a\naddress h\ntopic # out\nbridge_insecure true\n"),
              "test.conf:1: connection: connection a: bridge_insecure needs bridge_cafile (TLS)");
}

TEST(BridgeConfig, TheShippedExampleParses) {
    std::ifstream file(PERCH_SHIPPED_CONFIG);
    std::ostringstream contents;
    contents << file.rdbuf();
    std::istringstream lines(contents.str());
    std::string uncommented;
    std::string line;
    while (std::getline(lines, line)) {
        if (line.size() > 1 && line[0] == '#' && line[1] >= 'a' && line[1] <= 'z') {
            line.erase(0, 1);
        }
        uncommented += line + "\n";
    }
    const std::vector<bridge_config> bridges = parse_bridges(uncommented, "perch.conf");
    ASSERT_EQ(bridges.size(), 1U);
    EXPECT_EQ(bridges[0].name, "central");
    EXPECT_EQ(bridges[0].topics.size(), 2U);
    EXPECT_EQ(bridges[0].topics[0].remote_prefix, "site1/");
    EXPECT_EQ(bridges[0].effective_local_username(), "bridge-central");
}

bridge_topic mapping(std::string pattern, std::string local_prefix, std::string remote_prefix) {
    bridge_topic topic;
    topic.pattern = std::move(pattern);
    topic.direction = bridge_direction::both;
    topic.local_prefix = std::move(local_prefix);
    topic.remote_prefix = std::move(remote_prefix);
    return topic;
}

TEST(BridgeTopicMapping, PrefixesArePrependedOnEachSide) {
    const bridge_topic topic = mapping("sensors/#", "local/", "site1/");
    EXPECT_EQ(topic.local_filter(), "local/sensors/#");
    EXPECT_EQ(topic.remote_filter(), "site1/sensors/#");
    EXPECT_EQ(to_remote_topic(topic, "local/sensors/t1"), "site1/sensors/t1");
    EXPECT_EQ(to_local_topic(topic, "site1/sensors/t1"), "local/sensors/t1");
}

TEST(BridgeTopicMapping, NoPrefixKeepsTheTopic) {
    const bridge_topic topic = mapping("a/+/c", "", "");
    EXPECT_EQ(to_remote_topic(topic, "a/b/c"), "a/b/c");
    EXPECT_EQ(to_local_topic(topic, "a/x/c"), "a/x/c");
}

TEST(BridgeTopicMapping, TopicsOutsideTheMappingAreNotMapped) {
    const bridge_topic topic = mapping("sensors/#", "local/", "site1/");
    EXPECT_EQ(to_remote_topic(topic, "sensors/t1"), std::nullopt);
    EXPECT_EQ(to_remote_topic(topic, "local/other/t1"), std::nullopt);
    EXPECT_EQ(to_local_topic(topic, "site2/sensors/t1"), std::nullopt);
    EXPECT_EQ(to_local_topic(topic, "site1/"), std::nullopt);
}

TEST(BridgeConfig, BridgeChatAddsTheRelayMapping) {
    const std::string text = "chat_store postgresql\n"
                             "connection central\n"
                             "address 10.0.0.2\n"
                             "bridge_chat true\n";
    const std::vector<bridge_config> bridges = parse_bridges(text, "test.conf");
    ASSERT_EQ(bridges.size(), 1U);
    EXPECT_TRUE(bridges[0].bridge_chat);
    EXPECT_EQ(bridges[0].bridge_chat_line, 4U);
    ASSERT_EQ(bridges[0].topics.size(), 1U);
    EXPECT_EQ(bridges[0].topics[0], relay_mapping());
    EXPECT_EQ(bridges[0].topics[0].local_filter(), "chat/relay/#");
    EXPECT_EQ(bridges[0].topics[0].direction, bridge_direction::both);
    EXPECT_EQ(bridges[0].topics[0].qos, 1);
    EXPECT_EQ(error_of(text), "");
    // Written out as well, the mapping is not doubled.
    EXPECT_EQ(parse_bridges(text + "topic chat/relay/# both 1\n", "t.conf")[0].topics.size(), 1U);
}

TEST(BridgeConfig, BridgeChatNeedsPostgresql) {
    EXPECT_EQ(error_of("connection central\naddress 10.0.0.2\ntopic a/# out\n"
                       "bridge_chat true\n"),
              "test.conf:4: bridge_chat: needs chat_store postgresql (the gateways must share "
              "users, rooms and history)");
    EXPECT_EQ(error_of("chat_store sqlite\nconnection central\naddress 10.0.0.2\n"
                       "bridge_chat true\n"),
              "test.conf:4: bridge_chat: needs chat_store postgresql (the gateways must share "
              "users, rooms and history)");
    EXPECT_EQ(error_of("connection central\naddress 10.0.0.2\ntopic a/# out\n"
                       "bridge_chat false\n"),
              "");
    EXPECT_EQ(error_of("chat_store postgresql\nconnection c\naddress h\nbridge_chat yes\n"),
              "test.conf:4: bridge_chat: expected true or false, got 'yes'");
}

TEST(BridgeConfig, GatewayNameIsOneTopicLevel) {
    EXPECT_EQ(parse_config("gateway_name board-7.east\n", "test.conf").gateway_name,
              "board-7.east");
    EXPECT_EQ(error_of("gateway_name a/b\n"),
              "test.conf:1: gateway_name: the name 'a/b' must be 1 to 64 letters, digits, '-', "
              "'_' or '.'");
    EXPECT_NE(error_of("gateway_name +\n"), "");
    EXPECT_NE(error_of("gateway_name " + std::string(65, 'x') + "\n"), "");
}

TEST(BridgeConfig, GatewayNameDefaultsToHostAndDataDir) {
    EXPECT_EQ(effective_gateway_name("board-7", "/var/lib/perch"), "board-7");
    const std::string first = effective_gateway_name("", "/var/lib/perch-a");
    EXPECT_EQ(first, effective_gateway_name("", "/var/lib/perch-a"));
    EXPECT_NE(first, effective_gateway_name("", "/var/lib/perch-b"));
    EXPECT_FALSE(gateway_name_problem(first)) << first;
}

} // namespace
} // namespace perch::gateway
