// A minimal MQTT 3.1.1 (or 5.0, without properties) client over a blocking loopback socket, for
// tests that must control every packet (resending after a broker crash, acknowledging by hand,
// reading reason codes). Knows nothing of the broker.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace perch::integration {

/// One packet as read from the wire: the fixed header's type and flags, and the rest.
struct raw_packet {
    std::uint8_t type = 0;
    std::uint8_t flags = 0;
    std::vector<std::uint8_t> body;
    /// The packet identifier at the start of the body (PUBACK, PUBREC, PUBREL, PUBCOMP, SUBACK).
    std::uint16_t leading_packet_id() const;
};

/// A PUBLISH the client received.
struct raw_publish {
    std::string topic;
    std::string payload;
    std::uint8_t qos = 0;
    std::uint16_t packet_id = 0;
    bool is_duplicate = false;
    bool is_retained = false;
};

/// Reads the PUBLISH in `packet` (type 3), sent at `protocol_level` (4: 3.1.1, 5: 5.0).
raw_publish parse_publish(const raw_packet& packet, std::uint8_t protocol_level = 4);

/// The reason code of an acknowledgement (PUBACK, PUBREC, PUBREL, PUBCOMP) or DISCONNECT read at
/// level 5: 0 (success) when the packet leaves it out.
std::uint8_t reason_code_of(const raw_packet& packet);

/// An MQTT 3.1.1 connection, or 5.0 after set_protocol_level(5). Every call returns false (or
/// nothing) once the connection failed.
class raw_mqtt_client {
public:
    raw_mqtt_client() = default;
    ~raw_mqtt_client();
    raw_mqtt_client(const raw_mqtt_client&) = delete;
    raw_mqtt_client& operator=(const raw_mqtt_client&) = delete;

    /// The level CONNECT asks for and packets are written at: 4 (3.1.1, the default) or 5 (5.0,
    /// with empty properties). Before connect().
    void set_protocol_level(std::uint8_t level) { protocol_level_ = level; }
    std::uint8_t protocol_level() const { return protocol_level_; }
    /// The user name and password CONNECT carries (none by default). Before connect().
    void set_credentials(std::string user_name, std::string password) {
        user_name_ = std::move(user_name);
        password_ = std::move(password);
    }

    /// Opens a connection to 127.0.0.1:`port`, sends CONNECT (keep alive 0) and waits for a
    /// successful CONNACK. `session_present` receives its flag.
    bool connect(std::uint16_t port, const std::string& client_id, bool is_clean_session,
                 std::chrono::milliseconds timeout, bool* session_present = nullptr);
    /// The return code of the last CONNACK connect() read (0: accepted); nothing when none came.
    std::optional<std::uint8_t> connack_code() const { return connack_code_; }
    /// Sends PUBLISH; packet_id is ignored at QoS 0.
    bool publish(std::string_view topic, std::string_view payload, std::uint8_t qos,
                 std::uint16_t packet_id, bool is_duplicate = false, bool is_retained = false);
    /// Sends PUBACK (4), PUBREC (5), PUBREL (6) or PUBCOMP (7) for `packet_id`.
    bool acknowledge(std::uint8_t type, std::uint16_t packet_id);
    /// Sends SUBSCRIBE for one filter and waits for its SUBACK; true when granted.
    bool subscribe(std::string_view topic_filter, std::uint8_t qos, std::uint16_t packet_id,
                   std::chrono::milliseconds timeout);
    /// The same, returning the SUBACK's reason code (return code at 3.1.1); nothing when no
    /// SUBACK came.
    std::optional<std::uint8_t> subscribe_reason(std::string_view topic_filter, std::uint8_t qos,
                                                 std::uint16_t packet_id,
                                                 std::chrono::milliseconds timeout);
    /// Sends UNSUBSCRIBE for one filter and waits for its UNSUBACK; true when it came.
    bool unsubscribe(std::string_view topic_filter, std::uint16_t packet_id,
                     std::chrono::milliseconds timeout);
    /// Sends PINGREQ and returns every packet read before its PINGRESP (which the server writes
    /// after whatever it sent before it); nothing when no PINGRESP came.
    std::optional<std::vector<raw_packet>> packets_until_ping(std::chrono::milliseconds timeout);
    /// Sends PINGREQ and waits for PINGRESP (other packets meanwhile are skipped); true when it
    /// came.
    bool ping(std::chrono::milliseconds timeout);
    /// Sends DISCONNECT and closes.
    void disconnect();
    /// The next packet, waiting up to `timeout`; nothing on timeout or when the connection ended.
    std::optional<raw_packet> read_packet(std::chrono::milliseconds timeout);
    /// True while the connection is open.
    bool is_open() const { return socket_ >= 0; }
    /// Closes the connection without DISCONNECT.
    void close();

private:
    bool send_bytes(const std::vector<std::uint8_t>& bytes);
    bool fill(std::size_t wanted, std::chrono::steady_clock::time_point deadline);

    int socket_ = -1;
    std::vector<std::uint8_t> input_;
    std::optional<std::uint8_t> connack_code_;
    std::uint8_t protocol_level_ = 4;
    std::optional<std::string> user_name_;
    std::optional<std::string> password_;
};

} // namespace perch::integration
