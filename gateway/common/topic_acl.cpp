// Parsing of Mosquitto-format acl files and the read/write/subscribe checks over them.
#include "gateway/common/topic_acl.hpp"

#include <algorithm>
#include <fstream>
#include <optional>
#include <sstream>

#include <fmt/format.h>

#include "gateway/common/config.hpp"
#include "gateway/common/topic_levels.hpp"
#include "mqtt/topic.hpp"

namespace perch::gateway {

namespace {

bool is_blank(char c) {
    return c == ' ' || c == '\t' || c == '\r';
}

std::string_view trim(std::string_view text) {
    while (!text.empty() && is_blank(text.front())) {
        text.remove_prefix(1);
    }
    while (!text.empty() && is_blank(text.back())) {
        text.remove_suffix(1);
    }
    return text;
}

/// Splits off the first word of `text` (already trimmed); `text` keeps the trimmed rest.
std::string_view take_word(std::string_view& text) {
    std::size_t end = 0;
    while (end < text.size() && !is_blank(text[end])) {
        ++end;
    }
    const std::string_view word = text.substr(0, end);
    text = trim(text.substr(end));
    return word;
}

} // namespace

std::optional<acl_access> parse_acl_access(std::string_view word) {
    if (word == "read") {
        return acl_access::read;
    }
    if (word == "write") {
        return acl_access::write;
    }
    if (word == "readwrite") {
        return acl_access::readwrite;
    }
    if (word == "deny") {
        return acl_access::deny;
    }
    return std::nullopt;
}

std::string_view to_string(acl_access access) {
    switch (access) {
    case acl_access::read: return "read";
    case acl_access::write: return "write";
    case acl_access::readwrite: return "readwrite";
    case acl_access::deny: return "deny";
    }
    return "deny";
}

std::optional<std::string> acl_filter_problem(std::string_view filter) {
    if (filter.empty()) {
        return std::string("needs a topic filter");
    }
    if (const auto problem = mqtt::validate_topic_filter(filter, mqtt::protocol_version::v5);
        problem || filter.starts_with(mqtt::shared_subscription_prefix)) {
        return fmt::format("invalid topic filter '{}'", filter);
    }
    return std::nullopt;
}

namespace {

bool grants(acl_access access, topic_acl::want wanted) {
    switch (access) {
    case acl_access::read: return wanted == topic_acl::want::read;
    case acl_access::write: return wanted == topic_acl::want::write;
    case acl_access::readwrite: return true;
    case acl_access::deny: return false;
    }
    return false;
}

/// A value substituted into a pattern must not widen it: Mosquitto skips such a pattern too.
bool is_safe_substitute(std::string_view value) {
    return !value.empty() && value.find_first_of("+#/") == std::string_view::npos;
}

/// `pattern` with %u and %c replaced; empty when it names one that is missing or unsafe.
std::string substitute(const std::string& pattern, const std::string* user,
                       std::string_view client_id) {
    std::string out;
    out.reserve(pattern.size());
    for (std::size_t index = 0; index < pattern.size(); ++index) {
        if (pattern[index] == '%' && index + 1 < pattern.size() &&
            (pattern[index + 1] == 'u' || pattern[index + 1] == 'c')) {
            const bool is_user = pattern[index + 1] == 'u';
            const std::string_view value =
                is_user ? (user != nullptr ? std::string_view(*user) : std::string_view())
                        : client_id;
            if (!is_safe_substitute(value)) {
                return {};
            }
            out.append(value);
            ++index;
            continue;
        }
        out.push_back(pattern[index]);
    }
    return out;
}

} // namespace

bool acl_filter_covers(std::string_view acl_filter, std::string_view filter) {
    const std::vector<std::string_view> rule = split_topic_levels(acl_filter);
    const std::vector<std::string_view> wanted = split_topic_levels(filter);
    if (!wanted.front().empty() && wanted.front().front() == '$' &&
        (rule.front() == "#" || rule.front() == "+")) {
        return false;
    }
    for (std::size_t index = 0; index < rule.size(); ++index) {
        if (rule[index] == "#") {
            return true;
        }
        if (index >= wanted.size()) {
            return false;
        }
        if (rule[index] == "+") {
            if (wanted[index] == "#") {
                return false;
            }
            continue;
        }
        if (rule[index] != wanted[index]) {
            return false;
        }
    }
    return rule.size() == wanted.size();
}

topic_acl topic_acl::parse(std::string_view text, std::string_view source_name) {
    topic_acl acl;
    std::vector<acl_rule>* current = &acl.anonymous_;
    std::size_t line_number = 0;
    std::size_t line_start = 0;
    while (line_start <= text.size()) {
        const std::size_t line_end = std::min(text.find('\n', line_start), text.size());
        ++line_number;
        std::string_view line = trim(text.substr(line_start, line_end - line_start));
        line_start = line_end + 1;
        if (line.empty() || line.front() == '#') {
            continue;
        }
        const auto fail = [&](std::string_view key, const std::string& problem) {
            throw config_error(std::string(source_name), line_number, std::string(key), problem);
        };
        const std::string_view keyword = take_word(line);
        if (keyword == "user") {
            if (line.empty()) {
                fail(keyword, "needs a user name");
            }
            acl.users_.emplace_back(std::string(line), std::vector<acl_rule>());
            current = &acl.users_.back().second;
            continue;
        }
        if (keyword != "topic" && keyword != "pattern") {
            fail(keyword, "unknown keyword (expected user, topic or pattern)");
        }
        acl_rule rule;
        std::string_view rest = line;
        const std::string_view first = take_word(rest);
        if (const auto access = parse_acl_access(first); access && !rest.empty()) {
            rule.access = *access;
            line = rest;
        }
        if (const auto problem = acl_filter_problem(line)) {
            fail(keyword, *problem);
        }
        rule.filter = std::string(line);
        (keyword == "pattern" ? acl.patterns_ : *current).push_back(std::move(rule));
    }
    return acl;
}

void topic_acl::add_user_rule(std::string_view user, acl_rule rule) {
    for (auto& [name, rules] : users_) {
        if (name == user) {
            rules.push_back(std::move(rule));
            return;
        }
    }
    users_.emplace_back(std::string(user), std::vector<acl_rule>{std::move(rule)});
}

const std::vector<acl_rule>& topic_acl::user_rules(std::string_view user) const {
    static const std::vector<acl_rule> none;
    for (const auto& [name, rules] : users_) {
        if (name == user) {
            return rules;
        }
    }
    return none;
}

template <typename Visit>
bool topic_acl::any_rule(const std::string* user, std::string_view client_id, Visit&& visit) const {
    const std::vector<acl_rule>& own = user != nullptr ? user_rules(*user) : anonymous_;
    for (const acl_rule& rule : own) {
        if (visit(rule.access, std::string_view(rule.filter))) {
            return true;
        }
    }
    for (const acl_rule& rule : patterns_) {
        const std::string filter = substitute(rule.filter, user, client_id);
        if (!filter.empty() && visit(rule.access, std::string_view(filter))) {
            return true;
        }
    }
    return false;
}

bool topic_acl::allows_topic(const std::string* user, std::string_view client_id, want wanted,
                             std::string_view topic_name) const {
    bool is_granted = false;
    const bool is_denied =
        any_rule(user, client_id, [&](acl_access access, std::string_view filter) {
            if (!mqtt::topic_matches(filter, topic_name)) {
                return false;
            }
            is_granted = is_granted || grants(access, wanted);
            return access == acl_access::deny;
        });
    return !is_denied && is_granted;
}

bool topic_acl::allows_subscribe(const std::string* user, std::string_view client_id,
                                 std::string_view topic_filter) const {
    bool is_granted = false;
    const bool is_denied =
        any_rule(user, client_id, [&](acl_access access, std::string_view filter) {
            if (!acl_filter_covers(filter, topic_filter)) {
                return false;
            }
            is_granted = is_granted || grants(access, want::read);
            return access == acl_access::deny;
        });
    return !is_denied && is_granted;
}

std::shared_ptr<const topic_acl> load_acl_file(const std::string& path) {
    std::ifstream file(path, std::ios::binary);
    if (!file) {
        throw config_error(path, 0, "", "cannot open the acl file");
    }
    std::ostringstream contents;
    contents << file.rdbuf();
    if (file.bad()) {
        throw config_error(path, 0, "", "cannot read the acl file");
    }
    return std::make_shared<const topic_acl>(topic_acl::parse(contents.str(), path));
}

} // namespace perch::gateway
