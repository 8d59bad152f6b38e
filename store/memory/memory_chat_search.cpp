// Search in the memory chat store: a scan of the history in scope with the SQLite index's rules
// (FTS5's unicode61 tokens for ASCII text, every term required, newest first), so that both
// backends answer alike.
#include <algorithm>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "store/memory/memory_chat_store.hpp"
#include "store/search_text.hpp"

namespace perch::store::memory {

void memory_chat_store::search_history(search_request request, search_completion done) {
    if (!is_search_enabled_) {
        if (done) {
            done({}, store_status{store_errc::read_failed, "the search index is off"});
        }
        return;
    }
    std::vector<search_hit> hits;
    {
        std::lock_guard lock(mutex_);
        const std::vector<std::string> words = folded_terms(request.terms);
        std::map<std::string, std::uint64_t, std::less<>> floors;
        for (const search_scope& scope : request.scopes) {
            floors[scope.conversation] = scope.after_id;
        }
        // Every message not deleted is indexed.
        for (const auto& [conversation, records] : history_) {
            const auto floor = floors.find(conversation);
            if (floor == floors.end()) {
                continue;
            }
            for (const auto& [id, record] : records) {
                if (record.kind != history_kind::message || record.is_deleted ||
                    id <= floor->second) {
                    continue;
                }
                const std::string_view text(reinterpret_cast<const char*>(record.payload.data()),
                                            record.payload.size());
                std::optional<std::string> snippet = match_text(text, request, words);
                if (!snippet) {
                    continue;
                }
                search_hit hit;
                hit.message = record;
                hit.message.reactions.clear();
                hit.snippet = std::move(*snippet);
                hits.push_back(std::move(hit));
            }
        }
    }
    // Newest first, as the SQLite store walks its index (by rowid, the order history recorded
    // them, which timestamps follow).
    std::sort(hits.begin(), hits.end(), [](const search_hit& left, const search_hit& right) {
        if (left.message.ts_unix_ms != right.message.ts_unix_ms) {
            return left.message.ts_unix_ms > right.message.ts_unix_ms;
        }
        if (left.message.conversation != right.message.conversation) {
            return left.message.conversation < right.message.conversation;
        }
        return left.message.id > right.message.id;
    });
    const std::size_t first = std::min(request.offset, hits.size());
    const std::size_t last = first + std::min(request.limit, hits.size() - first);
    std::vector<search_hit> page(std::make_move_iterator(hits.begin() + static_cast<long>(first)),
                                 std::make_move_iterator(hits.begin() + static_cast<long>(last)));
    if (done) {
        done(std::move(page), store_status{});
    }
}

} // namespace perch::store::memory
