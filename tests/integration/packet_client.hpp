// A connection speaking either protocol level through perch's own encoder and decoder over a
// blocking loopback socket, for tests that need what raw_mqtt_client (3.1.1, no will, no
// credentials) cannot send or read: wills, Session Expiry, Will Delay, a user name and password,
// the reason codes of 5.0 acknowledgements. Knows nothing of the broker.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <variant>

#include "mqtt/decoder.hpp"
#include "mqtt/encoder.hpp"
#include "mqtt/packet.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace perch::integration {

/// One client connection at `version`: sends any packet, reads decoded ones.
class packet_client {
public:
    explicit packet_client(mqtt::protocol_version version) : version_(version) {}
    ~packet_client() { close(); }
    packet_client(const packet_client&) = delete;
    packet_client& operator=(const packet_client&) = delete;

    /// Connects to 127.0.0.1:`port`, sends `request` and returns the CONNACK; empty when none
    /// arrived within `timeout`.
    std::optional<mqtt::connack> connect(std::uint16_t port, const mqtt::connect& request,
                                         std::chrono::milliseconds timeout) {
        close();
        socket_ = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_port = htons(port);
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (::connect(socket_, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0 ||
            !send(request)) {
            close();
            return std::nullopt;
        }
        const auto answer = read(timeout);
        if (!answer || !std::holds_alternative<mqtt::connack>(*answer)) {
            return std::nullopt;
        }
        return std::get<mqtt::connack>(*answer);
    }

    bool send(const mqtt::packet& content) {
        mqtt::byte_vector bytes;
        mqtt::encode_append(content, version_, bytes);
        std::size_t sent = 0;
        while (socket_ >= 0 && sent < bytes.size()) {
            const auto count =
                ::send(socket_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
            if (count <= 0) {
                return false;
            }
            sent += static_cast<std::size_t>(count);
        }
        return socket_ >= 0;
    }

    /// The next packet; empty on timeout, on a closed connection or on bytes that do not decode.
    std::optional<mqtt::packet> read(std::chrono::milliseconds timeout) {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        while (socket_ >= 0) {
            std::size_t consumed = 0;
            mqtt::decode_limits limits;
            limits.version = version_;
            auto outcome =
                mqtt::decode_next(mqtt::byte_view(input_.data(), input_.size()), limits, consumed);
            if (auto* decoded = std::get_if<mqtt::packet>(&outcome)) {
                input_.erase(input_.begin(),
                             input_.begin() + static_cast<std::ptrdiff_t>(consumed));
                return std::move(*decoded);
            }
            if (std::holds_alternative<mqtt::protocol_violation>(outcome)) {
                return std::nullopt;
            }
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                deadline - std::chrono::steady_clock::now());
            pollfd waiting{socket_, POLLIN, 0};
            if (left.count() <= 0 || ::poll(&waiting, 1, static_cast<int>(left.count())) <= 0) {
                return std::nullopt;
            }
            std::uint8_t chunk[4096];
            const auto count = ::recv(socket_, chunk, sizeof(chunk), 0);
            if (count <= 0) {
                close();
                return std::nullopt;
            }
            input_.insert(input_.end(), chunk, chunk + count);
        }
        return std::nullopt;
    }

    /// True while the connection is open (read() closes it when the server does).
    bool is_open() const { return socket_ >= 0; }

    /// Closes the connection without DISCONNECT (the will is due).
    void close() {
        if (socket_ >= 0) {
            ::close(socket_);
            socket_ = -1;
        }
        input_.clear();
    }

private:
    mqtt::protocol_version version_;
    int socket_ = -1;
    mqtt::byte_vector input_;
};

} // namespace perch::integration
