// MQTT 5.0 Topic Aliases (3.3.2.3.4) of one network connection: the table the client fills for
// its PUBLISH packets and the aliases the server hands out for its own. Mappings never outlive the
// connection [MQTT-3.3.2-7]. Pure data: no I/O.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "mqtt/decoder.hpp"

namespace perch::mqtt {

/// Aliases the client has set for PUBLISH packets it sends to the server.
class inbound_topic_aliases {
public:
    /// `maximum` is the Topic Alias Maximum the server announced in CONNACK (0: none allowed).
    explicit inbound_topic_aliases(std::uint16_t maximum = 0) : maximum_(maximum) {}

    /// The largest alias the client may use.
    std::uint16_t maximum() const { return maximum_; }

    /// Resolves the topic of one inbound PUBLISH. With no alias, `topic_name` is returned as is
    /// (empty gives topic_name_invalid [MQTT-4.7.3-1]). With an alias and a non-empty topic the
    /// mapping is set (or replaced) and the topic returned; with an alias and an empty topic the
    /// mapped topic is returned. Alias 0 gives topic_alias_invalid [MQTT-3.3.2-8], an alias above
    /// the maximum too [MQTT-3.3.2-9 (5.0)]; an empty topic with an alias never set is a
    /// protocol_error (3.3.2.3.4). No mapping changes on a violation.
    std::variant<std::string, protocol_violation> resolve(std::string_view topic_name,
                                                          std::optional<std::uint16_t> alias);

private:
    std::uint16_t maximum_ = 0;
    /// Index alias - 1; an empty string means "not set" (a set topic is never empty).
    std::vector<std::string> topics_;
};

/// Aliases the server assigns to topics it sends to the client, for one network connection.
/// The first delivery of a topic takes a free alias and carries the topic name with it (setting
/// the mapping); later deliveries carry only the alias. Once every alias is taken, a topic without
/// one goes out in full and unaliased, except every `replacement_interval`-th such delivery, which
/// takes over the least recently used alias. Replacing on every miss would thrash when the client
/// hears more topics than there are aliases in turn (20 senders in a room, 16 aliases: each new
/// topic would evict the one needed next, and every delivery would carry its name and an alias);
/// replacing on some misses only keeps most topics aliased then, and still lets the table follow
/// a change of traffic. Never exceeds `maximum` [MQTT-3.3.2-9 (5.0)].
///
/// Layout: one flat table indexed by alias - 1, searched linearly by a 32-bit hash (a string
/// comparison only on a hash match), so a hit costs no allocation and the table costs about
/// 40 bytes per alias plus the topic's own heap bytes past the small-string buffer. `maximum` is
/// meant to stay small (the gateway caps it at 256).
class outbound_topic_aliases {
public:
    /// Deliveries without an alias, once all are taken, per replacement of the least recently used.
    static constexpr std::uint16_t default_replacement_interval = 8;

    /// `maximum` is min(the client's Topic Alias Maximum, the server's own cap); 0 disables.
    /// `replacement_interval` (at least 1; 1 replaces on every miss) as described above.
    explicit outbound_topic_aliases(std::uint16_t maximum = 0, std::uint16_t replacement_interval =
                                                                   default_replacement_interval)
        : maximum_(maximum),
          replacement_interval_(replacement_interval > 0 ? replacement_interval : 1) {}

    /// The alias chosen for one delivery of `topic_name`.
    struct assignment {
        std::uint16_t alias = 0;
        /// True when this delivery must carry the topic name to set (or replace) the mapping.
        bool is_new = false;
    };

    /// The alias to use for `topic_name`, or empty when it goes out unaliased (aliases disabled,
    /// or all taken and this miss replaces none). The caller must send the delivery with the
    /// outcome (a new mapping is recorded as sent), or call forget.
    std::optional<assignment> assign(std::string_view topic_name);

    /// The alias mapped to `topic_name`, or empty. Changes nothing (not even recency).
    std::optional<std::uint16_t> find(std::string_view topic_name) const;

    /// Drops the mapping of `alias` (a delivery that would have set it was not sent).
    void forget(std::uint16_t alias);

    /// The largest alias this table may hand out.
    std::uint16_t maximum() const { return maximum_; }
    /// Aliases currently mapped.
    std::size_t size() const { return entries_.size() - free_count_; }

private:
    struct entry {
        std::uint32_t topic_hash = 0;
        /// Value of use_clock_ at the last use; 0 marks a free slot.
        std::uint32_t last_use = 0;
        std::string topic_name;
    };

    static std::uint32_t hash_of(std::string_view topic_name);
    std::size_t index_of(std::string_view topic_name, std::uint32_t topic_hash) const;
    std::uint32_t tick();

    std::uint16_t maximum_ = 0;
    std::uint16_t replacement_interval_ = default_replacement_interval;
    /// Deliveries sent unaliased since the last replacement.
    std::uint16_t misses_since_replacement_ = 0;
    /// Counted in use_clock_ ticks; renumbered when it would wrap.
    std::uint32_t use_clock_ = 0;
    /// Slots of forgotten aliases among entries_, reused before the table grows.
    std::size_t free_count_ = 0;
    /// Index alias - 1. Grows one alias at a time up to maximum_: a connection that sees few
    /// topics holds few entries, and one that sees none holds no allocation.
    std::vector<entry> entries_;
};

} // namespace perch::mqtt
