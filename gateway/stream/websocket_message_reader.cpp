#include "gateway/stream/websocket_message_reader.hpp"

#include <algorithm>

#include <boost/asio/error.hpp>
#include <boost/beast/websocket/error.hpp>
#include <boost/beast/websocket/rfc6455.hpp>

namespace perch::gateway {

namespace websocket = boost::beast::websocket;

namespace {

/// True for the close codes an endpoint may send (RFC 6455 7.4): those defined for use in a
/// close frame, and the ranges left to libraries and applications.
bool is_sendable_close_code(std::uint16_t code) {
    return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
           (code >= 3000 && code <= 4999);
}

} // namespace

websocket_message_reader::step websocket_message_reader::parse(std::span<const std::uint8_t> bytes,
                                                               message_deflater* deflater,
                                                               std::size_t& consumed) {
    const std::size_t total_bytes = bytes.size();
    consumed = total_bytes;
    while (!bytes.empty() || (is_in_frame_ && payload_left_ == 0)) {
        if (!is_in_frame_) {
            if (!header_reader_.take(bytes)) {
                return step::need_more;
            }
            if (!begin_frame(deflater != nullptr)) {
                return step::failed;
            }
            continue;
        }
        const auto count =
            static_cast<std::size_t>(std::min<std::uint64_t>(payload_left_, bytes.size()));
        if (!take_payload(bytes.first(count))) {
            return step::failed;
        }
        bytes = bytes.subspan(count);
        if (payload_left_ != 0) {
            continue;
        }
        is_in_frame_ = false;
        header_reader_.clear();
        const step ended = end_frame(deflater);
        if (ended != step::need_more) {
            consumed = total_bytes - bytes.size();
            return ended;
        }
    }
    return step::need_more;
}

bool websocket_message_reader::begin_frame(bool is_deflate) {
    boost::system::error_code error;
    const auto header = header_reader_.check(is_in_message_, is_deflate, error);
    if (!header) {
        return fail(error, websocket::close_code::protocol_error);
    }
    frame_ = *header;
    mask_index_ = 0;
    if (is_control(frame_.opcode)) {
        control_payload_.clear();
    } else if (frame_.opcode != websocket_opcode::continuation) {
        if (frame_.opcode == websocket_opcode::text) {
            return fail(boost::asio::error::operation_not_supported,
                        websocket::close_code::unknown_data);
        }
        is_in_message_ = true;
        is_message_compressed_ = frame_.is_compressed;
    }
    payload_left_ = frame_.payload_bytes;
    is_in_frame_ = true;
    return true;
}

bool websocket_message_reader::take_payload(std::span<const std::uint8_t> payload) {
    payload_left_ -= payload.size();
    const bool is_control_frame = is_control(frame_.opcode);
    std::vector<std::uint8_t>& target = is_control_frame         ? control_payload_
                                        : is_message_compressed_ ? compressed_
                                                                 : message_;
    // Data that does not compress comes out of deflate slightly larger (5 bytes per stored
    // block): a compressed message may be 1/1024 larger than the limit it inflates within.
    const std::uint64_t limit_bytes = is_control_frame ? max_control_payload_bytes
                                      : is_message_compressed_
                                          ? message_limit_bytes_ + message_limit_bytes_ / 1024 + 64
                                          : message_limit_bytes_;
    if (target.size() + payload.size() > limit_bytes) {
        return fail(websocket::error::message_too_big, websocket::close_code::too_big);
    }
    const std::size_t base = target.size();
    target.resize(base + payload.size());
    unmask(payload, frame_.mask, mask_index_, target.data() + base);
    return true;
}

websocket_message_reader::step websocket_message_reader::end_frame(message_deflater* deflater) {
    if (frame_.opcode == websocket_opcode::ping) {
        return step::ping;
    }
    if (frame_.opcode == websocket_opcode::pong) {
        std::vector<std::uint8_t>().swap(control_payload_);
        return step::need_more;
    }
    if (frame_.opcode == websocket_opcode::close) {
        // Echo the client's code (RFC 6455 5.5.1), then end; a code no endpoint may send, or a
        // body too short to hold one, is a protocol error (7.4).
        std::uint16_t code = websocket::close_code::normal;
        if (control_payload_.size() == 1) {
            code = websocket::close_code::protocol_error;
        } else if (control_payload_.size() >= 2) {
            code = static_cast<std::uint16_t>((control_payload_[0] << 8) | control_payload_[1]);
            if (!is_sendable_close_code(code)) {
                code = websocket::close_code::protocol_error;
            }
        }
        std::vector<std::uint8_t>().swap(control_payload_);
        fail(websocket::error::closed, code);
        return step::failed;
    }
    if (!frame_.is_final) {
        return step::need_more;
    }
    is_in_message_ = false;
    if (is_message_compressed_) {
        // begin_frame refuses RSV1 unless deflate was negotiated: deflater is set here.
        boost::system::error_code error;
        deflater->inflate(compressed_, message_limit_bytes_, message_, error);
        std::vector<std::uint8_t>().swap(compressed_);
        if (error == websocket::error::message_too_big) {
            fail(error, websocket::close_code::too_big);
            return step::failed;
        }
        if (error) {
            fail(error, websocket::close_code::bad_payload);
            return step::failed;
        }
    }
    return step::message_done;
}

bool websocket_message_reader::fail(const boost::system::error_code& error, std::uint16_t code) {
    failure_ = error;
    close_code_ = code;
    return false;
}

} // namespace perch::gateway
