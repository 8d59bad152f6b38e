// Relay envelopes: fields as length-prefixed strings and big-endian numbers after a version and
// a kind byte, then the HMAC-SHA256 tag (wolfCrypt) of everything before it.
#include "gateway/chat/relay_envelope.hpp"

#include <algorithm>

#include <wolfssl/options.h>
#include <wolfssl/wolfcrypt/hmac.h>

namespace perch::gateway {
namespace {

constexpr std::uint8_t envelope_version = 1;
constexpr std::uint8_t kind_message = 'm';
constexpr std::uint8_t kind_presence = 'p';

class envelope_writer {
public:
    void byte(std::uint8_t value) { bytes_.push_back(value); }
    void number(std::uint64_t value) {
        for (int shift = 56; shift >= 0; shift -= 8) {
            bytes_.push_back(static_cast<std::uint8_t>(value >> shift));
        }
    }
    void text(std::string_view value) {
        number(value.size());
        bytes_.insert(bytes_.end(), value.begin(), value.end());
    }
    void blob(std::span<const std::uint8_t> value) {
        number(value.size());
        bytes_.insert(bytes_.end(), value.begin(), value.end());
    }
    std::vector<std::uint8_t>& bytes() { return bytes_; }

private:
    std::vector<std::uint8_t> bytes_;
};

/// Reads fields until one is missing; then every later read fails too (is_ok false).
class envelope_reader {
public:
    explicit envelope_reader(std::span<const std::uint8_t> bytes) : bytes_(bytes) {}
    bool is_ok() const { return is_ok_; }
    bool is_at_end() const { return position_ == bytes_.size(); }
    std::uint8_t byte() {
        if (!take(1)) {
            return 0;
        }
        return bytes_[position_ - 1];
    }
    std::uint64_t number() {
        if (!take(8)) {
            return 0;
        }
        std::uint64_t value = 0;
        for (std::size_t index = position_ - 8; index < position_; ++index) {
            value = (value << 8) | bytes_[index];
        }
        return value;
    }
    std::string text() {
        const auto view = blob();
        return std::string(view.begin(), view.end());
    }
    std::span<const std::uint8_t> blob() {
        const std::uint64_t size = number();
        if (!is_ok_ || size > bytes_.size() - position_ || !take(size)) {
            is_ok_ = false;
            return {};
        }
        return bytes_.subspan(position_ - size, size);
    }

private:
    bool take(std::size_t count) {
        if (!is_ok_ || count > bytes_.size() - position_) {
            is_ok_ = false;
            return false;
        }
        position_ += count;
        return true;
    }
    std::span<const std::uint8_t> bytes_;
    std::size_t position_ = 0;
    bool is_ok_ = true;
};

void write_message(envelope_writer& out, const relay_message& message) {
    out.byte(kind_message);
    out.text(message.origin);
    out.text(message.conversation);
    out.number(message.id);
    out.number(message.ts_unix_ms);
    out.text(message.sender);
    out.text(message.topic);
    out.byte(message.qos);
    out.byte(message.payload_format_indicator ? 1 : 0);
    out.byte(message.payload_format_indicator.value_or(0));
    out.byte(message.content_type ? 1 : 0);
    out.text(message.content_type.value_or(std::string()));
    out.byte(message.response_topic ? 1 : 0);
    out.text(message.response_topic.value_or(std::string()));
    out.byte(message.correlation_data ? 1 : 0);
    out.blob(message.correlation_data.value_or(std::vector<std::uint8_t>()));
    out.number(message.user_properties.size());
    for (const auto& [name, value] : message.user_properties) {
        out.text(name);
        out.text(value);
    }
    out.blob(message.payload);
}

void write_presence(envelope_writer& out, const relay_presence& presence) {
    out.byte(kind_presence);
    out.text(presence.origin);
    out.byte(static_cast<std::uint8_t>((presence.is_snapshot ? 1 : 0) |
                                       (presence.asks_snapshots ? 2 : 0)));
    out.number(presence.device_counts.size());
    for (const auto& [user, count] : presence.device_counts) {
        out.text(user);
        out.number(count);
    }
}

relay_message read_message(envelope_reader& in) {
    relay_message message;
    message.origin = in.text();
    message.conversation = in.text();
    message.id = in.number();
    message.ts_unix_ms = in.number();
    message.sender = in.text();
    message.topic = in.text();
    message.qos = in.byte();
    const bool has_format = in.byte() != 0;
    const std::uint8_t format = in.byte();
    if (has_format) {
        message.payload_format_indicator = format;
    }
    const bool has_content_type = in.byte() != 0;
    std::string content_type = in.text();
    if (has_content_type) {
        message.content_type = std::move(content_type);
    }
    const bool has_response_topic = in.byte() != 0;
    std::string response_topic = in.text();
    if (has_response_topic) {
        message.response_topic = std::move(response_topic);
    }
    const bool has_correlation_data = in.byte() != 0;
    const auto correlation_data = in.blob();
    if (has_correlation_data) {
        message.correlation_data.emplace(correlation_data.begin(), correlation_data.end());
    }
    const std::uint64_t properties = in.number();
    for (std::uint64_t index = 0; index < properties && in.is_ok(); ++index) {
        std::string name = in.text();
        message.user_properties.emplace_back(std::move(name), in.text());
    }
    const auto payload = in.blob();
    message.payload.assign(payload.begin(), payload.end());
    return message;
}

relay_presence read_presence(envelope_reader& in) {
    relay_presence presence;
    presence.origin = in.text();
    const std::uint8_t flags = in.byte();
    presence.is_snapshot = (flags & 1) != 0;
    presence.asks_snapshots = (flags & 2) != 0;
    const std::uint64_t counts = in.number();
    for (std::uint64_t index = 0; index < counts && in.is_ok(); ++index) {
        std::string user = in.text();
        presence.device_counts.emplace_back(std::move(user), in.number());
    }
    return presence;
}

bool equal_in_constant_time(std::span<const std::uint8_t> first,
                            std::span<const std::uint8_t> second) {
    if (first.size() != second.size()) {
        return false;
    }
    std::uint8_t difference = 0;
    for (std::size_t index = 0; index < first.size(); ++index) {
        difference |= static_cast<std::uint8_t>(first[index] ^ second[index]);
    }
    return difference == 0;
}

} // namespace

std::array<std::uint8_t, relay_key_bytes> relay_tag(std::span<const std::uint8_t> bytes,
                                                    std::span<const std::uint8_t> key) {
    std::array<std::uint8_t, relay_key_bytes> tag{};
    Hmac hmac;
    bool is_done = wc_HmacInit(&hmac, nullptr, INVALID_DEVID) == 0;
    if (is_done) {
        is_done =
            wc_HmacSetKey(&hmac, WC_SHA256, key.data(), static_cast<word32>(key.size())) == 0 &&
            wc_HmacUpdate(&hmac, bytes.data(), static_cast<word32>(bytes.size())) == 0 &&
            wc_HmacFinal(&hmac, tag.data()) == 0;
        wc_HmacFree(&hmac);
    }
    if (!is_done) {
        // No tag could be made: an all-zero one, which no check accepts (decode compares with a
        // tag it computes, and refuses when it cannot compute one).
        tag.fill(0);
    }
    return tag;
}

std::vector<std::uint8_t> encode_relay_envelope(const relay_envelope& envelope,
                                                std::span<const std::uint8_t> key) {
    envelope_writer out;
    out.byte(envelope_version);
    if (const auto* message = std::get_if<relay_message>(&envelope)) {
        write_message(out, *message);
    } else {
        write_presence(out, std::get<relay_presence>(envelope));
    }
    const auto tag = relay_tag(out.bytes(), key);
    out.bytes().insert(out.bytes().end(), tag.begin(), tag.end());
    return std::move(out.bytes());
}

std::variant<relay_envelope, relay_refusal>
decode_relay_envelope(std::span<const std::uint8_t> bytes, std::span<const std::uint8_t> key) {
    if (key.empty()) {
        return relay_refusal{"no relay key"};
    }
    if (bytes.size() < relay_key_bytes + 2) {
        return relay_refusal{"too short for an envelope"};
    }
    const auto body = bytes.first(bytes.size() - relay_key_bytes);
    const auto tag = relay_tag(body, key);
    const bool is_zero_tag = std::all_of(tag.begin(), tag.end(), [](auto b) { return b == 0; });
    if (is_zero_tag || !equal_in_constant_time(tag, bytes.last(relay_key_bytes))) {
        return relay_refusal{"the HMAC does not match"};
    }
    envelope_reader in(body);
    if (in.byte() != envelope_version) {
        return relay_refusal{"unknown envelope version"};
    }
    const std::uint8_t kind = in.byte();
    relay_envelope envelope;
    if (kind == kind_message) {
        envelope = read_message(in);
    } else if (kind == kind_presence) {
        envelope = read_presence(in);
    } else {
        return relay_refusal{"unknown envelope kind"};
    }
    if (!in.is_ok() || !in.is_at_end()) {
        return relay_refusal{"a malformed envelope"};
    }
    return envelope;
}

} // namespace perch::gateway
