// The bytes one connection owes its peer, gathered between writes. Control packets are encoded
// into one contiguous buffer; a PUBLISH contributes its encoded header there and its shared
// payload by reference, so a fanned-out payload is never copied. Knows nothing about sockets:
// the connection turns begin_write() into one gather write.
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <vector>

#include <boost/asio/buffer.hpp>

#include "mqtt/bytes.hpp"
#include "mqtt/packet.hpp"

namespace perch::gateway {

/// A run of bytes in a write batch: either [offset, offset + length) of the batch's byte buffer,
/// or all of `payload` when that is not empty.
struct output_segment {
    std::size_t offset = 0;
    std::size_t length = 0;
    mqtt::shared_bytes payload;
};

/// The buffers of one output queue: what is pending and what is on the wire.
struct output_buffers {
    mqtt::byte_vector pending_bytes;
    std::vector<output_segment> pending_segments;
    mqtt::byte_vector writing_bytes;
    std::vector<output_segment> writing_segments;
    std::vector<boost::asio::const_buffer> writing_buffers;
    /// Encoded bytes appended since the last begin_write().
    std::size_t pending_size = 0;
    /// Bytes of the write in flight.
    std::size_t writing_size = 0;
    bool is_writing = false;
};

/// Buffers of queues that have nothing left to write, kept for the next queue that needs some
/// (one pool per worker, single-threaded): an idle connection holds no buffer, and a busy one
/// takes warm capacity instead of allocating.
class output_buffer_pool {
public:
    /// Buffer sets kept at most; more are freed.
    static constexpr std::size_t max_kept = 64;

    /// Empty buffers, from the pool when it has some.
    std::unique_ptr<output_buffers> take();
    /// Returns emptied buffers to the pool.
    void give(std::unique_ptr<output_buffers> released);
    std::size_t size() const { return kept_.size(); }

private:
    std::vector<std::unique_ptr<output_buffers>> kept_;
};

/// Double-buffered output of one connection: `pending` collects packets while `writing` is on
/// the wire. Single-threaded (owned by the connection's worker). Holds buffers only while it has
/// something to write.
class output_queue {
public:
    /// Payloads up to this size are copied next to their header rather than referenced: one
    /// buffer costs less than one more iovec.
    static constexpr std::size_t inline_payload_bytes = 512;
    /// Buffer capacity kept between writes; a burst that grew past it is released afterwards.
    static constexpr std::size_t retained_bytes = 16 * 1024;
    /// Segment capacity kept between writes (payloads referenced, not copied).
    static constexpr std::size_t retained_segments = 64;

    /// Takes its buffers from `pool` and gives them back when everything is written; `pool` must
    /// outlive every write and clear() (the worker's pool does).
    explicit output_queue(output_buffer_pool& pool) : pool_(&pool) {}

    /// Appends the encoding of `content` at `version`. A PUBLISH goes through append_publish.
    void append_packet(const mqtt::packet& content, mqtt::protocol_version version);

    /// Appends a PUBLISH: its header is encoded, its payload referenced (or copied when small).
    void append_publish(const mqtt::publish& content, mqtt::protocol_version version);

    /// Bytes appended since the last begin_write.
    std::size_t pending_bytes() const { return buffers_ ? buffers_->pending_size : 0; }
    /// Bytes handed out by the last begin_write and not yet released by end_write.
    std::size_t writing_bytes() const { return buffers_ ? buffers_->writing_size : 0; }
    /// True when there is something to write.
    bool has_pending() const { return pending_bytes() > 0; }
    /// True between begin_write and end_write.
    bool is_writing() const { return buffers_ && buffers_->is_writing; }
    /// True while the queue holds buffers (it has something pending or on the wire).
    bool holds_buffers() const { return buffers_ != nullptr; }

    /// Moves everything pending into the write batch and returns its buffers in order. Must not be
    /// called while writing or with nothing pending (checked by assert). The buffers stay valid
    /// until end_write.
    std::span<const boost::asio::const_buffer> begin_write();

    /// The write batch is on the wire (or abandoned): releases its bytes and payload references.
    void end_write();

    /// Drops everything, pending and writing (the connection is gone).
    void clear();

private:
    /// The buffers, taken from the pool if the queue holds none.
    output_buffers& buffers();
    /// Extends the last segment or starts a new one for bytes just appended to pending_bytes.
    void note_inline_bytes(std::size_t offset, std::size_t length);
    /// Gives the buffers back to the pool once nothing is pending or on the wire.
    void release_if_empty();

    output_buffer_pool* pool_;
    /// Lent by the pool while there is output pending or being written; it carries the sizes
    /// and the write flag too, so that an idle connection's queue is two pointers.
    std::unique_ptr<output_buffers> buffers_;
};

} // namespace perch::gateway
