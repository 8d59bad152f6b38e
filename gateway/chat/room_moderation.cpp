// Room rules and moderation (docs/CHAT.md "Room rules"): the control requests that create, join,
// leave and invite, moderate members, change a room's settings, list rooms and invitations, each
// checked against the in-memory directory, applied with its audit entry as one store batch, and
// announced in the room as an event stored in history.
#include <algorithm>

#include "gateway/chat/chat_service.hpp"
#include "gateway/chat/chat_topic.hpp"
#include "gateway/common/stored_message_codec.hpp"

#include <nlohmann/json.hpp>

namespace perch::gateway {

namespace {

using json = nlohmann::json;
using action = store::directory_change::action;

control_outcome refusal(const control_request& request, std::string error,
                        std::optional<std::string> detail = std::nullopt) {
    control_outcome outcome;
    outcome.reply.is_ok = false;
    outcome.reply.operation = std::string(to_string(request.operation));
    outcome.reply.error = std::move(error);
    outcome.reply.detail = std::move(detail);
    return outcome;
}

control_outcome not_allowed(const control_request& request, std::string detail) {
    return refusal(request, "not_allowed", std::move(detail));
}

control_outcome accepted(const control_request& request) {
    control_outcome outcome;
    outcome.reply.operation = std::string(to_string(request.operation));
    if (!request.room.empty()) {
        outcome.reply.room = request.room;
    }
    if (!request.user.empty()) {
        outcome.reply.user = request.user;
    }
    return outcome;
}

/// `accepted`, with the notice a member removed by `event` (kick, ban) receives on their own
/// control topic `chat/ctl/{user}/resp/room_event`: they get no room event, being no member when
/// it goes out, and their devices learn the room is gone (docs/CHAT.md "Room rules").
control_outcome accepted_with_removal_notice(const control_request& request, std::string_view event,
                                             std::string_view actor) {
    control_outcome outcome = accepted(request);
    auto notice = std::make_shared<mqtt::message>();
    notice->topic_name = "chat/ctl/" + request.user + "/resp/room_event";
    notice->payload = mqtt::shared_bytes::copy_of(
        format_room_event(event, request.room, actor, request.user, ""));
    notice->qos_level = mqtt::qos::at_least_once;
    notice->props.payload_format_indicator = 1;
    notice->props.content_type = "application/json";
    outcome.event = std::move(notice);
    return outcome;
}

std::string dump(const json& value) {
    return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

/// A room's public description in replies.
json describe(const store::room_record& room) {
    return {{"room", room.name},
            {"name", room.display_name},
            {"topic", room.topic},
            {"visibility", to_string(room.visibility)},
            {"history", to_string(room.history)}};
}

std::uint8_t rank(store::room_role role) {
    return static_cast<std::uint8_t>(role);
}

} // namespace

std::string format_room_event(std::string_view event, std::string_view room, std::string_view by,
                              std::string_view user, std::string_view detail_json) {
    json out = {{"type", "event"}, {"event", event}, {"room", room}};
    if (!by.empty()) {
        out["by"] = by;
    }
    if (!user.empty()) {
        out["user"] = user;
    }
    if (!detail_json.empty()) {
        const json detail = json::parse(detail_json, nullptr, false);
        if (detail.is_object()) {
            out.update(detail);
        }
    }
    return dump(out);
}

bool is_room_rule_operation(control_operation operation) {
    switch (operation) {
    case control_operation::create:
    case control_operation::join:
    case control_operation::leave:
    case control_operation::invite:
    case control_operation::rooms:
    case control_operation::members:
    case control_operation::kick:
    case control_operation::ban:
    case control_operation::unban:
    case control_operation::mute:
    case control_operation::unmute:
    case control_operation::role:
    case control_operation::set_room:
    case control_operation::delete_room:
    case control_operation::public_rooms:
    case control_operation::invitations:
    case control_operation::decline: return true;
    default: return false;
    }
}

std::uint64_t chat_service::history_floor(std::string_view user,
                                          std::string_view conversation) const {
    const std::vector<std::string_view> levels = split_topic_levels(conversation);
    if (levels.size() != 2 || levels[0] != "room") {
        return 0;
    }
    const auto room = directory_.room(levels[1]);
    if (!room || room->history != store::history_visibility::joined) {
        return 0;
    }
    const auto membership = directory_.membership(levels[1], user);
    return membership ? membership->joined_after_id : 0;
}

void chat_service::handle_room_rule(control_request request, std::string user,
                                    std::function<void(control_outcome)> done) {
    const std::string& room_name = request.room;
    const std::optional<store::room_record> room =
        room_name.empty() ? std::nullopt : directory_.room(room_name);
    const std::optional<store::membership_record> own =
        room ? directory_.membership(room_name, user) : std::nullopt;
    const std::optional<store::membership_record> target =
        room && !request.user.empty() ? directory_.membership(room_name, request.user)
                                      : std::nullopt;
    const std::uint64_t now = unix_now_ms();
    const std::uint64_t join_point = last_id(room_conversation(room_name));
    const auto audit = [&](std::string what, std::string detail = {}) {
        return store::directory_change::auditing(
            {0, now, room_name, user, std::move(what), request.user, std::move(detail)});
    };
    // Moderation needs a room, membership and at least the admin role; a target below one's own.
    const auto check_moderator = [&]() -> std::optional<control_outcome> {
        if (!room) {
            return refusal(request, "no_such_room", "there is no room '" + room_name + "'");
        }
        if (!own) {
            return refusal(request, "not_a_member", "you are not a member of this room");
        }
        if (rank(own->role) < rank(store::room_role::admin)) {
            return not_allowed(request, "only the room's owners and admins may " +
                                            std::string(to_string(request.operation)));
        }
        return std::nullopt;
    };
    const auto check_target_below = [&]() -> std::optional<control_outcome> {
        if (!target) {
            return refusal(request, "not_a_member", "'" + request.user + "' is not a member");
        }
        if (rank(target->role) >= rank(own->role)) {
            return not_allowed(request, "'" + request.user + "' is " +
                                            std::string(to_string(target->role)) +
                                            ": only a higher role may do that");
        }
        return std::nullopt;
    };

    switch (request.operation) {
    case control_operation::rooms: {
        control_outcome outcome = accepted(request);
        outcome.reply.names = directory_.rooms_of(user);
        json details = json::array();
        for (const std::string& name : *outcome.reply.names) {
            const auto held = directory_.room(name);
            const auto membership = directory_.membership(name, user);
            if (!held || !membership) {
                continue;
            }
            json entry = describe(*held);
            entry["role"] = to_string(membership->role);
            entry["muted"] = membership->is_muted;
            details.push_back(std::move(entry));
        }
        outcome.reply.extra_json = dump({{"details", std::move(details)}});
        done(std::move(outcome));
        return;
    }
    case control_operation::members: {
        if (!own) {
            done(refusal(request, "not a member of this room"));
            return;
        }
        control_outcome outcome = accepted(request);
        outcome.reply.names = directory_.members_of(room_name);
        json details = json::array();
        for (const store::membership_record& member : directory_.memberships_of(room_name)) {
            details.push_back({{"user", member.user},
                               {"role", to_string(member.role)},
                               {"muted", member.is_muted}});
        }
        outcome.reply.extra_json = dump({{"details", std::move(details)}});
        done(std::move(outcome));
        return;
    }
    case control_operation::public_rooms: {
        control_outcome outcome = accepted(request);
        const auto found = directory_.public_rooms(request.query, request.after, request.limit);
        json rooms = json::array();
        for (const store::room_record& held : found) {
            json entry = describe(held);
            entry["members"] = directory_.members_of(held.name).size();
            rooms.push_back(std::move(entry));
        }
        json extra = {{"rooms", std::move(rooms)}};
        if (found.size() == request.limit) {
            extra["next"] = found.back().name;
        }
        outcome.reply.extra_json = dump(extra);
        done(std::move(outcome));
        return;
    }
    case control_operation::invitations: {
        control_outcome outcome = accepted(request);
        json invitations = json::array();
        for (const store::invitation_record& invitation : directory_.invitations_of(user)) {
            json entry = {{"room", invitation.room},
                          {"by", invitation.by},
                          {"ts", invitation.created_unix_ms}};
            if (const auto held = directory_.room(invitation.room)) {
                entry["name"] = held->display_name;
                entry["topic"] = held->topic;
            }
            invitations.push_back(std::move(entry));
        }
        outcome.reply.extra_json = dump({{"invitations", std::move(invitations)}});
        done(std::move(outcome));
        return;
    }
    case control_operation::create: {
        if (room) {
            done(refusal(request, "the room exists already"));
            return;
        }
        store::room_record created{room_name, user, now};
        created.visibility = request.visibility.value_or(store::room_visibility::open);
        created.history = request.history_visibility.value_or(store::history_visibility::shared);
        created.display_name = request.display_name.value_or("");
        created.topic = request.topic.value_or("");
        apply_room_changes(request, user,
                           {store::directory_change::adding_room(created),
                            store::directory_change::adding_member(
                                {room_name, user, store::room_role::owner, false, join_point})},
                           {}, accepted(request), std::move(done));
        return;
    }
    case control_operation::join: {
        if (!room) {
            done(refusal(request, "no such room"));
            return;
        }
        if (own) {
            done(refusal(request, "already a member"));
            return;
        }
        if (directory_.is_banned_from(room_name, user)) {
            done(refusal(request, "banned", "you are banned from this room"));
            return;
        }
        const bool is_invited = directory_.is_invited(room_name, user);
        if (room->visibility == store::room_visibility::invited && !is_invited) {
            done(refusal(request, "not_invited", "this room is private: join by invitation only"));
            return;
        }
        std::vector<store::directory_change> changes = {store::directory_change::adding_member(
            {room_name, user, store::room_role::member, false, join_point})};
        if (is_invited) {
            changes.push_back(store::directory_change::of_invitation(action::remove_invitation,
                                                                     {room_name, user}));
        }
        apply_room_changes(request, user, std::move(changes), {}, accepted(request),
                           std::move(done));
        return;
    }
    case control_operation::leave: {
        if (!own) {
            done(refusal(request, "not a member of this room"));
            return;
        }
        if (own->role == store::room_role::owner) {
            const auto members = directory_.memberships_of(room_name);
            const auto owners =
                std::count_if(members.begin(), members.end(), [](const auto& member) {
                    return member.role == store::room_role::owner;
                });
            if (owners == 1 && members.size() > 1) {
                done(refusal(request, "last_owner",
                             "you are the room's only owner: make another member owner first, or "
                             "delete the room"));
                return;
            }
        }
        apply_room_changes(
            request, user,
            {store::directory_change::of_member(action::remove_member, {room_name, user})}, {},
            accepted(request), std::move(done));
        return;
    }
    case control_operation::decline: {
        if (!directory_.is_invited(room_name, user)) {
            done(refusal(request, "no_invitation", "you have no invitation into this room"));
            return;
        }
        apply_room_changes(
            request, user,
            {store::directory_change::of_invitation(action::remove_invitation, {room_name, user}),
             audit("decline")},
            {}, accepted(request), std::move(done));
        return;
    }
    case control_operation::invite: {
        if (!own) {
            done(refusal(request, "not a member of this room"));
            return;
        }
        if (!directory_.has_user(request.user)) {
            done(refusal(request, "no such user"));
            return;
        }
        if (target) {
            done(refusal(request, "already a member"));
            return;
        }
        if (directory_.is_banned_from(room_name, request.user)) {
            done(refusal(request, "banned",
                         "'" + request.user + "' is banned from this room: unban them first"));
            return;
        }
        const std::string event = format_room_event("invite", room_name, user, request.user, "");
        if (room->visibility == store::room_visibility::open) {
            // A public room: any member invites and the user is added at once, as before rooms
            // had rules (they could join anyway).
            apply_room_changes(
                request, user,
                {store::directory_change::adding_member(
                     {room_name, request.user, store::room_role::member, false, join_point}),
                 audit("invite")},
                event, accepted(request), std::move(done));
            return;
        }
        if (rank(own->role) < rank(store::room_role::admin)) {
            done(not_allowed(request, "only the owners and admins of a private room may invite"));
            return;
        }
        control_outcome outcome = accepted(request);
        outcome.reply.extra_json = dump({{"pending", true}});
        apply_room_changes(request, user,
                           {store::directory_change::of_invitation(
                                action::add_invitation, {room_name, request.user, user, now}),
                            audit("invite")},
                           event, std::move(outcome), std::move(done));
        return;
    }
    case control_operation::kick:
    case control_operation::mute:
    case control_operation::unmute: {
        if (auto refused = check_moderator()) {
            done(std::move(*refused));
            return;
        }
        if (auto refused = check_target_below()) {
            done(std::move(*refused));
            return;
        }
        const std::string what(to_string(request.operation));
        std::vector<store::directory_change> changes;
        if (request.operation == control_operation::kick) {
            changes.push_back(store::directory_change::of_member(action::remove_member,
                                                                 {room_name, request.user}));
        } else {
            store::membership_record changed = *target;
            changed.is_muted = request.operation == control_operation::mute;
            changes.push_back(store::directory_change::of_member(action::update_member, changed));
        }
        changes.push_back(audit(what));
        apply_room_changes(request, user, std::move(changes),
                           format_room_event(what, room_name, user, request.user, ""),
                           request.operation == control_operation::kick
                               ? accepted_with_removal_notice(request, what, user)
                               : accepted(request),
                           std::move(done));
        return;
    }
    case control_operation::ban: {
        if (auto refused = check_moderator()) {
            done(std::move(*refused));
            return;
        }
        if (!directory_.has_user(request.user)) {
            done(refusal(request, "no_such_user", "there is no user '" + request.user + "'"));
            return;
        }
        if (target || request.user == user) {
            if (auto refused = check_target_below()) {
                done(std::move(*refused));
                return;
            }
        }
        std::vector<store::directory_change> changes;
        if (target) {
            changes.push_back(store::directory_change::of_member(action::remove_member,
                                                                 {room_name, request.user}));
        }
        if (directory_.is_invited(room_name, request.user)) {
            changes.push_back(store::directory_change::of_invitation(action::remove_invitation,
                                                                     {room_name, request.user}));
        }
        changes.push_back(store::directory_change::of_ban(action::add_room_ban,
                                                          {room_name, request.user, user, now}));
        changes.push_back(audit("ban"));
        apply_room_changes(request, user, std::move(changes),
                           format_room_event("ban", room_name, user, request.user, ""),
                           target ? accepted_with_removal_notice(request, "ban", user)
                                  : accepted(request),
                           std::move(done));
        return;
    }
    case control_operation::unban: {
        if (auto refused = check_moderator()) {
            done(std::move(*refused));
            return;
        }
        if (!directory_.is_banned_from(room_name, request.user)) {
            done(refusal(request, "not_banned", "'" + request.user + "' is not banned here"));
            return;
        }
        apply_room_changes(
            request, user,
            {store::directory_change::of_ban(action::remove_room_ban, {room_name, request.user}),
             audit("unban")},
            format_room_event("unban", room_name, user, request.user, ""), accepted(request),
            std::move(done));
        return;
    }
    case control_operation::role: {
        if (auto refused = check_moderator()) {
            done(std::move(*refused));
            return;
        }
        if (!target) {
            done(refusal(request, "not_a_member", "'" + request.user + "' is not a member"));
            return;
        }
        const store::room_role wanted = *request.role;
        const bool is_owner = own->role == store::room_role::owner;
        // An owner sets any role, an owner's included; an admin promotes and demotes members
        // only, up to admin.
        if (!is_owner && (rank(target->role) >= rank(own->role) ||
                          rank(wanted) >= rank(store::room_role::owner))) {
            done(not_allowed(request, "an admin may only change the role of members, and not "
                                      "to owner"));
            return;
        }
        if (target->role == store::room_role::owner && wanted != store::room_role::owner) {
            const auto members = directory_.memberships_of(room_name);
            const auto owners =
                std::count_if(members.begin(), members.end(), [](const auto& member) {
                    return member.role == store::room_role::owner;
                });
            if (owners <= 1) {
                done(refusal(request, "last_owner", "a room keeps at least one owner"));
                return;
            }
        }
        store::membership_record changed = *target;
        changed.role = wanted;
        const std::string role_name(to_string(wanted));
        control_outcome outcome = accepted(request);
        outcome.reply.extra_json = dump({{"role", role_name}});
        apply_room_changes(
            request, user,
            {store::directory_change::of_member(action::update_member, changed),
             audit("role", role_name)},
            format_room_event("role", room_name, user, request.user, dump({{"role", role_name}})),
            std::move(outcome), std::move(done));
        return;
    }
    case control_operation::set_room: {
        if (auto refused = check_moderator()) {
            done(std::move(*refused));
            return;
        }
        store::room_record changed = *room;
        json what = json::object();
        if (request.display_name) {
            changed.display_name = *request.display_name;
            what["name"] = changed.display_name;
        }
        if (request.topic) {
            changed.topic = *request.topic;
            what["topic"] = changed.topic;
        }
        if (request.visibility) {
            changed.visibility = *request.visibility;
            what["visibility"] = to_string(changed.visibility);
        }
        if (request.history_visibility) {
            changed.history = *request.history_visibility;
            what["history"] = to_string(changed.history);
        }
        control_outcome outcome = accepted(request);
        outcome.reply.extra_json = dump(describe(changed));
        request.user.clear();
        apply_room_changes(request, user,
                           {store::directory_change::of_room(action::update_room, changed),
                            audit("set_room", dump(what))},
                           format_room_event("set_room", room_name, user, "", dump(what)),
                           std::move(outcome), std::move(done));
        return;
    }
    case control_operation::delete_room: {
        if (!room) {
            done(refusal(request, "no_such_room", "there is no room '" + room_name + "'"));
            return;
        }
        if (!own || own->role != store::room_role::owner) {
            done(not_allowed(request, "only the room's owners may delete it"));
            return;
        }
        // The event goes to history before the members go: nobody is left to receive it live.
        auto event = make_room_event_message(room_name, user,
                                             format_room_event("delete", room_name, user, "", ""));
        stamp_and_record(event, user, now, {});
        apply_room_changes(
            request, user,
            {store::directory_change::of_room(action::remove_room, *room), audit("delete")}, {},
            accepted(request), std::move(done));
        return;
    }
    default: done(refusal(request, "unknown op")); return;
    }
}

mqtt::message_ptr chat_service::make_room_event_message(std::string_view room,
                                                        std::string_view actor,
                                                        std::string_view payload) {
    auto content = std::make_shared<mqtt::message>();
    content->topic_name = "chat/room/" + std::string(room) + "/" + std::string(actor);
    content->payload = mqtt::shared_bytes::copy_of(payload);
    content->qos_level = mqtt::qos::at_least_once;
    content->props.payload_format_indicator = 1;
    content->props.content_type = "application/json";
    return content;
}

void chat_service::apply_room_changes(control_request request, std::string actor,
                                      std::vector<store::directory_change> changes,
                                      std::optional<std::string> event, control_outcome outcome,
                                      std::function<void(control_outcome)> done) {
    store_->apply_directory_changes(
        std::move(changes), [this, request = std::move(request), actor = std::move(actor),
                             event = std::move(event), outcome = std::move(outcome),
                             done = std::move(done)](store::directory_result result, std::size_t,
                                                     const store::store_status& status) mutable {
            if (result != store::directory_result::done) {
                // The directory changed between the check and the write (another request, or
                // `perch room` beside the gateway).
                control_outcome refused =
                    result == store::directory_result::failed
                        ? refusal(request, "store_failed", "the store failed: " + status.detail)
                        : refusal(request, "conflict", "the room changed meanwhile: ask again");
                reload_then(
                    [done, refused = std::move(refused)]() mutable { done(std::move(refused)); });
                return;
            }
            // Replies and events follow the reload: live sessions already obey the change.
            reload_then([this, request, actor, event, outcome = std::move(outcome),
                         done]() mutable {
                if (!event) {
                    done(std::move(outcome));
                    return;
                }
                // A room topic: recorded now, or (ids from the shared database) later.
                auto content = make_room_event_message(request.room, actor, *event);
                auto later = [outcome, done](std::optional<recorded_message> recorded) mutable {
                    if (recorded) {
                        outcome.signal = recorded->content;
                    }
                    done(std::move(outcome));
                };
                if (auto recorded = stamp_and_record(content, actor, unix_now_ms(), {}, later)) {
                    outcome.signal = recorded->content;
                    done(std::move(outcome));
                }
            });
        });
}

} // namespace perch::gateway
