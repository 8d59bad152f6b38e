// The message store for durability = none and for tests: the same operations and queue caps as
// the SQLite store, held in memory only. Nothing survives the process.
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <utility>

#include "store/message_store.hpp"
#include "store/queue_ledger.hpp"

namespace perch::store::memory {

/// message_store in memory. Every operation is applied at once under one lock, and its
/// completion fires with ok on the caller's thread before the call returns (never under the
/// lock). load() returns what the store holds, as the SQLite store would after a restart.
class memory_message_store final : public message_store {
public:
    /// Uses the queue caps of `options`; every other setting is ignored.
    explicit memory_message_store(const store_options& options);

    loaded_state load(std::uint64_t now_unix_ms) override;
    void save_session(stored_session session, store_completion done) override;
    void delete_session(std::string client_id, store_completion done) override;
    void add_subscription(stored_subscription subscription, store_completion done) override;
    void remove_subscription(std::string client_id, std::string topic_filter,
                             store_completion done) override;
    enqueue_receipt enqueue(const std::vector<queue_target>& targets, stored_message message,
                            store_completion done) override;
    void read_queue(std::string client_id, std::uint64_t after_sequence, std::size_t max_count,
                    queue_read_completion done) override;
    void mark_sent(std::string client_id, std::uint64_t sequence, std::uint16_t packet_id,
                   delivery_state state, store_completion done) override;
    void ack(std::string client_id, std::uint64_t sequence, store_completion done) override;
    void put_retained(stored_message message, store_completion done) override;
    void clear_retained(std::string topic, store_completion done) override;
    void add_inbound_qos2(stored_inbound_qos2 record, store_completion done) override;
    void remove_inbound_qos2(stored_inbound_qos2 record, store_completion done) override;
    void expire_messages(std::uint64_t now_unix_ms, store_completion done) override;
    /// Nothing is ever pending: returns at once.
    void flush() override {}
    store_counters counters() const override;

private:
    /// Deletes expired entries and retained messages; returns how many. Lock held.
    std::uint64_t remove_expired(std::uint64_t now_unix_ms);
    /// Deletes rows that no session owns. Lock held.
    void remove_orphans();

    /// Guards every member below.
    mutable std::mutex mutex_;
    queue_ledger ledger_;
    std::map<std::string, stored_session> sessions_;
    /// (client_id, topic_filter) -> subscription.
    std::map<std::pair<std::string, std::string>, stored_subscription> subscriptions_;
    /// (client_id, sequence) -> entry, so that a session's queue is one range in delivery order;
    /// entries of one message share its stored_message.
    std::map<std::pair<std::string, std::uint64_t>, loaded_queue_entry> queue_;
    std::set<std::pair<std::string, std::uint16_t>> inbound_qos2_;
    std::map<std::string, stored_message> retained_;
    store_counters counters_;
};

} // namespace perch::store::memory
