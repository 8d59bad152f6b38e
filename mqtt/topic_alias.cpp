// Inbound Topic Alias resolution and outbound Topic Alias assignment (MQTT 5.0 3.3.2.3.4).
#include "mqtt/topic_alias.hpp"

#include <utility>

namespace perch::mqtt {

std::variant<std::string, protocol_violation>
inbound_topic_aliases::resolve(std::string_view topic_name, std::optional<std::uint16_t> alias) {
    if (!alias) {
        if (topic_name.empty()) {
            // Without an alias the topic name must be present [MQTT-4.7.3-1].
            return protocol_violation{reason_code::topic_name_invalid, "MQTT-4.7.3-1"};
        }
        return std::string(topic_name);
    }
    // [MQTT-3.3.2-8] alias 0 is not permitted; above the announced maximum is refused
    // [MQTT-3.3.2-9 (5.0)].
    if (*alias == 0) {
        return protocol_violation{reason_code::topic_alias_invalid, "MQTT-3.3.2-8"};
    }
    if (*alias > maximum_) {
        return protocol_violation{reason_code::topic_alias_invalid, "MQTT-3.3.2-9"};
    }
    const std::size_t index = *alias - 1u;
    if (topic_name.empty()) {
        if (index >= topics_.size() || topics_[index].empty()) {
            // An empty topic with an alias the client never set (3.3.2.3.4).
            return protocol_violation{reason_code::protocol_error, "MQTT-3.3.2.3.4"};
        }
        return topics_[index];
    }
    if (index >= topics_.size()) {
        topics_.resize(index + 1);
    }
    topics_[index] = std::string(topic_name);
    return std::string(topic_name);
}

std::optional<outbound_topic_aliases::assignment>
outbound_topic_aliases::assign(std::string_view topic_name) {
    if (maximum_ == 0) {
        return std::nullopt;
    }
    if (!aliases_) {
        aliases_ = std::make_unique<alias_map>();
    }
    if (const auto found = aliases_->find(topic_name); found != aliases_->end()) {
        return assignment{found->second, false};
    }
    if (aliases_->size() >= maximum_) {
        return std::nullopt;
    }
    const auto alias = static_cast<std::uint16_t>(aliases_->size() + 1);
    aliases_->emplace(std::string(topic_name), alias);
    return assignment{alias, true};
}

} // namespace perch::mqtt
