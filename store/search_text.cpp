// The text rules of a history search (search_text.hpp).
#include "store/search_text.hpp"

#include <algorithm>

namespace perch::store {
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

std::vector<std::string> folded_terms(const std::vector<search_term>& terms) {
    std::vector<std::string> words;
    for (const search_term& term : terms) {
        const std::vector<token> tokens = tokenize(term.word);
        words.push_back(tokens.empty() ? std::string() : tokens.front().folded);
    }
    return words;
}

std::optional<std::string> match_text(std::string_view text, const search_request& request,
                                      const std::vector<std::string>& folded) {
    if (folded.empty()) {
        return std::nullopt;
    }
    const std::vector<token> tokens = tokenize(text);
    std::vector<bool> is_hit(tokens.size(), false);
    for (std::size_t term = 0; term < folded.size(); ++term) {
        bool is_found = false;
        for (std::size_t index = 0; index < tokens.size(); ++index) {
            if (matches(request.terms[term], folded[term], tokens[index])) {
                is_hit[index] = true;
                is_found = true;
            }
        }
        if (!is_found) {
            return std::nullopt;
        }
    }
    return make_snippet(text, tokens, is_hit, request);
}

} // namespace perch::store
