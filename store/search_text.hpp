// The rules of a history search applied to one text: FTS5's unicode61 tokens for ASCII text
// (letters and digits, ASCII compared without case), every term required, a snippet of about 16
// tokens around the first match. The stores that do not search with SQLite's index (memory,
// PostgreSQL) use these, so that every backend answers alike.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "store/chat_store.hpp"

namespace perch::store {

/// The folded form of each term's first word (empty when it has none), as match_text takes them.
std::vector<std::string> folded_terms(const std::vector<search_term>& terms);

/// The snippet of `text`, with every token that matches a term marked as `request` says, when
/// it holds every term of `request` (`folded` from folded_terms); nothing otherwise.
std::optional<std::string> match_text(std::string_view text, const search_request& request,
                                      const std::vector<std::string>& folded);

} // namespace perch::store
