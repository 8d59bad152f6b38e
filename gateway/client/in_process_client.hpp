// An MQTT 5 client that lives inside the broker: it speaks to a real connection of its worker
// through an in-memory transport, encoding and decoding with perch's own codec. The broker treats
// it as any client (access control, chat stamping, history); the transport names its user as a
// verified identity, so it logs in without a password. Used by the assistant bot.
//
// Theory of operation. States: idle -> connecting (CONNECT sent) -> connected (CONNACK success)
// -> idle again when the stream ends or the CONNACK refuses; from idle a timer reconnects after a
// backoff that doubles from 200 ms to 30 s and is reset by a successful CONNACK (then the
// options' subscriptions are sent). stop() sends DISCONNECT when connected, closes the stream and
// stays idle until start() again. Every handler carries the
// generation of the stream it belongs to, so a handler of an earlier stream changes nothing.
// Runs on one worker's thread only.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/steady_timer.hpp>
#include <boost/system/error_code.hpp>

#include "gateway/stream/memory_transport.hpp"
#include "mqtt/bytes.hpp"
#include "mqtt/packet.hpp"

namespace perch::gateway::client {

/// Where an in-process client connects: the context of the worker whose thread calls everything,
/// and how the broker takes its end of each new stream (server::in_process_endpoint). So the
/// client knows streams, not the broker.
struct in_process_endpoint {
    boost::asio::io_context* context = nullptr;
    std::function<void(std::unique_ptr<transport>)> attach;
};

/// How an in-process client connects.
struct in_process_options {
    /// The verified user the broker logs the client in as.
    std::string user_name;
    /// Empty: user_name.
    std::string client_id;
    bool clean_start = true;
    /// The Session Expiry Interval of CONNECT (0: the session ends with the connection).
    std::uint32_t session_expiry_seconds = 0;
    /// The Receive Maximum of CONNECT: how many QoS 1/2 deliveries may wait for acknowledge()
    /// at once (0: none sent, the protocol's 65535).
    std::uint16_t receive_maximum = 0;
    /// Sent in one SUBSCRIBE after each successful CONNACK.
    std::vector<mqtt::subscribe_entry> subscriptions;
    /// QoS 1/2 deliveries are acknowledged (PUBACK / PUBREC) only by acknowledge(), so that an
    /// unacknowledged message stays in the broker's session until its receiver is done with it.
    bool is_acknowledgement_deferred = false;
};

/// An in-process MQTT 5 client.
class in_process_client : public std::enable_shared_from_this<in_process_client> {
public:
    /// Receives every PUBLISH delivered to the client (already acknowledged unless the options
    /// defer acknowledgements).
    using message_handler = std::function<void(const mqtt::publish&)>;
    /// Called with the packet id of a QoS 1/2 publish() once the broker acknowledged it
    /// (PUBACK, or PUBCOMP) and with the reason code of that acknowledgement.
    using acknowledgement_handler = std::function<void(std::uint16_t, mqtt::reason_code)>;
    /// Called after each successful CONNACK (`true`) and when that connection ends (`false`).
    using connection_handler = std::function<void(bool)>;

    /// A client of user `user_name` with client id `user_name` and a clean session, connecting
    /// through `endpoint`.
    in_process_client(in_process_endpoint endpoint, std::string user_name,
                      message_handler on_message);
    /// A client connecting with `options`.
    in_process_client(in_process_endpoint endpoint, in_process_options options,
                      message_handler on_message);
    ~in_process_client();
    in_process_client(const in_process_client&) = delete;
    in_process_client& operator=(const in_process_client&) = delete;

    /// Connects, and keeps reconnecting while not stopped.
    void start();
    /// Disconnects for good (idempotent).
    void stop();

    /// True between a successful CONNACK and the end of that stream.
    bool is_connected() const { return is_connected_; }

    /// Sends `message` (its packet id is assigned here for QoS 1 and 2). False, and nothing sent,
    /// when not connected.
    bool publish(mqtt::publish message);
    /// Like publish(); returns the packet id assigned (0 at QoS 0), or nothing when not connected.
    std::optional<std::uint16_t> publish_with_id(mqtt::publish message);

    /// Acknowledges the delivery `packet_id` at `level` (PUBACK for QoS 1, PUBREC for QoS 2) when
    /// acknowledgements are deferred. Ignored when the connection it came on has ended (the
    /// broker delivers it again on the next one).
    void acknowledge(std::uint64_t connection, std::uint16_t packet_id, mqtt::qos level);
    /// The connection a delivery came on, for acknowledge(): changes at every reconnect.
    std::uint64_t connection() const { return generation_; }

    void set_acknowledgement_handler(acknowledgement_handler handler) {
        on_acknowledged_ = std::move(handler);
    }
    void set_connection_handler(connection_handler handler) { on_connection_ = std::move(handler); }

private:
    void connect();
    void wait_readable();
    void on_readable(std::uint64_t generation, const boost::system::error_code& error);
    void handle_packet(const mqtt::packet& received);
    void send(const mqtt::packet& out);
    void flush();
    void on_written(std::uint64_t generation, const boost::system::error_code& error);
    void on_stream_ended(const std::string& why);
    void schedule_reconnect();
    std::uint16_t take_packet_id();
    void report_acknowledged(std::uint16_t packet_id, mqtt::reason_code reason);

    in_process_endpoint endpoint_;
    in_process_options options_;
    message_handler on_message_;
    acknowledgement_handler on_acknowledged_;
    connection_handler on_connection_;
    std::unique_ptr<memory_transport> stream_;
    /// Bumped for every new stream.
    std::uint64_t generation_ = 0;
    mqtt::byte_vector input_;
    /// Encoded packets waiting for the current write to finish.
    mqtt::byte_vector pending_output_;
    /// The bytes of the write in flight.
    mqtt::byte_vector writing_output_;
    bool is_writing_ = false;
    bool is_connected_ = false;
    bool is_stopped_ = false;
    std::uint16_t next_packet_id_ = 1;
    boost::asio::steady_timer reconnect_timer_;
    std::chrono::milliseconds backoff_{200};
};

} // namespace perch::gateway::client
