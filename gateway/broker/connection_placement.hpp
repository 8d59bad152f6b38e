// Which worker a new plain-TCP connection runs on (docs/DESIGN.md "Connection placement"). A
// chat message is routed on its sender's worker, and each member on another worker costs a
// hand-over and a wake-up of that worker's loop; members of one room on one worker cost neither.
//
// Theory of operation. The listener of each worker accepts what the kernel gives it. Before any
// connection object exists, the accepting worker waits (at most a short while) for the client's
// first bytes and reads its CONNECT without taking it from the socket (MSG_PEEK). A CONNECT that
// names a user who belongs to a room sends the socket to the worker of that user's smallest room
// (a hash of the room's name), unless that worker already holds well over its share of the
// connected clients; anything else (no bytes in time, no user, a CONNECT larger than the peek,
// a broken packet) stays where it was accepted, and the connection then reads and judges the
// CONNECT as always. TLS and WebSocket connections are not placed: their CONNECT lies behind a
// handshake.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/ip/tcp.hpp>

#include "mqtt/bytes.hpp"

namespace perch::gateway {

/// How long the accepting worker waits for a new connection's first bytes before it keeps the
/// connection unplaced (the connection's own CONNECT timeout then runs from its start).
inline constexpr std::chrono::milliseconds placement_wait{5000};
/// The most bytes read (and left in the socket) to find the CONNECT's user name.
inline constexpr std::size_t placement_peek_bytes = 2048;
/// Connected clients a room's worker may hold above one and a half times its share before new
/// connections stay where they were accepted (a community where everyone shares one small room
/// must not end up on one worker).
inline constexpr std::uint64_t placement_slack = 64;

/// The User Name of the complete CONNECT at the front of `input`; empty when `input` does not
/// start with a whole, well-formed CONNECT, or that CONNECT names no user.
std::optional<std::string> connect_user_name(mqtt::byte_view input);

/// The worker for a connection whose user's placement room is `room`, given the connected
/// clients of each worker (`loads`, one per worker) and the worker `home` that accepted it.
std::size_t choose_worker(std::string_view room, std::span<const std::uint64_t> loads,
                          std::size_t home);

/// Called on the accepting worker with the socket back and the user name its CONNECT carries
/// (empty when none was read).
using probe_handler =
    std::function<void(boost::asio::ip::tcp::socket socket, std::optional<std::string> user)>;

struct connect_probe;

/// The connections of one worker waiting for their first bytes. Every member function runs on
/// the worker's thread.
class connect_probes {
public:
    connect_probes() = default;
    ~connect_probes();
    connect_probes(const connect_probes&) = delete;
    connect_probes& operator=(const connect_probes&) = delete;

    /// Waits until `socket` is readable or `wait` has passed, reads the user name of its CONNECT
    /// without taking any byte from the socket, and calls `done` on the socket's executor (at
    /// once, from within this call, when the first bytes are there already).
    void start(boost::asio::ip::tcp::socket socket, std::chrono::milliseconds wait,
               probe_handler done);
    /// Ends every wait under way: each calls its handler on a later turn, with what its socket
    /// holds by then (a stopping broker does not wait for silent clients).
    void end_all();
    /// Waits under way.
    std::size_t size() const;

private:
    std::vector<std::weak_ptr<connect_probe>> waiting_;
    /// The size of waiting_ at which the ended waits are swept out (twice what stayed at the
    /// last sweep: a sweep per start would cost a storm of connections its square).
    std::size_t next_sweep_ = 64;
};

} // namespace perch::gateway
