// The upstream side of a bridge: an MQTT 3.1.1 or 5.0 client over TCP, or TLS through wolfSSL,
// speaking perch's own codec to another broker. Knows nothing about the local broker.
//
// Theory of operation. States: idle -> connecting (resolve, TCP connect, TLS handshake) ->
// waiting for CONNACK -> connected; any error, a refused CONNACK, a missed PINGRESP or the peer
// closing leads back to idle, and from idle a timer reconnects after a backoff that starts at
// 1 s, doubles up to 60 s, and is drawn within +-20% (jitter), reset by a successful CONNACK.
// stop() sends DISCONNECT when connected and stays idle. At 3.1.1 with try_private the CONNECT
// carries protocol level 0x84 (4 with Mosquitto's bridge bit 0x80); when the upstream refuses it
// or closes before CONNACK, the next attempts use plain level 4. Every handler carries the
// generation of the connection it belongs to, so that handlers of an earlier connection change
// nothing. Runs on one io_context thread only.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include "gateway/client/tls_client_stream.hpp"
#include "gateway/common/bridge_config.hpp"
#include "mqtt/bytes.hpp"
#include "mqtt/packet.hpp"

namespace perch::gateway::bridge {

/// The reconnect delay after `failures` failed attempts in a row: 1 s doubling up to 60 s, then
/// multiplied by `jitter` (drawn in [0.8, 1.2]).
std::chrono::milliseconds reconnect_delay(unsigned failures, double jitter);

/// An MQTT client of one upstream broker, configured by one bridge block.
class remote_client : public std::enable_shared_from_this<remote_client> {
public:
    struct handlers {
        /// After each successful CONNACK (true) and when that connection ends (false).
        std::function<void(bool)> on_connection;
        /// Each PUBLISH received (QoS 1/2: acknowledge it with acknowledge()).
        std::function<void(const mqtt::publish&)> on_message;
        /// A QoS 1/2 publish() acknowledged (PUBACK, or PUBCOMP), with its reason code.
        std::function<void(std::uint16_t, mqtt::reason_code)> on_acknowledged;
    };

    /// A client on `context` for `config`; `tls` (null for plain TCP) must outlive it.
    remote_client(boost::asio::io_context& context, bridge_config config,
                  const client::tls_client_context* tls, handlers callbacks);
    ~remote_client();
    remote_client(const remote_client&) = delete;
    remote_client& operator=(const remote_client&) = delete;

    /// Connects, and keeps reconnecting while not stopped.
    void start();
    /// Disconnects for good (idempotent).
    void stop();

    bool is_connected() const { return is_connected_; }
    /// The protocol level of the current connection.
    mqtt::protocol_version version() const;
    /// Connections that succeeded after the first one.
    std::uint64_t reconnects() const { return reconnects_; }

    /// Sends `message`, assigning its packet id at QoS 1/2. Returns that id (0 at QoS 0), or
    /// nothing (nothing sent) when not connected.
    std::optional<std::uint16_t> publish(mqtt::publish message);
    /// Acknowledges the received QoS 1/2 PUBLISH `packet_id` of connection `connection`; ignored
    /// when that connection has ended (the upstream sends the message again).
    void acknowledge(std::uint64_t connection, std::uint16_t packet_id, mqtt::qos level);
    /// The current connection, for acknowledge().
    std::uint64_t connection() const { return generation_; }

private:
    void connect();
    void on_resolved(std::uint64_t generation, const boost::system::error_code& error,
                     const boost::asio::ip::tcp::resolver::results_type& endpoints);
    void on_connected(std::uint64_t generation, const boost::system::error_code& error);
    void send_connect();
    void read_more();
    void on_read(std::uint64_t generation, const boost::system::error_code& error,
                 std::size_t count);
    void handle_packet(const mqtt::packet& received);
    void handle_connack(const mqtt::connack& accepted);
    void send(const mqtt::packet& out);
    void flush();
    void on_written(std::uint64_t generation, const boost::system::error_code& error);
    void end_connection(const std::string& why);
    void arm_keep_alive(std::chrono::seconds after);
    void on_keep_alive(std::uint64_t generation);
    void schedule_reconnect();
    std::uint16_t take_packet_id();

    boost::asio::io_context& context_;
    bridge_config config_;
    const client::tls_client_context* tls_;
    handlers handlers_;
    boost::asio::ip::tcp::resolver resolver_;
    std::unique_ptr<boost::asio::ip::tcp::socket> socket_;
    std::unique_ptr<client::tls_client_stream> tls_stream_;
    std::uint64_t generation_ = 0;
    mqtt::byte_vector input_;
    std::array<std::uint8_t, 16 * 1024> read_buffer_{};
    mqtt::byte_vector pending_output_;
    mqtt::byte_vector writing_output_;
    bool is_writing_ = false;
    bool is_connected_ = false;
    bool is_stopped_ = true;
    bool has_ever_connected_ = false;
    /// The upstream refused the bridge bit once: plain level 4 from then on.
    bool is_private_refused_ = false;
    /// This attempt announced the bridge bit.
    bool is_trying_private_ = false;
    bool is_ping_outstanding_ = false;
    std::uint16_t next_packet_id_ = 1;
    unsigned failures_ = 0;
    std::uint64_t reconnects_ = 0;
    boost::asio::steady_timer keep_alive_timer_;
    boost::asio::steady_timer reconnect_timer_;
    std::minstd_rand jitter_source_;
};

} // namespace perch::gateway::bridge
