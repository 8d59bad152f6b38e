// permessage-deflate with Beast's zlib port.
//
// Theory of operation
// - Memory: an idle connection holds no zlib state. Every message is compressed or inflated whole
//   in one call, with a compressor and an inflater per thread (a worker runs one connection at a
//   time), so the per-connection cost is the client's history alone: with context takeover the
//   client's compressor may refer back into earlier messages, up to its window, so perch keeps
//   the last 2^client_max_window_bits bytes it inflated (512 by default) and, before inflating
//   the next message, feeds them to the inflater as a stored deflate block whose output it drops.
//   Beast's inflater has no preset dictionary call; a stored block fills its window the same way.
// - perch's own messages are compressed without context takeover (server_no_context_takeover),
//   since keeping the compressor's history would need a compressor per connection.
#include "gateway/stream/websocket_deflate.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstring>

#include <boost/beast/websocket/error.hpp>
#include <boost/beast/zlib/deflate_stream.hpp>
#include <boost/beast/zlib/error.hpp>
#include <boost/beast/zlib/inflate_stream.hpp>

namespace perch::gateway {

namespace {

namespace zlib = boost::beast::zlib;

/// Window of perch's compressor when the client sets no server_max_window_bits: a message is
/// compressed on its own, so a window past the messages' size gains nothing, while every
/// message clears 2^(bits + 1) bytes of match chains.
constexpr int default_server_window_bits = 12;
/// Match hash of 2^(memLevel + 7) entries, cleared before every message too.
constexpr int compressor_mem_level = 5;
constexpr int compression_level = 6;
/// The tail RFC 7692 7.2.1 removes from, and 7.2.2 appends to, each compressed message.
constexpr std::array<std::uint8_t, 4> deflate_tail{0x00, 0x00, 0xff, 0xff};

std::string_view trim(std::string_view text) {
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) {
        text.remove_prefix(1);
    }
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) {
        text.remove_suffix(1);
    }
    if (text.size() >= 2 && text.front() == '"' && text.back() == '"') {
        text = text.substr(1, text.size() - 2);
    }
    return text;
}

/// The window bits of a parameter value, or nullopt when it is not 8 to 15.
std::optional<int> parse_window_bits(std::string_view value) {
    int bits = 0;
    const auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), bits);
    if (error != std::errc() || end != value.data() + value.size() || bits < 8 || bits > 15) {
        return std::nullopt;
    }
    return bits;
}

/// The agreement for one offer (its parameters after "permessage-deflate"), or none when perch
/// cannot honour it.
std::optional<deflate_agreement> negotiate_offer(std::string_view parameters,
                                                 int client_window_bits) {
    bool is_client_takeover_offered = true;
    std::optional<int> client_max_bits;
    bool offers_client_max_bits = false;
    std::optional<int> server_max_bits;
    bool has_server_no_takeover = false;
    while (!parameters.empty()) {
        const std::size_t semicolon = parameters.find(';');
        const std::string_view parameter = trim(parameters.substr(0, semicolon));
        parameters = semicolon == std::string_view::npos ? std::string_view()
                                                         : parameters.substr(semicolon + 1);
        if (parameter.empty()) {
            continue;
        }
        const std::size_t equals = parameter.find('=');
        const std::string_view name = trim(parameter.substr(0, equals));
        const std::optional<std::string_view> value =
            equals == std::string_view::npos ? std::nullopt
                                             : std::optional(trim(parameter.substr(equals + 1)));
        // RFC 7692 7.1: a repeated or unknown parameter, or a bad value, declines the offer.
        if (name == "server_no_context_takeover" && !value && !has_server_no_takeover) {
            has_server_no_takeover = true;
        } else if (name == "client_no_context_takeover" && !value && is_client_takeover_offered) {
            is_client_takeover_offered = false;
        } else if (name == "server_max_window_bits" && value && !server_max_bits) {
            server_max_bits = parse_window_bits(*value);
            // Beast's compressor (as zlib's) cannot keep within a 256-byte window.
            if (!server_max_bits || *server_max_bits < 9) {
                return std::nullopt;
            }
        } else if (name == "client_max_window_bits" && !offers_client_max_bits) {
            offers_client_max_bits = true;
            if (value) {
                client_max_bits = parse_window_bits(*value);
                if (!client_max_bits) {
                    return std::nullopt;
                }
            }
        } else {
            return std::nullopt;
        }
    }
    deflate_agreement agreement;
    agreement.response = "permessage-deflate; server_no_context_takeover";
    agreement.server_window_bits = default_server_window_bits;
    if (server_max_bits) {
        agreement.server_window_bits = std::min(*server_max_bits, default_server_window_bits);
        agreement.response += "; server_max_window_bits=" + std::to_string(*server_max_bits);
    }
    if (client_window_bits != 0 && is_client_takeover_offered && offers_client_max_bits) {
        // The client keeps its window within what the response says, so that much history is
        // enough; zlib cannot compress within 2^8 bytes and uses 2^9, so keep at least that.
        const int response_bits = std::min(client_max_bits.value_or(15), client_window_bits);
        agreement.response += "; client_max_window_bits=" + std::to_string(response_bits);
        agreement.client_window_bits = std::max(response_bits, 9);
    } else {
        agreement.client_window_bits = 0;
        agreement.response += "; client_no_context_takeover";
    }
    return agreement;
}

zlib::deflate_stream& thread_compressor() {
    thread_local zlib::deflate_stream compressor;
    return compressor;
}

zlib::inflate_stream& thread_inflater() {
    thread_local zlib::inflate_stream inflater;
    return inflater;
}

/// Runs `inflater` over `in` into `out` from `used`, growing `out` up to `limit_bytes` + 1
/// past `base`; returns the new `used`.
std::size_t run_inflater(zlib::inflate_stream& inflater, std::span<const std::uint8_t> in,
                         std::vector<std::uint8_t>& out, std::size_t base, std::size_t used,
                         std::uint64_t limit_bytes, boost::system::error_code& error) {
    zlib::z_params stream;
    stream.next_in = in.data();
    stream.avail_in = in.size();
    const std::uint64_t most_bytes = limit_bytes + 1;
    for (;;) {
        if (used == out.size()) {
            const std::uint64_t inflated = used - base;
            if (inflated >= most_bytes) {
                error = boost::beast::websocket::error::message_too_big;
                return used;
            }
            const std::uint64_t grown =
                std::min<std::uint64_t>(std::max<std::uint64_t>(inflated * 2, 256), most_bytes);
            out.resize(base + static_cast<std::size_t>(grown));
        }
        stream.next_out = out.data() + used;
        stream.avail_out = out.size() - used;
        inflater.write(stream, zlib::Flush::sync, error);
        used = out.size() - stream.avail_out;
        if (error == zlib::error::end_of_stream) {
            // A final block: the message ends there, whatever follows.
            error.clear();
            return used;
        }
        if (error == zlib::error::need_buffers) {
            error.clear();
            if (stream.avail_out != 0) {
                return used;
            }
            continue;
        }
        if (error) {
            return used;
        }
        if (stream.avail_in == 0 && stream.avail_out != 0) {
            return used;
        }
    }
}

} // namespace

std::optional<deflate_agreement> negotiate_deflate(std::string_view extensions,
                                                   int client_window_bits) {
    while (!extensions.empty()) {
        const std::size_t comma = extensions.find(',');
        const std::string_view offer = extensions.substr(0, comma);
        extensions =
            comma == std::string_view::npos ? std::string_view() : extensions.substr(comma + 1);
        const std::size_t semicolon = offer.find(';');
        if (trim(offer.substr(0, semicolon)) != "permessage-deflate") {
            continue;
        }
        if (auto agreement =
                negotiate_offer(semicolon == std::string_view::npos ? std::string_view()
                                                                    : offer.substr(semicolon + 1),
                                client_window_bits)) {
            return agreement;
        }
    }
    return std::nullopt;
}

message_deflater::message_deflater(const deflate_agreement& agreement)
    : server_window_bits_(agreement.server_window_bits),
      client_window_bits_(agreement.client_window_bits) {}

void message_deflater::compress(std::span<const boost::asio::const_buffer> buffers,
                                std::vector<std::uint8_t>& out) const {
    zlib::deflate_stream& compressor = thread_compressor();
    compressor.reset(compression_level, server_window_bits_, compressor_mem_level,
                     zlib::Strategy::normal);
    std::size_t total_bytes = 0;
    for (const auto& buffer : buffers) {
        total_bytes += buffer.size();
    }
    out.resize(compressor.upper_bound(total_bytes) + 16);
    zlib::z_params stream;
    stream.next_out = out.data();
    stream.avail_out = out.size();
    const auto write = [&](const void* data, std::size_t size, zlib::Flush flush) {
        stream.next_in = data;
        stream.avail_in = size;
        for (;;) {
            boost::system::error_code error;
            compressor.write(stream, flush, error);
            if (stream.avail_out != 0 && (flush != zlib::Flush::none || stream.avail_in == 0)) {
                return;
            }
            if (stream.avail_out == 0) {
                const std::size_t used = out.size();
                out.resize(used * 2);
                stream.next_out = out.data() + used;
                stream.avail_out = out.size() - used;
            }
        }
    };
    for (const auto& buffer : buffers) {
        if (buffer.size() != 0) {
            write(buffer.data(), buffer.size(), zlib::Flush::none);
        }
    }
    write(nullptr, 0, zlib::Flush::sync);
    out.resize(out.size() - stream.avail_out);
    if (out.size() >= deflate_tail.size() &&
        std::equal(deflate_tail.begin(), deflate_tail.end(), out.end() - deflate_tail.size())) {
        out.resize(out.size() - deflate_tail.size());
    }
}

void message_deflater::inflate(std::span<const std::uint8_t> in, std::uint64_t limit_bytes,
                               std::vector<std::uint8_t>& out, boost::system::error_code& error) {
    error.clear();
    zlib::inflate_stream& inflater = thread_inflater();
    inflater.reset(15);
    if (history_size_ != 0) {
        // A stored block (BFINAL 0, BTYPE 00, then LEN and its complement) carrying the history.
        std::vector<std::uint8_t> primer(5 + history_size_);
        primer[0] = 0;
        primer[1] = static_cast<std::uint8_t>(history_size_ & 0xff);
        primer[2] = static_cast<std::uint8_t>(history_size_ >> 8);
        primer[3] = static_cast<std::uint8_t>(~primer[1]);
        primer[4] = static_cast<std::uint8_t>(~primer[2]);
        std::memcpy(primer.data() + 5, history_.get(), history_size_);
        std::vector<std::uint8_t> dropped(history_size_);
        zlib::z_params stream;
        stream.next_in = primer.data();
        stream.avail_in = primer.size();
        stream.next_out = dropped.data();
        stream.avail_out = dropped.size();
        inflater.write(stream, zlib::Flush::sync, error);
        error.clear();
    }
    const std::size_t base = out.size();
    std::size_t used = run_inflater(inflater, in, out, base, base, limit_bytes, error);
    if (!error) {
        used = run_inflater(inflater, deflate_tail, out, base, used, limit_bytes, error);
    }
    if (!error && used - base > limit_bytes) {
        error = boost::beast::websocket::error::message_too_big;
    }
    out.resize(used);
    if (!error && client_window_bits_ != 0) {
        remember(std::span(out).subspan(base));
    }
}

void message_deflater::remember(std::span<const std::uint8_t> message) {
    const std::size_t window_bytes = std::size_t{1} << client_window_bits_;
    if (!history_) {
        history_ = std::make_unique<std::uint8_t[]>(window_bytes);
    }
    if (message.size() >= window_bytes) {
        std::memcpy(history_.get(), message.data() + message.size() - window_bytes, window_bytes);
        history_size_ = static_cast<std::uint16_t>(window_bytes);
        return;
    }
    const std::size_t kept = std::min<std::size_t>(history_size_, window_bytes - message.size());
    std::memmove(history_.get(), history_.get() + history_size_ - kept, kept);
    std::memcpy(history_.get() + kept, message.data(), message.size());
    history_size_ = static_cast<std::uint16_t>(kept + message.size());
}

} // namespace perch::gateway
