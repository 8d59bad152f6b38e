// Which topics a client may publish to and subscribe to, decided per connection: chat/ follows
// the chat rules (anonymous clients stay outside it), other topics the acl_file or, without one,
// the secure defaults (docs/ACCESS.md).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/chat/chat_directory.hpp"
#include "gateway/common/topic_acl.hpp"
#include "mqtt/topic.hpp"
#include "store/chat_store.hpp"

namespace perch::gateway {

/// The answers a connection needs before it routes a PUBLISH or applies a SUBSCRIBE entry.
/// Stateless and cheap: asked on the hot path.
class access_policy {
public:
    /// `is_anonymous`: the client connected without a user name (or is no chat user). Topics
    /// outside chat/ follow the outside_rules() of `directory`; without a directory they are open.
    /// `directory` outlives the policy.
    explicit access_policy(bool is_anonymous, const chat_directory* directory = nullptr)
        : chat_user_(is_anonymous ? nullptr : &no_chat_user()), directory_(directory) {}

    /// An authenticated chat user: topics under chat/ follow the chat rules (gateway/chat_policy)
    /// over `directory`; other topics the directory's outside_rules(). `chat_user` and `directory`
    /// outlive the policy (the connection holds both), so that a policy costs no copy of the name.
    access_policy(const std::string& chat_user, const chat_directory& directory)
        : chat_user_(&chat_user), directory_(&directory) {}
    access_policy(std::string&& chat_user, const chat_directory& directory) = delete;

    /// May this client publish to `topic_name`? Nobody may publish under `$SYS/` (the broker's
    /// own statistics); anonymous clients may not publish under chat/. Outside chat/ the acl
    /// needs write access; `client_id` fills its `%c` patterns (empty: they do not apply).
    bool may_publish(std::string_view topic_name, std::string_view client_id = {}) const;

    /// May this client subscribe to `topic_filter` at all? Refused when the filter names chat/
    /// explicitly (its first level is `chat`, possibly behind `$share/{group}/`). A filter that
    /// starts with a wildcard is allowed: may_receive then keeps chat/ out of what it matches.
    /// Any other filter (`$share/{group}/` stripped) needs an acl read rule covering it.
    bool may_subscribe(std::string_view topic_filter, std::string_view client_id = {}) const;
    /// The same with `filter` already parsed.
    bool may_subscribe(const mqtt::parsed_filter& filter, std::string_view client_id = {}) const;

    /// May a message on `topic_name` be delivered to this client? A wildcard filter never widens
    /// what a client reads. Outside chat/ the acl needs read access.
    bool may_receive(std::string_view topic_name, std::string_view client_id = {}) const;

private:
    /// The user of a named client outside the chat layer.
    static const std::string& no_chat_user();
    bool is_anonymous() const { return chat_user_ == nullptr; }
    bool is_chat_user() const { return chat_user_ != nullptr && !chat_user_->empty(); }
    /// The outside-chat/ check: `filter` is a subscription filter when `is_subscribe`, otherwise
    /// a topic name read or written as `wanted` says.
    bool outside_allows(topic_acl::want wanted, bool is_subscribe, std::string_view topic,
                        std::string_view client_id) const;

    /// The chat user; no_chat_user() for a named client outside the chat layer; nullptr for an
    /// anonymous client (two pointers and no flag: every connection holds a policy).
    const std::string* chat_user_ = nullptr;
    /// Set for a chat user, and for other clients of a running broker (the outside rules).
    const chat_directory* directory_ = nullptr;
};

/// The policy of a session owned by `owner` (see session_ledger::owner): the chat user's, or an
/// anonymous client's for an empty owner (outside the chat layer). Pass the session's client id
/// to its checks for the acl's `%c` patterns. `owner` and `directory` outlive
/// the policy.
access_policy policy_for_owner(const std::string& owner, const chat_directory& directory);

/// The rules of the acl_file (`file_rules`, null without one) joined with the rules held in the
/// store (`perch acl`): the union of both, where a deny in either wins (docs/ACCESS.md "Rules in
/// the store"). A stored rule whose access word or filter is not valid is left out and passed to
/// `on_invalid`.
std::shared_ptr<const topic_acl>
with_stored_rules(const std::shared_ptr<const topic_acl>& file_rules,
                  const std::vector<store::acl_rule_record>& stored,
                  const std::function<void(const store::acl_rule_record&)>& on_invalid);

/// True when `topic` (a name or a filter) lies under the chat/ tree.
bool is_chat_topic(std::string_view topic);

/// True when `topic` (a name or a filter) lies under `$SYS/`, which only the broker publishes.
bool is_broker_topic(std::string_view topic);

/// True when a message a client publishes on `topic_name` may be kept as a retained message.
/// Nothing under chat/ is: room, direct and signal messages reach their readers live or through
/// history and queues, and presence is the gateway's own (docs/CHAT.md "Retained messages"). The
/// connection clears RETAIN on such a message instead of refusing it.
bool may_client_retain(std::string_view topic_name);

/// True when a retained message on `topic_name` found in the store at start can only have been
/// left by an earlier version that let a client retain it (under chat/ but not the gateway's
/// presence, or under `$SYS/`): it is removed instead of restored.
bool is_stale_retained_topic(std::string_view topic_name);

} // namespace perch::gateway
