// permessage-deflate (RFC 7692) for perch's WebSocket server: choosing the extension's
// parameters from a client's offer, and compressing and inflating whole messages.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/buffer.hpp>
#include <boost/system/error_code.hpp>

namespace perch::gateway {

/// What the server agreed to for one connection.
struct deflate_agreement {
    /// The window of perch's compressor (2^bits bytes); each message is compressed on its own
    /// (server_no_context_takeover), so no compression state outlives a message.
    int server_window_bits = 15;
    /// The client's compression history perch keeps between messages (2^bits bytes), or 0 when
    /// the client was asked for client_no_context_takeover and no history is kept.
    int client_window_bits = 0;
    /// The Sec-WebSocket-Extensions value of the response.
    std::string response;
};

/// Accepts the first permessage-deflate offer of `extensions` (the Sec-WebSocket-Extensions
/// values, comma-separated) that perch can honour, or none. `client_window_bits` is the most
/// client history perch keeps per connection (9 to 15), or 0 to ask every client for
/// client_no_context_takeover. A client that offers client_max_window_bits gets that window
/// (capped at `client_window_bits`) with context takeover; one that does not, or that offers
/// client_no_context_takeover, gets client_no_context_takeover. The response always carries
/// server_no_context_takeover.
std::optional<deflate_agreement> negotiate_deflate(std::string_view extensions,
                                                   int client_window_bits);

/// Compresses whole messages and inflates them, with the zlib state of the calling thread (no
/// message spans a call, so no connection holds compression state); the connection holds only the
/// client's history, as many bytes as the agreement's client window.
class message_deflater {
public:
    explicit message_deflater(const deflate_agreement& agreement);

    /// The payload of a compressed message carrying `buffers` (the trailing 00 00 FF FF removed,
    /// RFC 7692 7.2.1), in `out` (replaced).
    void compress(std::span<const boost::asio::const_buffer> buffers,
                  std::vector<std::uint8_t>& out) const;

    /// Inflates the payload of a compressed message from `in` and appends it to `out`. Fails
    /// with message_too_big once the message inflates past `limit_bytes` (`out` then holds at
    /// most one byte past it), or with the inflater's error for corrupt data.
    void inflate(std::span<const std::uint8_t> in, std::uint64_t limit_bytes,
                 std::vector<std::uint8_t>& out, boost::system::error_code& error);

    /// Bytes of the client's history held now.
    std::size_t history_bytes() const { return history_size_; }

private:
    /// Keeps the last 2^client_window_bits bytes of `history_` + `message`.
    void remember(std::span<const std::uint8_t> message);

    int server_window_bits_;
    int client_window_bits_;
    /// The client's last decompressed bytes (context takeover), made on the first message.
    std::unique_ptr<std::uint8_t[]> history_;
    std::uint16_t history_size_ = 0;
};

} // namespace perch::gateway
