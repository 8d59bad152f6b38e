// The subscription index: every subscription of every session, in a trie keyed by topic level,
// consulted for each PUBLISH. Knows nothing of sessions, sockets or threads; the gateway owns the
// locking (see "Threads" below).
//
// Theory of operation
// - Each trie node stands for one level of a filter. A node has literal children (a hash map by
//   level), at most one '+' child and at most one '#' child. The subscriptions whose filter ends
//   at a node are stored there, as non-shared entries and as shared groups.
// - Matching walks the topic name level by level: at each node it follows the literal child of
//   the name's level and the '+' child, and takes every subscription of the '#' child (which
//   matches the parent level too). At the root, '+' and '#' are not followed for a name starting
//   with '$' [MQTT-4.7.2-1]. The walk uses an explicit stack, so a name or filter with thousands
//   of levels cannot exhaust the call stack.
// - A reverse index from subscriber to its filters makes unsubscribe_all (and unsubscribe_some,
//   its sliced form) proportional to that subscriber's subscriptions. Nodes left empty are
//   removed at once.
//
// Threads: no member function synchronises. Any number of threads may call the const functions
// (match, find, the counts) at once while nobody modifies the tree (a shared lock), each with its
// own match_output; subscribe, unsubscribe, unsubscribe_all and unsubscribe_some need exclusive
// access. The only state match changes is each shared group's round-robin counter, which is
// atomic.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "mqtt/packed_strings.hpp"
#include "mqtt/subscription_options.hpp"
#include "mqtt/topic.hpp"

namespace perch::mqtt {

/// A node of subscription_tree's trie (defined in subscription_tree.cpp).
struct subscription_node;

/// Who holds a subscription: an opaque number chosen by the gateway, one per session (it may pack
/// a worker index into spare bits). Equal ids are the same client for No Local [MQTT-3.8.3-3].
using subscriber_id = std::uint64_t;

/// A Subscription Identifier or none, in four bytes (std::optional takes eight): identifiers run
/// from 1 to 268,435,455 [MQTT-3.8.2.1.2 (5.0)], so 0 stands for none. Reads like an optional.
class stored_subscription_id {
public:
    stored_subscription_id() = default;
    stored_subscription_id(std::optional<std::uint32_t> id) : value_(id.value_or(0)) {}

    explicit operator bool() const { return value_ != 0; }
    std::uint32_t operator*() const { return value_; }
    operator std::optional<std::uint32_t>() const {
        return value_ == 0 ? std::nullopt : std::optional<std::uint32_t>(value_);
    }
    bool operator==(const stored_subscription_id&) const = default;
    friend bool operator==(const stored_subscription_id& id, std::uint32_t value) {
        return id.value_ != 0 && id.value_ == value;
    }

private:
    std::uint32_t value_ = 0;
};

/// One subscription as stored: its holder, its options and its Subscription Identifier (5.0).
/// Sixteen bytes: a chat user holds a few dozen, and the index holds every user's.
struct subscription_entry {
    subscriber_id subscriber = 0;
    subscription_options options;
    stored_subscription_id subscription_id;

    bool operator==(const subscription_entry&) const = default;
};

/// One delivery to a subscriber, merged from all of its matching non-shared subscriptions:
/// - maximum_qos is the highest Maximum QoS among them ([MQTT-3.3.4-2] in 5.0, [MQTT-3.3.5-1] in
///   3.1.1); the caller still caps it by the message's QoS;
/// - subscription_ids holds the identifier of every one of them that has one, in no particular
///   order, duplicates kept ([MQTT-3.3.4-3], [MQTT-3.3.4-4]);
/// - is_retain_as_published is true when any of them asked for Retain As Published, so the one
///   copy keeps the RETAIN flag as published if any subscription was promised it.
/// No Local is resolved before merging: a subscription with No Local does not match at all when
/// its subscriber is the publisher passed to match, so it adds neither QoS nor identifier.
struct match_result {
    subscriber_id subscriber = 0;
    qos maximum_qos = qos::at_most_once;
    bool is_retain_as_published = false;
    /// Points into the match_output; valid until its next use.
    std::span<const std::uint32_t> subscription_ids;
};

/// One shared subscription group ($share/{share_name}/{topic_filter}) whose filter matched. The
/// caller delivers to one member: it should try members[(rotation + i) % members.size()] for
/// i = 0, 1, ... and take the first that can accept the message. `rotation` comes from the
/// group's atomic counter, so consecutive matches start at consecutive members (round robin).
/// The views point into the tree: valid until the tree is next modified.
struct shared_match {
    std::string_view share_name;
    std::string_view topic_filter;
    std::span<const subscription_entry> members;
    std::uint64_t rotation = 0;
};

/// Reusable output of subscription_tree::match. Keep one per thread and pass it to every match:
/// its buffers keep their capacity, so matching does not allocate once they have grown.
class match_output {
public:
    /// One result per distinct subscriber with a matching non-shared subscription.
    std::span<const match_result> subscribers() const { return results_; }
    /// One entry per shared group with a matching filter.
    std::span<const shared_match> shared_groups() const { return shared_; }
    /// True when nothing matched.
    bool empty() const { return results_.empty() && shared_.empty(); }

private:
    friend class subscription_tree;

    struct slot {
        subscriber_id subscriber = 0;
        std::uint32_t result_index = 0;
        std::uint32_t generation = 0;
    };
    struct pending_id {
        std::uint32_t result_index = 0;
        std::uint32_t subscription_id = 0;
    };
    struct frame {
        const subscription_node* node = nullptr;
        std::size_t name_position = 0;
        bool is_name_exhausted = false;
    };

    void reset();
    void add_distinct(const subscription_entry& entry);
    void add(const subscription_entry& entry);
    void index_results();
    void finish();
    std::uint32_t& result_index_for(subscriber_id subscriber, bool& is_new);
    void grow_slots();

    std::vector<match_result> results_;
    std::vector<shared_match> shared_;
    std::vector<std::uint32_t> subscription_ids_;
    std::vector<pending_id> pending_ids_;
    std::vector<std::uint32_t> id_offsets_;
    std::vector<slot> slots_;
    std::uint32_t generation_ = 0;
    /// Nodes that contributed non-shared subscriptions to this match. The first node's entries
    /// are distinct subscribers, so they skip the merge table until a second node contributes.
    std::size_t contributing_nodes_ = 0;
    bool is_indexed_ = false;
    std::vector<frame> stack_;
};

/// The index of all subscriptions. Filters given to it must have passed validate_topic_filter;
/// "$share/{name}/{filter}" filters form shared groups.
class subscription_tree {
public:
    subscription_tree();
    ~subscription_tree();
    subscription_tree(const subscription_tree&) = delete;
    subscription_tree& operator=(const subscription_tree&) = delete;

    /// Adds the subscription of `subscriber` to `topic_filter`. If that subscriber already holds a
    /// subscription with the identical filter, it is replaced in place (options and identifier)
    /// and one entry remains ([MQTT-3.8.4-3]). Returns true when the subscription is new, false
    /// when it replaced one (the session needs this for Retain Handling 1, [MQTT-3.3.1-10] 5.0).
    /// A `subscription_id` of 0 (never valid on the wire, [MQTT-3.8.2.1.2]) is stored as none.
    bool subscribe(subscriber_id subscriber, std::string_view topic_filter,
                   const subscription_options& options,
                   std::optional<std::uint32_t> subscription_id = std::nullopt);
    /// The same with `filter` already parsed (its shared subscription parts are not parsed
    /// again).
    bool subscribe(subscriber_id subscriber, const parsed_filter& filter,
                   const subscription_options& options,
                   std::optional<std::uint32_t> subscription_id = std::nullopt);

    /// Removes the subscription of `subscriber` whose filter equals `topic_filter` byte for byte
    /// ([MQTT-3.10.4-1], the same id in 3.1.1 and 5.0). Returns true when one existed.
    bool unsubscribe(subscriber_id subscriber, std::string_view topic_filter);

    /// Removes every subscription of `subscriber` (session ended). Returns how many there were.
    std::size_t unsubscribe_all(subscriber_id subscriber);

    /// Removes at most `limit` subscriptions of `subscriber`, the oldest first, so that a
    /// subscriber holding thousands can be removed in slices between other work. Returns how many
    /// it still holds afterwards (0: none left).
    std::size_t unsubscribe_some(subscriber_id subscriber, std::size_t limit);

    /// Fills `output` (cleared first) with every subscription matching `topic_name`: one merged
    /// match_result per subscriber of non-shared subscriptions, and one shared_match per matching
    /// shared group. When `publisher` is given, that subscriber's subscriptions with No Local set
    /// are skipped [MQTT-3.8.3-3]. `topic_name` must be a valid topic name.
    void match(std::string_view topic_name, match_output& output,
               std::optional<subscriber_id> publisher = std::nullopt) const;

    /// The subscription of `subscriber` to exactly `topic_filter`, or null.
    const subscription_entry* find(subscriber_id subscriber, std::string_view topic_filter) const;

    /// Every filter `subscriber` holds, in the order they were first subscribed.
    std::vector<std::string> filters_of(subscriber_id subscriber) const;

    /// Number of subscriptions, shared ones included (one per subscriber and filter).
    std::size_t subscription_count() const { return subscription_count_; }
    /// Number of subscribers holding at least one subscription.
    std::size_t subscriber_count() const { return filters_by_subscriber_.size(); }
    /// Number of shared subscription groups with at least one member.
    std::size_t shared_group_count() const { return shared_group_count_; }

private:
    subscription_node* find_node(std::string_view topic_filter) const;
    subscription_node& make_node(std::string_view topic_filter);
    void prune(std::string_view topic_filter);
    static void collect(const subscription_node& matched, match_output& output,
                        std::optional<subscriber_id> publisher);
    bool remove_entry(subscriber_id subscriber, std::string_view topic_filter);

    std::unique_ptr<subscription_node> root_;
    std::unordered_map<subscriber_id, packed_strings> filters_by_subscriber_;
    std::size_t subscription_count_ = 0;
    std::size_t shared_group_count_ = 0;
};

} // namespace perch::mqtt
