// Topic names, topic filters and the matching rule between them (MQTT 4.7, shared subscriptions
// 4.8.2). Pure functions over strings: no state, no allocation, no knowledge of sessions.
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>

#include "mqtt/decoder.hpp"
#include "mqtt/packet.hpp"

namespace perch::mqtt {

/// The longest topic name or filter a UTF-8 Encoded String can carry [MQTT-4.7.3-3].
inline constexpr std::size_t max_topic_length = 65'535;

/// The prefix that marks a shared subscription (5.0 section 4.8.2).
inline constexpr std::string_view shared_subscription_prefix = "$share/";

/// Checks a topic name as it arrives in PUBLISH or as a Will Topic. Returns nothing when it is
/// valid, otherwise reason topic_name_invalid (0x90) and the rule broken:
/// - empty [MQTT-4.7.3-1];
/// - longer than max_topic_length bytes [MQTT-4.7.3-3];
/// - contains U+0000 [MQTT-4.7.3-2];
/// - contains '+' or '#' ([MQTT-4.7.0-1] in 5.0, [MQTT-4.7.1-1] in 3.1.1).
/// UTF-8 well-formedness is the decoder's job. A 5.0 PUBLISH whose topic name is empty because it
/// uses a Topic Alias must be checked after the alias has been resolved.
std::optional<protocol_violation> validate_topic_name(std::string_view topic_name,
                                                      protocol_version version);

/// Checks a topic filter as it arrives in SUBSCRIBE or UNSUBSCRIBE. Returns nothing when it is
/// valid, otherwise reason topic_filter_invalid (0x8F) and the rule broken:
/// - empty [MQTT-4.7.3-1], too long [MQTT-4.7.3-3], contains U+0000 [MQTT-4.7.3-2];
/// - '#' not alone in the last level ([MQTT-4.7.1-1] in 5.0, [MQTT-4.7.1-2] in 3.1.1);
/// - '+' not alone in its level ([MQTT-4.7.1-2] in 5.0, [MQTT-4.7.1-3] in 3.1.1);
/// - a filter starting with "$share/" whose ShareName is empty [MQTT-4.8.2-1], or contains '+'
///   or '#', or is not followed by '/' and a non-empty topic filter [MQTT-4.8.2-2]. The
///   remaining filter is then checked by the rules above.
/// Shared subscriptions are recognised at both protocol levels (a 3.1.1 client may join a group,
/// as with other brokers); the 4.8.2 rule ids are those of 5.0.
std::optional<protocol_violation> validate_topic_filter(std::string_view topic_filter,
                                                        protocol_version version);

/// The two parts of a shared subscription's filter "$share/{share_name}/{topic_filter}". Both
/// views point into the string that was parsed.
struct shared_filter {
    std::string_view share_name;
    std::string_view topic_filter;

    bool operator==(const shared_filter&) const = default;
};

/// Splits a shared subscription filter. Returns nothing for a filter that does not start with
/// "$share/" or whose ShareName or remaining filter is malformed (see validate_topic_filter).
std::optional<shared_filter> parse_shared_subscription(std::string_view topic_filter);

/// A topic filter with its shared subscription parts parsed once, to be handed on (access check,
/// router, subscription tree) without parsing it again. Views into the parsed string.
struct parsed_filter {
    /// The whole filter as the client sent it.
    std::string_view text;
    /// The parts of a "$share/{share_name}/{topic_filter}" filter; empty for any other.
    std::optional<shared_filter> shared;

    /// The part that matches topic names: the filter after "$share/{share_name}/" for a shared
    /// subscription, the whole filter otherwise.
    std::string_view match_filter() const { return shared ? shared->topic_filter : text; }
};

/// `topic_filter` with its shared subscription parts (parse_shared_subscription).
parsed_filter parse_filter(std::string_view topic_filter);

/// True when `topic_filter` contains a wildcard character ('+' or '#').
bool has_wildcard(std::string_view topic_filter);

/// One level of a topic name or filter, as found by next_topic_level.
struct topic_level {
    /// The level's characters, without separators; may be empty ("a//b" has an empty level).
    std::string_view level;
    /// Where the following level starts (topic.size() after the last level).
    std::size_t next_position = 0;
    /// True for the last level of the topic.
    bool is_last = false;
};

/// The level of `topic` that starts at `position` (0 for the first level, then the previous
/// level's next_position). Levels are separated by '/' (MQTT 4.7.1.1).
inline topic_level next_topic_level(std::string_view topic, std::size_t position) {
    const std::size_t end = topic.find('/', position);
    if (end == std::string_view::npos) {
        return {topic.substr(position), topic.size(), true};
    }
    return {topic.substr(position, end - position), end + 1, false};
}

/// True when `topic_name` matches `topic_filter` (MQTT 4.7): levels are separated by '/', empty
/// levels are real levels, '+' matches exactly one level, '#' matches the parent level and any
/// number of child levels ("sport/#" matches "sport"). A filter starting with a wildcard never
/// matches a name starting with '$' [MQTT-4.7.2-1]. Comparison is byte for byte, without any
/// normalisation [MQTT-4.7.3-4]. `topic_filter` must be a valid, non-shared filter (strip
/// "$share/{name}/" first).
bool topic_matches(std::string_view topic_filter, std::string_view topic_name);

} // namespace perch::mqtt
