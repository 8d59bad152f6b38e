// The in-memory message store: ordered maps under one lock, completions fired after unlocking.
#include "store/memory/memory_message_store.hpp"

#include <iterator>

namespace perch::store::memory {
namespace {

void complete(const store_completion& done) {
    if (done) {
        done(store_status{});
    }
}

bool has_expired(const stored_message& message, std::uint64_t now_unix_ms) {
    return message.expiry_unix_ms != 0 && message.expiry_unix_ms <= now_unix_ms;
}

} // namespace

memory_message_store::memory_message_store(const store_options& options)
    : ledger_(options.max_queued_messages, options.max_queued_bytes) {}

std::uint64_t memory_message_store::remove_expired(std::uint64_t now_unix_ms) {
    std::uint64_t removed = 0;
    for (auto entry = queue_.begin(); entry != queue_.end();) {
        // [MQTT-3.3.2-5 (5.0)] only copies whose onward delivery has not started are deleted.
        if (entry->second.entry.state == delivery_state::queued &&
            has_expired(*entry->second.message, now_unix_ms)) {
            ledger_.release(entry->first.first, entry->first.second);
            entry = queue_.erase(entry);
            ++removed;
        } else {
            ++entry;
        }
    }
    std::erase_if(retained_, [&](const auto& item) {
        if (has_expired(item.second, now_unix_ms)) {
            ++removed;
            return true;
        }
        return false;
    });
    counters_.expired_messages += removed;
    return removed;
}

void memory_message_store::remove_orphans() {
    const auto is_orphan = [&](const std::string& client_id) {
        return !sessions_.contains(client_id);
    };
    std::erase_if(subscriptions_, [&](const auto& item) { return is_orphan(item.first.first); });
    std::erase_if(inbound_qos2_, [&](const auto& item) { return is_orphan(item.first); });
    std::erase_if(queue_, [&](const auto& item) {
        if (is_orphan(item.second.entry.client_id)) {
            ledger_.release(item.first.first, item.first.second);
            return true;
        }
        return false;
    });
}

loaded_state memory_message_store::load(std::uint64_t now_unix_ms) {
    std::lock_guard lock(mutex_);
    loaded_state state;
    for (auto held = sessions_.begin(); held != sessions_.end();) {
        const std::uint64_t expires_at = held->second.expires_at_unix_ms;
        if (expires_at != 0 && expires_at <= now_unix_ms) {
            ledger_.release_session(held->first);
            state.expired_sessions.push_back(std::move(held->second));
            held = sessions_.erase(held);
        } else {
            ++held;
        }
    }
    remove_orphans();
    state.expired_messages = remove_expired(now_unix_ms);
    std::map<std::string, std::size_t> session_index;
    for (const auto& [client_id, session] : sessions_) {
        session_index.emplace(client_id, state.sessions.size());
        state.sessions.push_back(loaded_session{session, {}, {}, {}});
    }
    for (const auto& [key, subscription] : subscriptions_) {
        state.sessions[session_index.at(key.first)].subscriptions.push_back(subscription);
    }
    for (const auto& [key, entry] : queue_) {
        state.sessions[session_index.at(key.first)].queue.push_back(entry);
    }
    for (const auto& [client_id, packet_id] : inbound_qos2_) {
        state.sessions[session_index.at(client_id)].inbound_qos2_packet_ids.push_back(packet_id);
    }
    for (const auto& [topic, message] : retained_) {
        state.retained.push_back(message);
    }
    return state;
}

void memory_message_store::save_session(stored_session session, store_completion done) {
    {
        std::lock_guard lock(mutex_);
        const std::string client_id = session.client_id;
        sessions_.insert_or_assign(client_id, std::move(session));
        ++counters_.committed_operations;
    }
    complete(done);
}

void memory_message_store::delete_session(std::string client_id, store_completion done) {
    {
        std::lock_guard lock(mutex_);
        sessions_.erase(client_id);
        remove_orphans();
        ledger_.release_session(client_id);
        ++counters_.committed_operations;
    }
    complete(done);
}

void memory_message_store::add_subscription(stored_subscription subscription,
                                            store_completion done) {
    {
        std::lock_guard lock(mutex_);
        auto key = std::make_pair(subscription.client_id, subscription.topic_filter);
        subscriptions_.insert_or_assign(std::move(key), std::move(subscription));
        ++counters_.committed_operations;
    }
    complete(done);
}

void memory_message_store::remove_subscription(std::string client_id, std::string topic_filter,
                                               store_completion done) {
    {
        std::lock_guard lock(mutex_);
        subscriptions_.erase({client_id, topic_filter});
        ++counters_.committed_operations;
    }
    complete(done);
}

enqueue_receipt memory_message_store::enqueue(const std::vector<queue_target>& targets,
                                              stored_message message, store_completion done) {
    enqueue_receipt receipt;
    {
        std::lock_guard lock(mutex_);
        enqueue_plan plan = ledger_.plan_enqueue(targets, message.payload.size());
        message.message_id = plan.receipt.message_id;
        const auto shared = std::make_shared<const stored_message>(std::move(message));
        for (auto& entry : plan.entries) {
            auto key = std::make_pair(entry.client_id, entry.sequence);
            queue_.emplace(std::move(key), loaded_queue_entry{std::move(entry), shared});
        }
        counters_.queue_rows_written += plan.entries.size();
        counters_.refused_for_quota += plan.receipt.refused_for_quota;
        ++counters_.committed_operations;
        receipt = std::move(plan.receipt);
    }
    complete(done);
    return receipt;
}

void memory_message_store::read_queue(std::string client_id, std::uint64_t after_sequence,
                                      std::size_t max_count, queue_read_completion done) {
    std::vector<loaded_queue_entry> entries;
    {
        std::lock_guard lock(mutex_);
        for (auto entry = queue_.upper_bound({client_id, after_sequence});
             entry != queue_.end() && entry->first.first == client_id && entries.size() < max_count;
             ++entry) {
            entries.push_back(entry->second);
        }
    }
    done(store_status{}, std::move(entries));
}

void memory_message_store::mark_sent(std::string client_id, std::uint64_t sequence,
                                     std::uint16_t packet_id, delivery_state state,
                                     store_completion done) {
    {
        std::lock_guard lock(mutex_);
        const auto found = queue_.find({client_id, sequence});
        if (found != queue_.end()) {
            found->second.entry.packet_id = packet_id;
            found->second.entry.state = state;
        }
        ++counters_.committed_operations;
    }
    complete(done);
}

void memory_message_store::ack(std::string client_id, std::uint64_t sequence,
                               store_completion done) {
    {
        std::lock_guard lock(mutex_);
        const auto found = queue_.find({client_id, sequence});
        if (found != queue_.end()) {
            queue_.erase(found);
            ledger_.release(client_id, sequence);
        }
        ++counters_.committed_operations;
    }
    complete(done);
}

void memory_message_store::put_retained(stored_message message, store_completion done) {
    {
        std::lock_guard lock(mutex_);
        message.is_retained = true;
        const std::string topic = message.topic;
        retained_.insert_or_assign(topic, std::move(message));
        ++counters_.committed_operations;
    }
    complete(done);
}

void memory_message_store::clear_retained(std::string topic, store_completion done) {
    {
        std::lock_guard lock(mutex_);
        retained_.erase(topic);
        ++counters_.committed_operations;
    }
    complete(done);
}

void memory_message_store::add_inbound_qos2(stored_inbound_qos2 record, store_completion done) {
    {
        std::lock_guard lock(mutex_);
        inbound_qos2_.emplace(std::move(record.client_id), record.packet_id);
        ++counters_.committed_operations;
    }
    complete(done);
}

void memory_message_store::remove_inbound_qos2(stored_inbound_qos2 record, store_completion done) {
    {
        std::lock_guard lock(mutex_);
        inbound_qos2_.erase({record.client_id, record.packet_id});
        ++counters_.committed_operations;
    }
    complete(done);
}

void memory_message_store::expire_messages(std::uint64_t now_unix_ms, store_completion done) {
    {
        std::lock_guard lock(mutex_);
        remove_expired(now_unix_ms);
        ++counters_.committed_operations;
    }
    complete(done);
}

store_counters memory_message_store::counters() const {
    std::lock_guard lock(mutex_);
    return counters_;
}

} // namespace perch::store::memory
