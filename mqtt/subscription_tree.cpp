// The subscription trie, its matching walk and the reusable match output.
#include "mqtt/subscription_tree.hpp"

#include <algorithm>
#include <atomic>
#include <functional>
#include <utility>

#include "mqtt/lazy_vector.hpp"
#include "mqtt/topic.hpp"

namespace perch::mqtt {

struct subscription_node {
    struct level_hash {
        using is_transparent = void;
        std::size_t operator()(std::string_view level) const noexcept {
            return std::hash<std::string_view>{}(level);
        }
    };
    using child_map = std::unordered_map<std::string, std::unique_ptr<subscription_node>,
                                         level_hash, std::equal_to<>>;

    /// The members of one $share/{share_name}/{topic_filter} group.
    struct shared_group {
        /// `filter` is a shared one (its `shared` is set); its parts are not parsed again.
        explicit shared_group(const parsed_filter& filter)
            : full_filter(filter.text),
              share_name(std::string_view(full_filter)
                             .substr(static_cast<std::size_t>(filter.shared->share_name.data() -
                                                              filter.text.data()),
                                     filter.shared->share_name.size())),
              topic_filter(std::string_view(full_filter)
                               .substr(static_cast<std::size_t>(filter.shared->topic_filter.data() -
                                                                filter.text.data()),
                                       filter.shared->topic_filter.size())) {}

        /// Owns the characters share_name and topic_filter view; never modified.
        const std::string full_filter;
        std::string_view share_name;
        std::string_view topic_filter;
        std::vector<subscription_entry> members;
        /// Round-robin counter; advanced by match under the shared lock, hence atomic.
        mutable std::atomic<std::uint64_t> next_rotation{0};
    };

    /// Children for literal levels, keyed by the level's characters; null while there are none
    /// (most nodes are leaves: an empty map would cost 56 bytes each).
    std::unique_ptr<child_map> children;
    /// The child for a '+' level.
    std::unique_ptr<subscription_node> single_wildcard_child;
    /// The child for a '#' level; it has no children of its own.
    std::unique_ptr<subscription_node> multi_wildcard_child;
    /// Non-shared subscriptions whose filter ends here, at most one per subscriber.
    std::vector<subscription_entry> subscriptions;
    /// Shared groups whose filter ends here, one per share name. A pointer while there are none
    /// (nearly every node: a chat user's own filters make 9 nodes of their own).
    lazy_vector<std::unique_ptr<shared_group>> shared_groups;

    bool is_empty() const {
        return !children && !single_wildcard_child && !multi_wildcard_child &&
               subscriptions.empty() && shared_groups.empty();
    }

    subscription_node* child(std::string_view level) const {
        if (level == "+") {
            return single_wildcard_child.get();
        }
        if (level == "#") {
            return multi_wildcard_child.get();
        }
        if (!children) {
            return nullptr;
        }
        const auto found = children->find(level);
        return found == children->end() ? nullptr : found->second.get();
    }

    std::unique_ptr<subscription_node>& child_slot(std::string_view level) {
        if (level == "+") {
            return single_wildcard_child;
        }
        if (level == "#") {
            return multi_wildcard_child;
        }
        if (!children) {
            children = std::make_unique<child_map>();
        }
        return children->try_emplace(std::string(level)).first->second;
    }

    void erase_child(std::string_view level) {
        if (level == "+") {
            single_wildcard_child.reset();
        } else if (level == "#") {
            multi_wildcard_child.reset();
        } else if (children) {
            if (const auto found = children->find(level); found != children->end()) {
                children->erase(found);
            }
            if (children->empty()) {
                children.reset();
            }
        }
    }
};

// The index holds about 9 nodes of each chat user's own (docs/PERFORMANCE.md round 19): 56 bytes
// fit glibc's 64-byte chunk, where 72 took an 80-byte one.
static_assert(sizeof(subscription_node) <= 56);

namespace {

/// The part of a filter that places it in the trie: the filter after "$share/{name}/" for a
/// shared subscription, the whole filter otherwise.
struct filter_key {
    std::optional<shared_filter> shared;
    std::string_view trie_filter;
};

filter_key key_of(std::string_view topic_filter) {
    auto shared = parse_shared_subscription(topic_filter);
    const std::string_view trie_filter = shared ? shared->topic_filter : topic_filter;
    return {shared, trie_filter};
}

template <typename Entries> auto find_subscriber(Entries& entries, subscriber_id subscriber) {
    return std::find_if(entries.begin(), entries.end(),
                        [subscriber](const auto& entry) { return entry.subscriber == subscriber; });
}

template <typename Groups> auto find_group(Groups& groups, std::string_view share_name) {
    return std::find_if(groups.begin(), groups.end(), [share_name](const auto& group) {
        return group->share_name == share_name;
    });
}

/// Removes the entry of `subscriber` by moving the last entry into its place.
bool erase_subscriber(std::vector<subscription_entry>& entries, subscriber_id subscriber) {
    const auto found = find_subscriber(entries, subscriber);
    if (found == entries.end()) {
        return false;
    }
    *found = entries.back();
    entries.pop_back();
    return true;
}

/// Destroys a subtree without recursion, whatever its depth.
void destroy_iteratively(std::unique_ptr<subscription_node> root) {
    std::vector<std::unique_ptr<subscription_node>> pending;
    pending.push_back(std::move(root));
    while (!pending.empty()) {
        std::unique_ptr<subscription_node> current = std::move(pending.back());
        pending.pop_back();
        if (!current) {
            continue;
        }
        if (current->children) {
            for (auto& [level, child] : *current->children) {
                pending.push_back(std::move(child));
            }
        }
        pending.push_back(std::move(current->single_wildcard_child));
        pending.push_back(std::move(current->multi_wildcard_child));
    }
}

std::uint64_t mix(subscriber_id subscriber) {
    std::uint64_t hash = subscriber * 0x9E37'79B9'7F4A'7C15ULL;
    return hash ^ (hash >> 29);
}

} // namespace

// ---- match_output ----------------------------------------------------------------------------

void match_output::reset() {
    results_.clear();
    shared_.clear();
    subscription_ids_.clear();
    pending_ids_.clear();
    stack_.clear();
    contributing_nodes_ = 0;
    is_indexed_ = false;
    ++generation_;
    if (generation_ == 0) {
        // The counter wrapped: forget every stamp so no stale slot looks current.
        for (slot& each : slots_) {
            each.generation = 0;
        }
        generation_ = 1;
    }
}

void match_output::grow_slots() {
    std::size_t new_size = std::max<std::size_t>(64, slots_.size() * 2);
    while ((results_.size() + 1) * 2 > new_size) {
        new_size *= 2;
    }
    slots_.assign(new_size, slot{});
    const std::size_t mask = new_size - 1;
    for (std::uint32_t index = 0; index < results_.size(); ++index) {
        std::size_t position = mix(results_[index].subscriber) & mask;
        while (slots_[position].generation == generation_) {
            position = (position + 1) & mask;
        }
        slots_[position] = slot{results_[index].subscriber, index, generation_};
    }
}

std::uint32_t& match_output::result_index_for(subscriber_id subscriber, bool& is_new) {
    if ((results_.size() + 1) * 2 > slots_.size()) {
        grow_slots();
    }
    const std::size_t mask = slots_.size() - 1;
    std::size_t position = mix(subscriber) & mask;
    while (true) {
        slot& candidate = slots_[position];
        if (candidate.generation != generation_) {
            candidate = slot{subscriber, 0, generation_};
            is_new = true;
            return candidate.result_index;
        }
        if (candidate.subscriber == subscriber) {
            is_new = false;
            return candidate.result_index;
        }
        position = (position + 1) & mask;
    }
}

void match_output::add_distinct(const subscription_entry& entry) {
    const auto index = static_cast<std::uint32_t>(results_.size());
    results_.push_back(match_result{
        entry.subscriber, entry.options.maximum_qos, entry.options.is_retain_as_published, {}});
    if (entry.subscription_id) {
        pending_ids_.push_back(pending_id{index, *entry.subscription_id});
    }
}

void match_output::index_results() {
    is_indexed_ = true;
    if ((results_.size() + 1) * 2 > slots_.size()) {
        grow_slots(); // inserts every result
        return;
    }
    for (std::uint32_t index = 0; index < results_.size(); ++index) {
        bool is_new = false;
        result_index_for(results_[index].subscriber, is_new) = index;
    }
}

void match_output::add(const subscription_entry& entry) {
    if (!is_indexed_) {
        index_results();
    }
    bool is_new = false;
    std::uint32_t& index = result_index_for(entry.subscriber, is_new);
    if (is_new) {
        index = static_cast<std::uint32_t>(results_.size());
        results_.push_back(match_result{
            entry.subscriber, entry.options.maximum_qos, entry.options.is_retain_as_published, {}});
    } else {
        match_result& merged = results_[index];
        // [MQTT-3.3.4-2] (5.0) / [MQTT-3.3.5-1] (3.1.1) the maximum QoS of all matches.
        merged.maximum_qos = std::max(merged.maximum_qos, entry.options.maximum_qos);
        merged.is_retain_as_published =
            merged.is_retain_as_published || entry.options.is_retain_as_published;
    }
    if (entry.subscription_id) {
        // [MQTT-3.3.4-3] every matching subscription's identifier goes with the message.
        pending_ids_.push_back(pending_id{index, *entry.subscription_id});
    }
}

void match_output::finish() {
    if (pending_ids_.empty()) {
        return;
    }
    // Counting sort of the identifiers by result, so each result's identifiers are contiguous.
    id_offsets_.assign(results_.size() + 1, 0);
    for (const pending_id& pending : pending_ids_) {
        ++id_offsets_[pending.result_index + 1];
    }
    for (std::size_t index = 1; index < id_offsets_.size(); ++index) {
        id_offsets_[index] += id_offsets_[index - 1];
    }
    subscription_ids_.resize(pending_ids_.size());
    for (const pending_id& pending : pending_ids_) {
        subscription_ids_[id_offsets_[pending.result_index]++] = pending.subscription_id;
    }
    // Each offset now marks the end of its result's identifiers.
    for (std::size_t index = 0; index < results_.size(); ++index) {
        const std::uint32_t begin = index == 0 ? 0 : id_offsets_[index - 1];
        results_[index].subscription_ids = std::span<const std::uint32_t>(subscription_ids_)
                                               .subspan(begin, id_offsets_[index] - begin);
    }
}

// ---- subscription_tree -----------------------------------------------------------------------

subscription_tree::subscription_tree() : root_(std::make_unique<subscription_node>()) {}

subscription_tree::~subscription_tree() {
    destroy_iteratively(std::move(root_));
}

subscription_node* subscription_tree::find_node(std::string_view topic_filter) const {
    subscription_node* current = root_.get();
    std::size_t position = 0;
    while (current != nullptr) {
        const topic_level level = next_topic_level(topic_filter, position);
        current = current->child(level.level);
        if (level.is_last) {
            break;
        }
        position = level.next_position;
    }
    return current;
}

subscription_node& subscription_tree::make_node(std::string_view topic_filter) {
    subscription_node* current = root_.get();
    std::size_t position = 0;
    while (true) {
        const topic_level level = next_topic_level(topic_filter, position);
        std::unique_ptr<subscription_node>& slot = current->child_slot(level.level);
        if (!slot) {
            slot = std::make_unique<subscription_node>();
        }
        current = slot.get();
        if (level.is_last) {
            return *current;
        }
        position = level.next_position;
    }
}

void subscription_tree::prune(std::string_view topic_filter) {
    std::vector<std::pair<subscription_node*, std::string_view>> path;
    subscription_node* current = root_.get();
    std::size_t position = 0;
    while (current != nullptr) {
        const topic_level level = next_topic_level(topic_filter, position);
        path.emplace_back(current, level.level);
        current = current->child(level.level);
        if (level.is_last) {
            break;
        }
        position = level.next_position;
    }
    if (current == nullptr || !current->is_empty()) {
        return;
    }
    // Walk back up, removing each node that the removal below left empty.
    while (!path.empty()) {
        auto [parent, level] = path.back();
        path.pop_back();
        parent->erase_child(level);
        if (parent == root_.get() || !parent->is_empty()) {
            return;
        }
    }
}

bool subscription_tree::subscribe(subscriber_id subscriber, std::string_view topic_filter,
                                  const subscription_options& options,
                                  std::optional<std::uint32_t> subscription_id) {
    return subscribe(subscriber, parse_filter(topic_filter), options, subscription_id);
}

bool subscription_tree::subscribe(subscriber_id subscriber, const parsed_filter& filter,
                                  const subscription_options& options,
                                  std::optional<std::uint32_t> subscription_id) {
    const std::string_view topic_filter = filter.text;
    subscription_node& target = make_node(filter.match_filter());
    const subscription_entry entry{subscriber, options, subscription_id};
    std::vector<subscription_entry>* entries = &target.subscriptions;
    if (filter.shared) {
        auto group = find_group(target.shared_groups, filter.shared->share_name);
        if (group == target.shared_groups.end()) {
            target.shared_groups.push_back(
                std::make_unique<subscription_node::shared_group>(filter));
            group = std::prev(target.shared_groups.end());
            ++shared_group_count_;
        }
        entries = &(*group)->members;
    }
    if (const auto existing = find_subscriber(*entries, subscriber); existing != entries->end()) {
        *existing = entry; // [MQTT-3.8.4-3] an identical filter replaces the subscription
        return false;
    }
    if (entries->size() == entries->capacity()) {
        // Grown by a quarter rather than doubled: most nodes keep the subscribers of one room or
        // one user's peers for a long time, and doubling would leave up to half of it unused.
        entries->reserve(entries->size() + entries->size() / 4 + 1);
    }
    entries->push_back(entry);
    ++subscription_count_;
    filters_by_subscriber_[subscriber].push_back(topic_filter);
    return true;
}

bool subscription_tree::remove_entry(subscriber_id subscriber, std::string_view topic_filter) {
    const filter_key key = key_of(topic_filter);
    subscription_node* target = find_node(key.trie_filter);
    if (target == nullptr) {
        return false;
    }
    if (key.shared) {
        auto& groups = target->shared_groups;
        const auto group = find_group(groups, key.shared->share_name);
        if (group == groups.end() || !erase_subscriber((*group)->members, subscriber)) {
            return false;
        }
        if ((*group)->members.empty()) {
            groups.erase(group);
            if (groups.empty()) {
                groups.clear(); // releases the storage
            }
            --shared_group_count_;
        }
    } else if (!erase_subscriber(target->subscriptions, subscriber)) {
        return false;
    }
    --subscription_count_;
    prune(key.trie_filter);
    return true;
}

bool subscription_tree::unsubscribe(subscriber_id subscriber, std::string_view topic_filter) {
    const auto holder = filters_by_subscriber_.find(subscriber);
    if (holder == filters_by_subscriber_.end()) {
        return false;
    }
    // [MQTT-3.10.4-1] filters are compared character by character, wildcards included.
    packed_strings& filters = holder->second;
    if (!filters.erase(topic_filter)) {
        return false;
    }
    remove_entry(subscriber, topic_filter);
    if (filters.empty()) {
        filters_by_subscriber_.erase(holder);
    }
    return true;
}

std::size_t subscription_tree::unsubscribe_all(subscriber_id subscriber) {
    const auto holder = filters_by_subscriber_.find(subscriber);
    if (holder == filters_by_subscriber_.end()) {
        return 0;
    }
    const packed_strings filters = std::move(holder->second);
    filters_by_subscriber_.erase(holder);
    filters.for_each(
        [this, subscriber](std::string_view filter) { remove_entry(subscriber, filter); });
    return filters.size();
}

std::size_t subscription_tree::unsubscribe_some(subscriber_id subscriber, std::size_t limit) {
    const auto holder = filters_by_subscriber_.find(subscriber);
    if (holder == filters_by_subscriber_.end()) {
        return 0;
    }
    packed_strings& filters = holder->second;
    std::size_t removed = 0;
    filters.for_each([this, subscriber, limit, &removed](std::string_view filter) {
        if (removed < limit) {
            remove_entry(subscriber, filter);
            ++removed;
        }
    });
    filters.erase_first(removed);
    const std::size_t remaining = filters.size();
    if (remaining == 0) {
        filters_by_subscriber_.erase(holder);
    }
    return remaining;
}

const subscription_entry* subscription_tree::find(subscriber_id subscriber,
                                                  std::string_view topic_filter) const {
    const filter_key key = key_of(topic_filter);
    const subscription_node* target = find_node(key.trie_filter);
    if (target == nullptr) {
        return nullptr;
    }
    const std::vector<subscription_entry>* entries = &target->subscriptions;
    if (key.shared) {
        const auto& groups = target->shared_groups;
        const auto group = find_group(groups, key.shared->share_name);
        if (group == groups.end()) {
            return nullptr;
        }
        entries = &(*group)->members;
    }
    const auto found = find_subscriber(*entries, subscriber);
    return found == entries->end() ? nullptr : &*found;
}

std::vector<std::string> subscription_tree::filters_of(subscriber_id subscriber) const {
    const auto holder = filters_by_subscriber_.find(subscriber);
    return holder == filters_by_subscriber_.end() ? std::vector<std::string>{}
                                                  : holder->second.to_vector();
}

void subscription_tree::collect(const subscription_node& matched, match_output& output,
                                std::optional<subscriber_id> publisher) {
    // A node holds at most one subscription per subscriber: the first node to contribute needs
    // no merging.
    const bool is_first_contribution =
        !matched.subscriptions.empty() && output.contributing_nodes_++ == 0;
    for (const subscription_entry& entry : matched.subscriptions) {
        // [MQTT-3.8.3-3] No Local: never back to the client that published.
        if (entry.options.is_no_local && publisher == entry.subscriber) {
            continue;
        }
        if (is_first_contribution) {
            output.add_distinct(entry);
        } else {
            output.add(entry);
        }
    }
    for (const auto& group : matched.shared_groups) {
        output.shared_.push_back(
            shared_match{group->share_name, group->topic_filter, group->members,
                         group->next_rotation.fetch_add(1, std::memory_order_relaxed)});
    }
}

void subscription_tree::match(std::string_view topic_name, match_output& output,
                              std::optional<subscriber_id> publisher) const {
    output.reset();
    // [MQTT-4.7.2-1] no wildcard at the first level matches a name starting with '$'.
    const bool is_dollar_topic = topic_name.starts_with('$');
    auto& stack = output.stack_;
    stack.push_back(match_output::frame{root_.get(), 0, false});
    while (!stack.empty()) {
        const match_output::frame current = stack.back();
        stack.pop_back();
        const subscription_node& at = *current.node;
        const bool is_shielded = is_dollar_topic && current.node == root_.get();
        if (at.multi_wildcard_child && !is_shielded) {
            collect(*at.multi_wildcard_child, output, publisher); // '#' includes the parent
        }
        if (current.is_name_exhausted) {
            collect(at, output, publisher);
            continue;
        }
        const topic_level level = next_topic_level(topic_name, current.name_position);
        if (at.children) {
            if (const auto found = at.children->find(level.level); found != at.children->end()) {
                stack.push_back(
                    match_output::frame{found->second.get(), level.next_position, level.is_last});
            }
        }
        if (at.single_wildcard_child && !is_shielded) {
            stack.push_back(match_output::frame{at.single_wildcard_child.get(), level.next_position,
                                                level.is_last});
        }
    }
    output.finish();
}

} // namespace perch::mqtt
