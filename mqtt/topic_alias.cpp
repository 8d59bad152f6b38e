// Inbound Topic Alias resolution and outbound Topic Alias assignment (MQTT 5.0 3.3.2.3.4).
#include "mqtt/topic_alias.hpp"

#include <algorithm>
#include <functional>
#include <limits>
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

std::uint32_t outbound_topic_aliases::hash_of(std::string_view topic_name) {
    return static_cast<std::uint32_t>(std::hash<std::string_view>{}(topic_name));
}

std::size_t outbound_topic_aliases::index_of(std::string_view topic_name,
                                             std::uint32_t topic_hash) const {
    for (std::size_t index = 0; index < entries_.size(); ++index) {
        const entry& slot = entries_[index];
        if (slot.topic_hash == topic_hash && slot.last_use != 0 && slot.topic_name == topic_name) {
            return index;
        }
    }
    return entries_.size();
}

std::uint32_t outbound_topic_aliases::tick() {
    if (use_clock_ == std::numeric_limits<std::uint32_t>::max()) {
        // Once in four billion uses: number the mapped slots again from 1, oldest first, so that
        // recency keeps its order.
        std::vector<entry*> by_use;
        for (entry& slot : entries_) {
            if (slot.last_use != 0) {
                by_use.push_back(&slot);
            }
        }
        std::sort(by_use.begin(), by_use.end(), [](const entry* left, const entry* right) {
            return left->last_use < right->last_use;
        });
        use_clock_ = 0;
        for (entry* slot : by_use) {
            slot->last_use = ++use_clock_;
        }
    }
    return ++use_clock_;
}

std::optional<outbound_topic_aliases::assignment>
outbound_topic_aliases::assign(std::string_view topic_name) {
    if (maximum_ == 0) {
        return std::nullopt;
    }
    const std::uint32_t topic_hash = hash_of(topic_name);
    if (const std::size_t found = index_of(topic_name, topic_hash); found < entries_.size()) {
        entries_[found].last_use = tick();
        return assignment{static_cast<std::uint16_t>(found + 1), false};
    }
    // A new mapping: a forgotten slot, else a fresh alias while below the maximum, else, on one
    // miss in replacement_interval_, the least recently used alias (see the class comment).
    std::size_t chosen = entries_.size();
    if (free_count_ > 0) {
        for (std::size_t index = 0; index < entries_.size(); ++index) {
            if (entries_[index].last_use == 0) {
                chosen = index;
                break;
            }
        }
        --free_count_;
    } else if (entries_.size() < maximum_) {
        if (entries_.size() == entries_.capacity()) {
            // Doubling, but never past the maximum: no slot is allocated that can never be used.
            entries_.reserve(
                std::min<std::size_t>(maximum_, std::max<std::size_t>(4, entries_.capacity() * 2)));
        }
        entries_.emplace_back();
    } else {
        if (++misses_since_replacement_ < replacement_interval_) {
            return std::nullopt;
        }
        misses_since_replacement_ = 0;
        chosen = 0;
        for (std::size_t index = 1; index < entries_.size(); ++index) {
            if (entries_[index].last_use < entries_[chosen].last_use) {
                chosen = index;
            }
        }
    }
    entry& slot = entries_[chosen];
    slot.topic_hash = topic_hash;
    slot.topic_name.assign(topic_name);
    slot.last_use = tick();
    return assignment{static_cast<std::uint16_t>(chosen + 1), true};
}

std::optional<std::uint16_t> outbound_topic_aliases::find(std::string_view topic_name) const {
    const std::size_t found = index_of(topic_name, hash_of(topic_name));
    if (found == entries_.size()) {
        return std::nullopt;
    }
    return static_cast<std::uint16_t>(found + 1);
}

void outbound_topic_aliases::forget(std::uint16_t alias) {
    if (alias == 0 || alias > entries_.size() || entries_[alias - 1u].last_use == 0) {
        return;
    }
    entry& slot = entries_[alias - 1u];
    slot.last_use = 0;
    slot.topic_hash = 0;
    slot.topic_name.clear();
    ++free_count_;
}

} // namespace perch::mqtt
