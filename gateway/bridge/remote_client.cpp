// The bridge's MQTT client of its upstream broker: connect, subscribe, ping, publish, reconnect.
#include "gateway/bridge/remote_client.hpp"

#include <algorithm>
#include <array>
#include <variant>

#include <boost/asio/connect.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/write.hpp>
#include <fmt/format.h>

#include "gateway/common/log.hpp"
#include "mqtt/decoder.hpp"
#include "mqtt/encoder.hpp"

namespace perch::gateway::bridge {

namespace {

constexpr std::chrono::milliseconds first_backoff{1000};
constexpr std::chrono::milliseconds max_backoff{60'000};
/// How long the upstream has to answer CONNECT.
constexpr std::chrono::seconds connack_timeout{10};
/// Mosquitto's bridge bit (0x80) on protocol level 4. (0x83 is the same bit on MQTT 3.1's level
/// 3, with the protocol name "MQIsdp"; Mosquitto refuses 0x83 with the name "MQTT".)
constexpr std::uint8_t private_protocol_level = 0x84;

std::string state_topic(const bridge_config& config) {
    return "$SYS/broker/connection/" + config.effective_remote_clientid() + "/state";
}

mqtt::protocol_version version_of(const bridge_config& config) {
    return config.protocol == bridge_protocol::mqtt50 ? mqtt::protocol_version::v5
                                                      : mqtt::protocol_version::v3_1_1;
}

} // namespace

std::chrono::milliseconds reconnect_delay(unsigned failures, double jitter) {
    std::chrono::milliseconds delay = first_backoff;
    for (unsigned step = 0; step < failures && delay < max_backoff; ++step) {
        delay *= 2;
    }
    delay = std::min(delay, max_backoff);
    return std::chrono::milliseconds(
        static_cast<std::int64_t>(static_cast<double>(delay.count()) * jitter));
}

remote_client::remote_client(boost::asio::io_context& context, bridge_config config,
                             const client::tls_client_context* tls, handlers callbacks)
    : context_(context), config_(std::move(config)), tls_(tls), handlers_(std::move(callbacks)),
      resolver_(context), keep_alive_timer_(context), reconnect_timer_(context),
      jitter_source_(std::random_device{}()) {}

remote_client::~remote_client() = default;

mqtt::protocol_version remote_client::version() const {
    return version_of(config_);
}

void remote_client::start() {
    is_stopped_ = false;
    connect();
}

void remote_client::stop() {
    if (is_stopped_) {
        return;
    }
    is_stopped_ = true;
    reconnect_timer_.cancel();
    keep_alive_timer_.cancel();
    resolver_.cancel();
    if (is_connected_ && socket_) {
        // Best effort: a normal DISCONNECT keeps the will from being published.
        mqtt::byte_vector bytes;
        mqtt::encode_append(mqtt::disconnect{}, version(), bytes);
        boost::system::error_code ignored;
        if (!tls_stream_) {
            boost::asio::write(*socket_, boost::asio::buffer(bytes), ignored);
        }
    }
    end_connection("stopped");
}

void remote_client::connect() {
    if (is_stopped_) {
        return;
    }
    ++generation_;
    input_.clear();
    pending_output_.clear();
    writing_output_.clear();
    is_writing_ = false;
    is_connected_ = false;
    is_ping_outstanding_ = false;
    is_trying_private_ = false; // Set when this attempt's CONNECT goes out.
    resolver_.async_resolve(config_.host, std::to_string(config_.port),
                            [weak = weak_from_this(), generation = generation_](
                                const boost::system::error_code& error,
                                const boost::asio::ip::tcp::resolver::results_type& endpoints) {
                                if (auto self = weak.lock()) {
                                    self->on_resolved(generation, error, endpoints);
                                }
                            });
    arm_keep_alive(connack_timeout);
}

void remote_client::on_resolved(std::uint64_t generation, const boost::system::error_code& error,
                                const boost::asio::ip::tcp::resolver::results_type& endpoints) {
    if (generation != generation_ || is_stopped_) {
        return;
    }
    if (error) {
        end_connection(fmt::format("cannot resolve {}: {}", config_.host, error.message()));
        return;
    }
    socket_ = std::make_unique<boost::asio::ip::tcp::socket>(context_);
    boost::asio::async_connect(
        *socket_, endpoints,
        [weak = weak_from_this(), generation](const boost::system::error_code& failure,
                                              const boost::asio::ip::tcp::endpoint&) {
            if (auto self = weak.lock()) {
                self->on_connected(generation, failure);
            }
        });
}

void remote_client::on_connected(std::uint64_t generation, const boost::system::error_code& error) {
    if (generation != generation_ || is_stopped_) {
        return;
    }
    if (error) {
        end_connection(fmt::format("cannot connect to {}:{}: {}", config_.host, config_.port,
                                   error.message()));
        return;
    }
    socket_->set_option(boost::asio::ip::tcp::no_delay(true));
    if (tls_ == nullptr) {
        send_connect();
        read_more();
        return;
    }
    tls_stream_ =
        std::make_unique<client::tls_client_stream>(std::move(*socket_), *tls_, config_.host);
    tls_stream_->async_handshake(
        [weak = weak_from_this(), generation](boost::system::error_code failure) {
            auto self = weak.lock();
            if (!self || generation != self->generation_ || self->is_stopped_) {
                return;
            }
            if (failure) {
                self->end_connection("TLS handshake failed: " + failure.message());
                return;
            }
            self->send_connect();
            self->read_more();
        });
}

void remote_client::send_connect() {
    mqtt::connect request;
    request.version = version();
    request.clean_start = config_.clean_session;
    request.keep_alive_seconds = config_.keep_alive_seconds;
    request.client_id = config_.effective_remote_clientid();
    if (!config_.remote_username.empty()) {
        request.user_name = config_.remote_username;
    }
    if (config_.has_remote_password) {
        request.password =
            mqtt::byte_vector(config_.remote_password.begin(), config_.remote_password.end());
    }
    if (request.version == mqtt::protocol_version::v5 && !config_.clean_session) {
        // A session that outlives the connection, as 3.1.1's clean session 0 does.
        request.props.session_expiry_interval = 0xFFFFFFFF;
    }
    if (config_.notifications && !config_.notifications_local_only) {
        mqtt::will_message will;
        will.topic_name = state_topic(config_);
        will.payload = mqtt::shared_bytes::copy_of(std::string_view("0"));
        will.qos_level = mqtt::qos::at_least_once;
        will.is_retained = true;
        request.will = std::move(will);
    }
    const std::size_t start = pending_output_.size();
    send(request);
    is_trying_private_ = request.version == mqtt::protocol_version::v3_1_1 && config_.try_private &&
                         !is_private_refused_;
    if (is_trying_private_) {
        // Fixed header (type byte and the remaining length's varint), then "\0\4MQTT", then the
        // protocol level.
        std::size_t offset = start + 1;
        while ((pending_output_[offset] & 0x80) != 0) {
            ++offset;
        }
        pending_output_[offset + 1 + 6] = private_protocol_level;
    }
    flush();
}

void remote_client::read_more() {
    auto handler = [weak = weak_from_this(), generation = generation_](
                       const boost::system::error_code& error, std::size_t count) {
        if (auto self = weak.lock()) {
            self->on_read(generation, error, count);
        }
    };
    const auto buffer = boost::asio::buffer(read_buffer_);
    if (tls_stream_) {
        tls_stream_->async_read_some(buffer, std::move(handler));
    } else {
        socket_->async_read_some(buffer, std::move(handler));
    }
}

void remote_client::on_read(std::uint64_t generation, const boost::system::error_code& error,
                            std::size_t count) {
    if (generation != generation_ || is_stopped_) {
        return;
    }
    if (error) {
        end_connection(error == boost::asio::error::eof ? "closed by the upstream"
                                                        : error.message());
        return;
    }
    is_ping_outstanding_ = false;
    input_.insert(input_.end(), read_buffer_.begin(), read_buffer_.begin() + count);
    std::size_t offset = 0;
    const mqtt::decode_limits limits{version(), mqtt::max_packet_size};
    while (offset < input_.size()) {
        std::size_t consumed = 0;
        const auto outcome = mqtt::decode_next(
            mqtt::byte_view(input_.data() + offset, input_.size() - offset), limits, consumed);
        if (std::holds_alternative<mqtt::need_more>(outcome)) {
            break;
        }
        if (const auto* violation = std::get_if<mqtt::protocol_violation>(&outcome)) {
            end_connection(
                fmt::format("the upstream sent a malformed packet ({})", violation->rule));
            return;
        }
        offset += consumed;
        handle_packet(std::get<mqtt::packet>(outcome));
        if (generation != generation_ || is_stopped_) {
            return;
        }
    }
    input_.erase(input_.begin(), input_.begin() + static_cast<std::ptrdiff_t>(offset));
    flush();
    read_more();
}

void remote_client::handle_connack(const mqtt::connack& accepted) {
    if (accepted.reason != mqtt::reason_code::success) {
        if (is_trying_private_) {
            is_private_refused_ = true;
        }
        end_connection(fmt::format("CONNECT refused with reason 0x{:02x}",
                                   static_cast<unsigned>(accepted.reason)));
        return;
    }
    is_connected_ = true;
    failures_ = 0;
    if (has_ever_connected_) {
        ++reconnects_;
    }
    has_ever_connected_ = true;
    log_notice("bridge {}: connected to {}:{}{}", config_.name, config_.host, config_.port,
               is_trying_private_ ? " (as a bridge)" : "");
    mqtt::subscribe request;
    for (const bridge_topic& topic : config_.topics) {
        if (!topic.carries_in()) {
            continue;
        }
        mqtt::subscribe_entry entry;
        entry.topic_filter = topic.remote_filter();
        entry.options.maximum_qos = static_cast<mqtt::qos>(topic.qos);
        // [MQTT-3.8.3-3] what this bridge publishes upstream does not come back to it.
        entry.options.is_no_local = version() == mqtt::protocol_version::v5;
        entry.options.is_retain_as_published = version() == mqtt::protocol_version::v5;
        if (version() == mqtt::protocol_version::v5) {
            entry.options.retain_handling_mode = mqtt::retain_handling::send_at_subscribe_if_new;
        }
        request.entries.push_back(std::move(entry));
    }
    if (!request.entries.empty()) {
        request.packet_id = take_packet_id();
        send(request);
    }
    if (config_.notifications && !config_.notifications_local_only) {
        mqtt::publish state;
        state.topic_name = state_topic(config_);
        state.payload = mqtt::shared_bytes::copy_of(std::string_view("1"));
        state.qos_level = mqtt::qos::at_least_once;
        state.is_retained = true;
        state.packet_id = take_packet_id();
        send(state);
    }
    arm_keep_alive(std::chrono::seconds(config_.keep_alive_seconds));
    if (handlers_.on_connection) {
        handlers_.on_connection(true);
    }
}

void remote_client::handle_packet(const mqtt::packet& received) {
    if (const auto* accepted = std::get_if<mqtt::connack>(&received)) {
        handle_connack(*accepted);
    } else if (const auto* delivered = std::get_if<mqtt::publish>(&received)) {
        if (handlers_.on_message) {
            handlers_.on_message(*delivered);
        }
    } else if (const auto* released = std::get_if<mqtt::pubrel>(&received)) {
        send(mqtt::pubcomp{released->packet_id, mqtt::reason_code::success, {}});
    } else if (const auto* acknowledged = std::get_if<mqtt::puback>(&received)) {
        if (handlers_.on_acknowledged) {
            handlers_.on_acknowledged(acknowledged->packet_id, acknowledged->reason);
        }
    } else if (const auto* recorded = std::get_if<mqtt::pubrec>(&received)) {
        if (static_cast<unsigned>(recorded->reason) >= 0x80) {
            if (handlers_.on_acknowledged) {
                handlers_.on_acknowledged(recorded->packet_id, recorded->reason);
            }
        } else {
            send(mqtt::pubrel{recorded->packet_id, mqtt::reason_code::success, {}});
        }
    } else if (const auto* completed = std::get_if<mqtt::pubcomp>(&received)) {
        if (handlers_.on_acknowledged) {
            handlers_.on_acknowledged(completed->packet_id, completed->reason);
        }
    } else if (const auto* granted = std::get_if<mqtt::suback>(&received)) {
        for (const mqtt::reason_code reason : granted->reasons) {
            if (static_cast<unsigned>(reason) >= 0x80) {
                log_warning("bridge {}: the upstream refused a subscription (0x{:02x})",
                            config_.name, static_cast<unsigned>(reason));
            }
        }
    } else if (const auto* ended = std::get_if<mqtt::disconnect>(&received)) {
        end_connection(fmt::format("DISCONNECT from the upstream with reason 0x{:02x}",
                                   static_cast<unsigned>(ended->reason)));
    }
    // PINGRESP: reading anything already cleared the outstanding ping.
}

std::optional<std::uint16_t> remote_client::publish(mqtt::publish message) {
    if (!is_connected_) {
        return std::nullopt;
    }
    message.packet_id = 0;
    message.is_duplicate = false;
    if (message.qos_level != mqtt::qos::at_most_once) {
        message.packet_id = take_packet_id();
    }
    send(message);
    flush();
    return message.packet_id;
}

void remote_client::acknowledge(std::uint64_t connection, std::uint16_t packet_id,
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

std::uint16_t remote_client::take_packet_id() {
    const std::uint16_t taken = next_packet_id_;
    next_packet_id_ = next_packet_id_ == 0xFFFF ? 1 : next_packet_id_ + 1;
    return taken;
}

void remote_client::send(const mqtt::packet& out) {
    mqtt::encode_append(out, version(), pending_output_);
}

void remote_client::flush() {
    const bool is_open = tls_stream_ || (socket_ && socket_->is_open());
    if (is_writing_ || pending_output_.empty() || !is_open) {
        return;
    }
    writing_output_.swap(pending_output_);
    pending_output_.clear();
    is_writing_ = true;
    auto handler = [weak = weak_from_this(),
                    generation = generation_](const boost::system::error_code& error, std::size_t) {
        if (auto self = weak.lock()) {
            self->on_written(generation, error);
        }
    };
    const auto buffer = boost::asio::buffer(writing_output_);
    if (tls_stream_) {
        boost::asio::async_write(*tls_stream_, buffer, std::move(handler));
    } else {
        boost::asio::async_write(*socket_, buffer, std::move(handler));
    }
}

void remote_client::on_written(std::uint64_t generation, const boost::system::error_code& error) {
    if (generation != generation_) {
        return;
    }
    is_writing_ = false;
    writing_output_.clear();
    if (error) {
        end_connection(error.message());
        return;
    }
    flush();
}

void remote_client::arm_keep_alive(std::chrono::seconds after) {
    keep_alive_timer_.expires_after(after);
    keep_alive_timer_.async_wait([weak = weak_from_this(), generation = generation_](
                                     const boost::system::error_code& error) {
        auto self = weak.lock();
        if (self && !error) {
            self->on_keep_alive(generation);
        }
    });
}

void remote_client::on_keep_alive(std::uint64_t generation) {
    if (generation != generation_ || is_stopped_) {
        return;
    }
    if (!is_connected_) {
        if (is_trying_private_) {
            is_private_refused_ = true;
        }
        end_connection("no CONNACK in time");
        return;
    }
    if (is_ping_outstanding_) {
        end_connection("no answer to PINGREQ within the keep alive");
        return;
    }
    is_ping_outstanding_ = true;
    send(mqtt::pingreq{});
    flush();
    arm_keep_alive(std::chrono::seconds(config_.keep_alive_seconds));
}

void remote_client::end_connection(const std::string& why) {
    const bool was_connected = is_connected_;
    if (!was_connected && is_trying_private_ && why == "closed by the upstream") {
        // An upstream that does not know the bridge bit may just close: try level 4 next.
        is_private_refused_ = true;
    }
    if (was_connected) {
        log_warning("bridge {}: lost the upstream: {}", config_.name, why);
    } else if (!is_stopped_) {
        log_warning("bridge {}: could not connect: {}", config_.name, why);
    }
    is_connected_ = false;
    ++generation_;
    keep_alive_timer_.cancel();
    if (tls_stream_) {
        tls_stream_->close();
        tls_stream_.reset();
    }
    if (socket_) {
        boost::system::error_code ignored;
        socket_->close(ignored);
    }
    if (was_connected && handlers_.on_connection) {
        handlers_.on_connection(false);
    }
    if (!is_stopped_) {
        ++failures_;
        schedule_reconnect();
    }
}

void remote_client::schedule_reconnect() {
    std::uniform_real_distribution<double> jitter(0.8, 1.2);
    reconnect_timer_.expires_after(reconnect_delay(failures_ - 1, jitter(jitter_source_)));
    reconnect_timer_.async_wait([weak = weak_from_this()](const boost::system::error_code& error) {
        auto self = weak.lock();
        if (!self || error || self->is_stopped_) {
            return;
        }
        self->connect();
    });
}

} // namespace perch::gateway::bridge
