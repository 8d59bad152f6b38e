// An MQTT 5 client that lives inside the broker: it speaks to a real connection of its worker
// through an in-memory transport, encoding and decoding with perch's own codec. The broker treats
// it as any client (access control, chat stamping, history); the transport names its user as a
// verified identity, so it logs in without a password. Used by the assistant bot.
//
// Theory of operation. States: idle -> connecting (CONNECT sent) -> connected (CONNACK success)
// -> idle again when the stream ends or the CONNACK refuses; from idle a timer reconnects after a
// backoff that doubles from 200 ms to 30 s and is reset by a successful CONNACK. stop() sends
// DISCONNECT when connected, closes the stream and stays idle. Every handler carries the
// generation of the stream it belongs to, so a handler of an earlier stream changes nothing.
// Runs on one worker's thread only.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <boost/asio/steady_timer.hpp>
#include <boost/system/error_code.hpp>

#include "gateway/stream/memory_transport.hpp"
#include "mqtt/bytes.hpp"
#include "mqtt/packet.hpp"

namespace perch::gateway {
class server;
class worker;
} // namespace perch::gateway

namespace perch::gateway::client {

/// An in-process MQTT 5 client of user `user_name` with client id `user_name`.
class in_process_client : public std::enable_shared_from_this<in_process_client> {
public:
    /// Receives every PUBLISH delivered to the client (already acknowledged).
    using message_handler = std::function<void(const mqtt::publish&)>;

    /// A client on `home` (whose thread calls everything) connecting through `owner`.
    in_process_client(server& owner, worker& home, std::string user_name,
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

    server& server_;
    worker& worker_;
    std::string user_name_;
    message_handler on_message_;
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
