// Access decisions: chat users' chat/ topics go to chat_policy, topics outside chat/ to the acl
// or the secure defaults.
#include "gateway/chat/access_policy.hpp"

#include <optional>
#include <utility>

#include "gateway/chat/chat_policy.hpp"
#include "mqtt/topic.hpp"

namespace perch::gateway {

bool is_chat_topic(std::string_view topic) {
    constexpr std::string_view root = "chat";
    return topic.starts_with(root) && (topic.size() == root.size() || topic[root.size()] == '/');
}

access_policy policy_for_owner(const std::string& owner, const chat_directory& directory) {
    return owner.empty() ? access_policy(true, &directory) : access_policy(owner, directory);
}

bool is_broker_topic(std::string_view topic) {
    constexpr std::string_view root = "$SYS";
    return topic.starts_with(root) && (topic.size() == root.size() || topic[root.size()] == '/');
}

bool may_client_retain(std::string_view topic_name) {
    return !is_chat_topic(topic_name);
}

bool is_stale_retained_topic(std::string_view topic_name) {
    return is_broker_topic(topic_name) ||
           (is_chat_topic(topic_name) && !topic_name.starts_with("chat/presence/"));
}

const std::string& access_policy::no_chat_user() {
    static const std::string none;
    return none;
}

bool access_policy::outside_allows(topic_acl::want wanted, bool is_subscribe,
                                   std::string_view topic, std::string_view client_id) const {
    if (directory_ == nullptr) {
        return true;
    }
    const outside_chat_rules& rules = directory_->outside_rules();
    const std::string* user = is_chat_user() ? chat_user_ : nullptr;
    if (rules.acl == nullptr) {
        // docs/ACCESS.md "Without an acl_file".
        return user != nullptr || rules.is_anonymous_open;
    }
    return is_subscribe ? rules.acl->allows_subscribe(user, client_id, topic)
                        : rules.acl->allows_topic(user, client_id, wanted, topic);
}

bool access_policy::may_publish(std::string_view topic_name, std::string_view client_id) const {
    if (is_broker_topic(topic_name)) {
        return false;
    }
    if (is_chat_topic(topic_name)) {
        if (is_chat_user() && directory_ != nullptr) {
            return chat_may_publish(*directory_, *chat_user_, topic_name);
        }
        return !is_anonymous();
    }
    return outside_allows(topic_acl::want::write, false, topic_name, client_id);
}

bool access_policy::may_subscribe(std::string_view topic_filter, std::string_view client_id) const {
    return may_subscribe(mqtt::parse_filter(topic_filter), client_id);
}

bool access_policy::may_subscribe(const mqtt::parsed_filter& parsed,
                                  std::string_view client_id) const {
    const std::string_view filter = parsed.match_filter();
    if (is_chat_topic(filter)) {
        if (is_chat_user() && directory_ != nullptr) {
            return chat_may_subscribe(*directory_, *chat_user_, filter);
        }
        return !is_anonymous();
    }
    return outside_allows(topic_acl::want::read, true, filter, client_id);
}

bool access_policy::may_receive(std::string_view topic_name, std::string_view client_id) const {
    if (is_chat_topic(topic_name)) {
        if (is_chat_user() && directory_ != nullptr) {
            return chat_may_receive(*directory_, *chat_user_, topic_name);
        }
        return !is_anonymous();
    }
    return outside_allows(topic_acl::want::read, false, topic_name, client_id);
}

std::shared_ptr<const topic_acl>
with_stored_rules(const std::shared_ptr<const topic_acl>& file_rules,
                  const std::vector<store::acl_rule_record>& stored,
                  const std::function<void(const store::acl_rule_record&)>& on_invalid) {
    auto joined =
        file_rules ? std::make_shared<topic_acl>(*file_rules) : std::make_shared<topic_acl>();
    for (const store::acl_rule_record& record : stored) {
        const std::optional<acl_access> access = parse_acl_access(record.access);
        if (!access || acl_filter_problem(record.filter)) {
            on_invalid(record);
            continue;
        }
        acl_rule rule{*access, record.filter};
        switch (record.scope) {
        case store::acl_scope::anonymous: joined->add_anonymous_rule(std::move(rule)); break;
        case store::acl_scope::user: joined->add_user_rule(record.user, std::move(rule)); break;
        case store::acl_scope::pattern: joined->add_pattern(std::move(rule)); break;
        }
    }
    return joined;
}

} // namespace perch::gateway
