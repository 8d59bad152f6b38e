// Chat across gateways (docs/BRIDGES.md "Chat across gateways"): the relay copies this gateway
// (its origin) sends out through bridges with `bridge_chat`, the checks a relay copy from another
// origin passes before it is routed here, and the device counts the other origins reported.
// Builds and checks messages; knows nothing about sessions, routing or sockets.
//
// Theory of operation. Every room or direct message stamped here is offered (offer()) and
// becomes one relay copy on `chat/relay/{origin}/message`, an envelope sealed with the key the
// gateways share in the chat store. A bridge with bridge_chat carries `chat/relay/#` both ways at
// QoS 1. A relay copy that arrives (accept()) is routed as the origin stamped it, or refused:
// a bad tag, this gateway's own origin, another origin than its topic names, a topic that is not
// the conversation's, or a sender who may not post there now. Presence: each origin relays its
// own device count of a user on every change, and a snapshot of all its counts when its bridge
// connects; remote_device_count() sums the latest counts of the other origins.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "gateway/chat/relay_envelope.hpp"
#include "mqtt/message.hpp"

namespace perch::gateway {

class chat_directory;

/// A verified relay copy of a message: the message to route here, as its origin stamped it.
struct relayed_message {
    mqtt::message_ptr content;
    std::string conversation;
    std::uint64_t id = 0;
    std::string origin;
};

/// A verified presence report: the users whose count from that origin changed.
struct relayed_presence {
    std::vector<std::string> changed_users;
    std::string origin;
    /// The origin asks every other for a snapshot (its bridge has just connected).
    bool asks_snapshot = false;
};

/// Why a relay copy was dropped.
struct relay_drop {
    std::string reason;
};

using relay_outcome = std::variant<relayed_message, relayed_presence, relay_drop>;

/// The relay state of one gateway. Every member is thread-safe.
class chat_relay {
public:
    /// This gateway's origin name (gateway_name: one topic level, unique per gateway).
    void set_origin(std::string origin);
    const std::string& origin() const { return origin_; }
    /// The key shared by the gateways (relay_key_bytes bytes); empty: no relaying.
    void set_key(std::vector<std::uint8_t> key);
    /// A bridge with bridge_chat runs: offer() makes relay copies from now on.
    void enable() { is_enabled_.store(!key_.empty(), std::memory_order_release); }
    bool is_enabled() const { return is_enabled_.load(std::memory_order_acquire); }

    /// The relay copy of `stamped` (a message routed with user properties `id` and `ts`) of
    /// `sender` in `conversation`, on `chat/relay/{origin}/message` at QoS 1; null when relaying
    /// is off.
    mqtt::message_ptr offer(const mqtt::message& stamped, std::string_view conversation,
                            std::uint64_t id, std::string_view sender) const;

    /// The relay copy of this gateway's device count of `user`; null when relaying is off.
    mqtt::message_ptr presence_update(std::string_view user, std::uint64_t devices) const;
    /// The relay copy of every count this gateway has (`counts`: users with devices), asking the
    /// other origins for theirs when `asks_snapshots`; null when relaying is off.
    mqtt::message_ptr presence_snapshot(std::vector<std::pair<std::string, std::uint64_t>> counts,
                                        bool asks_snapshots) const;

    /// Checks a relay copy published on `topic_name` with `payload` against the key, the origin
    /// and the chat rules of `directory` at `now_unix_ms`; applies a presence report.
    relay_outcome accept(std::string_view topic_name, mqtt::byte_view payload,
                         const chat_directory& directory, std::uint64_t now_unix_ms);

    /// The devices of `user` the other origins reported, summed.
    std::uint64_t remote_device_count(std::string_view user) const;

    /// Forgets every other origin's counts (this gateway's bridge went: it hears none of them
    /// now); returns the users whose count changed.
    std::vector<std::string> forget_remote_counts();

    /// Relay copies dropped so far.
    std::uint64_t dropped() const { return dropped_.load(std::memory_order_relaxed); }

private:
    relay_outcome check_message(relay_message message, std::string_view topic_origin,
                                const chat_directory& directory, std::uint64_t now_unix_ms);
    relayed_presence apply_presence(const relay_presence& presence);
    mqtt::message_ptr make_relay_copy(std::string_view kind, const relay_envelope& envelope) const;
    relay_outcome drop(std::string reason);

    // Set at start, before the workers run.
    std::string origin_;
    std::vector<std::uint8_t> key_;
    std::atomic<bool> is_enabled_{false};
    std::atomic<std::uint64_t> dropped_{0};
    // The latest count of each user from each other origin. Lock: counts_mutex_.
    mutable std::mutex counts_mutex_;
    std::map<std::string, std::map<std::string, std::uint64_t, std::less<>>, std::less<>>
        counts_by_origin_;
};

/// The topic of `origin`'s relay copies of `kind` (`message` or `presence`).
std::string relay_topic(std::string_view origin, std::string_view kind);

} // namespace perch::gateway
