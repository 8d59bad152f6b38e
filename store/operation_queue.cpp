// FIFO of pending store operations that cancels queue entries acknowledged before they are
// written.
#include "store/operation_queue.hpp"

#include <algorithm>
#include <utility>

namespace perch::store {

queue_entry* operation_queue::find_entry(const std::string& client_id, std::uint64_t sequence) {
    const auto found = entries_.find(sequence);
    if (found == entries_.end()) {
        return nullptr;
    }
    queue_entry& entry = found->second.operation->entries[found->second.index];
    return entry.client_id == client_id ? &entry : nullptr;
}

void operation_queue::push(store_operation operation, store_completion completion) {
    if (const auto* ack = std::get_if<ack_operation>(&operation)) {
        if (queue_entry* entry = find_entry(ack->client_id, ack->sequence)) {
            entries_.erase(entry->sequence);
            entry->sequence = 0;
            ++cancelled_entries_;
            operation = no_operation{};
        }
    } else if (const auto* sent = std::get_if<mark_sent_operation>(&operation)) {
        if (queue_entry* entry = find_entry(sent->client_id, sent->sequence)) {
            entry->packet_id = sent->packet_id;
            entry->state = sent->state;
            operation = no_operation{};
        }
    }
    auto pending = std::make_unique<pending_operation>(
        pending_operation{std::move(operation), std::move(completion), false});
    index_entries(*pending);
    operations_.push_back(std::move(pending));
}

void operation_queue::index_entries(pending_operation& pending) {
    if (auto* enqueue = std::get_if<enqueue_operation>(&pending.operation)) {
        for (std::size_t index = 0; index < enqueue->entries.size(); ++index) {
            if (enqueue->entries[index].sequence != 0) {
                entries_[enqueue->entries[index].sequence] = entry_location{enqueue, index};
            }
        }
    }
}

void operation_queue::return_to_front(std::vector<pending_operation> operations) {
    for (auto operation = operations.rbegin(); operation != operations.rend(); ++operation) {
        auto pending = std::make_unique<pending_operation>(std::move(*operation));
        index_entries(*pending);
        operations_.push_front(std::move(pending));
    }
}

std::vector<pending_operation> operation_queue::take(std::size_t max_new_count) {
    std::vector<pending_operation> taken;
    std::size_t new_count = 0;
    while (!operations_.empty() &&
           (operations_.front()->was_attempted || new_count < max_new_count)) {
        pending_operation& front = *operations_.front();
        new_count += front.was_attempted ? 0 : 1;
        if (const auto* enqueue = std::get_if<enqueue_operation>(&front.operation)) {
            for (const auto& entry : enqueue->entries) {
                if (entry.sequence != 0) {
                    entries_.erase(entry.sequence);
                }
            }
        }
        taken.push_back(std::move(front));
        operations_.pop_front();
    }
    return taken;
}

} // namespace perch::store
