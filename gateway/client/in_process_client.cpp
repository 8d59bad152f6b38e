// The in-process MQTT 5 client: CONNECT, PUBLISH and acknowledgements over a memory transport.
#include "gateway/client/in_process_client.hpp"

#include <algorithm>
#include <array>
#include <variant>

#include <boost/asio/error.hpp>

#include "gateway/broker/server.hpp"
#include "gateway/broker/worker.hpp"
#include "gateway/common/log.hpp"
#include "mqtt/decoder.hpp"
#include "mqtt/encoder.hpp"

namespace perch::gateway::client {

namespace {

constexpr std::chrono::milliseconds first_backoff{200};
constexpr std::chrono::milliseconds max_backoff{30'000};

} // namespace

in_process_client::in_process_client(server& owner, worker& home, std::string user_name,
                                     message_handler on_message)
    : server_(owner), worker_(home), user_name_(std::move(user_name)),
      on_message_(std::move(on_message)), reconnect_timer_(home.context()) {}

in_process_client::~in_process_client() = default;

void in_process_client::start() {
    is_stopped_ = false;
    connect();
}

void in_process_client::stop() {
    if (is_stopped_) {
        return;
    }
    is_stopped_ = true;
    reconnect_timer_.cancel();
    if (is_connected_) {
        send(mqtt::disconnect{});
        flush();
    }
    is_connected_ = false;
    if (stream_) {
        stream_->close();
    }
}

void in_process_client::connect() {
    if (is_stopped_) {
        return;
    }
    ++generation_;
    input_.clear();
    pending_output_.clear();
    is_writing_ = false;
    is_connected_ = false;
    auto [broker_end, client_end] = make_memory_transport_pair(worker_.context(), user_name_);
    stream_ = std::move(client_end);
    server_.start_in_process_connection(worker_, std::move(broker_end));
    mqtt::connect request;
    request.version = mqtt::protocol_version::v5;
    request.clean_start = true;
    request.client_id = user_name_;
    send(request);
    flush();
    wait_readable();
}

void in_process_client::wait_readable() {
    stream_->async_wait_readable([weak = weak_from_this(), generation = generation_](
                                     const boost::system::error_code& error) {
        if (auto self = weak.lock()) {
            self->on_readable(generation, error);
        }
    });
}

void in_process_client::on_readable(std::uint64_t generation,
                                    const boost::system::error_code& error) {
    if (generation != generation_ || is_stopped_) {
        return;
    }
    if (error) {
        on_stream_ended(error.message());
        return;
    }
    std::array<std::uint8_t, 16 * 1024> buffer{};
    boost::system::error_code read_error;
    while (true) {
        const std::size_t count = stream_->read_some(buffer, read_error);
        if (read_error) {
            break;
        }
        input_.insert(input_.end(), buffer.begin(), buffer.begin() + count);
    }
    std::size_t offset = 0;
    const mqtt::decode_limits limits{mqtt::protocol_version::v5, mqtt::max_packet_size};
    while (offset < input_.size()) {
        std::size_t consumed = 0;
        const auto outcome = mqtt::decode_next(
            mqtt::byte_view(input_.data() + offset, input_.size() - offset), limits, consumed);
        if (std::holds_alternative<mqtt::need_more>(outcome)) {
            break;
        }
        if (const auto* violation = std::get_if<mqtt::protocol_violation>(&outcome)) {
            on_stream_ended(
                fmt::format("the broker sent a malformed packet ({})", violation->rule));
            return;
        }
        offset += consumed;
        handle_packet(std::get<mqtt::packet>(outcome));
        if (generation != generation_ || is_stopped_) {
            return;
        }
    }
    input_.erase(input_.begin(), input_.begin() + static_cast<std::ptrdiff_t>(offset));
    if (read_error != boost::asio::error::would_block) {
        on_stream_ended(read_error == boost::asio::error::eof ? "closed by the broker"
                                                              : read_error.message());
        return;
    }
    flush();
    wait_readable();
}

void in_process_client::handle_packet(const mqtt::packet& received) {
    if (const auto* accepted = std::get_if<mqtt::connack>(&received)) {
        if (accepted->reason != mqtt::reason_code::success) {
            on_stream_ended(fmt::format("CONNECT refused with reason 0x{:02x}",
                                        static_cast<unsigned>(accepted->reason)));
            return;
        }
        is_connected_ = true;
        backoff_ = first_backoff;
        log_info("assistant {} connected", user_name_);
        return;
    }
    if (const auto* delivered = std::get_if<mqtt::publish>(&received)) {
        if (delivered->qos_level == mqtt::qos::at_least_once) {
            send(mqtt::puback{delivered->packet_id, mqtt::reason_code::success, {}});
        } else if (delivered->qos_level == mqtt::qos::exactly_once) {
            send(mqtt::pubrec{delivered->packet_id, mqtt::reason_code::success, {}});
        }
        if (on_message_) {
            on_message_(*delivered);
        }
        return;
    }
    if (const auto* released = std::get_if<mqtt::pubrel>(&received)) {
        send(mqtt::pubcomp{released->packet_id, mqtt::reason_code::success, {}});
        return;
    }
    if (const auto* acknowledged = std::get_if<mqtt::puback>(&received)) {
        if (static_cast<unsigned>(acknowledged->reason) >= 0x80) {
            log_warning("assistant {}: a reply was refused with reason 0x{:02x}", user_name_,
                        static_cast<unsigned>(acknowledged->reason));
        }
        return;
    }
    if (const auto* ended = std::get_if<mqtt::disconnect>(&received)) {
        on_stream_ended(
            fmt::format("DISCONNECT with reason 0x{:02x}", static_cast<unsigned>(ended->reason)));
    }
    // SUBACK, UNSUBACK, PINGRESP: nothing to do.
}

bool in_process_client::publish(mqtt::publish message) {
    if (!is_connected_) {
        return false;
    }
    if (message.qos_level != mqtt::qos::at_most_once) {
        message.packet_id = next_packet_id_;
        next_packet_id_ = next_packet_id_ == 0xFFFF ? 1 : next_packet_id_ + 1;
    }
    send(message);
    flush();
    return true;
}

void in_process_client::send(const mqtt::packet& out) {
    mqtt::encode_append(out, mqtt::protocol_version::v5, pending_output_);
}

void in_process_client::flush() {
    if (is_writing_ || pending_output_.empty() || !stream_ || !stream_->is_open()) {
        return;
    }
    writing_output_.swap(pending_output_);
    pending_output_.clear();
    is_writing_ = true;
    const std::array<boost::asio::const_buffer, 1> buffers{
        boost::asio::buffer(writing_output_.data(), writing_output_.size())};
    stream_->async_write(buffers, [weak = weak_from_this(), generation = generation_](
                                      const boost::system::error_code& error, std::size_t) {
        if (auto self = weak.lock()) {
            self->on_written(generation, error);
        }
    });
}

void in_process_client::on_written(std::uint64_t generation,
                                   const boost::system::error_code& error) {
    if (generation != generation_) {
        return;
    }
    is_writing_ = false;
    writing_output_.clear();
    if (error) {
        if (!is_stopped_) {
            on_stream_ended(error.message());
        }
        return;
    }
    flush();
}

void in_process_client::on_stream_ended(const std::string& why) {
    if (is_connected_) {
        log_warning("assistant {} lost its connection: {}", user_name_, why);
    } else {
        log_warning("assistant {} could not connect: {}", user_name_, why);
    }
    is_connected_ = false;
    ++generation_;
    if (stream_) {
        stream_->close();
    }
    schedule_reconnect();
}

void in_process_client::schedule_reconnect() {
    if (is_stopped_) {
        return;
    }
    reconnect_timer_.expires_after(backoff_);
    backoff_ = std::min(backoff_ * 2, max_backoff);
    reconnect_timer_.async_wait([weak = weak_from_this()](const boost::system::error_code& error) {
        auto self = weak.lock();
        if (!self || error || self->is_stopped_) {
            return;
        }
        self->connect();
    });
}

} // namespace perch::gateway::client
