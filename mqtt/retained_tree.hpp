// Retained messages: at most one per topic name, found again by topic filter when a subscription
// is made (MQTT 3.3.1.3). Knows nothing of sessions, storage or threads: the gateway locks it and
// persists what it holds.
//
// Theory of operation: retained_topic_index is a trie keyed by topic level that gives each
// retained topic name a slot number; retained_tree<Message> keeps the messages in a vector
// indexed by slot. Matching a filter walks the trie: a literal level follows one child, '+' every
// child, '#' takes the node reached (the parent level) and its whole subtree. At the root, '+'
// and '#' skip children whose level starts with '$' [MQTT-4.7.2-1]. Walks use explicit stacks,
// so topics with thousands of levels cannot exhaust the call stack.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace perch::mqtt {

/// A node of retained_topic_index's trie (defined in retained_tree.cpp).
struct retained_node;

/// The trie of retained topic names. Maps each stored topic name to a small slot number, reused
/// after erase, so that retained_tree can keep its messages in a plain vector.
class retained_topic_index {
public:
    using slot = std::uint32_t;

    retained_topic_index();
    ~retained_topic_index();
    retained_topic_index(const retained_topic_index&) = delete;
    retained_topic_index& operator=(const retained_topic_index&) = delete;

    /// The slot of `topic_name`, created when absent; `second` is true when it was created.
    std::pair<slot, bool> insert(std::string_view topic_name);
    /// Removes `topic_name` and returns the slot it had, or nothing when it was not stored.
    std::optional<slot> erase(std::string_view topic_name);
    /// The slot of `topic_name`, or nothing.
    std::optional<slot> find(std::string_view topic_name) const;
    /// Calls visit(slot, topic_name) for every stored topic name that `topic_filter` matches (a
    /// valid, non-shared filter), in no particular order. `visit` must not modify the index.
    template <typename Visitor> void match(std::string_view topic_filter, Visitor&& visit) const {
        match_erased(topic_filter, &invoke_visitor<std::remove_reference_t<Visitor>>,
                     static_cast<void*>(&visit));
    }
    /// Number of stored topic names.
    std::size_t size() const { return size_; }

private:
    using erased_visitor = void (*)(void* context, slot found, std::string_view topic_name);

    template <typename Visitor>
    static void invoke_visitor(void* context, slot found, std::string_view topic_name) {
        (*static_cast<Visitor*>(context))(found, topic_name);
    }

    void match_erased(std::string_view topic_filter, erased_visitor visit, void* context) const;

    std::unique_ptr<retained_node> root_;
    std::vector<slot> free_slots_;
    slot next_slot_ = 0;
    std::size_t size_ = 0;
};

/// What retained_tree::apply did with a retained PUBLISH.
enum class retained_update : std::uint8_t {
    stored,    ///< no message was retained for the topic; this one now is
    replaced,  ///< the message retained for the topic was replaced by this one
    removed,   ///< empty payload: the message retained for the topic was removed
    unchanged, ///< empty payload and nothing was retained for the topic
};

/// The retained message of each topic name. `Message` is whatever the gateway keeps per retained
/// message (typically the topic-less part of a PUBLISH with its shared payload); it must be
/// movable.
template <typename Message> class retained_tree {
public:
    /// Handles a PUBLISH with RETAIN set to 1 on `topic_name`. A non-empty payload replaces any
    /// message retained there and is stored ([MQTT-3.3.1-5] in both versions). An empty payload
    /// removes the retained message ([MQTT-3.3.1-6] in 5.0, [MQTT-3.3.1-10] in 3.1.1) and is not
    /// stored itself ([MQTT-3.3.1-7] in 5.0, [MQTT-3.3.1-11] in 3.1.1). A PUBLISH with RETAIN 0
    /// must not reach this function ([MQTT-3.3.1-8] in 5.0, [MQTT-3.3.1-12] in 3.1.1).
    retained_update apply(std::string_view topic_name, Message message, bool is_payload_empty) {
        if (is_payload_empty) {
            return clear(topic_name) ? retained_update::removed : retained_update::unchanged;
        }
        return set(topic_name, std::move(message)) ? retained_update::replaced
                                                   : retained_update::stored;
    }

    /// Stores `message` as the retained message of `topic_name`. Returns true when it replaced
    /// one.
    bool set(std::string_view topic_name, Message message) {
        const auto [found, is_new] = index_.insert(topic_name);
        if (found >= messages_.size()) {
            messages_.resize(found + 1);
        }
        messages_[found] = std::move(message);
        return !is_new;
    }

    /// Removes the retained message of `topic_name`. Returns true when there was one.
    bool clear(std::string_view topic_name) {
        const auto found = index_.erase(topic_name);
        if (!found) {
            return false;
        }
        messages_[*found].reset();
        return true;
    }

    /// The message retained for exactly `topic_name`, or null.
    const Message* find(std::string_view topic_name) const {
        const auto found = index_.find(topic_name);
        return found ? &*messages_[*found] : nullptr;
    }

    /// Calls visit(topic_name, message) for every retained message whose topic name matches
    /// `topic_filter`, as needed when a subscription is made ([MQTT-3.3.1-9] in 5.0,
    /// [MQTT-3.3.1-6] in 3.1.1). Pass the filter after "$share/{name}/" for shared ones.
    /// `visit` must not modify the tree.
    template <typename Visitor> void match(std::string_view topic_filter, Visitor&& visit) const {
        index_.match(topic_filter,
                     [&](retained_topic_index::slot found, std::string_view topic_name) {
                         visit(topic_name, *messages_[found]);
                     });
    }

    /// Number of retained messages.
    std::size_t size() const { return index_.size(); }
    /// True when no message is retained.
    bool empty() const { return index_.size() == 0; }

private:
    retained_topic_index index_;
    std::vector<std::optional<Message>> messages_;
};

} // namespace perch::mqtt
