// Quotas (docs/LIMITS.md) on the real broker: message and byte rates with their reason codes at
// both protocol levels, the flood disconnect, per-user quotas, connections per second per
// address, subscriptions per client and max_inflight_messages; each refusal read back from its
// $SYS counter, and well-behaved clients beside the refused ones losing nothing.
#include <algorithm>
#include <chrono>
#include <csignal>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "chat_client.hpp"
#include "chat_fixture.hpp"
#include "raw_mqtt_client.hpp"

namespace perch::integration {
namespace {

using namespace std::chrono_literals;

constexpr auto answer_timeout = 5s;
/// Packet types and codes read from the wire.
constexpr std::uint8_t publish_type = 3;
constexpr std::uint8_t puback_type = 4;
constexpr std::uint8_t pubrec_type = 5;
constexpr std::uint8_t pubrel_type = 6;
constexpr std::uint8_t pubcomp_type = 7;
constexpr std::uint8_t disconnect_type = 14;
constexpr std::uint8_t message_rate_too_high = 0x96;
constexpr std::uint8_t quota_exceeded = 0x97;
constexpr std::uint8_t connection_rate_exceeded = 0x9F;
constexpr std::uint8_t server_unavailable_311 = 3;

class QuotaTest : public chat_fixture {
protected:
    /// Restarts the broker with `config` added (one worker: a PINGREQ then orders every delivery
    /// routed before it), $SYS every second, and a watcher subscribed to quota/#.
    void restart_with(const std::string& config) {
        broker_->stop();
        start_broker("workers 1\nsys_interval 1\n" + config);
        ASSERT_TRUE(watcher_.connect(broker_->port(), "watcher", true, answer_timeout));
        ASSERT_TRUE(watcher_.subscribe("quota/#", 0, 1, answer_timeout));
    }

    /// Adds `config` to the running broker's configuration and reloads it (SIGHUP), waiting until
    /// the reload is logged.
    void reload_with(const std::string& config) {
        const auto config_path = broker_->scratch_directory() / "broker.conf";
        write_file_text(config_path, read_file_text(config_path) + config);
        ::kill(broker_->pid(), SIGHUP);
        const auto deadline = std::chrono::steady_clock::now() + answer_timeout;
        while (broker_->log().find("reload: log level") == std::string::npos &&
               std::chrono::steady_clock::now() < deadline) {
            std::this_thread::sleep_for(20ms);
        }
        ASSERT_NE(broker_->log().find("reload: log level"), std::string::npos) << broker_->log();
    }

    /// Payloads of the PUBLISH packets the watcher received, up to a PINGREQ it sends now.
    std::vector<std::string> watched() {
        std::vector<std::string> payloads;
        const auto packets = watcher_.packets_until_ping(answer_timeout);
        EXPECT_TRUE(packets.has_value());
        for (const raw_packet& packet : packets.value_or(std::vector<raw_packet>{})) {
            if (packet.type == publish_type) {
                payloads.push_back(parse_publish(packet).payload);
            }
        }
        std::sort(payloads.begin(), payloads.end());
        return payloads;
    }

    /// True once $SYS/broker/quota/`name` says `expected` (bounded wait).
    bool sys_counter_reaches(const std::string& name, const std::string& expected) {
        raw_mqtt_client reader;
        if (!reader.connect(broker_->port(), "sys-reader-" + name.substr(name.find('/') + 1), true,
                            answer_timeout) ||
            !reader.subscribe("$SYS/broker/quota/" + name, 0, 1, answer_timeout)) {
            return false;
        }
        std::string last;
        const auto deadline = std::chrono::steady_clock::now() + 10s;
        while (std::chrono::steady_clock::now() < deadline) {
            const auto packet = reader.read_packet(1500ms);
            if (packet && packet->type == publish_type) {
                last = parse_publish(*packet).payload;
                if (last == expected) {
                    return true;
                }
            }
        }
        ADD_FAILURE() << "$SYS/broker/quota/" << name << " is '" << last << "', not '" << expected
                      << "'";
        return false;
    }

    /// A raw client at `level` connected as `client_id`.
    std::unique_ptr<raw_mqtt_client> raw(const std::string& client_id, std::uint8_t level) {
        auto client = std::make_unique<raw_mqtt_client>();
        client->set_protocol_level(level);
        EXPECT_TRUE(client->connect(broker_->port(), client_id, true, answer_timeout)) << client_id;
        return client;
    }

    raw_mqtt_client watcher_;
};

TEST_F(QuotaTest, OverTheMessageRateAt5QoS1IsAnswered0x96AndNotRouted) {
    restart_with("max_publish_rate 1\nmax_publish_burst 3\n");
    auto polite = raw("polite", 4);
    auto flooder = raw("flooder", 5);
    for (std::uint16_t id = 1; id <= 5; ++id) {
        ASSERT_TRUE(flooder->publish("quota/flood", "flood-" + std::to_string(id), 1, id));
    }
    std::vector<std::uint8_t> reasons(6, 0xFF);
    for (int answered = 0; answered < 5; ++answered) {
        const auto packet = flooder->read_packet(answer_timeout);
        ASSERT_TRUE(packet && packet->type == puback_type);
        reasons.at(packet->leading_packet_id()) = reason_code_of(*packet);
    }
    EXPECT_EQ(reasons[1], 0);
    EXPECT_EQ(reasons[2], 0);
    EXPECT_EQ(reasons[3], 0);
    EXPECT_EQ(reasons[4], message_rate_too_high);
    EXPECT_EQ(reasons[5], message_rate_too_high);
    EXPECT_TRUE(flooder->ping(answer_timeout)) << "a refusal does not end the connection";
    // The client beside it, within its own burst, loses nothing.
    for (std::uint16_t id = 1; id <= 3; ++id) {
        ASSERT_TRUE(polite->publish("quota/polite", "polite-" + std::to_string(id), 1, id));
        const auto ack = polite->read_packet(answer_timeout);
        ASSERT_TRUE(ack && ack->type == puback_type && ack->leading_packet_id() == id);
    }
    EXPECT_EQ(watched(), (std::vector<std::string>{"flood-1", "flood-2", "flood-3", "polite-1",
                                                   "polite-2", "polite-3"}));
    EXPECT_TRUE(sys_counter_reaches("refusals/message_rate", "2"));
}

TEST_F(QuotaTest, OverTheMessageRateAt311QoS0IsDroppedAndQoS1ClosesWithoutAnAcknowledgement) {
    restart_with("max_publish_rate 1\nmax_publish_burst 2\n");
    auto quiet = raw("quiet", 4);
    for (int number = 1; number <= 3; ++number) {
        ASSERT_TRUE(quiet->publish("quota/zero", "zero-" + std::to_string(number), 0, 0));
    }
    EXPECT_TRUE(quiet->ping(answer_timeout)) << "QoS 0 is dropped, the connection stays";

    auto eager = raw("eager", 4);
    for (std::uint16_t id = 1; id <= 3; ++id) {
        ASSERT_TRUE(eager->publish("quota/one", "one-" + std::to_string(id), 1, id));
    }
    std::vector<std::uint16_t> acknowledged;
    while (auto packet = eager->read_packet(answer_timeout)) {
        if (packet->type == puback_type) {
            acknowledged.push_back(packet->leading_packet_id());
        }
    }
    EXPECT_FALSE(eager->is_open()) << "3.1.1 cannot refuse a QoS 1 message but by closing";
    EXPECT_EQ(acknowledged, (std::vector<std::uint16_t>{1, 2}));
    EXPECT_EQ(watched(), (std::vector<std::string>{"one-1", "one-2", "zero-1", "zero-2"}));
    EXPECT_TRUE(sys_counter_reaches("refusals/message_rate", "2"));
}

TEST_F(QuotaTest, ARefusedQoS2MessageAt311IsRoutedWhenSentAgainAfterReconnecting) {
    restart_with("max_publish_rate 1\nmax_publish_burst 2\n");
    auto exact = std::make_unique<raw_mqtt_client>();
    ASSERT_TRUE(exact->connect(broker_->port(), "exact", false, answer_timeout));
    for (std::uint16_t id = 1; id <= 3; ++id) {
        ASSERT_TRUE(exact->publish("quota/two", "two-" + std::to_string(id), 2, id));
    }
    std::vector<std::uint16_t> received;
    while (auto packet = exact->read_packet(answer_timeout)) {
        if (packet->type == pubrec_type) {
            received.push_back(packet->leading_packet_id());
        }
    }
    ASSERT_FALSE(exact->is_open());
    ASSERT_EQ(received, (std::vector<std::uint16_t>{1, 2}));
    // The client resends what was not acknowledged on its persistent session.
    ASSERT_TRUE(exact->connect(broker_->port(), "exact", false, answer_timeout));
    ASSERT_TRUE(exact->acknowledge(pubrel_type, 1));
    ASSERT_TRUE(exact->acknowledge(pubrel_type, 2));
    ASSERT_TRUE(exact->publish("quota/two", "two-3", 2, 3, true));
    std::vector<std::pair<std::uint8_t, std::uint16_t>> answers;
    for (int count = 0; count < 3; ++count) {
        const auto packet = exact->read_packet(answer_timeout);
        ASSERT_TRUE(packet);
        answers.emplace_back(packet->type, packet->leading_packet_id());
    }
    EXPECT_EQ(answers, (std::vector<std::pair<std::uint8_t, std::uint16_t>>{
                           {pubcomp_type, 1}, {pubcomp_type, 2}, {pubrec_type, 3}}));
    EXPECT_EQ(watched(), (std::vector<std::string>{"two-1", "two-2", "two-3"}));
}

TEST_F(QuotaTest, AClientFloodingFarPastItsRateIsDisconnectedWith0x96) {
    restart_with("max_publish_rate 1\nmax_publish_burst 1\n");
    auto flooder = raw("flooder", 5);
    // One within the burst, ten refused (ten seconds of the rate), the twelfth ends it.
    for (int number = 1; number <= 12; ++number) {
        ASSERT_TRUE(flooder->publish("quota/flood", "f" + std::to_string(number), 0, 0));
    }
    std::optional<std::uint8_t> disconnect_reason;
    while (auto packet = flooder->read_packet(answer_timeout)) {
        if (packet->type == disconnect_type) {
            disconnect_reason = reason_code_of(*packet);
        }
    }
    EXPECT_EQ(disconnect_reason, message_rate_too_high);
    EXPECT_FALSE(flooder->is_open());
    EXPECT_EQ(watched(), (std::vector<std::string>{"f1"}));
    EXPECT_TRUE(sys_counter_reaches("disconnects/rate", "1"));
    EXPECT_TRUE(sys_counter_reaches("refusals/message_rate", "11"));
}

TEST_F(QuotaTest, AReloadChangesTheQuotaOfAConnectedClient) {
    restart_with("max_publish_rate 1\nmax_publish_burst 1\n");
    auto sender = raw("sender", 5);
    const auto answer = [&](std::uint16_t id) -> std::optional<std::uint8_t> {
        if (!sender->publish("quota/reload", "m" + std::to_string(id), 1, id)) {
            return std::nullopt;
        }
        const auto ack = sender->read_packet(answer_timeout);
        if (!ack || ack->type != puback_type || ack->leading_packet_id() != id) {
            return std::nullopt;
        }
        return reason_code_of(*ack);
    };
    EXPECT_EQ(answer(1), 0);
    EXPECT_EQ(answer(2), message_rate_too_high);
    reload_with("max_publish_rate 0\n");
    for (std::uint16_t id = 3; id <= 10; ++id) {
        EXPECT_EQ(answer(id), 0) << id;
    }
}

TEST_F(QuotaTest, AReloadBeforeTheFirstPublishGivesThatClientTheNewQuota) {
    // A connection makes its quota when it first publishes (an idle client holds none); one
    // connected before a reload still publishes under the reloaded limits.
    restart_with("");
    auto sender = raw("sender", 5);
    reload_with("max_publish_rate 1\nmax_publish_burst 1\n");
    std::vector<std::uint8_t> reasons;
    for (std::uint16_t id = 1; id <= 2; ++id) {
        ASSERT_TRUE(sender->publish("quota/later", "m" + std::to_string(id), 1, id));
        const auto ack = sender->read_packet(answer_timeout);
        ASSERT_TRUE(ack && ack->type == puback_type && ack->leading_packet_id() == id);
        reasons.push_back(reason_code_of(*ack));
    }
    EXPECT_EQ(reasons, (std::vector<std::uint8_t>{0, message_rate_too_high}));
}

TEST_F(QuotaTest, OverTheByteRateIsAnswered0x96) {
    restart_with("max_publish_bytes_rate 100\nmax_publish_bytes_burst 100\n");
    auto sender = raw("sender", 5);
    const std::string payload(60, 'x');
    ASSERT_TRUE(sender->publish("quota/big", payload, 1, 1));
    ASSERT_TRUE(sender->publish("quota/big", payload, 1, 2));
    const auto first = sender->read_packet(answer_timeout);
    const auto second = sender->read_packet(answer_timeout);
    ASSERT_TRUE(first && second);
    EXPECT_EQ(reason_code_of(*first), 0);
    EXPECT_EQ(second->leading_packet_id(), 2);
    EXPECT_EQ(reason_code_of(*second), message_rate_too_high);
    EXPECT_EQ(watched(), (std::vector<std::string>{payload}));
    EXPECT_TRUE(sys_counter_reaches("refusals/byte_rate", "1"));
}

TEST_F(QuotaTest, AUserQuotaLimitsThatUserOnly) {
    restart_with("user_quota alice max_publish_rate 1\nuser_quota alice max_publish_burst 1\n");
    auto alice = connected("alice", mqtt_5);
    auto bob = connected("bob", mqtt_5);
    EXPECT_EQ(alice->publish("chat/room/lobby/alice", "first"), mqtt::ReasonCode::SUCCESS);
    EXPECT_EQ(alice->publish("chat/room/lobby/alice", "second"),
              mqtt::ReasonCode::MESSAGE_RATE_TOO_HIGH);
    for (int number = 0; number < 20; ++number) {
        EXPECT_EQ(bob->publish("chat/room/lobby/bob", "hello " + std::to_string(number)),
                  mqtt::ReasonCode::SUCCESS);
    }
    EXPECT_TRUE(sys_counter_reaches("refusals/message_rate", "1"));
}

TEST_F(QuotaTest, OverTheConnectionRateCONNACKSays0x9FAt5And3At311BeforeAnyLogin) {
    restart_with("max_connection_rate 1\nmax_connection_burst 6\n");
    // Read through the watcher: a new connection to read $SYS would be refused too.
    const std::string counter = "$SYS/broker/quota/refusals/connection_rate";
    ASSERT_TRUE(watcher_.subscribe(counter, 0, 2, answer_timeout));
    // The start-up probe and the watcher took some of the burst: connect until refused.
    std::vector<std::unique_ptr<raw_mqtt_client>> accepted;
    std::optional<std::uint8_t> refusal;
    for (int attempt = 0; attempt < 10 && !refusal; ++attempt) {
        auto client = std::make_unique<raw_mqtt_client>();
        client->set_protocol_level(5);
        if (client->connect(broker_->port(), "c" + std::to_string(attempt), true, answer_timeout)) {
            accepted.push_back(std::move(client));
        } else {
            refusal = client->connack_code();
        }
    }
    EXPECT_EQ(refusal, connection_rate_exceeded);
    raw_mqtt_client older;
    EXPECT_FALSE(older.connect(broker_->port(), "older", true, answer_timeout));
    EXPECT_EQ(older.connack_code(), server_unavailable_311);
    // Refused before its password is looked at: a right password does not help.
    chat_client alice(*broker_, "alice", mqtt_5);
    EXPECT_THROW(alice.connect("alice", "alice-pw"), mqtt::exception);
    // The clients accepted before keep working.
    for (const auto& client : accepted) {
        EXPECT_TRUE(client->ping(answer_timeout));
    }
    EXPECT_NE(broker_->log().find("connection rate exceeded"), std::string::npos);
    // Three refused: the 5.0 client, the 3.1.1 client and alice.
    std::string last;
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (last != "3" && std::chrono::steady_clock::now() < deadline) {
        const auto packet = watcher_.read_packet(1500ms);
        if (packet && packet->type == publish_type && parse_publish(*packet).topic == counter) {
            last = parse_publish(*packet).payload;
        }
    }
    EXPECT_EQ(last, "3");
}

TEST_F(QuotaTest, SubscriptionsBeyondTheQuotaGet0x97At5And0x80At311) {
    restart_with("max_subscriptions_per_client 2\n");
    auto modern = raw("modern", 5);
    EXPECT_EQ(modern->subscribe_reason("quota/a", 1, 1, answer_timeout), 1);
    EXPECT_EQ(modern->subscribe_reason("quota/b", 1, 2, answer_timeout), 1);
    EXPECT_EQ(modern->subscribe_reason("quota/a", 0, 3, answer_timeout), 0)
        << "subscribing again to a filter held counts once";
    EXPECT_EQ(modern->subscribe_reason("quota/c", 1, 4, answer_timeout), quota_exceeded);
    EXPECT_TRUE(modern->unsubscribe("quota/a", 5, answer_timeout));
    EXPECT_EQ(modern->subscribe_reason("quota/c", 1, 6, answer_timeout), 1);

    auto older = raw("older", 4);
    EXPECT_TRUE(older->subscribe("quota/a", 1, 1, answer_timeout));
    EXPECT_TRUE(older->subscribe("quota/b", 1, 2, answer_timeout));
    EXPECT_EQ(older->subscribe_reason("quota/c", 1, 3, answer_timeout), 0x80);

    // A chat user's server-held subscriptions (room, presence, replies) do not count.
    auto alice = connected("alice", mqtt_5);
    EXPECT_EQ(alice->subscribe("chat/room/lobby/alice", 1).front(),
              mqtt::ReasonCode::GRANTED_QOS_1);
    EXPECT_EQ(alice->subscribe("chat/room/lobby/bob", 1).front(), mqtt::ReasonCode::GRANTED_QOS_1);
    EXPECT_EQ(alice->subscribe("chat/room/lobby/carol", 1).front(),
              mqtt::ReasonCode::QUOTA_EXCEEDED);
    EXPECT_TRUE(sys_counter_reaches("refusals/subscriptions", "3"));
}

TEST_F(QuotaTest, MaxInflightMessagesHoldsTheRestUntilAcknowledged) {
    restart_with("max_inflight_messages 3\n");
    auto reader = raw("reader", 4);
    ASSERT_TRUE(reader->subscribe("inflight/t", 1, 1, answer_timeout));
    auto writer = raw("writer", 4);
    for (std::uint16_t id = 1; id <= 8; ++id) {
        ASSERT_TRUE(writer->publish("inflight/t", std::to_string(id), 1, id));
    }
    for (int answered = 0; answered < 8; ++answered) {
        const auto ack = writer->read_packet(answer_timeout);
        ASSERT_TRUE(ack && ack->type == puback_type);
    }
    std::vector<std::string> received;
    for (const std::size_t expected : {3U, 3U, 2U}) {
        const auto packets = reader->packets_until_ping(answer_timeout);
        ASSERT_TRUE(packets);
        ASSERT_EQ(packets->size(), expected) << "after " << received.size() << " received";
        for (const raw_packet& packet : *packets) {
            ASSERT_EQ(packet.type, publish_type);
            const raw_publish delivered = parse_publish(packet);
            received.push_back(delivered.payload);
            ASSERT_TRUE(reader->acknowledge(puback_type, delivered.packet_id));
        }
    }
    EXPECT_EQ(received, (std::vector<std::string>{"1", "2", "3", "4", "5", "6", "7", "8"}));
    const auto rest = reader->packets_until_ping(answer_timeout);
    ASSERT_TRUE(rest);
    EXPECT_TRUE(rest->empty());
}

} // namespace
} // namespace perch::integration
