// Full-text search over the history a user may read (docs/CHAT.md "Search"): the request's
// fields and words, the scopes the user may search (their rooms above any `joined` boundary, and
// their direct messages), the store's page (newest first), and the reply.
#include "gateway/chat/chat_search.hpp"

#include <algorithm>
#include <charconv>

#include "gateway/chat/chat_service.hpp"
#include "gateway/chat/chat_topic.hpp"
#include "gateway/common/chat_names.hpp"
#include "mqtt/utf8.hpp"

#include <nlohmann/json.hpp>

namespace perch::gateway {
namespace {

using json = nlohmann::json;

bool is_word_byte(unsigned char byte) {
    return byte >= 0x80 || (byte >= '0' && byte <= '9') || (byte >= 'a' && byte <= 'z') ||
           (byte >= 'A' && byte <= 'Z');
}

/// Reads the optional name `key` (a room or a user); the error when present and invalid.
std::optional<std::string> read_optional_name(const json& request, std::string_view key,
                                              std::string& out, bool& is_present) {
    const auto found = request.find(key);
    is_present = found != request.end();
    if (!is_present) {
        return std::nullopt;
    }
    if (!found->is_string() || !is_valid_chat_name(found->get_ref<const std::string&>())) {
        return "invalid \"" + std::string(key) + "\" (1-64 bytes of UTF-8 without / + # $ or " +
               "control characters)";
    }
    out = found->get<std::string>();
    return std::nullopt;
}

control_outcome search_failure(std::string error) {
    control_outcome outcome;
    outcome.reply.is_ok = false;
    outcome.reply.operation = std::string(to_string(control_operation::search));
    outcome.reply.error = std::move(error);
    return outcome;
}

} // namespace

bool search_gate::try_enter(const std::string& user) {
    std::lock_guard lock(mutex_);
    return users_.insert(user).second;
}

void search_gate::leave(const std::string& user) {
    std::lock_guard lock(mutex_);
    users_.erase(user);
}

std::vector<store::search_term> search_terms_of(std::string_view query) {
    std::vector<store::search_term> terms;
    std::size_t at = 0;
    while (at < query.size()) {
        if (!is_word_byte(static_cast<unsigned char>(query[at]))) {
            ++at;
            continue;
        }
        store::search_term term;
        while (at < query.size() && is_word_byte(static_cast<unsigned char>(query[at]))) {
            const char byte = query[at++];
            term.word += (byte >= 'A' && byte <= 'Z') ? static_cast<char>(byte - 'A' + 'a') : byte;
        }
        term.is_prefix = at < query.size() && query[at] == '*';
        terms.push_back(std::move(term));
    }
    return terms;
}

std::optional<std::string> read_search_fields(const json& request, control_request& parsed) {
    const auto query = request.find("q");
    if (query == request.end() || !query->is_string()) {
        return std::string("missing \"q\"");
    }
    parsed.query = query->get<std::string>();
    const mqtt::byte_view bytes(reinterpret_cast<const std::uint8_t*>(parsed.query.data()),
                                parsed.query.size());
    if (parsed.query.size() > max_search_query_bytes || !mqtt::is_well_formed_utf8(bytes)) {
        return "\"q\" must be UTF-8 of at most " + std::to_string(max_search_query_bytes) +
               " bytes";
    }
    parsed.search_terms = search_terms_of(parsed.query);
    if (parsed.search_terms.empty()) {
        return std::string("\"q\" holds no word to search for");
    }
    if (parsed.search_terms.size() > max_search_terms) {
        return "\"q\" holds more than " + std::to_string(max_search_terms) + " words";
    }
    bool has_room = false;
    bool has_peer = false;
    if (auto error = read_optional_name(request, "room", parsed.room, has_room)) {
        return error;
    }
    if (auto error = read_optional_name(request, "peer", parsed.user, has_peer)) {
        return error;
    }
    const auto conversation = request.find("conversation");
    const bool has_conversation = conversation != request.end();
    if (has_conversation) {
        parsed.conversation = conversation->is_string()
                                  ? normalize_conversation(conversation->get<std::string>())
                                  : std::string();
        if (parsed.conversation.empty()) {
            return std::string("invalid \"conversation\" (room/{room} or dm/{user}/{user})");
        }
    }
    if (static_cast<int>(has_room) + static_cast<int>(has_peer) +
            static_cast<int>(has_conversation) >
        1) {
        return std::string("name at most one of \"room\", \"peer\" and \"conversation\"");
    }
    std::uint64_t limit = default_search_page;
    const auto found_limit = request.find("limit");
    if (found_limit != request.end()) {
        if (!found_limit->is_number_unsigned()) {
            return std::string("\"limit\" must be a non-negative integer");
        }
        limit = found_limit->get<std::uint64_t>();
    }
    if (limit == 0 || limit > max_search_page) {
        return "\"limit\" must be between 1 and " + std::to_string(max_search_page);
    }
    parsed.limit = static_cast<std::size_t>(limit);
    const auto cursor = request.find("cursor");
    if (cursor != request.end()) {
        // The cursor is the `next` of an earlier reply: the number of hits before its page.
        const std::string text = cursor->is_string() ? cursor->get<std::string>() : std::string();
        std::size_t offset = 0;
        const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), offset);
        if (text.empty() || error != std::errc() || end != text.data() + text.size() ||
            offset > max_search_offset) {
            return std::string("invalid \"cursor\" (give the \"next\" of an earlier reply)");
        }
        parsed.search_offset = offset;
    }
    return std::nullopt;
}

std::string format_search_hits(const std::vector<store::search_hit>& hits,
                               std::optional<std::size_t> next_offset) {
    json listed = json::array();
    for (const store::search_hit& hit : hits) {
        const store::history_record& message = hit.message;
        json entry = {{"conversation", message.conversation},
                      {"id", message.id},
                      {"sender", message.sender},
                      {"topic", message.topic},
                      {"ts", message.ts_unix_ms},
                      {"payload", std::string(message.payload.begin(), message.payload.end())},
                      {"snippet", hit.snippet}};
        if (message.reply_to != 0) {
            entry["reply_to"] = message.reply_to;
        }
        if (message.edited_unix_ms != 0) {
            entry["edited_ts"] = message.edited_unix_ms;
        }
        listed.push_back(std::move(entry));
    }
    json out = {{"hits", std::move(listed)}};
    if (next_offset) {
        out["next"] = std::to_string(*next_offset);
    }
    return out.dump(-1, ' ', false, json::error_handler_t::replace);
}

void chat_service::search_history(control_request request, std::string user,
                                  std::function<void(control_outcome)> done) {
    if (!settings_.is_search_enabled) {
        done(search_failure("search is off on this server (chat_search false)"));
        return;
    }
    std::string conversation = std::move(request.conversation);
    if (!request.room.empty()) {
        conversation = room_conversation(request.room);
    } else if (!request.user.empty()) {
        conversation = direct_conversation(user, request.user);
    }
    // What the user may read: the conversation named, or every room they are a member of and
    // every direct-message conversation they are a party to; in a room whose history is visible
    // from the join only, what follows their join point.
    std::vector<std::string> conversations;
    if (!conversation.empty()) {
        if (!may_read_conversation(user, conversation)) {
            done(search_failure("not allowed to read this conversation"));
            return;
        }
        conversations.push_back(conversation);
    } else if (directory_.has_user(user)) {
        conversations = conversations_of(user);
    }
    store::search_request search;
    search.terms = std::move(request.search_terms);
    search.offset = request.search_offset;
    // One more than the page: whether a next page exists.
    search.limit = request.limit + 1;
    search.mark_open = std::string(search_mark);
    search.mark_close = std::string(search_mark);
    for (std::string& named : conversations) {
        const std::uint64_t floor = history_floor(user, named);
        search.scopes.push_back({std::move(named), floor});
    }
    std::sort(search.scopes.begin(), search.scopes.end(),
              [](const store::search_scope& left, const store::search_scope& right) {
                  return left.conversation < right.conversation;
              });
    if (search.scopes.empty()) {
        control_outcome outcome;
        outcome.reply.operation = std::string(to_string(control_operation::search));
        if (!conversation.empty()) {
            outcome.reply.conversation = conversation;
        }
        outcome.reply.extra_json = format_search_hits({}, std::nullopt);
        done(std::move(outcome));
        return;
    }
    if (!searches_in_flight_->try_enter(user)) {
        done(search_failure("busy: your previous search is still running"));
        return;
    }
    auto reply = [request = std::move(request), conversation, done = std::move(done),
                  gate = searches_in_flight_,
                  user](std::vector<store::search_hit> hits, const store::store_status& status) {
        gate->leave(user);
        if (status.code == store::store_errc::busy) {
            done(search_failure("busy: too many searches at once; try again shortly"));
            return;
        }
        if (!status.is_ok()) {
            done(search_failure("the search failed: " + status.detail));
            return;
        }
        std::optional<std::size_t> next;
        if (hits.size() > request.limit) {
            hits.resize(request.limit);
            next = request.search_offset + request.limit;
        }
        control_outcome outcome;
        outcome.reply.operation = std::string(to_string(control_operation::search));
        if (!conversation.empty()) {
            outcome.reply.conversation = conversation;
        }
        outcome.reply.extra_json = format_search_hits(hits, next);
        done(std::move(outcome));
    };
    store_->search_history(std::move(search), std::move(reply));
}

} // namespace perch::gateway
