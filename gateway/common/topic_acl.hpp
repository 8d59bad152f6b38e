// Topic access rules read from an `acl_file` in Mosquitto's format: who may read and write which
// topics outside chat/ (docs/ACCESS.md). Parsed once, then shared read-only by every worker.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace perch::gateway {

/// What a rule grants, or `deny`, which refuses whatever it matches.
enum class acl_access { read, write, readwrite, deny };

/// One `topic` or `pattern` line.
struct acl_rule {
    acl_access access = acl_access::readwrite;
    /// The filter as written; for a pattern, with %u and %c not yet substituted.
    std::string filter;
};

/// The parsed file. Immutable once built: a reload builds a new one.
class topic_acl {
public:
    /// What a check asks for.
    enum class want { read, write };

    /// Parses acl file text. `source_name` names the file in errors. Throws config_error with
    /// the line number for an unknown keyword, a missing user name or filter, or an invalid
    /// filter.
    static topic_acl parse(std::string_view text, std::string_view source_name);

    /// May `user` (nullptr: an anonymous client) with client id `client_id` read (`want::read`)
    /// or write a message on `topic_name`? A matching deny rule refuses; otherwise a matching
    /// rule must grant the access.
    bool allows_topic(const std::string* user, std::string_view client_id, want wanted,
                      std::string_view topic_name) const;

    /// May the client subscribe to `topic_filter` (without a `$share/{group}/` prefix)? A read
    /// rule must cover the whole filter, and no deny rule may cover it.
    bool allows_subscribe(const std::string* user, std::string_view client_id,
                          std::string_view topic_filter) const;

    /// Add a rule to the anonymous block, to `user`'s block, or to the patterns: rules that come
    /// from elsewhere than the file (the store) join those of the file before the acl is shared.
    void add_anonymous_rule(acl_rule rule) { anonymous_.push_back(std::move(rule)); }
    void add_user_rule(std::string_view user, acl_rule rule);
    void add_pattern(acl_rule rule) { patterns_.push_back(std::move(rule)); }

    /// The rules of anonymous clients (`topic` lines before any `user` line).
    const std::vector<acl_rule>& anonymous_rules() const { return anonymous_; }
    /// The `topic` rules of `user`; empty for a user without a block.
    const std::vector<acl_rule>& user_rules(std::string_view user) const;
    /// Every `pattern` line.
    const std::vector<acl_rule>& patterns() const { return patterns_; }

private:
    /// Calls `visit(access, filter)` for every rule that applies to the client, patterns
    /// substituted; stops when `visit` returns true and then returns true.
    template <typename Visit>
    bool any_rule(const std::string* user, std::string_view client_id, Visit&& visit) const;

    std::vector<acl_rule> anonymous_;
    std::vector<std::pair<std::string, std::vector<acl_rule>>> users_;
    std::vector<acl_rule> patterns_;
};

/// The access a word names (`read`, `write`, `readwrite`, `deny`), or empty.
std::optional<acl_access> parse_acl_access(std::string_view word);

/// The word of an access.
std::string_view to_string(acl_access access);

/// Why `filter` cannot be a rule's filter (invalid, or a shared subscription), or empty.
std::optional<std::string> acl_filter_problem(std::string_view filter);

/// Reads and parses the acl file at `path`. Throws config_error (line 0) when it cannot be read.
std::shared_ptr<const topic_acl> load_acl_file(const std::string& path);

/// True when every topic `filter` matches is also matched by `acl_filter`, level by level: `#`
/// covers the rest, `+` covers one level that is not `#`, a word covers only itself. A first
/// level starting with `$` is covered only by the same word.
bool acl_filter_covers(std::string_view acl_filter, std::string_view filter);

} // namespace perch::gateway
