// The `search` control request (docs/CHAT.md "Search"): reading its fields and query words, and
// the JSON of its hits. The chat service carries it out (chat_search.cpp).
#pragma once

#include <cstddef>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/chat/chat_control.hpp"
#include "store/chat_store.hpp"

#include <nlohmann/json_fwd.hpp>

namespace perch::gateway {

/// A search page holds at most this many hits.
inline constexpr std::size_t max_search_page = 50;
/// The page size when a search names none.
inline constexpr std::size_t default_search_page = 20;
/// The longest query, in bytes.
inline constexpr std::size_t max_search_query_bytes = 256;
/// The most words a query may hold.
inline constexpr std::size_t max_search_terms = 16;
/// Pages start at most this many hits in (each page ranks every match again).
inline constexpr std::size_t max_search_offset = 1'000;
/// What a snippet puts around each matched word.
inline constexpr std::string_view search_mark = "**";

/// The users with a search in flight: a user has at most one at a time, so that one client
/// cannot fill the store's search queue. Thread-safe; shared with the completions it outlives.
class search_gate {
public:
    /// Takes `user`'s slot; false when they already have a search in flight.
    bool try_enter(const std::string& user);
    /// Frees `user`'s slot.
    void leave(const std::string& user);

private:
    std::mutex mutex_;
    std::set<std::string, std::less<>> users_;
};

/// The words of a query: runs of ASCII letters and digits or of non-ASCII bytes, ASCII folded to
/// lower case; a word followed at once by `*` is a prefix. Empty when it holds none.
std::vector<store::search_term> search_terms_of(std::string_view query);

/// Reads the fields of a `search` request into `parsed`: `q` (required), at most one of `room`,
/// `peer` (kept in parsed.user) and `conversation`, `limit` and `cursor`. The error when one is
/// missing or invalid.
std::optional<std::string> read_search_fields(const nlohmann::json& request,
                                              control_request& parsed);

/// The members a search reply adds: `hits` (each `conversation`, `id`, `sender`, `topic`, `ts`,
/// `payload`, `snippet`, and `reply_to`, `edited_ts` when they apply) and `next` (the cursor of
/// the following page) when `next_offset` is set.
std::string format_search_hits(const std::vector<store::search_hit>& hits,
                               std::optional<std::size_t> next_offset);

} // namespace perch::gateway
