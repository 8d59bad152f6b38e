// The bytes one connection owes its peer, gathered between writes.
#include "gateway/output_queue.hpp"

#include <cassert>
#include <cstring>

#include "mqtt/encoder.hpp"

namespace perch::gateway {

void output_queue::note_inline_bytes(std::size_t offset, std::size_t length) {
    if (!pending_segments_.empty()) {
        segment& last = pending_segments_.back();
        if (last.payload.empty() && last.offset + last.length == offset) {
            last.length += length;
            pending_size_ += length;
            return;
        }
    }
    pending_segments_.push_back(segment{offset, length, {}});
    pending_size_ += length;
}

void output_queue::append_packet(const mqtt::packet& content, mqtt::protocol_version version) {
    if (const auto* message = std::get_if<mqtt::publish>(&content)) {
        append_publish(*message, version);
        return;
    }
    const std::size_t offset = pending_bytes_.size();
    mqtt::encode_append(content, version, pending_bytes_);
    note_inline_bytes(offset, pending_bytes_.size() - offset);
}

void output_queue::append_publish(const mqtt::publish& content, mqtt::protocol_version version) {
    const std::size_t header_size = mqtt::publish_header_size(content, version);
    const std::size_t payload_size = content.payload.size();
    const bool is_inline = payload_size <= inline_payload_bytes;
    const std::size_t offset = pending_bytes_.size();
    pending_bytes_.resize(offset + header_size + (is_inline ? payload_size : 0));
    const std::size_t written = mqtt::encode_publish_header(
        content, version, std::span<std::uint8_t>(pending_bytes_.data() + offset, header_size));
    assert(written == header_size);
    if (is_inline) {
        if (payload_size > 0) {
            std::memcpy(pending_bytes_.data() + offset + written, content.payload.data(),
                        payload_size);
        }
        note_inline_bytes(offset, written + payload_size);
        return;
    }
    note_inline_bytes(offset, written);
    pending_segments_.push_back(segment{0, payload_size, content.payload});
    pending_size_ += payload_size;
}

std::span<const boost::asio::const_buffer> output_queue::begin_write() {
    assert(!is_writing_);
    writing_bytes_.swap(pending_bytes_);
    writing_segments_.swap(pending_segments_);
    writing_size_ = pending_size_;
    pending_size_ = 0;
    is_writing_ = true;

    writing_buffers_.clear();
    for (const segment& part : writing_segments_) {
        if (part.payload.empty()) {
            writing_buffers_.emplace_back(writing_bytes_.data() + part.offset, part.length);
        } else {
            writing_buffers_.emplace_back(part.payload.data(), part.payload.size());
        }
    }
    return writing_buffers_;
}

void output_queue::end_write() {
    // Keep the capacity of the byte buffer, so that the next batch reuses it after the swap,
    // unless a burst grew it: then it shrinks back and an idle connection holds little.
    writing_bytes_.clear();
    writing_segments_.clear();
    writing_buffers_.clear();
    if (writing_bytes_.capacity() > retained_bytes) {
        mqtt::byte_vector().swap(writing_bytes_);
    }
    if (writing_segments_.capacity() > retained_segments) {
        std::vector<segment>().swap(writing_segments_);
        std::vector<boost::asio::const_buffer>().swap(writing_buffers_);
    }
    writing_size_ = 0;
    is_writing_ = false;
}

void output_queue::clear() {
    end_write();
    mqtt::byte_vector().swap(pending_bytes_);
    std::vector<segment>().swap(pending_segments_);
    pending_size_ = 0;
}

} // namespace perch::gateway
