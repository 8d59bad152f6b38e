// The messages of one WebSocket client as they arrive, without I/O: frames parsed from bytes in
// pieces of any size (websocket_frame.hpp), unmasked, assembled into whole messages within a
// size limit, and inflated when permessage-deflate compressed them.
//
// Theory of operation
// - parse() takes bytes until something needs the transport: a whole data message
//   (take_message), a ping to answer with its payload, or a failure with the close code to send.
//   Bytes past that point are left to the caller (`consumed`) for the next call.
// - A message is handed over only once complete, so one over the limit is refused before any of
//   it reaches the session. A compressed one is kept compressed until its last frame and
//   inflated in one go, and the limit applies to the inflated size: a small compressed message
//   cannot make the server hold a large one. Control frames never exceed 125 bytes.
// - Failures: a protocol error closes with 1002, a text message with 1003 (MQTT travels in
//   binary messages only [MQTT-6.0.0-1]), a message over the limit with 1009, data that does not
//   inflate with 1007, the client's close with its own code (1002 when that code is one no
//   endpoint may send).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include <boost/system/error_code.hpp>

#include "gateway/stream/websocket_deflate.hpp"
#include "gateway/stream/websocket_frame.hpp"

namespace perch::gateway {

class websocket_message_reader {
public:
    /// What parse() stopped at.
    enum class step {
        /// Every byte was taken; no message is complete yet.
        need_more,
        /// A data message is complete: take_message().
        message_done,
        /// A ping arrived: answer with a pong carrying control_payload().
        ping,
        /// The connection must close: failure() and close_code().
        failed,
    };

    explicit websocket_message_reader(std::uint64_t message_limit_bytes)
        : message_limit_bytes_(message_limit_bytes) {}

    /// The largest data message taken from now on (after decompression).
    void set_message_limit(std::uint64_t bytes) { message_limit_bytes_ = bytes; }

    /// Parses `bytes` until a step other than need_more; `consumed` says how many bytes that took
    /// (all of them for need_more). `deflater` is the negotiated permessage-deflate, or null.
    step parse(std::span<const std::uint8_t> bytes, message_deflater* deflater,
               std::size_t& consumed);

    /// The message after message_done; the reader holds no message afterwards.
    std::vector<std::uint8_t> take_message() { return std::move(message_); }

    /// The ping's payload after step::ping.
    std::span<const std::uint8_t> control_payload() const { return control_payload_; }
    /// Frees the ping's payload once the pong holds a copy: an idle connection keeps none.
    void release_control_payload() { std::vector<std::uint8_t>().swap(control_payload_); }

    /// Why the connection must close after step::failed: Beast's WebSocket error (closed for the
    /// client's own close frame, operation_not_supported for a text message).
    const boost::system::error_code& failure() const { return failure_; }
    /// The close code to send after step::failed.
    std::uint16_t close_code() const { return close_code_; }

private:
    /// Starts the frame whose header header_reader_ holds; false when that failed.
    bool begin_frame(bool is_deflate);
    /// Unmasks `payload` into the message, the compressed message or the control payload; false
    /// when that failed.
    bool take_payload(std::span<const std::uint8_t> payload);
    /// Acts on a complete frame.
    step end_frame(message_deflater* deflater);
    /// Records a failure; always false.
    bool fail(const boost::system::error_code& error, std::uint16_t code);

    std::uint64_t message_limit_bytes_;
    std::vector<std::uint8_t> message_;
    std::vector<std::uint8_t> compressed_;
    std::vector<std::uint8_t> control_payload_;
    std::uint64_t payload_left_ = 0;
    frame_header_reader header_reader_;
    /// The frame being read.
    client_frame_header frame_;
    std::uint8_t mask_index_ = 0;
    bool is_in_frame_ = false;
    bool is_in_message_ = false;
    bool is_message_compressed_ = false;
    boost::system::error_code failure_;
    std::uint16_t close_code_ = 0;
};

} // namespace perch::gateway
