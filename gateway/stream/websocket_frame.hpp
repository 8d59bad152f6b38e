// WebSocket frames (RFC 6455 section 5) as a server reads and writes them, without I/O: a client
// frame's header collected from bytes as they arrive and checked, payloads unmasked, and the
// headers of the server's own frames.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include <boost/asio/buffer.hpp>
#include <boost/system/error_code.hpp>

namespace perch::gateway {

enum class websocket_opcode : std::uint8_t {
    continuation = 0x0,
    text = 0x1,
    binary = 0x2,
    close = 0x8,
    ping = 0x9,
    pong = 0xa,
};

/// True for close, ping and pong.
constexpr bool is_control(websocket_opcode opcode) {
    return (static_cast<std::uint8_t>(opcode) & 0x08) != 0;
}

/// Largest payload of a control frame (RFC 6455 5.5).
inline constexpr std::uint64_t max_control_payload_bytes = 125;

/// Writes the header of a final, unmasked server frame, RSV1 set when `is_compressed`; returns
/// its size (2, 4 or 10 bytes).
std::size_t write_frame_header(std::array<std::uint8_t, 10>& header, websocket_opcode opcode,
                               bool is_compressed, std::uint64_t payload_bytes);

/// A client frame's header, checked.
struct client_frame_header {
    websocket_opcode opcode = websocket_opcode::binary;
    bool is_final = false;
    /// RSV1: the first frame of a compressed message (RFC 7692 6).
    bool is_compressed = false;
    std::uint64_t payload_bytes = 0;
    std::array<std::uint8_t, 4> mask{};
};

/// Collects a client frame's header (2 to 14 bytes) from bytes as they arrive.
class frame_header_reader {
public:
    /// Takes bytes from the front of `bytes` (removing them from it) until the header is
    /// complete; true once it is.
    bool take(std::span<const std::uint8_t>& bytes);

    /// The complete header, checked against the connection: `is_in_message` when a data message
    /// is open (only a continuation or a control frame may follow), `is_deflate` when
    /// permessage-deflate was negotiated. Fails with Beast's WebSocket error for the broken rule
    /// (each closes with 1002, protocol error); a text frame is not refused here.
    std::optional<client_frame_header> check(bool is_in_message, bool is_deflate,
                                             boost::system::error_code& error) const;

    /// Forgets the header, for the next frame.
    void clear() { size_ = 0; }

private:
    /// Header bytes needed, as far as the bytes taken tell.
    std::size_t needed() const;

    std::array<std::uint8_t, 14> bytes_{};
    std::uint8_t size_ = 0;
};

/// Writes `payload` unmasked with `mask` into `out` (as many bytes), starting at `mask_index` in
/// the mask and advancing it.
void unmask(std::span<const std::uint8_t> payload, const std::array<std::uint8_t, 4>& mask,
            std::uint8_t& mask_index, std::uint8_t* out);

/// The lengths of the MQTT packets `buffers` holds one after the other (each read from its fixed
/// header: type byte, then the Remaining Length), summing to their total size, so that each can
/// go out as a WebSocket message of its own. Bytes that do not read as whole packets (a Remaining
/// Length over four bytes, or a packet running past the end) are one last length.
std::vector<std::size_t> mqtt_packet_lengths(std::span<const boost::asio::const_buffer> buffers);

/// The part [offset, offset + length) of the bytes `buffers` holds one after the other, as
/// buffers, appended to `out`.
void slice_buffers(std::span<const boost::asio::const_buffer> buffers, std::size_t offset,
                   std::size_t length, std::vector<boost::asio::const_buffer>& out);

} // namespace perch::gateway
