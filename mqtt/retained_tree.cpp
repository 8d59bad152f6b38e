// The trie of retained topic names behind retained_tree.
#include "mqtt/retained_tree.hpp"

#include <functional>
#include <string>
#include <unordered_map>

#include "mqtt/topic.hpp"

namespace perch::mqtt {

struct retained_node {
    struct level_hash {
        using is_transparent = void;
        std::size_t operator()(std::string_view level) const noexcept {
            return std::hash<std::string_view>{}(level);
        }
    };

    /// Children keyed by the characters of their level ('+' and '#' are never levels here).
    std::unordered_map<std::string, std::unique_ptr<retained_node>, level_hash, std::equal_to<>>
        children;
    /// The full topic name, kept while a message is retained here.
    std::string topic_name;
    /// The slot of the message retained for this topic name, if any.
    std::optional<retained_topic_index::slot> stored_slot;

    retained_node* child(std::string_view level) const {
        const auto found = children.find(level);
        return found == children.end() ? nullptr : found->second.get();
    }
};

namespace {

/// Destroys a subtree without recursion, whatever its depth.
void destroy_iteratively(std::unique_ptr<retained_node> root) {
    std::vector<std::unique_ptr<retained_node>> pending;
    pending.push_back(std::move(root));
    while (!pending.empty()) {
        std::unique_ptr<retained_node> current = std::move(pending.back());
        pending.pop_back();
        for (auto& [level, child] : current->children) {
            pending.push_back(std::move(child));
        }
    }
}

/// A step of the matching walk: a node, and where the rest of the filter starts.
struct match_frame {
    const retained_node* node = nullptr;
    std::size_t filter_position = 0;
    bool is_filter_exhausted = false;
    /// Set below a '#': the node and everything under it matches.
    bool is_whole_subtree = false;
};

} // namespace

retained_topic_index::retained_topic_index() : root_(std::make_unique<retained_node>()) {}

retained_topic_index::~retained_topic_index() {
    destroy_iteratively(std::move(root_));
}

std::pair<retained_topic_index::slot, bool>
retained_topic_index::insert(std::string_view topic_name) {
    retained_node* current = root_.get();
    std::size_t position = 0;
    while (true) {
        const topic_level level = next_topic_level(topic_name, position);
        std::unique_ptr<retained_node>& child =
            current->children.try_emplace(std::string(level.level)).first->second;
        if (!child) {
            child = std::make_unique<retained_node>();
        }
        current = child.get();
        if (level.is_last) {
            break;
        }
        position = level.next_position;
    }
    if (current->stored_slot) {
        return {*current->stored_slot, false};
    }
    slot assigned = next_slot_;
    if (free_slots_.empty()) {
        ++next_slot_;
    } else {
        assigned = free_slots_.back();
        free_slots_.pop_back();
    }
    current->stored_slot = assigned;
    current->topic_name = std::string(topic_name);
    ++size_;
    return {assigned, true};
}

std::optional<retained_topic_index::slot> retained_topic_index::erase(std::string_view topic_name) {
    std::vector<std::pair<retained_node*, std::string_view>> path;
    retained_node* current = root_.get();
    std::size_t position = 0;
    while (current != nullptr) {
        const topic_level level = next_topic_level(topic_name, position);
        path.emplace_back(current, level.level);
        current = current->child(level.level);
        if (level.is_last) {
            break;
        }
        position = level.next_position;
    }
    if (current == nullptr || !current->stored_slot) {
        return std::nullopt;
    }
    const slot released = *current->stored_slot;
    current->stored_slot.reset();
    current->topic_name = std::string();
    free_slots_.push_back(released);
    --size_;
    // Remove the nodes that no longer lead to any retained topic, from the bottom up.
    while (!path.empty()) {
        auto [parent, level] = path.back();
        path.pop_back();
        const auto child = parent->children.find(level);
        if (!child->second->children.empty() || child->second->stored_slot) {
            break;
        }
        parent->children.erase(child);
    }
    return released;
}

std::optional<retained_topic_index::slot>
retained_topic_index::find(std::string_view topic_name) const {
    const retained_node* current = root_.get();
    std::size_t position = 0;
    while (current != nullptr) {
        const topic_level level = next_topic_level(topic_name, position);
        current = current->child(level.level);
        if (level.is_last) {
            break;
        }
        position = level.next_position;
    }
    return current == nullptr ? std::nullopt : current->stored_slot;
}

void retained_topic_index::match_erased(std::string_view topic_filter, erased_visitor visit,
                                        void* context) const {
    std::vector<match_frame> stack;
    stack.push_back(match_frame{root_.get(), 0, false, false});
    while (!stack.empty()) {
        const match_frame current = stack.back();
        stack.pop_back();
        const retained_node& at = *current.node;
        if (current.is_whole_subtree || current.is_filter_exhausted) {
            if (at.stored_slot) {
                visit(context, *at.stored_slot, at.topic_name);
            }
            if (current.is_whole_subtree) {
                for (const auto& [level, child] : at.children) {
                    stack.push_back(match_frame{child.get(), 0, true, true});
                }
            }
            continue;
        }
        const topic_level level = next_topic_level(topic_filter, current.filter_position);
        const bool is_multi_level = level.level == "#";
        if (!is_multi_level && level.level != "+") {
            if (const retained_node* child = at.child(level.level)) {
                stack.push_back(match_frame{child, level.next_position, level.is_last, false});
            }
            continue;
        }
        if (is_multi_level && at.stored_slot) {
            visit(context, *at.stored_slot, at.topic_name); // '#' includes the parent level
        }
        const bool is_root = current.node == root_.get();
        for (const auto& [child_level, child] : at.children) {
            // [MQTT-4.7.2-1] a leading wildcard does not match a topic starting with '$'.
            if (is_root && child_level.starts_with('$')) {
                continue;
            }
            stack.push_back(
                match_frame{child.get(), level.next_position, level.is_last, is_multi_level});
        }
    }
}

} // namespace perch::mqtt
