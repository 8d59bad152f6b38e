// Access decisions for anonymous clients; chat users' chat/ topics go to chat_policy.
#include "gateway/chat/access_policy.hpp"

#include "gateway/chat/chat_policy.hpp"
#include "mqtt/topic.hpp"

namespace perch::gateway {

bool is_chat_topic(std::string_view topic) {
    constexpr std::string_view root = "chat";
    return topic.starts_with(root) && (topic.size() == root.size() || topic[root.size()] == '/');
}

access_policy policy_for_owner(const std::string& owner, const chat_directory& directory) {
    return owner.empty() ? access_policy(true) : access_policy(owner, directory);
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

bool access_policy::may_publish(std::string_view topic_name) const {
    if (is_broker_topic(topic_name)) {
        return false;
    }
    if (directory_ != nullptr && is_chat_topic(topic_name)) {
        return chat_may_publish(*directory_, *chat_user_, topic_name);
    }
    return !(is_anonymous() && is_chat_topic(topic_name));
}

bool access_policy::may_subscribe(std::string_view topic_filter) const {
    return may_subscribe(mqtt::parse_filter(topic_filter));
}

bool access_policy::may_subscribe(const mqtt::parsed_filter& parsed) const {
    const std::string_view filter = parsed.match_filter();
    if (directory_ != nullptr) {
        return !is_chat_topic(filter) || chat_may_subscribe(*directory_, *chat_user_, filter);
    }
    if (!is_anonymous()) {
        return true;
    }
    return !is_chat_topic(filter);
}

bool access_policy::may_receive(std::string_view topic_name) const {
    if (directory_ != nullptr && is_chat_topic(topic_name)) {
        return chat_may_receive(*directory_, *chat_user_, topic_name);
    }
    return !(is_anonymous() && is_chat_topic(topic_name));
}

} // namespace perch::gateway
