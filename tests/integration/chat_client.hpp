// A Paho C++ client of a chat user for the integration tests (chat layer, assistant bot): connects
// with credentials, publishes and waits for the acknowledgement, and queues everything it receives
// so that a test can wait for a topic or check that nothing arrives.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <mqtt/async_client.h>

#include "broker_process.hpp"

namespace perch::integration {

using namespace std::chrono_literals;

/// How long a client waits for an acknowledgement or an expected message.
inline constexpr std::chrono::milliseconds delivery_timeout{8000};
/// How long a test listens for a message that must not arrive.
inline constexpr std::chrono::milliseconds silence_window{400};
inline constexpr int mqtt_311 = MQTTVERSION_3_1_1;
inline constexpr int mqtt_5 = MQTTVERSION_5;

struct received_message {
    std::string topic;
    std::string payload;
    bool is_retained = false;
    mqtt::properties properties;
    /// The QoS it was delivered at.
    int qos = 0;
};

/// The value of User Property `name`, or empty.
inline std::optional<std::string> user_property(const mqtt::properties& properties,
                                                const std::string& name) {
    for (std::size_t index = 0; index < properties.count(mqtt::property::USER_PROPERTY); ++index) {
        const auto pair =
            mqtt::get<mqtt::string_pair>(properties, mqtt::property::USER_PROPERTY, index);
        if (std::get<0>(pair) == name) {
            return std::get<1>(pair);
        }
    }
    return std::nullopt;
}

/// The Correlation Data of a message as text, or empty.
inline std::string correlation_data(const mqtt::properties& properties) {
    if (!properties.contains(mqtt::property::CORRELATION_DATA)) {
        return {};
    }
    return mqtt::get<std::string>(properties, mqtt::property::CORRELATION_DATA);
}

/// One Paho client of a chat user; everything it receives is queued for the test.
class chat_client {
public:
    chat_client(const broker_process& broker, const std::string& client_id, int mqtt_version)
        : mqtt_version_(mqtt_version),
          client_(broker.uri(), client_id, mqtt::create_options(mqtt_version)) {
        client_.set_message_callback([this](mqtt::const_message_ptr message) {
            std::lock_guard lock(mutex_);
            messages_.push_back({message->get_topic(), message->get_payload_str(),
                                 message->is_retained(), message->get_properties(),
                                 message->get_qos()});
            changed_.notify_all();
        });
        client_.set_connection_lost_handler([this](const std::string&) {
            std::lock_guard lock(mutex_);
            is_connection_lost_ = true;
            changed_.notify_all();
        });
        client_.set_disconnected_handler([this](const mqtt::properties&, mqtt::ReasonCode code) {
            std::lock_guard lock(mutex_);
            disconnect_reason_ = code;
            is_connection_lost_ = true;
            changed_.notify_all();
        });
    }

    ~chat_client() {
        try {
            if (client_.is_connected()) {
                client_.disconnect()->wait_for(1s);
            }
        } catch (const mqtt::exception&) {
            // Going away either way.
        }
    }

    chat_client(const chat_client&) = delete;
    chat_client& operator=(const chat_client&) = delete;

    /// Connects as `user` with `password`; a persistent session when `is_persistent`. Returns
    /// the CONNACK's Session Present. Throws mqtt::exception when refused.
    bool connect(const std::string& user, const std::string& password, bool is_persistent = false) {
        mqtt::connect_options_builder builder;
        builder.user_name(user).password(password);
        return connect_with(builder, is_persistent);
    }

    /// Connects without a user name; a persistent session when `is_persistent`. Returns the
    /// CONNACK's Session Present.
    bool connect_anonymous(bool is_persistent = false) {
        mqtt::connect_options_builder builder;
        return connect_with(builder, is_persistent);
    }

    void disconnect() { wait(*client_.disconnect(), "DISCONNECT"); }

    std::vector<mqtt::ReasonCode> subscribe(const std::string& topic_filter, int qos) {
        try {
            auto token = client_.subscribe(topic_filter, qos);
            wait(*token, "SUBSCRIBE");
            return token->get_subscribe_response().get_reason_codes();
        } catch (const mqtt::exception& refusal) {
            // Paho reports a refused 5.0 subscription as a failed token.
            return {static_cast<mqtt::ReasonCode>(refusal.get_reason_code())};
        }
    }

    /// Subscribes to one filter (5.0) with the Subscription Identifier `subscription_id` (0:
    /// none) and the No Local option `is_no_local`; returns the SUBACK reason codes.
    std::vector<mqtt::ReasonCode> subscribe_with_id(const std::string& topic_filter, int qos,
                                                    int subscription_id, bool is_no_local = false) {
        try {
            mqtt::properties properties;
            if (subscription_id != 0) {
                properties.add({mqtt::property::SUBSCRIPTION_IDENTIFIER, subscription_id});
            }
            auto token = client_.subscribe(topic_filter, qos, mqtt::subscribe_options(is_no_local),
                                           properties);
            wait(*token, "SUBSCRIBE");
            return token->get_subscribe_response().get_reason_codes();
        } catch (const mqtt::exception& refusal) {
            return {static_cast<mqtt::ReasonCode>(refusal.get_reason_code())};
        }
    }

    /// Unsubscribes from one filter and returns the UNSUBACK reason codes (5.0).
    std::vector<mqtt::ReasonCode> unsubscribe(const std::string& topic_filter) {
        try {
            auto token = client_.unsubscribe(topic_filter);
            wait(*token, "UNSUBSCRIBE");
            return token->get_unsubscribe_response().get_reason_codes();
        } catch (const mqtt::exception& refusal) {
            return {static_cast<mqtt::ReasonCode>(refusal.get_reason_code())};
        }
    }

    /// Publishes and returns the acknowledgement's reason code (success for QoS 0 and 3.1.1).
    mqtt::ReasonCode publish(const std::string& topic, const std::string& payload, int qos = 1,
                             const mqtt::properties& properties = {}) {
        return publish_message(mqtt::message::create(topic, payload, qos, false, properties));
    }

    /// Publishes with RETAIN set and returns the acknowledgement's reason code.
    mqtt::ReasonCode publish_retained(const std::string& topic, const std::string& payload,
                                      int qos = 1) {
        return publish_message(mqtt::message::create(topic, payload, qos, true));
    }

    /// Publishes `message` and returns the acknowledgement's reason code.
    mqtt::ReasonCode publish_message(mqtt::const_message_ptr message) {
        try {
            auto token = client_.publish(std::move(message));
            wait(*token, "PUBLISH");
            return token->get_reason_code();
        } catch (const mqtt::exception& refusal) {
            return static_cast<mqtt::ReasonCode>(refusal.get_reason_code());
        }
    }

    /// Publishes without waiting; the token completes when the PUBACK arrives.
    mqtt::delivery_token_ptr publish_async(const std::string& topic, const std::string& payload,
                                           int qos) {
        return client_.publish(mqtt::message::create(topic, payload, qos, false));
    }

    std::optional<received_message> next_message(std::chrono::milliseconds timeout) {
        std::unique_lock lock(mutex_);
        if (!changed_.wait_for(lock, timeout, [this] { return !messages_.empty(); })) {
            return std::nullopt;
        }
        received_message message = std::move(messages_.front());
        messages_.pop_front();
        return message;
    }

    /// The next message on `topic`, skipping others (presence, replies), or nullopt.
    std::optional<received_message> next_on(const std::string& topic,
                                            std::chrono::milliseconds timeout = delivery_timeout) {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        while (std::chrono::steady_clock::now() < deadline) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                deadline - std::chrono::steady_clock::now());
            auto message = next_message(left);
            if (!message) {
                return std::nullopt;
            }
            if (message->topic == topic) {
                return message;
            }
        }
        return std::nullopt;
    }

    /// True when nothing on a topic starting with `prefix` arrives within the silence window.
    bool stays_silent_on(const std::string& prefix) {
        const auto deadline = std::chrono::steady_clock::now() + silence_window;
        while (true) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                deadline - std::chrono::steady_clock::now());
            if (left <= 0ms) {
                return true;
            }
            auto message = next_message(left);
            if (!message) {
                return true;
            }
            if (message->topic.starts_with(prefix)) {
                return false;
            }
        }
    }

    bool wait_for_connection_lost() {
        std::unique_lock lock(mutex_);
        return changed_.wait_for(lock, delivery_timeout, [this] { return is_connection_lost_; });
    }

    std::optional<mqtt::ReasonCode> disconnect_reason() {
        std::lock_guard lock(mutex_);
        return disconnect_reason_;
    }

    bool is_connected() { return client_.is_connected(); }

private:
    bool connect_with(mqtt::connect_options_builder& builder, bool is_persistent) {
        builder.mqtt_version(mqtt_version_).connect_timeout(5s);
        mqtt::connect_options options;
        if (mqtt_version_ == mqtt_5) {
            builder.clean_start(!is_persistent);
            options = builder.finalize();
            if (is_persistent) {
                // Set on the copy connect() reads (Paho C++ 1.2 loses moved properties).
                options.set_properties({{mqtt::property::SESSION_EXPIRY_INTERVAL, 600}});
            }
        } else {
            builder.clean_session(!is_persistent);
            options = builder.finalize();
        }
        auto token = client_.connect(options);
        wait(*token, "CONNECT");
        return token->get_connect_response().is_session_present();
    }

    static void wait(mqtt::token& token, const char* what) {
        if (!token.wait_for(delivery_timeout)) {
            throw std::runtime_error(std::string(what) + " not completed in time");
        }
    }

    int mqtt_version_;
    std::mutex mutex_;
    std::condition_variable changed_;
    std::deque<received_message> messages_;
    bool is_connection_lost_ = false;
    std::optional<mqtt::ReasonCode> disconnect_reason_;
    mqtt::async_client client_;
};

} // namespace perch::integration
