// Identifier allocation and per-session queue usage for the queue caps.
#include "store/queue_ledger.hpp"

#include <algorithm>

namespace perch::store {

queue_ledger::queue_ledger(std::uint32_t max_queued_messages, std::uint64_t max_queued_bytes)
    : max_queued_messages_(max_queued_messages), max_queued_bytes_(max_queued_bytes) {}

void queue_ledger::restore(const std::string& client_id, std::uint64_t sequence,
                           std::uint64_t message_id, std::uint64_t payload_bytes) {
    auto& usage = sessions_[client_id];
    if (usage.entries.emplace(sequence, payload_bytes).second) {
        usage.bytes += payload_bytes;
    }
    reserve_above(message_id, sequence);
}

void queue_ledger::reserve_above(std::uint64_t message_id, std::uint64_t sequence) {
    last_message_id_ = std::max(last_message_id_, message_id);
    last_sequence_ = std::max(last_sequence_, sequence);
}

bool queue_ledger::has_room(const session_usage& usage, std::uint64_t payload_bytes) const {
    if (max_queued_messages_ != 0 && usage.entries.size() >= max_queued_messages_) {
        return false;
    }
    return max_queued_bytes_ == 0 || usage.bytes + payload_bytes <= max_queued_bytes_;
}

enqueue_plan queue_ledger::plan_enqueue(const std::vector<queue_target>& targets,
                                        std::uint64_t payload_bytes) {
    enqueue_plan plan;
    plan.receipt.sequences.reserve(targets.size());
    plan.entries.reserve(targets.size());
    std::uint64_t message_id = 0;
    for (const auto& target : targets) {
        const auto found = sessions_.find(target.client_id);
        if (found != sessions_.end() && !has_room(found->second, payload_bytes)) {
            plan.receipt.sequences.push_back(0);
            ++plan.receipt.refused_for_quota;
            continue;
        }
        if (found == sessions_.end() && !has_room(session_usage{}, payload_bytes)) {
            plan.receipt.sequences.push_back(0);
            ++plan.receipt.refused_for_quota;
            continue;
        }
        auto& usage = sessions_[target.client_id];
        if (message_id == 0) {
            message_id = ++last_message_id_;
        }
        const std::uint64_t sequence = ++last_sequence_;
        usage.entries.emplace(sequence, payload_bytes);
        usage.bytes += payload_bytes;
        plan.receipt.sequences.push_back(sequence);
        queue_entry entry;
        entry.client_id = target.client_id;
        entry.sequence = sequence;
        entry.message_id = message_id;
        entry.qos = target.qos;
        entry.is_retained = target.is_retained;
        entry.subscription_ids = target.subscription_ids;
        plan.entries.push_back(std::move(entry));
    }
    plan.receipt.message_id = message_id;
    return plan;
}

bool queue_ledger::release(const std::string& client_id, std::uint64_t sequence) {
    const auto session = sessions_.find(client_id);
    if (session == sessions_.end()) {
        return false;
    }
    const auto entry = session->second.entries.find(sequence);
    if (entry == session->second.entries.end()) {
        return false;
    }
    session->second.bytes -= entry->second;
    session->second.entries.erase(entry);
    if (session->second.entries.empty()) {
        sessions_.erase(session);
    }
    return true;
}

void queue_ledger::release_session(const std::string& client_id) {
    sessions_.erase(client_id);
}

std::size_t queue_ledger::queued_messages(const std::string& client_id) const {
    const auto session = sessions_.find(client_id);
    return session == sessions_.end() ? 0 : session->second.entries.size();
}

std::uint64_t queue_ledger::queued_bytes(const std::string& client_id) const {
    const auto session = sessions_.find(client_id);
    return session == sessions_.end() ? 0 : session->second.bytes;
}

} // namespace perch::store
