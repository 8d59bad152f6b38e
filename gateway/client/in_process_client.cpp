// The in-process MQTT 5 client: CONNECT, PUBLISH and acknowledgements over a memory transport.
#include "gateway/client/in_process_client.hpp"

#include <algorithm>
#include <array>
#include <variant>

#include <boost/asio/error.hpp>

#include "gateway/common/log.hpp"
#include "mqtt/decoder.hpp"
#include "mqtt/encoder.hpp"

namespace perch::gateway::client {

namespace {

constexpr std::chrono::milliseconds first_backoff{200};
constexpr std::chrono::milliseconds max_backoff{30'000};

} // namespace

namespace {

in_process_options clean_options(std::string user_name) {
    in_process_options options;
    options.user_name = std::move(user_name);
    return options;
}

} // namespace

in_process_client::in_process_client(in_process_endpoint endpoint, std::string user_name,
                                     message_handler on_message)
    : in_process_client(std::move(endpoint), clean_options(std::move(user_name)),
                        std::move(on_message)) {}

in_process_client::in_process_client(in_process_endpoint endpoint, in_process_options options,
                                     message_handler on_message)
    : endpoint_(std::move(endpoint)), options_(std::move(options)),
      on_message_(std::move(on_message)), reconnect_timer_(*endpoint_.context) {}

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
    const bool was_connected = is_connected_;
    if (is_connected_) {
        send(mqtt::disconnect{});
        flush();
    }
    is_connected_ = false;
    ++generation_;
    if (stream_) {
        stream_->close();
    }
    if (was_connected && on_connection_) {
        on_connection_(false);
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
    auto [broker_end, client_end] =
        make_memory_transport_pair(*endpoint_.context, options_.user_name);
    stream_ = std::move(client_end);
    endpoint_.attach(std::move(broker_end));
    mqtt::connect request;
    request.version = mqtt::protocol_version::v5;
    request.clean_start = options_.clean_start;
    request.client_id = options_.client_id.empty() ? options_.user_name : options_.client_id;
    if (options_.receive_maximum != 0) {
        request.props.receive_maximum = options_.receive_maximum;
    }
    if (options_.session_expiry_seconds != 0) {
        request.props.session_expiry_interval = options_.session_expiry_seconds;
    }
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
        log_info("in-process client {} connected", options_.user_name);
        if (!options_.subscriptions.empty()) {
            mqtt::subscribe request;
            request.packet_id = take_packet_id();
            request.entries = options_.subscriptions;
            send(request);
        }
        if (on_connection_) {
            on_connection_(true);
        }
        return;
    }
    if (const auto* delivered = std::get_if<mqtt::publish>(&received)) {
        if (!options_.is_acknowledgement_deferred) {
            acknowledge(generation_, delivered->packet_id, delivered->qos_level);
        }
        if (on_message_) {
            on_message_(*delivered);
        }
        return;
    }
    if (const auto* received_ack = std::get_if<mqtt::pubrec>(&received)) {
        // [MQTT-4.3.3] our QoS 2 publish: release it, and report it done at PUBCOMP.
        if (static_cast<unsigned>(received_ack->reason) >= 0x80) {
            report_acknowledged(received_ack->packet_id, received_ack->reason);
        } else {
            send(mqtt::pubrel{received_ack->packet_id, mqtt::reason_code::success, {}});
        }
        return;
    }
    if (const auto* completed = std::get_if<mqtt::pubcomp>(&received)) {
        report_acknowledged(completed->packet_id, completed->reason);
        return;
    }
    if (const auto* released = std::get_if<mqtt::pubrel>(&received)) {
        send(mqtt::pubcomp{released->packet_id, mqtt::reason_code::success, {}});
        return;
    }
    if (const auto* acknowledged = std::get_if<mqtt::puback>(&received)) {
        if (static_cast<unsigned>(acknowledged->reason) >= 0x80) {
            log_warning("in-process client {}: a publish was refused with reason 0x{:02x}",
                        options_.user_name, static_cast<unsigned>(acknowledged->reason));
        }
        report_acknowledged(acknowledged->packet_id, acknowledged->reason);
        return;
    }
    if (const auto* ended = std::get_if<mqtt::disconnect>(&received)) {
        on_stream_ended(
            fmt::format("DISCONNECT with reason 0x{:02x}", static_cast<unsigned>(ended->reason)));
        return;
    }
    if (const auto* granted = std::get_if<mqtt::suback>(&received)) {
        // A refused subscription (access rules): said once per connection, in the log.
        for (std::size_t index = 0; index < granted->reasons.size(); ++index) {
            if (static_cast<unsigned>(granted->reasons[index]) >= 0x80 &&
                index < options_.subscriptions.size()) {
                log_warning("in-process client {}: subscription to '{}' refused (0x{:02x})",
                            options_.user_name, options_.subscriptions[index].topic_filter,
                            static_cast<unsigned>(granted->reasons[index]));
            }
        }
    }
    // UNSUBACK, PINGRESP: nothing to do.
}

bool in_process_client::publish(mqtt::publish message) {
    return publish_with_id(std::move(message)).has_value();
}

std::optional<std::uint16_t> in_process_client::publish_with_id(mqtt::publish message) {
    if (!is_connected_) {
        return std::nullopt;
    }
    message.packet_id = 0;
    if (message.qos_level != mqtt::qos::at_most_once) {
        message.packet_id = take_packet_id();
    }
    send(message);
    flush();
    return message.packet_id;
}

void in_process_client::acknowledge(std::uint64_t connection, std::uint16_t packet_id,
                                    mqtt::qos level) {
    if (connection != generation_ || !is_connected_) {
        return;
    }
    if (level == mqtt::qos::at_least_once) {
        send(mqtt::puback{packet_id, mqtt::reason_code::success, {}});
    } else if (level == mqtt::qos::exactly_once) {
        send(mqtt::pubrec{packet_id, mqtt::reason_code::success, {}});
    } else {
        return;
    }
    flush();
}

std::uint16_t in_process_client::take_packet_id() {
    const std::uint16_t taken = next_packet_id_;
    next_packet_id_ = next_packet_id_ == 0xFFFF ? 1 : next_packet_id_ + 1;
    return taken;
}

void in_process_client::report_acknowledged(std::uint16_t packet_id, mqtt::reason_code reason) {
    if (on_acknowledged_) {
        on_acknowledged_(packet_id, reason);
    }
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
    const bool was_connected = is_connected_;
    if (is_connected_) {
        log_warning("in-process client {} lost its connection: {}", options_.user_name, why);
    } else {
        log_warning("in-process client {} could not connect: {}", options_.user_name, why);
    }
    is_connected_ = false;
    ++generation_;
    if (stream_) {
        stream_->close();
    }
    if (was_connected && on_connection_) {
        on_connection_(false);
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
