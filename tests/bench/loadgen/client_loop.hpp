// Many MQTT client connections driven by one thread with epoll: non-blocking sockets, one receive
// scratch buffer, per-connection output buffers written when the socket accepts them, optionally
// over TLS 1.3 (OpenSSL) with session resumption. Each connection binds its own source address in
// 127.0.0.0/8 so more than 64k connections can reach one broker port.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "wire.hpp"
#include <netinet/in.h>
#include <openssl/ssl.h>

namespace perch::loadgen {

/// One client connection and the protocol state the loop itself tracks.
struct client {
    int fd = -1;
    /// True once a CONNACK accepting the connection arrived.
    bool is_connected = false;
    /// SUBACKs received.
    std::size_t subacks_received = 0;
    /// True once the connection failed or the broker closed it.
    bool is_closed = false;
    /// Bytes received but not yet parsed (only a partial packet stays here between reads).
    std::vector<std::uint8_t> input;
    /// Bytes queued for the socket; output[output_offset..] are not written yet.
    std::vector<std::uint8_t> output;
    std::size_t output_offset = 0;
    /// True while the loop waits for EPOLLOUT on this socket.
    bool is_waiting_writable = false;
    /// True while the client is in the loop's list of clients to flush.
    bool is_dirty = false;
    /// The TLS connection (TLS loops only), and whether its handshake is done; output waits
    /// until it is.
    SSL* tls = nullptr;
    bool is_tls_ready = false;
    /// Whether the last handshake resumed a session instead of a full handshake.
    bool was_resumed = false;
    /// The session of the latest ticket the broker sent, offered by the next reopen().
    SSL_SESSION* ticket = nullptr;

    /// Bytes queued and not yet accepted by the socket.
    std::size_t pending_bytes() const { return output.size() - output_offset; }
};

/// Called for each packet received; the view is valid only during the call.
using packet_handler = std::function<void(std::size_t client_index, const packet_view& packet)>;

/// A set of client connections to one broker address, all served by the calling thread.
class client_loop {
public:
    /// Prepares connections to the IPv4 loopback `broker_port` on `broker_address`.
    /// Throws std::runtime_error when epoll cannot be created.
    client_loop(in_addr broker_address, std::uint16_t broker_port);
    /// Closes every connection without DISCONNECT.
    ~client_loop();
    client_loop(const client_loop&) = delete;
    client_loop& operator=(const client_loop&) = delete;

    /// What open() puts in CONNECT (default: level 4, clean session, keep alive 0, anonymous);
    /// also the protocol level received packets are parsed at.
    void set_connect_settings(connect_settings settings) { settings_ = std::move(settings); }
    const connect_settings& settings() const { return settings_; }
    /// The protocol level of every connection of this loop.
    int protocol_level() const { return settings_.protocol_level; }

    /// Opens a connection from the next source address and queues its CONNECT (see
    /// set_connect_settings). Returns the client's index. A connection that fails is marked
    /// closed.
    std::size_t open(std::string_view client_id);

    /// Makes every later connection TLS 1.3 (OpenSSL), trusting the certificates in `ca_file`
    /// (the broker's name is not checked: the certificate may be for localhost). Throws
    /// std::runtime_error when the file cannot be used.
    void use_tls(const std::string& ca_file);
    bool is_tls() const { return tls_context_ != nullptr; }
    /// Whether reopen() offers each client's latest session ticket (default true).
    void set_resuming(bool is_resuming) { is_resuming_ = is_resuming; }

    /// Closes the connection at `index` at once, as a network failure would: no DISCONNECT, no
    /// close_notify. Its session ticket stays for reopen().
    void drop(std::size_t index);
    /// Opens a new connection for the client at `index` (dropping the old one if still open)
    /// and queues its CONNECT with the current settings; over TLS it offers the client's ticket
    /// when resuming.
    void reopen(std::size_t index, std::string_view client_id);

    /// The client at `index` (0 <= index < size()).
    client& at(std::size_t index) { return clients_[index]; }
    std::size_t size() const { return clients_.size(); }
    /// Connections whose CONNACK accepted them, and connections that are closed.
    std::size_t connected_count() const { return connected_count_; }
    std::size_t closed_count() const { return closed_count_; }

    /// Marks `index` as having queued output; the next flush() writes it.
    void mark_dirty(std::size_t index);
    /// Writes the queued output of every dirty client as far as the sockets accept it.
    void flush();
    /// Waits up to `timeout_ms` for socket events, hands each received packet to the handler,
    /// then flushes. Returns the number of packets handled.
    std::size_t poll(int timeout_ms);

    /// The loop's epoll descriptor: readable when poll() has something to handle, so that one
    /// thread can wait on several loops at once (the bridge scenario).
    int event_fd() const { return epoll_fd_; }

    /// Sets the function called for each received packet (CONNACK and SUBACK included).
    void set_handler(packet_handler handler) { handler_ = std::move(handler); }

private:
    /// Connects the socket of the client at `index` and queues its CONNECT.
    void start(std::size_t index, std::string_view client_id);
    /// Continues the TLS handshake; true once it is done (then the queued output is written).
    bool advance_handshake(std::size_t index);
    /// Parses the packets in `bytes` (after what input holds) and hands them to the handler.
    void consume(std::size_t index, std::span<const std::uint8_t> bytes, std::size_t& packets);
    void read_tls(std::size_t index, std::size_t& packets);
    void write_tls(std::size_t index);
    /// OpenSSL's new-session callback: keeps the ticket for the client the connection serves.
    static int keep_ticket(SSL* tls, SSL_SESSION* session);
    void read_from(std::size_t index, std::size_t& packets);
    void write_to(std::size_t index);
    void close_client(std::size_t index);
    void watch_writable(std::size_t index, bool is_wanted);

    sockaddr_in broker_{};
    int epoll_fd_ = -1;
    std::vector<client> clients_;
    std::vector<std::size_t> dirty_;
    std::vector<std::uint8_t> scratch_;
    packet_handler handler_;
    connect_settings settings_;
    std::size_t connected_count_ = 0;
    std::size_t closed_count_ = 0;
    SSL_CTX* tls_context_ = nullptr;
    bool is_resuming_ = true;
    static inline std::uint32_t next_source_ = 0;
};

} // namespace perch::loadgen
