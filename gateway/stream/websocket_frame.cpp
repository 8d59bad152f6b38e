// WebSocket frame headers and masking.
#include "gateway/stream/websocket_frame.hpp"

#include <algorithm>

#include <boost/beast/websocket/error.hpp>

namespace perch::gateway {

namespace websocket = boost::beast::websocket;

std::size_t write_frame_header(std::array<std::uint8_t, 10>& header, websocket_opcode opcode,
                               bool is_compressed, std::uint64_t payload_bytes) {
    header[0] = static_cast<std::uint8_t>(0x80 | (is_compressed ? 0x40 : 0) |
                                          static_cast<std::uint8_t>(opcode));
    if (payload_bytes < 126) {
        header[1] = static_cast<std::uint8_t>(payload_bytes);
        return 2;
    }
    if (payload_bytes <= 0xffff) {
        header[1] = 126;
        header[2] = static_cast<std::uint8_t>(payload_bytes >> 8);
        header[3] = static_cast<std::uint8_t>(payload_bytes);
        return 4;
    }
    header[1] = 127;
    for (int index = 0; index < 8; ++index) {
        header[2 + index] = static_cast<std::uint8_t>(payload_bytes >> (56 - 8 * index));
    }
    return 10;
}

std::size_t frame_header_reader::needed() const {
    if (size_ < 2) {
        return 2;
    }
    const std::uint8_t length = bytes_[1] & 0x7f;
    const std::size_t mask_bytes = (bytes_[1] & 0x80) != 0 ? 4 : 0;
    return 2 + (length == 126 ? 2 : length == 127 ? 8 : 0) + mask_bytes;
}

bool frame_header_reader::take(std::span<const std::uint8_t>& bytes) {
    while (!bytes.empty() && size_ < needed()) {
        bytes_[size_++] = bytes.front();
        bytes = bytes.subspan(1);
    }
    return size_ == needed();
}

std::optional<client_frame_header>
frame_header_reader::check(bool is_in_message, bool is_deflate,
                           boost::system::error_code& error) const {
    client_frame_header header;
    header.is_final = (bytes_[0] & 0x80) != 0;
    header.is_compressed = (bytes_[0] & 0x40) != 0;
    header.opcode = static_cast<websocket_opcode>(bytes_[0] & 0x0f);
    const auto fail = [&error](websocket::error broken) {
        error = broken;
        return std::nullopt;
    };
    if ((bytes_[0] & 0x30) != 0) {
        return fail(websocket::error::bad_reserved_bits);
    }
    if ((bytes_[1] & 0x80) == 0) {
        // Clients mask every frame (RFC 6455 5.1).
        return fail(websocket::error::bad_unmasked_frame);
    }
    header.payload_bytes = bytes_[1] & 0x7f;
    std::size_t offset = 2;
    if (header.payload_bytes == 126) {
        header.payload_bytes = (std::uint64_t{bytes_[2]} << 8) | bytes_[3];
        offset = 4;
    } else if (header.payload_bytes == 127) {
        header.payload_bytes = 0;
        for (std::size_t index = 0; index < 8; ++index) {
            header.payload_bytes = (header.payload_bytes << 8) | bytes_[2 + index];
        }
        offset = 10;
        if ((header.payload_bytes >> 63) != 0) {
            return fail(websocket::error::bad_size);
        }
    }
    std::copy_n(bytes_.begin() + static_cast<std::ptrdiff_t>(offset), 4, header.mask.begin());
    switch (header.opcode) {
    case websocket_opcode::close:
    case websocket_opcode::ping:
    case websocket_opcode::pong:
        if (!header.is_final || header.is_compressed) {
            return fail(websocket::error::bad_control_fragment);
        }
        if (header.payload_bytes > max_control_payload_bytes) {
            return fail(websocket::error::bad_control_size);
        }
        return header;
    case websocket_opcode::continuation:
        // RSV1 marks the first frame of a compressed message only.
        if (!is_in_message || header.is_compressed) {
            return fail(websocket::error::bad_continuation);
        }
        return header;
    case websocket_opcode::text:
    case websocket_opcode::binary:
        if (is_in_message) {
            return fail(websocket::error::bad_data_frame);
        }
        if (header.is_compressed && !is_deflate) {
            return fail(websocket::error::bad_reserved_bits);
        }
        return header;
    }
    return fail(websocket::error::bad_opcode);
}

void unmask(std::span<const std::uint8_t> payload, const std::array<std::uint8_t, 4>& mask,
            std::uint8_t& mask_index, std::uint8_t* out) {
    for (const std::uint8_t byte : payload) {
        *out++ = byte ^ mask[mask_index];
        mask_index = (mask_index + 1) & 3;
    }
}

std::vector<std::size_t> mqtt_packet_lengths(std::span<const boost::asio::const_buffer> buffers) {
    std::size_t total = 0;
    for (const auto& buffer : buffers) {
        total += buffer.size();
    }
    // The byte at `offset` of the concatenation; buffers are walked forward only.
    std::size_t buffer_index = 0;
    std::size_t buffer_start = 0;
    const auto byte_at = [&](std::size_t offset) {
        while (offset >= buffer_start + buffers[buffer_index].size()) {
            buffer_start += buffers[buffer_index].size();
            ++buffer_index;
        }
        return static_cast<const std::uint8_t*>(
            buffers[buffer_index].data())[offset - buffer_start];
    };
    std::vector<std::size_t> lengths;
    std::size_t offset = 0;
    while (offset < total) {
        std::size_t remaining = 0;
        std::size_t header = 1;
        bool is_complete = false;
        for (int shift = 0; shift < 28 && offset + header < total; shift += 7) {
            const std::uint8_t digit = byte_at(offset + header);
            ++header;
            remaining |= static_cast<std::size_t>(digit & 0x7f) << shift;
            if ((digit & 0x80) == 0) {
                is_complete = true;
                break;
            }
        }
        if (!is_complete || remaining > total - offset - header) {
            lengths.push_back(total - offset);
            break;
        }
        lengths.push_back(header + remaining);
        offset += header + remaining;
    }
    return lengths;
}

void slice_buffers(std::span<const boost::asio::const_buffer> buffers, std::size_t offset,
                   std::size_t length, std::vector<boost::asio::const_buffer>& out) {
    for (const auto& buffer : buffers) {
        if (length == 0) {
            return;
        }
        if (offset >= buffer.size()) {
            offset -= buffer.size();
            continue;
        }
        const std::size_t taken = std::min(length, buffer.size() - offset);
        out.emplace_back(static_cast<const std::uint8_t*>(buffer.data()) + offset, taken);
        length -= taken;
        offset = 0;
    }
}

} // namespace perch::gateway
