// The bytes one connection owes its peer, gathered between writes.
#include "gateway/stream/output_queue.hpp"

#include <cassert>
#include <cstring>

#include "mqtt/encoder.hpp"

namespace perch::gateway {

std::unique_ptr<output_buffers> output_buffer_pool::take() {
    if (kept_.empty()) {
        return std::make_unique<output_buffers>();
    }
    std::unique_ptr<output_buffers> warm = std::move(kept_.back());
    kept_.pop_back();
    return warm;
}

void output_buffer_pool::give(std::unique_ptr<output_buffers> released) {
    if (kept_.size() < max_kept) {
        kept_.push_back(std::move(released));
    }
}

output_buffers& output_queue::buffers() {
    if (!buffers_) {
        buffers_ = pool_->take();
    }
    return *buffers_;
}

void output_queue::note_inline_bytes(std::size_t offset, std::size_t length) {
    std::vector<output_segment>& segments = buffers_->pending_segments;
    if (!segments.empty()) {
        output_segment& last = segments.back();
        if (last.payload.empty() && last.offset + last.length == offset) {
            last.length += length;
            buffers_->pending_size += length;
            return;
        }
    }
    segments.push_back(output_segment{offset, length, {}});
    buffers_->pending_size += length;
}

void output_queue::append_packet(const mqtt::packet& content, mqtt::protocol_version version) {
    if (const auto* message = std::get_if<mqtt::publish>(&content)) {
        append_publish(*message, version);
        return;
    }
    mqtt::byte_vector& bytes = buffers().pending_bytes;
    const std::size_t offset = bytes.size();
    mqtt::encode_append(content, version, bytes);
    note_inline_bytes(offset, bytes.size() - offset);
}

void output_queue::append_publish(const mqtt::publish& content, mqtt::protocol_version version) {
    mqtt::byte_vector& bytes = buffers().pending_bytes;
    const std::size_t header_size = mqtt::publish_header_size(content, version);
    const std::size_t payload_size = content.payload.size();
    const bool is_inline = payload_size <= inline_payload_bytes;
    const std::size_t offset = bytes.size();
    bytes.resize(offset + header_size + (is_inline ? payload_size : 0));
    const std::size_t written = mqtt::encode_publish_header(
        content, version, std::span<std::uint8_t>(bytes.data() + offset, header_size));
    assert(written == header_size);
    if (is_inline) {
        if (payload_size > 0) {
            std::memcpy(bytes.data() + offset + written, content.payload.data(), payload_size);
        }
        note_inline_bytes(offset, written + payload_size);
        return;
    }
    note_inline_bytes(offset, written);
    buffers_->pending_segments.push_back(output_segment{0, payload_size, content.payload});
    buffers_->pending_size += payload_size;
}

std::span<const boost::asio::const_buffer> output_queue::begin_write() {
    output_buffers& held = buffers();
    assert(!held.is_writing);
    held.writing_bytes.swap(held.pending_bytes);
    held.writing_segments.swap(held.pending_segments);
    held.writing_size = held.pending_size;
    held.pending_size = 0;
    held.is_writing = true;

    held.writing_buffers.clear();
    for (const output_segment& part : held.writing_segments) {
        if (part.payload.empty()) {
            held.writing_buffers.emplace_back(held.writing_bytes.data() + part.offset, part.length);
        } else {
            held.writing_buffers.emplace_back(part.payload.data(), part.payload.size());
        }
    }
    return held.writing_buffers;
}

namespace {

/// Empties one batch's bytes and segments, keeping their capacity (the next batch reuses it after
/// the swap) unless a burst grew it: then it shrinks back and a pooled buffer set stays small.
void empty_batch(mqtt::byte_vector& bytes, std::vector<output_segment>& segments) {
    bytes.clear();
    segments.clear();
    if (bytes.capacity() > output_queue::retained_bytes) {
        mqtt::byte_vector().swap(bytes);
    }
    if (segments.capacity() > output_queue::retained_segments) {
        std::vector<output_segment>().swap(segments);
    }
}

} // namespace

void output_queue::end_write() {
    if (!buffers_) {
        return;
    }
    output_buffers& held = *buffers_;
    held.writing_size = 0;
    held.is_writing = false;
    empty_batch(held.writing_bytes, held.writing_segments);
    held.writing_buffers.clear();
    if (held.writing_buffers.capacity() > retained_segments) {
        std::vector<boost::asio::const_buffer>().swap(held.writing_buffers);
    }
    release_if_empty();
}

void output_queue::clear() {
    if (buffers_) {
        empty_batch(buffers_->pending_bytes, buffers_->pending_segments);
        buffers_->pending_size = 0;
    }
    end_write();
}

void output_queue::release_if_empty() {
    if (buffers_ && buffers_->pending_size == 0 && !buffers_->is_writing) {
        buffers_->pending_bytes.clear();
        buffers_->pending_segments.clear();
        pool_->give(std::move(buffers_));
    }
}

} // namespace perch::gateway
