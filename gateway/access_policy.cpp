// Access decisions for anonymous clients; chat users' chat/ topics go to chat_policy.
#include "gateway/access_policy.hpp"

#include "gateway/chat_policy.hpp"
#include "mqtt/topic.hpp"

namespace perch::gateway {

bool is_chat_topic(std::string_view topic) {
    constexpr std::string_view root = "chat";
    return topic.starts_with(root) && (topic.size() == root.size() || topic[root.size()] == '/');
}

const std::string& access_policy::no_chat_user() {
    static const std::string none;
    return none;
}

bool access_policy::may_publish(std::string_view topic_name) const {
    if (directory_ != nullptr && is_chat_topic(topic_name)) {
        return chat_may_publish(*directory_, *chat_user_, topic_name);
    }
    return !(is_anonymous() && is_chat_topic(topic_name));
}

bool access_policy::may_subscribe(std::string_view topic_filter) const {
    if (directory_ != nullptr) {
        const auto shared = mqtt::parse_shared_subscription(topic_filter);
        const std::string_view filter = shared ? shared->topic_filter : topic_filter;
        return !is_chat_topic(filter) || chat_may_subscribe(*directory_, *chat_user_, filter);
    }
    if (!is_anonymous()) {
        return true;
    }
    if (const auto shared = mqtt::parse_shared_subscription(topic_filter)) {
        return !is_chat_topic(shared->topic_filter);
    }
    return !is_chat_topic(topic_filter);
}

bool access_policy::may_receive(std::string_view topic_name) const {
    if (directory_ != nullptr && is_chat_topic(topic_name)) {
        return chat_may_receive(*directory_, *chat_user_, topic_name);
    }
    return !(is_anonymous() && is_chat_topic(topic_name));
}

} // namespace perch::gateway
