#include "gateway/broker/connection_placement.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <functional>
#include <memory>
#include <numeric>
#include <utility>
#include <variant>

#include <boost/asio/steady_timer.hpp>

#include "mqtt/decoder.hpp"
#include "mqtt/packet.hpp"

#include <sys/socket.h>

namespace perch::gateway {

std::optional<std::string> connect_user_name(mqtt::byte_view input) {
    std::size_t consumed = 0;
    mqtt::decode_outcome outcome = mqtt::decode_next(input, mqtt::decode_limits{}, consumed);
    auto* decoded = std::get_if<mqtt::packet>(&outcome);
    if (decoded == nullptr) {
        return std::nullopt;
    }
    auto* request = std::get_if<mqtt::connect>(decoded);
    if (request == nullptr || !request->user_name) {
        return std::nullopt;
    }
    return std::move(request->user_name);
}

std::size_t choose_worker(std::string_view room, std::span<const std::uint64_t> loads,
                          std::size_t home) {
    if (loads.size() < 2) {
        return home;
    }
    const std::size_t target = std::hash<std::string_view>{}(room) % loads.size();
    const std::uint64_t total = std::accumulate(loads.begin(), loads.end(), std::uint64_t{0});
    const std::uint64_t share = total / loads.size();
    return loads[target] > share + share / 2 + placement_slack ? home : target;
}

/// One connection waiting for its first bytes.
struct connect_probe {
    connect_probe(boost::asio::ip::tcp::socket accepted, probe_handler handler)
        : socket(std::move(accepted)), timer(socket.get_executor()), done(std::move(handler)) {}

    boost::asio::ip::tcp::socket socket;
    boost::asio::steady_timer timer;
    probe_handler done;
};

namespace {

/// What a look at the socket's input found.
struct peeked {
    /// Nothing has arrived yet.
    bool is_empty = false;
    /// The user name of the CONNECT there, if any.
    std::optional<std::string> user;
};

peeked peek_user(boost::asio::ip::tcp::socket& socket) {
    std::array<std::uint8_t, placement_peek_bytes> buffer{};
    const ssize_t count =
        ::recv(socket.native_handle(), buffer.data(), buffer.size(), MSG_PEEK | MSG_DONTWAIT);
    if (count < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        return {true, std::nullopt};
    }
    if (count <= 0) {
        return {};
    }
    return {false,
            connect_user_name(mqtt::byte_view(buffer.data(), static_cast<std::size_t>(count)))};
}

} // namespace

connect_probes::~connect_probes() = default;

void connect_probes::start(boost::asio::ip::tcp::socket socket, std::chrono::milliseconds wait,
                           probe_handler done) {
    // What arrived before now was announced before this wait existed (the reactor watches the
    // socket edge-triggered from the accept): look first, and wait only for what is still to come.
    peeked first = peek_user(socket);
    if (!first.is_empty) {
        done(std::move(socket), std::move(first.user));
        return;
    }
    auto waiting = std::make_shared<connect_probe>(std::move(socket), std::move(done));
    // The socket's wait handler is the one way out: the timer (and end_all) only cancel that wait.
    waiting->timer.expires_after(wait);
    waiting->timer.async_wait([waiting](const boost::system::error_code& error) {
        if (!error) {
            boost::system::error_code ignored;
            waiting->socket.cancel(ignored);
        }
    });
    waiting->socket.async_wait(boost::asio::ip::tcp::socket::wait_read,
                               [waiting](const boost::system::error_code&) {
                                   waiting->timer.cancel();
                                   peeked found = peek_user(waiting->socket);
                                   waiting->done(std::move(waiting->socket), std::move(found.user));
                               });
    if (waiting_.size() >= next_sweep_) {
        std::erase_if(waiting_,
                      [](const std::weak_ptr<connect_probe>& held) { return held.expired(); });
        next_sweep_ = std::max<std::size_t>(64, 2 * waiting_.size());
    }
    waiting_.push_back(waiting);
}

void connect_probes::end_all() {
    for (const std::weak_ptr<connect_probe>& held : waiting_) {
        if (const std::shared_ptr<connect_probe> waiting = held.lock()) {
            boost::system::error_code ignored;
            waiting->socket.cancel(ignored);
        }
    }
    waiting_.clear();
    next_sweep_ = 64;
}

std::size_t connect_probes::size() const {
    return static_cast<std::size_t>(
        std::count_if(waiting_.begin(), waiting_.end(),
                      [](const std::weak_ptr<connect_probe>& held) { return !held.expired(); }));
}

} // namespace perch::gateway
