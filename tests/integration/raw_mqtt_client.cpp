// A minimal blocking MQTT 3.1.1 / 5.0 client for the durability and quota tests.
#include "raw_mqtt_client.hpp"

#include <cerrno>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

namespace perch::integration {

namespace {

void append_u16(std::vector<std::uint8_t>& out, std::uint16_t value) {
    out.push_back(static_cast<std::uint8_t>(value >> 8));
    out.push_back(static_cast<std::uint8_t>(value & 0xFF));
}

void append_string(std::vector<std::uint8_t>& out, std::string_view text) {
    append_u16(out, static_cast<std::uint16_t>(text.size()));
    out.insert(out.end(), text.begin(), text.end());
}

std::vector<std::uint8_t> frame(std::uint8_t first_byte, const std::vector<std::uint8_t>& body) {
    std::vector<std::uint8_t> out{first_byte};
    std::size_t length = body.size();
    do {
        std::uint8_t digit = length % 128;
        length /= 128;
        if (length > 0) {
            digit |= 0x80;
        }
        out.push_back(digit);
    } while (length > 0);
    out.insert(out.end(), body.begin(), body.end());
    return out;
}

/// Skips the properties (a length and its bytes) at `position` of `body`.
std::size_t skip_properties(const std::vector<std::uint8_t>& body, std::size_t position) {
    std::size_t length = 0;
    std::size_t multiplier = 1;
    while (position < body.size()) {
        const std::uint8_t digit = body[position++];
        length += (digit & 0x7F) * multiplier;
        multiplier *= 128;
        if ((digit & 0x80) == 0) {
            break;
        }
    }
    return position + length;
}

} // namespace

std::uint16_t raw_packet::leading_packet_id() const {
    if (body.size() < 2) {
        return 0;
    }
    return static_cast<std::uint16_t>((body[0] << 8) | body[1]);
}

std::uint8_t reason_code_of(const raw_packet& packet) {
    // DISCONNECT: the reason first; acknowledgements: after the packet identifier.
    const std::size_t position = packet.type == 14 ? 0 : 2;
    return packet.body.size() > position ? packet.body[position] : 0;
}

raw_publish parse_publish(const raw_packet& packet, std::uint8_t protocol_level) {
    raw_publish out;
    out.qos = (packet.flags >> 1) & 0x03;
    out.is_duplicate = (packet.flags & 0x08) != 0;
    out.is_retained = (packet.flags & 0x01) != 0;
    std::size_t position = 0;
    if (packet.body.size() < 2) {
        return out;
    }
    const std::size_t topic_length = (packet.body[0] << 8) | packet.body[1];
    position = 2;
    out.topic.assign(packet.body.begin() + 2,
                     packet.body.begin() + 2 + static_cast<std::ptrdiff_t>(topic_length));
    position += topic_length;
    if (out.qos > 0) {
        out.packet_id =
            static_cast<std::uint16_t>((packet.body[position] << 8) | packet.body[position + 1]);
        position += 2;
    }
    if (protocol_level == 5) {
        position = skip_properties(packet.body, position);
    }
    out.payload.assign(packet.body.begin() + static_cast<std::ptrdiff_t>(position),
                       packet.body.end());
    return out;
}

raw_mqtt_client::~raw_mqtt_client() {
    close();
}

void raw_mqtt_client::close() {
    if (socket_ >= 0) {
        ::close(socket_);
        socket_ = -1;
    }
    input_.clear();
}

bool raw_mqtt_client::connect(std::uint16_t port, const std::string& client_id,
                              bool is_clean_session, std::chrono::milliseconds timeout,
                              bool* session_present) {
    close();
    socket_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (socket_ < 0) {
        return false;
    }
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(socket_, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0) {
        close();
        return false;
    }
    int enabled = 1;
    ::setsockopt(socket_, IPPROTO_TCP, TCP_NODELAY, &enabled, sizeof(enabled));
    std::vector<std::uint8_t> body;
    append_string(body, "MQTT");
    body.push_back(protocol_level_);
    body.push_back(static_cast<std::uint8_t>(
        (is_clean_session ? 0x02 : 0x00) | (user_name_ ? 0x80 : 0x00) | (password_ ? 0x40 : 0x00)));
    append_u16(body, 0);
    if (protocol_level_ == 5) {
        body.push_back(0);
    }
    append_string(body, client_id);
    if (user_name_) {
        append_string(body, *user_name_);
    }
    if (password_) {
        append_string(body, *password_);
    }
    if (!send_bytes(frame(0x10, body))) {
        return false;
    }
    const auto reply = read_packet(timeout);
    connack_code_.reset();
    if (reply && reply->type == 2 && reply->body.size() >= 2) {
        connack_code_ = reply->body[1];
    }
    if (!reply || reply->type != 2 || reply->body.size() < 2 || reply->body[1] != 0) {
        close();
        return false;
    }
    if (session_present != nullptr) {
        *session_present = (reply->body[0] & 0x01) != 0;
    }
    return true;
}

bool raw_mqtt_client::publish(std::string_view topic, std::string_view payload, std::uint8_t qos,
                              std::uint16_t packet_id, bool is_duplicate, bool is_retained) {
    std::vector<std::uint8_t> body;
    append_string(body, topic);
    if (qos > 0) {
        append_u16(body, packet_id);
    }
    if (protocol_level_ == 5) {
        body.push_back(0);
    }
    body.insert(body.end(), payload.begin(), payload.end());
    const auto first = static_cast<std::uint8_t>(0x30 | (is_duplicate ? 0x08 : 0) | (qos << 1) |
                                                 (is_retained ? 0x01 : 0));
    return send_bytes(frame(first, body));
}

bool raw_mqtt_client::acknowledge(std::uint8_t type, std::uint16_t packet_id) {
    std::vector<std::uint8_t> body;
    append_u16(body, packet_id);
    // PUBREL carries the flags 0b0010 [MQTT-3.6.1-1].
    const auto first = static_cast<std::uint8_t>((type << 4) | (type == 6 ? 0x02 : 0x00));
    return send_bytes(frame(first, body));
}

bool raw_mqtt_client::subscribe(std::string_view topic_filter, std::uint8_t qos,
                                std::uint16_t packet_id, std::chrono::milliseconds timeout) {
    const auto reason = subscribe_reason(topic_filter, qos, packet_id, timeout);
    return reason && *reason < 0x80;
}

std::optional<std::uint8_t> raw_mqtt_client::subscribe_reason(std::string_view topic_filter,
                                                              std::uint8_t qos,
                                                              std::uint16_t packet_id,
                                                              std::chrono::milliseconds timeout) {
    std::vector<std::uint8_t> body;
    append_u16(body, packet_id);
    if (protocol_level_ == 5) {
        body.push_back(0);
    }
    append_string(body, topic_filter);
    body.push_back(qos);
    if (!send_bytes(frame(0x82, body))) {
        return std::nullopt;
    }
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        const auto reply = read_packet(std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now()));
        if (!reply) {
            return std::nullopt;
        }
        if (reply->type == 9 && reply->leading_packet_id() == packet_id) {
            const std::size_t position = protocol_level_ == 5 ? skip_properties(reply->body, 2) : 2;
            if (reply->body.size() <= position) {
                return std::nullopt;
            }
            return reply->body[position];
        }
    }
    return std::nullopt;
}

bool raw_mqtt_client::unsubscribe(std::string_view topic_filter, std::uint16_t packet_id,
                                  std::chrono::milliseconds timeout) {
    std::vector<std::uint8_t> body;
    append_u16(body, packet_id);
    if (protocol_level_ == 5) {
        body.push_back(0);
    }
    append_string(body, topic_filter);
    if (!send_bytes(frame(0xA2, body))) {
        return false;
    }
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        const auto reply = read_packet(std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now()));
        if (!reply) {
            return false;
        }
        if (reply->type == 11 && reply->leading_packet_id() == packet_id) {
            return true;
        }
    }
    return false;
}

std::optional<std::vector<raw_packet>>
raw_mqtt_client::packets_until_ping(std::chrono::milliseconds timeout) {
    if (!send_bytes({0xC0, 0x00})) {
        return std::nullopt;
    }
    std::vector<raw_packet> before;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        auto reply = read_packet(std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now()));
        if (!reply) {
            return std::nullopt;
        }
        if (reply->type == 13) {
            return before;
        }
        before.push_back(std::move(*reply));
    }
    return std::nullopt;
}

bool raw_mqtt_client::ping(std::chrono::milliseconds timeout) {
    if (!send_bytes({0xC0, 0x00})) {
        return false;
    }
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        const auto reply = read_packet(std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now()));
        if (!reply) {
            return false;
        }
        if (reply->type == 13) {
            return true;
        }
    }
    return false;
}

void raw_mqtt_client::disconnect() {
    send_bytes({0xE0, 0x00});
    close();
}

bool raw_mqtt_client::send_bytes(const std::vector<std::uint8_t>& bytes) {
    std::size_t sent = 0;
    while (socket_ >= 0 && sent < bytes.size()) {
        const ssize_t count =
            ::send(socket_, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
        if (count < 0) {
            if (errno == EINTR) {
                continue;
            }
            close();
            return false;
        }
        sent += static_cast<std::size_t>(count);
    }
    return socket_ >= 0;
}

bool raw_mqtt_client::fill(std::size_t wanted, std::chrono::steady_clock::time_point deadline) {
    while (socket_ >= 0 && input_.size() < wanted) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            return false;
        }
        pollfd waiting{socket_, POLLIN, 0};
        const int ready = ::poll(&waiting, 1, static_cast<int>(left.count()));
        if (ready <= 0) {
            continue;
        }
        std::uint8_t buffer[65536];
        const ssize_t count = ::recv(socket_, buffer, sizeof(buffer), 0);
        if (count <= 0) {
            if (count < 0 && errno == EINTR) {
                continue;
            }
            close();
            return false;
        }
        input_.insert(input_.end(), buffer, buffer + count);
    }
    return input_.size() >= wanted;
}

std::optional<raw_packet> raw_mqtt_client::read_packet(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    if (!fill(2, deadline)) {
        return std::nullopt;
    }
    std::size_t length = 0;
    std::size_t multiplier = 1;
    std::size_t position = 1;
    while (true) {
        if (!fill(position + 1, deadline)) {
            return std::nullopt;
        }
        const std::uint8_t digit = input_[position++];
        length += (digit & 0x7F) * multiplier;
        multiplier *= 128;
        if ((digit & 0x80) == 0 || position > 4) {
            break;
        }
    }
    if (!fill(position + length, deadline)) {
        return std::nullopt;
    }
    raw_packet packet;
    packet.type = input_[0] >> 4;
    packet.flags = input_[0] & 0x0F;
    packet.body.assign(input_.begin() + static_cast<std::ptrdiff_t>(position),
                       input_.begin() + static_cast<std::ptrdiff_t>(position + length));
    input_.erase(input_.begin(), input_.begin() + static_cast<std::ptrdiff_t>(position + length));
    return packet;
}

} // namespace perch::integration
