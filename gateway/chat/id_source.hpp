// Where the chat layer's message ids come from: the gateway's own counters (a store of one
// gateway: SQLite, memory) or the shared database (PostgreSQL, several gateways). The one
// difference the rest of the chat layer sees is whether an id is known at once.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "gateway/chat/conversation_counters.hpp"
#include "store/id_allocator.hpp"

namespace perch::gateway {

/// Hands out the next id of a conversation: increasing per conversation, without gaps, unique
/// across every gateway that shares the store. Thread-safe.
class id_source {
public:
    /// Receives the id, or empty when none could be allocated (the store failed).
    using completion = std::function<void(std::optional<std::uint64_t> id)>;

    virtual ~id_source() = default;

    /// The next id of `conversation` when it is known at once (and then counted as the
    /// conversation's last id); empty when it must be asked for with allocate_later.
    virtual std::optional<std::uint64_t> allocate_now(const std::string& conversation) = 0;

    /// Asks for the next id of `conversation`; `done` runs exactly once, in request order: later,
    /// on the source's thread (at once for a source whose ids are known at once). The id becomes
    /// the conversation's last id (counters) once `done` returned: `done` submits its history row
    /// first.
    virtual void allocate_later(std::string conversation, completion done) = 0;
};

/// Ids from the gateway's own counters: always known at once.
class counter_id_source final : public id_source {
public:
    explicit counter_id_source(conversation_counters& counters) : counters_(counters) {}
    std::optional<std::uint64_t> allocate_now(const std::string& conversation) override;
    void allocate_later(std::string conversation, completion done) override;

private:
    conversation_counters& counters_;
};

/// Ids from the store's shared allocator: never known at once; each one raises `counters` (the
/// gateway's view of each conversation's last id) once its completion has run.
class store_id_source final : public id_source {
public:
    store_id_source(std::unique_ptr<store::id_allocator> allocator, conversation_counters& counters)
        : allocator_(std::move(allocator)), counters_(counters) {}
    std::optional<std::uint64_t> allocate_now(const std::string& conversation) override;
    void allocate_later(std::string conversation, completion done) override;

private:
    std::unique_ptr<store::id_allocator> allocator_;
    conversation_counters& counters_;
};

} // namespace perch::gateway
