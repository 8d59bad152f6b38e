// Edits, deletes and reactions (docs/CHAT.md "Edits, deletes and reactions"): each checked
// against the message it names, then stamped, recorded in history (which applies it to that
// message in the same write) and routed to the conversation like a message of the acting user.
#include "gateway/chat/chat_service.hpp"
#include "gateway/chat/chat_topic.hpp"
#include "gateway/common/stored_message_codec.hpp"
#include "gateway/common/topic_levels.hpp"

namespace perch::gateway {

namespace {

control_outcome refusal(const control_request& request, std::string error) {
    control_outcome outcome;
    outcome.reply.is_ok = false;
    outcome.reply.operation = std::string(to_string(request.operation));
    outcome.reply.error = std::move(error);
    return outcome;
}

store::history_kind kind_of(const control_request& request) {
    switch (request.operation) {
    case control_operation::edit: return store::history_kind::edit;
    case control_operation::remove_message: return store::history_kind::deletion;
    case control_operation::react: return store::history_kind::reaction_added;
    default: return store::history_kind::reaction_removed;
    }
}

} // namespace

bool chat_service::may_moderate(std::string_view user, std::string_view room) const {
    // Its owners and admins (docs/CHAT.md "Room rules").
    const std::optional<store::membership_record> member = directory_.membership(room, user);
    return member && member->role != store::room_role::member;
}

std::optional<std::string> chat_service::event_refusal(const control_request& request,
                                                       std::string_view user,
                                                       const store::history_record& target,
                                                       std::uint64_t now_unix_ms) const {
    if (target.kind != store::history_kind::message) {
        return "message " + std::to_string(request.id) + " is itself an event";
    }
    const bool is_own = target.sender == user;
    switch (request.operation) {
    case control_operation::edit:
        if (!is_own) {
            return std::string("only the sender may edit a message");
        }
        if (target.is_deleted) {
            return std::string("the message is deleted");
        }
        return std::nullopt;
    case control_operation::remove_message: {
        if (target.is_deleted) {
            return std::string("the message is deleted already");
        }
        const std::vector<std::string_view> levels = split_topic_levels(request.conversation);
        if (levels[0] == "room" && may_moderate(user, levels[1])) {
            return std::nullopt;
        }
        if (!is_own) {
            return std::string("not allowed to delete this message");
        }
        const std::uint64_t window_ms = std::uint64_t{settings_.delete_window_s} * 1000;
        if (window_ms != 0 && now_unix_ms > target.ts_unix_ms + window_ms) {
            return std::string("the delete window of this message has passed");
        }
        return std::nullopt;
    }
    default:
        if (target.is_deleted) {
            return std::string("the message is deleted");
        }
        return std::nullopt;
    }
}

void chat_service::change_message(control_request request, std::string user,
                                  std::function<void(control_outcome)> done) {
    if (!may_read_conversation(user, request.conversation)) {
        done(refusal(request, "not allowed to read this conversation"));
        return;
    }
    std::string conversation = request.conversation;
    const std::uint64_t target_id = request.id;
    store_->find_history(std::move(conversation), target_id,
                         [this, request = std::move(request), user = std::move(user),
                          done = std::move(done)](std::optional<store::history_record> target,
                                                  const store::store_status& status) {
                             if (!status.is_ok()) {
                                 done(refusal(request, "the store failed: " + status.detail));
                                 return;
                             }
                             if (!target) {
                                 done(refusal(request, "no message " + std::to_string(request.id) +
                                                           " in this conversation"));
                                 return;
                             }
                             const std::uint64_t now = unix_now_ms();
                             if (auto refused = event_refusal(request, user, *target, now)) {
                                 done(refusal(request, std::move(*refused)));
                                 return;
                             }
                             record_event(request, user, now, done);
                         });
}

void chat_service::record_event(const control_request& request, const std::string& user,
                                std::uint64_t now_unix_ms,
                                const std::function<void(control_outcome)>& done) {
    const std::vector<std::string_view> levels = split_topic_levels(request.conversation);
    std::string topic;
    if (levels[0] == "room") {
        topic = "chat/room/" + std::string(levels[1]) + "/" + user;
    } else {
        const std::string_view other = levels[1] == user ? levels[2] : levels[1];
        topic = "chat/dm/" + std::string(other) + "/" + user;
    }
    const store::history_kind kind = kind_of(request);
    auto content = std::make_shared<mqtt::message>();
    content->topic_name = std::move(topic);
    content->payload = mqtt::shared_bytes::copy_of(format_message_event(request));
    content->qos_level = mqtt::qos::at_least_once;
    content->props.payload_format_indicator = 1;
    content->props.content_type = "application/json";
    content->props.user_properties = {{"event", std::string(event_name(kind))},
                                      {"of", std::to_string(request.id)}};
    std::string change;
    if (kind == store::history_kind::edit) {
        change = request.text;
    } else if (kind == store::history_kind::reaction_added ||
               kind == store::history_kind::reaction_removed) {
        change = request.emoji;
    }
    control_outcome outcome;
    outcome.reply.operation = std::string(to_string(request.operation));
    outcome.reply.conversation = request.conversation;
    outcome.reply.of = request.id;
    record_request event;
    event.content = std::move(content);
    event.conversation = request.conversation;
    event.sender = user;
    event.now_unix_ms = now_unix_ms;
    event.is_event = true;
    event.kind = kind;
    event.of_id = request.id;
    event.change = std::move(change);
    event.written = [request, outcome = std::move(outcome),
                     done](const recorded_message& recorded,
                           const store::store_status& status) mutable {
        if (!status.is_ok()) {
            done(refusal(request, "the store failed: " + status.detail));
            return;
        }
        outcome.reply.id = recorded.id;
        outcome.event = recorded.content;
        done(std::move(outcome));
    };
    event.later = [request, done](std::optional<recorded_message> recorded) {
        if (!recorded) {
            done(refusal(request, "the store failed: no message id could be allocated"));
        }
    };
    record_next(std::move(event));
}

} // namespace perch::gateway
