// Topic name and filter validation and matching (MQTT 4.7 and 4.8.2).
#include "mqtt/topic.hpp"

namespace perch::mqtt {
namespace {

constexpr char level_separator = '/';
constexpr char single_level_wildcard = '+';
constexpr char multi_level_wildcard = '#';

protocol_violation topic_name_violation(std::string_view rule) {
    return protocol_violation{reason_code::topic_name_invalid, rule};
}

protocol_violation topic_filter_violation(std::string_view rule) {
    return protocol_violation{reason_code::topic_filter_invalid, rule};
}

/// The rules every topic name and filter obeys: 4.7.3-1, 4.7.3-3 and 4.7.3-2.
std::optional<std::string_view> check_common_rules(std::string_view topic) {
    if (topic.empty()) {
        return "MQTT-4.7.3-1"; // [MQTT-4.7.3-1] at least one character
    }
    if (topic.size() > max_topic_length) {
        return "MQTT-4.7.3-3"; // [MQTT-4.7.3-3] at most 65,535 bytes
    }
    if (topic.find('\0') != std::string_view::npos) {
        return "MQTT-4.7.3-2"; // [MQTT-4.7.3-2] no null character
    }
    return std::nullopt;
}

/// Checks the wildcard placement of a non-shared filter, level by level.
std::optional<protocol_violation> check_wildcards(std::string_view topic_filter,
                                                  protocol_version version) {
    const bool is_v5 = version == protocol_version::v5;
    std::size_t level_start = 0;
    while (true) {
        const std::size_t level_end = topic_filter.find(level_separator, level_start);
        const bool is_last_level = level_end == std::string_view::npos;
        const std::string_view level = topic_filter.substr(
            level_start, is_last_level ? std::string_view::npos : level_end - level_start);
        if (level.find(multi_level_wildcard) != std::string_view::npos &&
            (level.size() != 1 || !is_last_level)) {
            // '#' alone in the last level: [MQTT-4.7.1-1] in 5.0, [MQTT-4.7.1-2] in 3.1.1.
            return topic_filter_violation(is_v5 ? "MQTT-4.7.1-1" : "MQTT-4.7.1-2");
        }
        if (level.find(single_level_wildcard) != std::string_view::npos && level.size() != 1) {
            // '+' occupies a whole level: [MQTT-4.7.1-2] in 5.0, [MQTT-4.7.1-3] in 3.1.1.
            return topic_filter_violation(is_v5 ? "MQTT-4.7.1-2" : "MQTT-4.7.1-3");
        }
        if (is_last_level) {
            return std::nullopt;
        }
        level_start = level_end + 1;
    }
}

/// Checks the "$share/{ShareName}/" part of a filter that starts with the shared prefix and
/// returns the filter that follows it.
std::optional<protocol_violation> check_share_name(std::string_view topic_filter,
                                                   std::string_view& remaining_filter) {
    const std::string_view rest = topic_filter.substr(shared_subscription_prefix.size());
    const std::size_t name_end = rest.find(level_separator);
    const std::string_view share_name = rest.substr(0, name_end);
    if (share_name.empty()) {
        return topic_filter_violation("MQTT-4.8.2-1"); // [MQTT-4.8.2-1] ShareName not empty
    }
    if (share_name.find_first_of("+#") != std::string_view::npos) {
        return topic_filter_violation("MQTT-4.8.2-2"); // [MQTT-4.8.2-2] no '+' or '#'
    }
    if (name_end == std::string_view::npos || name_end + 1 == rest.size()) {
        // [MQTT-4.8.2-2] the ShareName is followed by '/' and then a topic filter.
        return topic_filter_violation("MQTT-4.8.2-2");
    }
    remaining_filter = rest.substr(name_end + 1);
    return std::nullopt;
}

} // namespace

std::optional<protocol_violation> validate_topic_name(std::string_view topic_name,
                                                      protocol_version version) {
    if (const auto rule = check_common_rules(topic_name)) {
        return topic_name_violation(*rule);
    }
    if (has_wildcard(topic_name)) {
        // Wildcards only in filters: [MQTT-4.7.0-1] in 5.0, [MQTT-4.7.1-1] in 3.1.1.
        return topic_name_violation(version == protocol_version::v5 ? "MQTT-4.7.0-1"
                                                                    : "MQTT-4.7.1-1");
    }
    return std::nullopt;
}

std::optional<protocol_violation> validate_topic_filter(std::string_view topic_filter,
                                                        protocol_version version) {
    if (const auto rule = check_common_rules(topic_filter)) {
        return topic_filter_violation(*rule);
    }
    std::string_view filter = topic_filter;
    if (topic_filter.starts_with(shared_subscription_prefix)) {
        if (auto violation = check_share_name(topic_filter, filter)) {
            return violation;
        }
    }
    return check_wildcards(filter, version);
}

std::optional<shared_filter> parse_shared_subscription(std::string_view topic_filter) {
    if (!topic_filter.starts_with(shared_subscription_prefix)) {
        return std::nullopt;
    }
    std::string_view filter;
    if (check_share_name(topic_filter, filter)) {
        return std::nullopt;
    }
    const std::size_t share_name_size =
        topic_filter.size() - shared_subscription_prefix.size() - filter.size() - 1;
    return shared_filter{topic_filter.substr(shared_subscription_prefix.size(), share_name_size),
                         filter};
}

parsed_filter parse_filter(std::string_view topic_filter) {
    return {topic_filter, parse_shared_subscription(topic_filter)};
}

bool has_wildcard(std::string_view topic_filter) {
    return topic_filter.find_first_of("+#") != std::string_view::npos;
}

bool topic_matches(std::string_view topic_filter, std::string_view topic_name) {
    // [MQTT-4.7.2-1] a filter starting with a wildcard does not match a name starting with '$'.
    if (topic_name.starts_with('$') && !topic_filter.empty() &&
        (topic_filter.front() == single_level_wildcard ||
         topic_filter.front() == multi_level_wildcard)) {
        return false;
    }
    std::size_t filter_position = 0;
    std::size_t name_position = 0;
    bool is_name_exhausted = false;
    while (true) {
        const topic_level filter_level = next_topic_level(topic_filter, filter_position);
        if (filter_level.level.size() == 1 && filter_level.level.front() == multi_level_wildcard) {
            return true; // '#' matches the parent level and every level below it
        }
        if (is_name_exhausted) {
            return false;
        }
        const topic_level name_level = next_topic_level(topic_name, name_position);
        const bool is_single_wildcard =
            filter_level.level.size() == 1 && filter_level.level.front() == single_level_wildcard;
        if (!is_single_wildcard && filter_level.level != name_level.level) {
            return false; // [MQTT-4.7.3-4] byte-for-byte comparison, no normalisation
        }
        if (filter_level.is_last) {
            return name_level.is_last;
        }
        filter_position = filter_level.next_position;
        name_position = name_level.next_position;
        is_name_exhausted = name_level.is_last;
    }
}

} // namespace perch::mqtt
