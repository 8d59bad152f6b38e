// MQTT 5.0 Topic Aliases (3.3.2.3.4) of one network connection: the table the client fills for
// its PUBLISH packets and the aliases the server hands out for its own. Mappings never outlive the
// connection [MQTT-3.3.2-7]. Pure data: no I/O.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
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

/// Aliases the server assigns to topics it sends to the client. First use of a topic sends the
/// topic and a new alias; later uses send the alias with an empty topic. Never exceeds the client's
/// Topic Alias Maximum [MQTT-3.3.2-9 (5.0)]; when every alias is taken, further topics go out in
/// full without an alias.
class outbound_topic_aliases {
public:
    /// `maximum` is min(the client's Topic Alias Maximum, the server's own cap); 0 disables.
    explicit outbound_topic_aliases(std::uint16_t maximum = 0) : maximum_(maximum) {}

    /// The alias chosen for one delivery of `topic_name`.
    struct assignment {
        std::uint16_t alias = 0;
        /// True when this delivery must carry the topic name to set the mapping.
        bool is_new = false;
    };

    /// The alias to use for `topic_name`, or empty when aliases are disabled or all taken.
    std::optional<assignment> assign(std::string_view topic_name);

    /// The largest alias this table may hand out.
    std::uint16_t maximum() const { return maximum_; }

private:
    struct string_hash {
        using is_transparent = void;
        std::size_t operator()(std::string_view text) const {
            return std::hash<std::string_view>{}(text);
        }
    };
    using alias_map = std::unordered_map<std::string, std::uint16_t, string_hash, std::equal_to<>>;
    std::uint16_t maximum_ = 0;
    /// Made on the first assignment: most connections never use aliases, and an idle one should
    /// not carry an empty hash table.
    std::unique_ptr<alias_map> aliases_;
};

} // namespace perch::mqtt
