// Hostile clients for the soak: one thread of its own drives a few hundred sockets that misbehave
// the ways a broker on a network meets (a CONNECT never completed, a connection gone silent, a
// subscriber that never reads, a publish flood, a subscription storm, a password guesser,
// malformed packets), each kind from its own source address in 127.77.0.0/16 so that per-address
// limits tell them apart from the well-behaved users. Every hostile connection the broker closes
// is opened again, so the pressure lasts as long as the thread runs.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include <netinet/in.h>

namespace perch::loadgen {

/// The kinds of hostile client.
enum class hostile_kind : std::uint8_t {
    /// Opens a connection and sends part of a CONNECT (or nothing), never the rest.
    stalled_connect,
    /// Completes a CONNECT with a keep alive of 5 s, then neither reads nor writes.
    silent,
    /// Subscribes to the flood's topics and never reads a byte.
    never_reader,
    /// Publishes QoS 0 (3.1.1) or QoS 1 (5.0, up to 64 unacknowledged) as fast as allowed.
    flooder,
    /// Subscribes to thousands of distinct filters, disconnects, and starts again.
    subscription_storm,
    /// Logs in as a real user (or a made-up one) with a wrong password, again and again.
    guesser,
    /// Sends one of a set of malformed packets and waits to be closed.
    malformed,
};

inline constexpr std::size_t hostile_kinds = 7;

/// The word for `kind` in the report.
const char* to_string(hostile_kind kind);

/// How many of each kind, and their pace.
struct hostile_settings {
    in_addr broker_address{};
    std::uint16_t broker_port = 1883;
    /// Connections per kind, in hostile_kind order.
    std::array<std::size_t, hostile_kinds> counts = {100, 100, 4, 2, 2, 4, 4};
    /// Flood messages per second over all flooders (the load generator shares the machine).
    std::uint64_t flood_messages_per_second = 20000;
    std::size_t flood_payload_bytes = 512;
    /// Filters one subscription-storm connection sends before it disconnects.
    std::size_t storm_filters = 5000;
    /// The real user the guessers try (the others are names nobody has).
    std::string guessed_user = "u0";
    /// A hostile connection still open after this long is closed by the thread; for the kinds the
    /// broker must close by itself (stalled, silent, guesser, malformed) it is counted in
    /// `not_closed`.
    double close_bound_seconds = 60;
    /// The nice value the hostile thread sets for itself when it starts (0 leaves it as is).
    int nice = 19;
};

/// What the hostile clients saw, per kind and overall.
struct hostile_report {
    std::array<std::uint64_t, hostile_kinds> opened{};
    /// Connections that ended with the broker's close: refused at CONNACK, timed out, closed for
    /// a protocol error, or after a DISCONNECT of their own (the subscription storm's).
    std::array<std::uint64_t, hostile_kinds> closed_by_broker{};
    /// Connections still open past close_bound_seconds when they should have been closed.
    std::array<std::uint64_t, hostile_kinds> not_closed{};
    std::uint64_t flood_sent = 0;
    /// QoS 1 flood messages the broker refused (PUBACK reason code >= 0x80) or acknowledged.
    std::uint64_t flood_refused = 0;
    std::uint64_t flood_acknowledged = 0;
    std::uint64_t storm_subscribed = 0;
    std::uint64_t storm_refused = 0;
    std::uint64_t guesses = 0;
    /// Guesses the broker accepted: a security failure.
    std::uint64_t guesses_accepted = 0;
    std::uint64_t malformed_sent = 0;
};

/// The hostile clients' thread. Runs from start() until stop() or destruction.
class hostile_clients {
public:
    explicit hostile_clients(hostile_settings settings);
    ~hostile_clients();
    hostile_clients(const hostile_clients&) = delete;
    hostile_clients& operator=(const hostile_clients&) = delete;

    void start();
    /// Stops the thread and closes every hostile connection.
    void stop();
    /// A copy of the counts so far (exact after stop()).
    hostile_report report() const;
    /// One line: every count of the report, " key=value" each.
    std::string report_fields() const;

private:
    void run();

    hostile_settings settings_;
    std::atomic<bool> is_stopping_{false};
    std::thread thread_;
    struct shared_counts;
    std::unique_ptr<shared_counts> counts_;
};

} // namespace perch::loadgen
