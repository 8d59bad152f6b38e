// Access decisions for anonymous clients.
#include "gateway/access_policy.hpp"

#include "mqtt/topic.hpp"

namespace perch::gateway {

bool is_chat_topic(std::string_view topic) {
    constexpr std::string_view root = "chat";
    return topic.starts_with(root) && (topic.size() == root.size() || topic[root.size()] == '/');
}

bool access_policy::may_publish(std::string_view topic_name) const {
    return !(is_anonymous_ && is_chat_topic(topic_name));
}

bool access_policy::may_subscribe(std::string_view topic_filter) const {
    if (!is_anonymous_) {
        return true;
    }
    if (const auto shared = mqtt::parse_shared_subscription(topic_filter)) {
        return !is_chat_topic(shared->topic_filter);
    }
    return !is_chat_topic(topic_filter);
}

bool access_policy::may_receive(std::string_view topic_name) const {
    return !(is_anonymous_ && is_chat_topic(topic_name));
}

} // namespace perch::gateway
