// A one-shot MQTT client over a blocking Asio socket with deadlines: enough to ask "are you
// serving?" and nothing more.
#include "gateway/program/health_check.hpp"

#include <array>
#include <cstdint>
#include <optional>
#include <variant>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <fmt/format.h>

#include "mqtt/decoder.hpp"
#include "mqtt/encoder.hpp"
#include "mqtt/packet.hpp"

#include <unistd.h>

namespace perch::gateway {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

/// Runs `context` until `done` or the deadline; false on timeout (the socket is then closed).
bool run_until(asio::io_context& context, tcp::socket& socket, const bool& done,
               std::chrono::steady_clock::time_point deadline) {
    context.restart();
    asio::steady_timer timer(context, deadline);
    bool timed_out = false;
    timer.async_wait([&](const boost::system::error_code& error) {
        if (!error) {
            timed_out = true;
            boost::system::error_code ignored;
            socket.close(ignored);
        }
    });
    while (!done && !timed_out && context.run_one() > 0) {
    }
    timer.cancel();
    // Lets the cancelled operation's handler run (it may set `done` with operation_aborted).
    context.poll();
    return done && !timed_out;
}

} // namespace

std::string health_check_target(const broker_config& config, std::uint16_t& port) {
    for (const listener_config& listener : config.listeners) {
        if (listener.kind != listener_kind::mqtt) {
            continue;
        }
        port = listener.port;
        const std::string& address = listener.bind_address;
        if (address.empty() || address == "0.0.0.0") {
            return "127.0.0.1";
        }
        if (address == "::") {
            return "::1";
        }
        return address;
    }
    return {};
}

health_report check_broker_health(const std::string& host, std::uint16_t port,
                                  std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    const std::string where = fmt::format("{}:{}", host, port);
    asio::io_context context(1);
    tcp::socket socket(context);
    boost::system::error_code error;

    const auto address = asio::ip::make_address(host, error);
    if (error) {
        return {false, fmt::format("{}: not an IP address ({})", host, error.message())};
    }
    bool connected = false;
    socket.async_connect(tcp::endpoint(address, port), [&](const boost::system::error_code& e) {
        error = e;
        connected = true;
    });
    if (!run_until(context, socket, connected, deadline)) {
        return {false, fmt::format("{}: no TCP connection within {} ms", where, timeout.count())};
    }
    if (error) {
        return {false, fmt::format("{}: {}", where, error.message())};
    }

    mqtt::connect request;
    request.version = mqtt::protocol_version::v3_1_1;
    request.clean_start = true;
    request.keep_alive_seconds = 10;
    request.client_id = fmt::format("perch-check-{}", ::getpid());
    mqtt::byte_vector out;
    mqtt::encode_append(mqtt::packet{request}, mqtt::protocol_version::v3_1_1, out);

    bool written = false;
    asio::async_write(socket, asio::buffer(out), [&](const boost::system::error_code& e, auto) {
        error = e;
        written = true;
    });
    if (!run_until(context, socket, written, deadline) || error) {
        return {false, fmt::format("{}: could not send CONNECT ({})", where,
                                   error ? error.message() : "timed out")};
    }

    // A CONNACK is 4 bytes at 3.1.1; read until one decodes.
    mqtt::byte_vector in;
    std::array<std::uint8_t, 64> chunk{};
    std::optional<mqtt::connack> answer;
    const mqtt::decode_limits limits{mqtt::protocol_version::v3_1_1, 1024};
    while (!answer) {
        bool read = false;
        std::size_t count = 0;
        socket.async_read_some(asio::buffer(chunk),
                               [&](const boost::system::error_code& e, std::size_t n) {
                                   error = e;
                                   count = n;
                                   read = true;
                               });
        if (!run_until(context, socket, read, deadline)) {
            return {false, fmt::format("{}: no CONNACK within {} ms", where, timeout.count())};
        }
        if (error) {
            return {false, fmt::format("{}: connection closed before CONNACK ({})", where,
                                       error.message())};
        }
        in.insert(in.end(), chunk.begin(), chunk.begin() + static_cast<std::ptrdiff_t>(count));
        std::size_t consumed = 0;
        mqtt::decode_outcome outcome = mqtt::decode_next(mqtt::byte_view(in), limits, consumed);
        if (std::holds_alternative<mqtt::need_more>(outcome)) {
            continue;
        }
        auto* decoded = std::get_if<mqtt::packet>(&outcome);
        auto* connack = decoded != nullptr ? std::get_if<mqtt::connack>(decoded) : nullptr;
        if (connack == nullptr) {
            return {false, fmt::format("{}: the answer to CONNECT is not a CONNACK", where)};
        }
        answer = *connack;
    }

    mqtt::byte_vector goodbye;
    mqtt::encode_append(mqtt::packet{mqtt::disconnect{}}, mqtt::protocol_version::v3_1_1, goodbye);
    asio::write(socket, asio::buffer(goodbye), error);
    socket.close(error);
    return {true, fmt::format("{}: CONNACK return code {}", where,
                              static_cast<int>(mqtt::to_connect_return_code(answer->reason)))};
}

} // namespace perch::gateway
