// Search in the memory chat store: a scan of the history in scope with the SQLite index's rules
// (FTS5's unicode61 tokens for ASCII text, every term required, newest first), so that both
// backends answer alike.
#include <algorithm>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "store/memory/memory_chat_store.hpp"

namespace perch::store::memory {
namespace {

/// One word of a text: where it lies and its folded form.
struct token {
    std::size_t begin = 0;
    std::size_t end = 0;
    std::string folded;
};

bool is_word_byte(unsigned char byte) {
    return byte >= 0x80 || (byte >= '0' && byte <= '9') || (byte >= 'a' && byte <= 'z') ||
           (byte >= 'A' && byte <= 'Z');
}

std::vector<token> tokenize(std::string_view text) {
    std::vector<token> tokens;
    std::size_t at = 0;
    while (at < text.size()) {
        if (!is_word_byte(static_cast<unsigned char>(text[at]))) {
            ++at;
            continue;
        }
        token word{at, at, {}};
        while (at < text.size() && is_word_byte(static_cast<unsigned char>(text[at]))) {
            const char byte = text[at];
            word.folded +=
                (byte >= 'A' && byte <= 'Z') ? static_cast<char>(byte - 'A' + 'a') : byte;
            ++at;
        }
        word.end = at;
        tokens.push_back(std::move(word));
    }
    return tokens;
}

bool matches(const search_term& term, const std::string& folded_word, const token& candidate) {
    return term.is_prefix ? candidate.folded.starts_with(folded_word)
                          : candidate.folded == folded_word;
}

/// A message of the index with its tokens.
struct document {
    const history_record* record = nullptr;
    std::vector<token> tokens;
};

/// The text of `record` with the tokens that match a term marked, cut to about 16 tokens around
/// the first match.
std::string make_snippet(std::string_view text, const std::vector<token>& tokens,
                         const std::vector<bool>& is_hit, const search_request& request) {
    constexpr std::size_t window = 16;
    std::size_t first = 0;
    if (tokens.size() > window) {
        const auto hit = std::find(is_hit.begin(), is_hit.end(), true);
        const auto at = static_cast<std::size_t>(hit - is_hit.begin());
        first = std::min(at > 2 ? at - 2 : 0, tokens.size() - window);
    }
    const std::size_t last = std::min(tokens.size(), first + window);
    std::string snippet;
    std::size_t copied = 0;
    if (first > 0) {
        snippet += "…";
        copied = tokens[first].begin;
    }
    for (std::size_t index = first; index < last; ++index) {
        snippet += text.substr(copied, tokens[index].begin - copied);
        const std::string_view word =
            text.substr(tokens[index].begin, tokens[index].end - tokens[index].begin);
        if (is_hit[index]) {
            snippet += request.mark_open;
            snippet += word;
            snippet += request.mark_close;
        } else {
            snippet += word;
        }
        copied = tokens[index].end;
    }
    if (last < tokens.size()) {
        snippet += "…";
    } else {
        snippet += text.substr(copied);
    }
    return snippet;
}

} // namespace

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
        std::vector<std::string> words;
        for (const search_term& term : request.terms) {
            words.push_back(tokenize(term.word).empty() ? std::string()
                                                        : tokenize(term.word).front().folded);
        }
        std::map<std::string, std::uint64_t, std::less<>> floors;
        for (const search_scope& scope : request.scopes) {
            floors[scope.conversation] = scope.after_id;
        }
        // Every message not deleted is indexed.
        std::vector<document> documents;
        for (const auto& [conversation, records] : history_) {
            for (const auto& [id, record] : records) {
                if (record.kind == history_kind::message && !record.is_deleted) {
                    const std::string_view text(
                        reinterpret_cast<const char*>(record.payload.data()),
                        record.payload.size());
                    documents.push_back({&record, tokenize(text)});
                }
            }
        }
        for (const document& held : documents) {
            const history_record& record = *held.record;
            const auto floor = floors.find(record.conversation);
            if (words.empty() || floor == floors.end() || record.id <= floor->second) {
                continue;
            }
            std::vector<bool> is_hit(held.tokens.size(), false);
            bool has_every_term = true;
            for (std::size_t term = 0; term < words.size() && has_every_term; ++term) {
                bool is_found = false;
                for (std::size_t index = 0; index < held.tokens.size(); ++index) {
                    if (matches(request.terms[term], words[term], held.tokens[index])) {
                        is_hit[index] = true;
                        is_found = true;
                    }
                }
                has_every_term = is_found;
            }
            if (!has_every_term) {
                continue;
            }
            search_hit hit;
            hit.message = record;
            hit.message.reactions.clear();
            const std::string_view text(reinterpret_cast<const char*>(record.payload.data()),
                                        record.payload.size());
            hit.snippet = make_snippet(text, held.tokens, is_hit, request);
            hits.push_back(std::move(hit));
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
