// Search in the memory chat store: a scan of the history in scope with the SQLite index's rules
// (FTS5's unicode61 tokens for ASCII text, every term required, bm25 with k1 = 1.2 and b = 0.75
// over every message of the store), so that both backends answer alike.
#include <algorithm>
#include <cmath>
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
        // bm25 counts over the whole index, as FTS5 does: every message not deleted.
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
        double total_tokens = 0;
        std::vector<std::size_t> holding(words.size(), 0);
        for (const document& held : documents) {
            total_tokens += static_cast<double>(held.tokens.size());
            for (std::size_t term = 0; term < words.size(); ++term) {
                if (std::any_of(held.tokens.begin(), held.tokens.end(), [&](const token& word) {
                        return matches(request.terms[term], words[term], word);
                    })) {
                    ++holding[term];
                }
            }
        }
        const auto count = static_cast<double>(documents.size());
        const double average_tokens = documents.empty() ? 0 : total_tokens / count;
        constexpr double k1 = 1.2;
        constexpr double b = 0.75;
        for (const document& held : documents) {
            const history_record& record = *held.record;
            const auto floor = floors.find(record.conversation);
            if (words.empty() || floor == floors.end() || record.id <= floor->second) {
                continue;
            }
            std::vector<bool> is_hit(held.tokens.size(), false);
            double score = 0;
            bool has_every_term = true;
            for (std::size_t term = 0; term < words.size() && has_every_term; ++term) {
                double frequency = 0;
                for (std::size_t index = 0; index < held.tokens.size(); ++index) {
                    if (matches(request.terms[term], words[term], held.tokens[index])) {
                        is_hit[index] = true;
                        ++frequency;
                    }
                }
                has_every_term = frequency > 0;
                double idf = std::log((count - static_cast<double>(holding[term]) + 0.5) /
                                      (static_cast<double>(holding[term]) + 0.5));
                if (idf <= 0) {
                    idf = 1e-6;
                }
                const double length = static_cast<double>(held.tokens.size());
                score += idf * frequency * (k1 + 1) /
                         (frequency + k1 * (1 - b + b * length / average_tokens));
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
            hit.score = -score;
            hits.push_back(std::move(hit));
        }
    }
    std::sort(hits.begin(), hits.end(), [](const search_hit& left, const search_hit& right) {
        if (left.score != right.score) {
            return left.score < right.score;
        }
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
