// `perch ban ...` and `perch acl ...`: the bans and the topic access rules held in the store.
#include <algorithm>
#include <charconv>
#include <iostream>

#include <fmt/format.h>

#include "gateway/chat/ban_list.hpp"
#include "gateway/common/stored_message_codec.hpp"
#include "gateway/common/topic_acl.hpp"
#include "gateway/program/admin_session.hpp"

namespace perch::gateway {
namespace {

/// `30s`, `10m`, `2h`, `7d` or a number of seconds, in milliseconds; empty when not one.
std::optional<std::uint64_t> parse_duration_ms(std::string_view text) {
    std::uint64_t unit_ms = 1000;
    if (!text.empty()) {
        switch (text.back()) {
        case 's': unit_ms = 1000; break;
        case 'm': unit_ms = 60'000; break;
        case 'h': unit_ms = 3'600'000; break;
        case 'd': unit_ms = 86'400'000; break;
        default: unit_ms = 0; break;
        }
        if (unit_ms != 0) {
            text.remove_suffix(1);
        } else {
            unit_ms = 1000;
        }
    }
    std::uint64_t count = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), count);
    if (text.empty() || error != std::errc() || end != text.data() + text.size() || count == 0 ||
        count > 100ULL * 365 * 86'400'000 / unit_ms) {
        return std::nullopt;
    }
    return count * unit_ms;
}

store::ban_kind ban_kind_of(const std::string& word) {
    if (word == "user") {
        return store::ban_kind::user;
    }
    if (word == "client") {
        return store::ban_kind::client;
    }
    if (word == "address") {
        return store::ban_kind::address;
    }
    throw admin_failure(
        fmt::format("unknown ban kind '{}': expected user, client or address", word));
}

/// A ban value as the gateway compares it: an address block written canonically is kept as
/// given; anything that does not parse is refused.
void require_valid_ban_value(store::ban_kind kind, const std::string& value) {
    if (value.empty()) {
        throw admin_failure("the ban value is empty");
    }
    if (kind == store::ban_kind::address && !parse_address_block(value)) {
        throw admin_failure(fmt::format(
            "invalid address '{}': expected an IPv4 or IPv6 address, optionally with /BITS",
            value));
    }
}

} // namespace

void admin_session::ban_add(const std::string& kind_word, const std::string& value) {
    const store::ban_kind kind = ban_kind_of(kind_word);
    require_valid_ban_value(kind, value);
    const std::uint64_t now = unix_now_ms();
    std::uint64_t expires = 0;
    if (arguments_.ban_duration) {
        const auto duration = parse_duration_ms(*arguments_.ban_duration);
        if (!duration) {
            throw admin_failure(fmt::format("invalid duration '{}': expected e.g. 30s, 10m, "
                                            "2h or 7d",
                                            *arguments_.ban_duration));
        }
        expires = now + *duration;
    }
    change_directory([&](store::directory_completion done) {
        store_->add_ban(
            store::ban_record{kind, value, arguments_.ban_reason.value_or(""), now, expires},
            std::move(done));
    });
    io_.output << fmt::format("ban of {} '{}' added{}\n", kind_word, value,
                              expires == 0 ? std::string() : " until " + format_unix_ms(expires));
}

void admin_session::ban_remove(const std::string& kind_word, const std::string& value) {
    const store::ban_kind kind = ban_kind_of(kind_word);
    const auto result = change_directory([&](store::directory_completion done) {
        store_->remove_ban(kind, value, std::move(done));
    });
    if (result == store::directory_result::not_found) {
        throw admin_failure(fmt::format("no ban of {} '{}'", kind_word, value));
    }
    io_.output << fmt::format("ban of {} '{}' removed\n", kind_word, value);
}

void admin_session::ban_list() {
    const std::uint64_t now = unix_now_ms();
    for (const auto& ban : store_->load_directory().bans) {
        if (ban.expires_unix_ms != 0 && ban.expires_unix_ms <= now) {
            continue;
        }
        io_.output << fmt::format("{} {} since {} {}{}\n", to_string(ban.kind), ban.value,
                                  format_unix_ms(ban.created_unix_ms),
                                  ban.expires_unix_ms == 0
                                      ? std::string("forever")
                                      : "until " + format_unix_ms(ban.expires_unix_ms),
                                  ban.reason.empty() ? std::string() : " reason: " + ban.reason);
    }
}

void admin_session::acl_add(const std::string& access_word, const std::string& filter) {
    store::acl_rule_record rule = acl_rule_of_options(filter);
    if (!parse_acl_access(access_word)) {
        throw admin_failure(fmt::format(
            "unknown access '{}': expected read, write, readwrite or deny", access_word));
    }
    if (const auto problem = acl_filter_problem(filter)) {
        throw admin_failure(*problem);
    }
    rule.access = access_word;
    rule.created_unix_ms = unix_now_ms();
    const auto result = change_directory(
        [&](store::directory_completion done) { store_->add_acl_rule(rule, std::move(done)); });
    if (result == store::directory_result::already_exists) {
        throw admin_failure(fmt::format("the rule '{}' exists already", describe_acl_rule(rule)));
    }
    io_.output << fmt::format("rule '{}' added\n", describe_acl_rule(rule));
}

void admin_session::acl_remove(const std::string& filter) {
    const store::acl_rule_record rule = acl_rule_of_options(filter);
    const auto result = change_directory(
        [&](store::directory_completion done) { store_->remove_acl_rule(rule, std::move(done)); });
    if (result == store::directory_result::not_found) {
        throw admin_failure(fmt::format("no rule for '{}'", describe_acl_rule(rule)));
    }
    io_.output << fmt::format("rule for '{}' removed\n", describe_acl_rule(rule));
}

void admin_session::acl_list() {
    for (const auto& rule : store_->load_directory().acl_rules) {
        io_.output << describe_acl_rule(rule) << '\n';
    }
}

store::acl_rule_record admin_session::acl_rule_of_options(const std::string& filter) const {
    const int scopes = (arguments_.acl_user ? 1 : 0) + (arguments_.is_acl_anonymous ? 1 : 0) +
                       (arguments_.is_acl_pattern ? 1 : 0);
    if (scopes != 1) {
        throw admin_failure("name whom the rule is for: one of --user NAME, --anonymous or "
                            "--pattern");
    }
    store::acl_rule_record rule;
    rule.filter = filter;
    if (arguments_.acl_user) {
        if (arguments_.acl_user->empty()) {
            throw admin_failure("the user name is empty");
        }
        rule.scope = store::acl_scope::user;
        rule.user = *arguments_.acl_user;
    } else if (arguments_.is_acl_pattern) {
        rule.scope = store::acl_scope::pattern;
    }
    return rule;
}

std::string admin_session::describe_acl_rule(const store::acl_rule_record& rule) {
    std::string scope;
    switch (rule.scope) {
    case store::acl_scope::anonymous: scope = "--anonymous"; break;
    case store::acl_scope::user: scope = "--user " + rule.user; break;
    case store::acl_scope::pattern: scope = "--pattern"; break;
    }
    return rule.access.empty() ? fmt::format("{} {}", scope, rule.filter)
                               : fmt::format("{} {} {}", scope, rule.access, rule.filter);
}

} // namespace perch::gateway
