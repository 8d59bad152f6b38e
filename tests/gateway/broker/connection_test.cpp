// connection over the in-memory transport, without a broker process: the shared tables and one
// worker are built here, and clients speak raw MQTT bytes (perch's own encoder and decoder).
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <system_error>
#include <utility>
#include <variant>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/post.hpp>
#include <gtest/gtest.h>

#include "gateway/broker/broker_tables.hpp"
#include "gateway/broker/connection.hpp"
#include "gateway/broker/worker.hpp"
#include "gateway/chat/password_hash.hpp"
#include "gateway/stream/memory_transport.hpp"
#include "mqtt/decoder.hpp"
#include "mqtt/encoder.hpp"
#include "mqtt/topic_alias.hpp"
#include "store/chat_store.hpp"
#include "store/message_store.hpp"

namespace perch::gateway {
namespace {

using namespace std::chrono_literals;

/// Options of the memory stores.
store::store_options memory_store_options() {
    store::store_options options;
    options.durability = store::durability_level::none;
    return options;
}

/// The shared tables of a broker: persistence and a chat layer over the stores `options` open
/// (by default the memory stores), with the users "alice" and "bob" (password "{user}-pw"),
/// members of the room "lobby".
class test_tables final : public broker_tables {
public:
    explicit test_tables(const store::store_options& options = memory_store_options()) {
        persistence_ = std::make_unique<session_persistence>(store::open_message_store(options));
        auto directory = store::open_chat_store(options);
        const auto ignore = [](store::directory_result, const store::store_status&) {};
        directory->add_room({"lobby", "", 1}, ignore);
        for (const std::string user : {"alice", "bob"}) {
            directory->add_user({user, hash_password(user + "-pw", 1), 1}, ignore);
            directory->add_member({"lobby", user}, ignore);
        }
        directory->flush();
        chat_settings settings;
        // As strong as the stored hash: no login rehashes it.
        settings.password_iterations = 1;
        chat_ = std::make_unique<chat_service>(std::move(directory), settings);
        chat_->load();
    }

    router& routes() override { return router_; }
    session_registry& registry() override { return registry_; }
    session_persistence* persistence() override { return persistence_.get(); }
    chat_service& chat() override { return *chat_; }
    void release_connection_slot() override { ++released_slots; }
    void release_rate_refused_slot() override { ++released_rate_refused_slots; }

    int released_slots = 0;
    int released_rate_refused_slots = 0;

private:
    router router_;
    session_registry registry_;
    std::unique_ptr<session_persistence> persistence_;
    std::unique_ptr<chat_service> chat_;
};

/// The broker's end of a stream whose writes can be held (a client that does not read): a held
/// write completes only when released, or with operation_aborted when the stream closes.
class holding_transport final : public transport {
public:
    holding_transport(boost::asio::io_context& context, std::unique_ptr<transport> inner)
        : context_(context), inner_(std::move(inner)) {}

    std::size_t read_some(std::span<std::uint8_t> buffer,
                          boost::system::error_code& error) override {
        return inner_->read_some(buffer, error);
    }
    void async_wait_readable(wait_handler handler) override {
        inner_->async_wait_readable(std::move(handler));
    }
    void async_write(std::span<const boost::asio::const_buffer> buffers,
                     write_handler handler) override {
        if (!is_holding_) {
            inner_->async_write(buffers, std::move(handler));
            return;
        }
        held_bytes_.clear();
        for (const boost::asio::const_buffer& piece : buffers) {
            const auto* first = static_cast<const std::uint8_t*>(piece.data());
            held_bytes_.insert(held_bytes_.end(), first, first + piece.size());
        }
        held_ = std::move(handler);
    }
    void close() override {
        if (held_) {
            boost::asio::post(context_, [handler = std::move(held_)]() mutable {
                handler(boost::asio::error::operation_aborted, 0);
            });
            held_ = nullptr;
        }
        inner_->close();
    }
    bool is_open() const override { return inner_->is_open(); }
    std::string remote_address() const override { return inner_->remote_address(); }
    std::string identity_user_name() const override { return inner_->identity_user_name(); }

    /// Holds every write from now on.
    void hold() { is_holding_ = true; }
    /// Writes the held bytes through and lets later writes pass.
    void release() {
        is_holding_ = false;
        if (!held_) {
            return;
        }
        const std::array<boost::asio::const_buffer, 1> buffers{
            boost::asio::buffer(held_bytes_.data(), held_bytes_.size())};
        auto handler = std::move(held_);
        held_ = nullptr;
        inner_->async_write(buffers, std::move(handler));
    }

private:
    boost::asio::io_context& context_;
    std::unique_ptr<transport> inner_;
    bool is_holding_ = false;
    std::vector<std::uint8_t> held_bytes_;
    write_handler held_;
};

/// A client speaking raw MQTT through its end of a memory stream.
class test_client {
public:
    test_client(std::unique_ptr<memory_transport> end, mqtt::protocol_version version)
        : end_(std::move(end)), version_(version) {}

    void send(const mqtt::packet& out) {
        auto bytes = std::make_shared<mqtt::byte_vector>();
        mqtt::encode_append(out, version_, *bytes);
        const std::array<boost::asio::const_buffer, 1> buffers{
            boost::asio::buffer(bytes->data(), bytes->size())};
        end_->async_write(buffers, [bytes](const boost::system::error_code&, std::size_t) {});
    }

    /// Reads and decodes whatever has arrived.
    void pump() {
        std::array<std::uint8_t, 4096> buffer{};
        while (!is_ended_) {
            boost::system::error_code error;
            const std::size_t count = end_->read_some(buffer, error);
            if (error == boost::asio::error::would_block) {
                break;
            }
            if (error) {
                is_ended_ = true;
                break;
            }
            input_.insert(input_.end(), buffer.begin(), buffer.begin() + count);
        }
        while (!input_.empty()) {
            std::size_t consumed = 0;
            mqtt::decode_limits limits;
            limits.version = version_;
            mqtt::decode_outcome outcome =
                mqtt::decode_next(mqtt::byte_view(input_.data(), input_.size()), limits, consumed);
            auto* decoded = std::get_if<mqtt::packet>(&outcome);
            if (decoded == nullptr) {
                EXPECT_TRUE(std::holds_alternative<mqtt::need_more>(outcome))
                    << "the broker sent a malformed packet";
                break;
            }
            received.push_back(std::move(*decoded));
            input_.erase(input_.begin(), input_.begin() + static_cast<std::ptrdiff_t>(consumed));
        }
    }

    /// The packets of type T received so far.
    template <typename T> std::vector<T> all_of() const {
        std::vector<T> found;
        for (const mqtt::packet& held : received) {
            if (const T* wanted = std::get_if<T>(&held)) {
                found.push_back(*wanted);
            }
        }
        return found;
    }
    template <typename T> bool has() const { return !all_of<T>().empty(); }

    /// True once the broker closed the stream (end of stream read).
    bool is_ended() const { return is_ended_; }

    std::vector<mqtt::packet> received;

private:
    std::unique_ptr<memory_transport> end_;
    mqtt::protocol_version version_;
    mqtt::byte_vector input_;
    bool is_ended_ = false;
};

mqtt::connect connect_packet(std::string client_id, bool clean_start = true,
                             std::optional<std::uint32_t> session_expiry_s = std::nullopt) {
    mqtt::connect request;
    request.version = mqtt::protocol_version::v5;
    request.clean_start = clean_start;
    request.client_id = std::move(client_id);
    request.props.session_expiry_interval = session_expiry_s;
    return request;
}

mqtt::subscribe subscribe_packet(std::uint16_t packet_id, std::string topic_filter,
                                 mqtt::qos maximum_qos) {
    mqtt::subscribe request;
    request.packet_id = packet_id;
    mqtt::subscribe_entry entry;
    entry.topic_filter = std::move(topic_filter);
    entry.options.maximum_qos = maximum_qos;
    request.entries.push_back(std::move(entry));
    return request;
}

mqtt::publish publish_packet(std::string topic_name, std::string payload, mqtt::qos level,
                             std::uint16_t packet_id = 0) {
    mqtt::publish message;
    message.topic_name = std::move(topic_name);
    message.payload = mqtt::shared_bytes::copy_of(std::string_view(payload));
    message.qos_level = level;
    message.packet_id = packet_id;
    return message;
}

class ConnectionTest : public ::testing::Test {
protected:
    explicit ConnectionTest(const store::store_options& options = memory_store_options())
        : tables_(options), guard_(home_.context().get_executor()) {
        home_.set_peers(std::span<worker* const>(peers_));
        settings_ = std::make_shared<connection_settings>();
    }

    ~ConnectionTest() override {
        // Closes every stream, so that no held handler keeps its connection alive.
        for (const auto& open : home_.connections()) {
            open->shut_down_for_exit();
        }
        guard_.reset();
        home_.context().restart();
        home_.context().run_for(50ms);
    }

    /// A client with a connection on the worker; `holding`, if given, is set to the broker end.
    std::unique_ptr<test_client>
    open_client(holding_transport** holding = nullptr,
                mqtt::protocol_version version = mqtt::protocol_version::v5) {
        auto [broker_end, client_end] = make_memory_transport_pair(home_.context(), "");
        std::unique_ptr<transport> stream = std::move(broker_end);
        if (holding != nullptr) {
            auto wrapped = std::make_unique<holding_transport>(home_.context(), std::move(stream));
            *holding = wrapped.get();
            stream = std::move(wrapped);
        }
        std::make_shared<connection>(tables_, home_, std::move(stream), settings_)->start();
        return std::make_unique<test_client>(std::move(client_end), version);
    }

    /// Runs the worker until `done` holds (every client is read after each step); false when it
    /// did not within `limit`.
    bool run_until(const std::function<bool()>& done, std::chrono::milliseconds limit = 5000ms) {
        const auto give_up = std::chrono::steady_clock::now() + limit;
        while (std::chrono::steady_clock::now() < give_up) {
            home_.context().run_for(2ms);
            for (test_client* client : clients_) {
                client->pump();
            }
            if (done()) {
                return true;
            }
        }
        return false;
    }

    /// Opens a client, sends `request` and waits for its CONNACK.
    std::unique_ptr<test_client> connected(const mqtt::connect& request,
                                           holding_transport** holding = nullptr) {
        auto client = open_client(holding, request.version);
        watch(*client);
        client->send(request);
        EXPECT_TRUE(run_until([&] { return client->has<mqtt::connack>(); }));
        return client;
    }

    void watch(test_client& client) { clients_.push_back(&client); }

    /// Runs the worker for `span` (whatever is still on its way arrives).
    void settle(std::chrono::milliseconds span) {
        run_until([] { return false; }, span);
    }

    void set_max_output_bytes(std::uint64_t bytes) {
        auto changed = std::make_shared<connection_settings>(*settings_);
        changed->max_output_bytes = bytes;
        settings_ = std::move(changed);
    }

    void set_outbound_topic_alias_maximum(std::uint16_t maximum) {
        auto changed = std::make_shared<connection_settings>(*settings_);
        changed->limits.outbound_topic_alias_maximum = maximum;
        settings_ = std::move(changed);
    }

    /// Outlives the worker: its connections use the tables until they are destroyed.
    test_tables tables_;
    worker home_{0};
    std::vector<worker*> peers_{&home_};
    boost::asio::executor_work_guard<boost::asio::io_context::executor_type> guard_;
    std::shared_ptr<const connection_settings> settings_;
    std::vector<test_client*> clients_;
};

TEST_F(ConnectionTest, PublishIsDeliveredToASubscriberConnection) {
    auto subscriber = connected(connect_packet("sub"));
    ASSERT_EQ(subscriber->all_of<mqtt::connack>().at(0).reason, mqtt::reason_code::success);
    subscriber->send(subscribe_packet(1, "sensors/+", mqtt::qos::at_most_once));
    ASSERT_TRUE(run_until([&] { return subscriber->has<mqtt::suback>(); }));
    EXPECT_EQ(subscriber->all_of<mqtt::suback>().at(0).reasons,
              std::vector<mqtt::reason_code>{mqtt::reason_code::success});

    auto publisher = connected(connect_packet("pub"));
    publisher->send(publish_packet("sensors/kitchen", "21.5", mqtt::qos::at_most_once));
    ASSERT_TRUE(run_until([&] { return subscriber->has<mqtt::publish>(); }));
    const auto delivered = subscriber->all_of<mqtt::publish>();
    ASSERT_EQ(delivered.size(), 1U);
    EXPECT_EQ(delivered[0].topic_name, "sensors/kitchen");
    EXPECT_EQ(delivered[0].payload.as_string(), "21.5");
    EXPECT_FALSE(publisher->has<mqtt::publish>());
}

TEST_F(ConnectionTest, QoS1PublishIsAcknowledgedWithPuback) {
    auto subscriber = connected(connect_packet("sub"));
    subscriber->send(subscribe_packet(1, "a/b", mqtt::qos::at_least_once));
    ASSERT_TRUE(run_until([&] { return subscriber->has<mqtt::suback>(); }));
    auto publisher = connected(connect_packet("pub"));
    publisher->send(publish_packet("a/b", "one", mqtt::qos::at_least_once, 7));
    ASSERT_TRUE(run_until([&] { return publisher->has<mqtt::puback>(); }));
    EXPECT_EQ(publisher->all_of<mqtt::puback>().at(0).packet_id, 7);
    EXPECT_EQ(publisher->all_of<mqtt::puback>().at(0).reason, mqtt::reason_code::success);
    ASSERT_TRUE(run_until([&] { return subscriber->has<mqtt::publish>(); }));
    const mqtt::publish delivered = subscriber->all_of<mqtt::publish>().at(0);
    EXPECT_EQ(delivered.qos_level, mqtt::qos::at_least_once);
    EXPECT_NE(delivered.packet_id, 0);

    // Nobody subscribed: still acknowledged, with No matching subscribers.
    publisher->send(publish_packet("x/y", "two", mqtt::qos::at_least_once, 8));
    ASSERT_TRUE(run_until([&] { return publisher->all_of<mqtt::puback>().size() == 2; }));
    EXPECT_EQ(publisher->all_of<mqtt::puback>().at(1).reason,
              mqtt::reason_code::no_matching_subscribers);
}

TEST_F(ConnectionTest, QoS2PublishGoesThroughPubrecPubrelPubcomp) {
    auto subscriber = connected(connect_packet("sub"));
    subscriber->send(subscribe_packet(1, "a/b", mqtt::qos::exactly_once));
    ASSERT_TRUE(run_until([&] { return subscriber->has<mqtt::suback>(); }));
    auto publisher = connected(connect_packet("pub"));
    publisher->send(publish_packet("a/b", "once", mqtt::qos::exactly_once, 9));
    ASSERT_TRUE(run_until([&] { return publisher->has<mqtt::pubrec>(); }));
    EXPECT_EQ(publisher->all_of<mqtt::pubrec>().at(0).packet_id, 9);
    EXPECT_EQ(publisher->all_of<mqtt::pubrec>().at(0).reason, mqtt::reason_code::success);
    EXPECT_FALSE(publisher->has<mqtt::pubcomp>());
    publisher->send(mqtt::pubrel{9, mqtt::reason_code::success, {}});
    ASSERT_TRUE(run_until([&] { return publisher->has<mqtt::pubcomp>(); }));
    EXPECT_EQ(publisher->all_of<mqtt::pubcomp>().at(0).packet_id, 9);

    // The subscriber's side of exactly once: PUBLISH, PUBREC from it, PUBREL, PUBCOMP from it.
    ASSERT_TRUE(run_until([&] { return subscriber->has<mqtt::publish>(); }));
    const mqtt::publish delivered = subscriber->all_of<mqtt::publish>().at(0);
    EXPECT_EQ(delivered.qos_level, mqtt::qos::exactly_once);
    EXPECT_EQ(delivered.payload.as_string(), "once");
    subscriber->send(mqtt::pubrec{delivered.packet_id, mqtt::reason_code::success, {}});
    ASSERT_TRUE(run_until([&] { return subscriber->has<mqtt::pubrel>(); }));
    EXPECT_EQ(subscriber->all_of<mqtt::pubrel>().at(0).packet_id, delivered.packet_id);
    subscriber->send(mqtt::pubcomp{delivered.packet_id, mqtt::reason_code::success, {}});
    settle(50ms);
    EXPECT_EQ(subscriber->all_of<mqtt::publish>().size(), 1U);
}

TEST_F(ConnectionTest, SecondConnectWithTheSameClientIdTakesTheSessionOver) {
    auto first = connected(connect_packet("device-1", true, 300));
    ASSERT_EQ(first->all_of<mqtt::connack>().at(0).reason, mqtt::reason_code::success);
    EXPECT_FALSE(first->all_of<mqtt::connack>().at(0).session_present);
    first->send(subscribe_packet(1, "cmd/device-1", mqtt::qos::at_least_once));
    ASSERT_TRUE(run_until([&] { return first->has<mqtt::suback>(); }));

    auto second = connected(connect_packet("device-1", false, 300));
    const mqtt::connack accepted = second->all_of<mqtt::connack>().at(0);
    EXPECT_EQ(accepted.reason, mqtt::reason_code::success);
    EXPECT_TRUE(accepted.session_present);
    ASSERT_TRUE(run_until([&] { return first->has<mqtt::disconnect>(); }));
    const auto ended = first->all_of<mqtt::disconnect>();
    ASSERT_EQ(ended.size(), 1U);
    EXPECT_EQ(ended[0].reason, mqtt::reason_code::session_taken_over);

    // The subscription moved with the session.
    auto publisher = connected(connect_packet("pub"));
    publisher->send(publish_packet("cmd/device-1", "reboot", mqtt::qos::at_least_once, 1));
    ASSERT_TRUE(run_until([&] { return second->has<mqtt::publish>(); }));
    EXPECT_EQ(second->all_of<mqtt::publish>().at(0).payload.as_string(), "reboot");
    EXPECT_FALSE(first->has<mqtt::publish>());
}

TEST_F(ConnectionTest, ADeliveryToASessionOnItsWayIsHandedToItOnArrival) {
    // A takeover posts the session state to the new connection and then moves the
    // subscriptions: a delivery this worker routes to the new id in between reaches the new
    // connection before its session does, and must not be lost.
    auto first = connected(connect_packet("device-1", true, 300));
    first->send(subscribe_packet(1, "cmd/device-1", mqtt::qos::at_least_once));
    ASSERT_TRUE(run_until([&] { return first->has<mqtt::suback>(); }));
    const mqtt::subscriber_id first_id = home_.connections().at(0)->id();

    auto second = open_client();
    watch(*second);
    second->send(connect_packet("device-1", false, 300));
    mqtt::subscriber_id second_id = 0;
    mqtt::subscription_options granted;
    granted.maximum_qos = mqtt::qos::at_least_once;
    // One handler at a time, until the subscriptions have moved to the new id: the session
    // state is then posted and not yet handled.
    for (int step = 0; step < 10'000 && second_id == 0; ++step) {
        home_.context().run_one_for(2ms);
        for (const auto& open : home_.connections()) {
            if (open->id() != first_id &&
                tables_.routes().holds(open->id(), "cmd/device-1", granted)) {
                second_id = open->id();
            }
        }
    }
    ASSERT_NE(second_id, 0U);
    mqtt::message content;
    content.topic_name = "cmd/device-1";
    content.payload = mqtt::shared_bytes::copy_of(std::string_view("reboot"));
    content.qos_level = mqtt::qos::at_least_once;
    delivery_batch batch(1);
    batch[0].subscriber = second_id;
    batch[0].content = std::make_shared<mqtt::message>(std::move(content));
    batch[0].granted_qos = mqtt::qos::at_least_once;
    home_.deliver_batch(batch);

    ASSERT_TRUE(run_until([&] { return second->has<mqtt::publish>(); }));
    EXPECT_EQ(second->all_of<mqtt::publish>().at(0).payload.as_string(), "reboot");
    EXPECT_TRUE(second->all_of<mqtt::connack>().at(0).session_present);
}

TEST_F(ConnectionTest, SilentClientIsClosedWhenItsKeepAliveExpires) {
    mqtt::connect request = connect_packet("sleepy");
    request.keep_alive_seconds = 1;
    auto client = connected(request);
    ASSERT_EQ(client->all_of<mqtt::connack>().at(0).reason, mqtt::reason_code::success);
    // 1.5 times the keep alive without a packet from the client [MQTT-3.1.2-22].
    ASSERT_TRUE(run_until([&] { return client->has<mqtt::disconnect>(); }, 10000ms));
    const auto ended = client->all_of<mqtt::disconnect>();
    ASSERT_EQ(ended.size(), 1U);
    EXPECT_EQ(ended[0].reason, mqtt::reason_code::keep_alive_timeout);
}

TEST_F(ConnectionTest, AConnectionRefusedForItsRateGivesBackItsWaitingPlaceOnce) {
    auto [broker_end, client_end] = make_memory_transport_pair(home_.context(), "");
    auto refused = std::make_shared<connection>(tables_, home_, std::move(broker_end), settings_);
    refused->refuse_for_connection_rate();
    refused->start();
    test_client client(std::move(client_end), mqtt::protocol_version::v5);
    watch(client);
    client.send(connect_packet("too-soon"));
    ASSERT_TRUE(run_until([&] { return client.has<mqtt::connack>(); }));
    EXPECT_EQ(client.all_of<mqtt::connack>().at(0).reason,
              mqtt::reason_code::connection_rate_exceeded);
    refused.reset();
    // Its place among the refused connections waiting for a CONNECT, once the connection ends,
    // and no max_connections slot, which it never held.
    EXPECT_TRUE(run_until([&] { return tables_.released_rate_refused_slots != 0; }));
    settle(50ms);
    EXPECT_EQ(tables_.released_rate_refused_slots, 1);
    EXPECT_EQ(tables_.released_slots, 0);
}

TEST_F(ConnectionTest, QoS0DeliveriesPastTheOutputLimitAreDropped) {
    set_max_output_bytes(1000);
    holding_transport* stalled = nullptr;
    auto subscriber = connected(connect_packet("slow"), &stalled);
    subscriber->send(subscribe_packet(1, "feed", mqtt::qos::at_most_once));
    ASSERT_TRUE(run_until([&] { return subscriber->has<mqtt::suback>(); }));
    stalled->hold();
    auto publisher = connected(connect_packet("pub"));
    for (int index = 0; index < 10; ++index) {
        publisher->send(publish_packet("feed", std::string(400, static_cast<char>('a' + index)),
                                       mqtt::qos::at_most_once));
    }
    // A QoS 1 publish after them: once its PUBACK is in, every delivery has been decided.
    publisher->send(publish_packet("other", "mark", mqtt::qos::at_least_once, 1));
    ASSERT_TRUE(run_until([&] { return publisher->has<mqtt::puback>(); }));
    EXPECT_GT(home_.counters().publish_dropped.value(), 0U);
    stalled->release();
    settle(100ms);
    const auto delivered = subscriber->all_of<mqtt::publish>();
    // The first ones were written (or waiting to be), the rest were dropped; the connection
    // stays.
    ASSERT_GE(delivered.size(), 1U);
    EXPECT_LT(delivered.size(), 10U);
    EXPECT_EQ(delivered[0].payload.as_string(), std::string(400, 'a'));
    EXPECT_FALSE(subscriber->is_ended());
    EXPECT_FALSE(subscriber->has<mqtt::disconnect>());
}

TEST_F(ConnectionTest, ADroppedPublishSetsNoTopicAlias) {
    // 3.3.2.3.4: an alias is used with an empty topic only after the PUBLISH that set it was
    // written. A QoS 0 delivery dropped past the output limit sets nothing, so the next PUBLISH
    // of its topic names the topic again.
    set_max_output_bytes(1000);
    set_outbound_topic_alias_maximum(16);
    holding_transport* stalled = nullptr;
    mqtt::connect request = connect_packet("slow");
    request.props.topic_alias_maximum = 10;
    auto subscriber = connected(request, &stalled);
    subscriber->send(subscribe_packet(1, "feed/+", mqtt::qos::at_most_once));
    ASSERT_TRUE(run_until([&] { return subscriber->has<mqtt::suback>(); }));
    stalled->hold();
    auto publisher = connected(connect_packet("pub"));
    for (int index = 0; index < 4; ++index) {
        publisher->send(publish_packet("feed/a", std::string(400, 'a'), mqtt::qos::at_most_once));
    }
    publisher->send(publish_packet("feed/b", std::string(400, 'b'), mqtt::qos::at_most_once));
    publisher->send(publish_packet("other", "mark", mqtt::qos::at_least_once, 1));
    ASSERT_TRUE(run_until([&] { return publisher->has<mqtt::puback>(); }));
    ASSERT_GT(home_.counters().publish_dropped.value(), 0U);
    stalled->release();
    settle(100ms);
    publisher->send(publish_packet("feed/b", "after", mqtt::qos::at_most_once));
    ASSERT_TRUE(run_until([&] {
        const auto delivered = subscriber->all_of<mqtt::publish>();
        return !delivered.empty() && delivered.back().payload.as_string() == "after";
    }));
    // Resolved as the client does: every alias used was set before.
    mqtt::inbound_topic_aliases client_side(10);
    std::vector<std::string> topics;
    for (const mqtt::publish& delivered : subscriber->all_of<mqtt::publish>()) {
        EXPECT_TRUE(delivered.props.topic_alias.has_value());
        auto resolved = client_side.resolve(delivered.topic_name, delivered.props.topic_alias);
        ASSERT_TRUE(std::holds_alternative<std::string>(resolved))
            << "alias " << delivered.props.topic_alias.value_or(0) << " used before it was set";
        topics.push_back(std::get<std::string>(resolved));
    }
    ASSERT_GE(topics.size(), 2U);
    EXPECT_EQ(topics.front(), "feed/a");
    EXPECT_EQ(topics.back(), "feed/b");
    EXPECT_FALSE(subscriber->has<mqtt::disconnect>());
}

TEST_F(ConnectionTest, NonPersistentQoS1ConsumerPastTheOutputLimitIsDisconnected) {
    set_max_output_bytes(1000);
    holding_transport* stalled = nullptr;
    auto subscriber = connected(connect_packet("slow"), &stalled);
    subscriber->send(subscribe_packet(1, "feed", mqtt::qos::at_least_once));
    ASSERT_TRUE(run_until([&] { return subscriber->has<mqtt::suback>(); }));
    stalled->hold();
    auto publisher = connected(connect_packet("pub"));
    for (std::uint16_t index = 1; index <= 6; ++index) {
        publisher->send(
            publish_packet("feed", std::string(400, 'x'), mqtt::qos::at_least_once, index));
    }
    ASSERT_TRUE(run_until([&] { return publisher->all_of<mqtt::puback>().size() == 6; }));
    EXPECT_FALSE(subscriber->is_ended());
    stalled->release();
    ASSERT_TRUE(run_until([&] { return subscriber->has<mqtt::disconnect>(); }));
    const auto ended = subscriber->all_of<mqtt::disconnect>();
    ASSERT_EQ(ended.size(), 1U);
    EXPECT_EQ(ended[0].reason, mqtt::reason_code::quota_exceeded);
    EXPECT_LT(subscriber->all_of<mqtt::publish>().size(), 6U);
    EXPECT_EQ(home_.counters().quota_disconnects.value(), 1U);
}

// A SUBSCRIBE's filters change the subscription index in one exclusive section, and the
// subscriptions of a session that ends leave it in slices of router::removal_slice, each its own
// section, between the worker's other work.
TEST_F(ConnectionTest, SubscriptionsChangeTheIndexOncePerPacketAndLeaveItInSlices) {
    auto changed = std::make_shared<connection_settings>(*settings_);
    changed->quota.max_subscribe_burst = 1000;
    settings_ = std::move(changed);
    auto client = connected(connect_packet("many"));
    constexpr std::size_t filter_count = 2 * router::removal_slice + 22;
    mqtt::subscribe request;
    request.packet_id = 1;
    for (std::size_t index = 0; index < filter_count; ++index) {
        mqtt::subscribe_entry entry;
        entry.topic_filter = "many/" + std::to_string(index) + "/+";
        request.entries.push_back(std::move(entry));
    }
    router& routes = tables_.routes();
    const std::uint64_t sections_before = routes.exclusive_section_count();
    client->send(request);
    ASSERT_TRUE(run_until([&] { return client->has<mqtt::suback>(); }));
    EXPECT_EQ(client->all_of<mqtt::suback>().at(0).reasons,
              std::vector<mqtt::reason_code>(filter_count, mqtt::reason_code::success));
    EXPECT_EQ(routes.subscription_count(), filter_count);
    EXPECT_EQ(routes.exclusive_section_count(), sections_before + 1);

    client->send(mqtt::disconnect{});
    ASSERT_TRUE(run_until([&] { return routes.subscription_count() == 0; }));
    // 64, 64 and 22 filters: three sections (one removed them all before).
    EXPECT_EQ(routes.exclusive_section_count(), sections_before + 1 + 3);
}

TEST_F(ConnectionTest, ChatUserLogsInWithItsPassword) {
    mqtt::connect request = connect_packet("alice/phone");
    request.user_name = "alice";
    const std::string password = "alice-pw";
    request.password = mqtt::byte_vector(password.begin(), password.end());
    auto client = connected(request);
    EXPECT_EQ(client->all_of<mqtt::connack>().at(0).reason, mqtt::reason_code::success);
    EXPECT_FALSE(client->is_ended());
}

TEST_F(ConnectionTest, ChatLoginWithAWrongPasswordIsRefused) {
    mqtt::connect request = connect_packet("alice/phone");
    request.user_name = "alice";
    const std::string password = "not-alice-pw";
    request.password = mqtt::byte_vector(password.begin(), password.end());
    auto client = connected(request);
    EXPECT_EQ(client->all_of<mqtt::connack>().at(0).reason,
              mqtt::reason_code::bad_user_name_or_password);
}

TEST_F(ConnectionTest, AResumedChatSessionDoesNotWriteItsChatSubscriptionsAgain) {
    // A login storm of returning devices: each chat filter is in the store from the first login.
    mqtt::connect request = connect_packet("alice/phone", true, 300);
    request.user_name = "alice";
    const std::string password = "alice-pw";
    request.password = mqtt::byte_vector(password.begin(), password.end());
    store::message_store& store = tables_.persistence()->store();
    const std::uint64_t before_first = store.counters().committed_operations;
    // Kept until the end: the fixture pumps every client it watches.
    auto first = connected(request);
    ASSERT_EQ(first->all_of<mqtt::connack>().at(0).reason, mqtt::reason_code::success);
    first->send(mqtt::disconnect{});
    ASSERT_TRUE(run_until([&] { return first->is_ended(); }));
    store.flush();
    const std::uint64_t first_login = store.counters().committed_operations - before_first;
    request.clean_start = false;
    auto second = connected(request);
    ASSERT_TRUE(second->all_of<mqtt::connack>().at(0).session_present);
    settle(20ms);
    store.flush();
    const std::uint64_t second_login =
        store.counters().committed_operations - before_first - first_login;
    const std::size_t chat_filters = tables_.chat().subscriptions_for("alice").size();
    ASSERT_GT(chat_filters, 0U);
    EXPECT_LE(second_login + chat_filters, first_login);
}

/// A directory for the database of a test's stores: a base of the fixture, made before the tables
/// that open the file and removed after them.
class store_directory {
protected:
    store_directory() {
        std::string pattern =
            (std::filesystem::temp_directory_path() / "perch-connection-XXXXXX").string();
        EXPECT_NE(::mkdtemp(pattern.data()), nullptr);
        path_ = pattern;
    }
    ~store_directory() {
        std::error_code ignored;
        std::filesystem::remove_all(path_, ignored);
    }

    /// SQLite stores on a file capped at 256 kB, which a 400 kB message cannot fit in.
    store::store_options capped_options() const {
        store::store_options options;
        options.durability = store::durability_level::batched;
        options.path = (path_ / "perch.db").string();
        options.commit_interval_ms = 1;
        options.retry_interval_ms = 20;
        options.max_database_bytes = 262144;
        return options;
    }

    std::filesystem::path path_;
};

/// Connections whose writes fail (DESIGN.md "Durability contract": nothing is acknowledged for a
/// write that failed). A message too large for the capped file stays at the head of its store's
/// queue, so that every group retried with it fails too (store/README.md "Failure behaviour").
class ConnectionStoreFailureTest : protected store_directory, public ConnectionTest {
protected:
    ConnectionStoreFailureTest() : ConnectionTest(capped_options()) {}

    /// A client of the chat user `user` ("alice/phone"'s alice) at `version`.
    std::unique_ptr<test_client>
    chat_user(const std::string& client_id,
              mqtt::protocol_version version = mqtt::protocol_version::v5) {
        mqtt::connect request = connect_packet(client_id);
        request.version = version;
        const std::string user = client_id.substr(0, client_id.find('/'));
        request.user_name = user;
        const std::string password = user + "-pw";
        request.password = mqtt::byte_vector(password.begin(), password.end());
        auto client = connected(request);
        EXPECT_EQ(client->all_of<mqtt::connack>().at(0).reason, mqtt::reason_code::success);
        return client;
    }

    /// Fills the chat store: alice's direct message to bob that does not fit.
    void fill_chat_store() {
        fillers_.push_back(chat_user("alice/filler"));
        fillers_.back()->send(publish_packet("chat/dm/bob/alice", std::string(400'000, 'x'),
                                             mqtt::qos::at_most_once));
        settle(50ms);
    }

    /// Fills the message store: a retained message that does not fit.
    void fill_message_store() {
        fillers_.push_back(connected(connect_packet("filler")));
        mqtt::publish retained =
            publish_packet("big/retained", std::string(400'000, 'x'), mqtt::qos::at_most_once);
        retained.is_retained = true;
        fillers_.back()->send(retained);
        settle(50ms);
    }

    /// The PUBACK or PUBREC answering `packet_id` at `client`, once one came (run_until).
    template <typename Answer>
    std::optional<Answer> answer_to(test_client& client, std::uint16_t packet_id) {
        std::optional<Answer> found;
        run_until([&] {
            for (const Answer& answer : client.all_of<Answer>()) {
                if (answer.packet_id == packet_id) {
                    found = answer;
                }
            }
            return found.has_value() || client.is_ended();
        });
        return found;
    }

    /// The clients that filled a store (watched, so kept until the end).
    std::vector<std::unique_ptr<test_client>> fillers_;
};

TEST_F(ConnectionStoreFailureTest, ChatMessageWhoseHistoryRowFailsIsRefusedAtLevel5) {
    auto bob = chat_user("bob/phone");
    auto alice = chat_user("alice/phone");
    fill_chat_store();
    const std::size_t delivered_before = bob->all_of<mqtt::publish>().size();
    alice->send(publish_packet("chat/dm/bob/alice", "qos1", mqtt::qos::at_least_once, 1));
    const auto puback = answer_to<mqtt::puback>(*alice, 1);
    ASSERT_TRUE(puback);
    EXPECT_EQ(puback->reason, mqtt::reason_code::unspecified_error);
    alice->send(publish_packet("chat/dm/bob/alice", "qos2", mqtt::qos::exactly_once, 2));
    const auto pubrec = answer_to<mqtt::pubrec>(*alice, 2);
    ASSERT_TRUE(pubrec);
    EXPECT_EQ(pubrec->reason, mqtt::reason_code::unspecified_error);
    EXPECT_FALSE(alice->is_ended());
    settle(50ms);
    // QoS 1 is routed when its row is submitted; QoS 2 only once it is committed: never here.
    for (const mqtt::publish& delivered : bob->all_of<mqtt::publish>()) {
        EXPECT_NE(delivered.payload.as_string(), "qos2");
    }
    EXPECT_LE(bob->all_of<mqtt::publish>().size(), delivered_before + 1);
    EXPECT_EQ(home_.counters().store_write_refusals.value(), 2U);
}

TEST_F(ConnectionStoreFailureTest, ChatMessageWhoseHistoryRowFailsClosesALevel4Connection) {
    // Logged in before the store is full: a login's read waits behind the failing row.
    auto at_least_once = chat_user("alice/old-1", mqtt::protocol_version::v3_1_1);
    auto exactly_once = chat_user("alice/old-2", mqtt::protocol_version::v3_1_1);
    fill_chat_store();
    for (const auto qos : {mqtt::qos::at_least_once, mqtt::qos::exactly_once}) {
        test_client* alice =
            qos == mqtt::qos::at_least_once ? at_least_once.get() : exactly_once.get();
        alice->send(publish_packet("chat/dm/bob/alice", "refused", qos, 1));
        ASSERT_TRUE(run_until([&] { return alice->is_ended(); }));
        EXPECT_FALSE(alice->has<mqtt::puback>());
        EXPECT_FALSE(alice->has<mqtt::pubrec>());
    }
}

TEST_F(ConnectionStoreFailureTest, UnwritableSubscribeOrUnsubscribeClosesWithoutAcknowledgement) {
    // Persistent sessions: their CONNACK needs a write, made before the store is full.
    auto subscriber = connected(connect_packet("subscriber", true, 300));
    ASSERT_EQ(subscriber->all_of<mqtt::connack>().at(0).reason, mqtt::reason_code::success);
    auto leaver = connected(connect_packet("leaver", true, 300));
    leaver->send(subscribe_packet(1, "news/#", mqtt::qos::at_least_once));
    ASSERT_TRUE(run_until([&] { return leaver->has<mqtt::suback>(); }));
    fill_message_store();

    subscriber->send(subscribe_packet(1, "sensors/+", mqtt::qos::at_least_once));
    mqtt::unsubscribe request;
    request.packet_id = 2;
    request.topic_filters.push_back("news/#");
    leaver->send(request);
    ASSERT_TRUE(run_until([&] { return subscriber->is_ended() && leaver->is_ended(); }));
    EXPECT_FALSE(subscriber->has<mqtt::suback>());
    EXPECT_FALSE(leaver->has<mqtt::unsuback>());
    for (test_client* closed : {subscriber.get(), leaver.get()}) {
        ASSERT_TRUE(closed->has<mqtt::disconnect>());
        EXPECT_EQ(closed->all_of<mqtt::disconnect>().at(0).reason,
                  mqtt::reason_code::unspecified_error);
    }
}

} // namespace
} // namespace perch::gateway
