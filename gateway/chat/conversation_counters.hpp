// The server message ids of chat conversations: one increasing counter per conversation
// (`room/{room}`, `dm/{a}/{b}`), seeded from history at start so that ids keep increasing across
// restarts. Knows nothing about topics or sessions.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "store/chat_store.hpp"

namespace perch::gateway {

/// Thread-safe counters, one per conversation. The lock is held only to bump one number.
class conversation_counters {
public:
    /// Sets each conversation's last id (from chat_store::conversation_heads()); a counter never
    /// moves backwards.
    void seed(const std::vector<store::conversation_head>& heads);

    /// The next id of `conversation`: one above the last one handed out (the first is 1).
    std::uint64_t next_id(std::string_view conversation);

    /// Makes `id` the last id of `conversation` when it is above it (an id the shared database
    /// allocated, id_source.hpp).
    void raise(std::string_view conversation, std::uint64_t id);

    /// The last id handed out in `conversation` (0 when none).
    std::uint64_t last_id(std::string_view conversation) const;

    /// The direct-message conversations (`dm/{a}/{b}`) `user` is a party of.
    std::vector<std::string> direct_conversations_of(std::string_view user) const;

private:
    struct string_hash {
        using is_transparent = void;
        std::size_t operator()(std::string_view text) const {
            return std::hash<std::string_view>{}(text);
        }
    };
    // Owner: shared by all workers. Lock: mutex_.
    mutable std::mutex mutex_;
    std::unordered_map<std::string, std::uint64_t, string_hash, std::equal_to<>> last_ids_;
    /// The direct-message conversations of each party.
    std::unordered_map<std::string, std::vector<std::string>, string_hash, std::equal_to<>>
        direct_by_user_;

    /// Adds a new conversation to direct_by_user_ when it is a direct-message one.
    void index_conversation(const std::string& conversation);
};

} // namespace perch::gateway
