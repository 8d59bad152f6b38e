// The in-memory chat directory and the diff between two of its snapshots.
#include "gateway/chat/chat_directory.hpp"

#include <algorithm>
#include <iterator>
#include <mutex>

#include "gateway/chat/device_token.hpp"

namespace perch::gateway {

directory_contents make_directory_contents(const store::chat_directory_snapshot& snapshot) {
    directory_contents contents;
    contents.version = snapshot.version;
    for (const store::user_record& user : snapshot.users) {
        contents.users[user.name] = user.password_hash;
        if (user.is_admin) {
            contents.admins.insert(user.name);
        }
    }
    for (const store::room_record& room : snapshot.rooms) {
        contents.rooms[room.name];
        contents.rules.rooms.emplace(room.name, room);
    }
    for (const store::membership_record& membership : snapshot.memberships) {
        const auto room = contents.rooms.find(membership.room);
        if (room == contents.rooms.end() || !contents.users.contains(membership.user)) {
            continue;
        }
        room->second.insert(membership.user);
        contents.rooms_of_user[membership.user].insert(membership.room);
        contents.rules.members[membership.room].emplace(membership.user, membership);
    }
    for (const store::device_token_record& token : snapshot.device_tokens) {
        if (contents.users.contains(token.user)) {
            contents.device_tokens[token.user][token.device] = token.token_hash;
        }
    }
    for (const store::room_ban_record& ban : snapshot.room_bans) {
        contents.rules.banned[ban.room].insert(ban.user);
    }
    for (const store::invitation_record& invitation : snapshot.invitations) {
        if (contents.rooms.contains(invitation.room) && contents.users.contains(invitation.user)) {
            contents.rules.invitations[invitation.user].push_back(invitation);
        }
    }
    contents.ban_records = snapshot.bans;
    contents.bans = std::make_shared<const ban_list>(snapshot.bans);
    contents.acl_rules = snapshot.acl_rules;
    return contents;
}

namespace {

/// Appends to `out` every membership of `from` that `other` lacks.
void collect_missing(const directory_contents& from, const directory_contents& other,
                     std::vector<store::membership_record>& out) {
    for (const auto& [room, members] : from.rooms) {
        const auto other_room = other.rooms.find(room);
        for (const std::string& user : members) {
            if (other_room == other.rooms.end() || !other_room->second.contains(user)) {
                out.push_back({room, user});
            }
        }
    }
}

} // namespace

directory_changes diff_directories(const directory_contents& before,
                                   const directory_contents& after) {
    directory_changes changes;
    collect_missing(after, before, changes.joined);
    collect_missing(before, after, changes.left);
    for (const auto& [user, hash] : before.users) {
        const auto now = after.users.find(user);
        if (now == after.users.end()) {
            changes.removed_users.push_back(user);
        } else if (now->second != hash) {
            changes.changed_passwords.push_back(user);
        }
    }
    for (const auto& [user, hash] : after.users) {
        if (!before.users.contains(user)) {
            changes.added_users.push_back(user);
        }
    }
    for (const auto& [room, members] : before.rooms) {
        if (!after.rooms.contains(room)) {
            changes.removed_rooms.push_back(room);
        }
    }
    changes.are_bans_changed = before.ban_records != after.ban_records;
    changes.are_acl_rules_changed = before.acl_rules != after.acl_rules;
    return changes;
}

directory_changes chat_directory::replace(const store::chat_directory_snapshot& snapshot) {
    directory_contents fresh = make_directory_contents(snapshot);
    std::unique_lock lock(mutex_);
    directory_changes changes = diff_directories(contents_, fresh);
    contents_ = std::move(fresh);
    return changes;
}

std::uint64_t chat_directory::version() const {
    std::shared_lock lock(mutex_);
    return contents_.version;
}

std::optional<std::string> chat_directory::password_hash(std::string_view user) const {
    std::shared_lock lock(mutex_);
    const auto found = contents_.users.find(user);
    if (found == contents_.users.end()) {
        return std::nullopt;
    }
    return found->second;
}

bool chat_directory::has_device_token(std::string_view user, std::string_view token_hash) const {
    std::shared_lock lock(mutex_);
    const auto found = contents_.device_tokens.find(user);
    if (found == contents_.device_tokens.end()) {
        return false;
    }
    bool is_found = false;
    for (const auto& [device, hash] : found->second) {
        is_found = equal_in_constant_time(hash, token_hash) || is_found;
    }
    return is_found;
}

bool chat_directory::has_user(std::string_view user) const {
    std::shared_lock lock(mutex_);
    return contents_.users.contains(user);
}

bool chat_directory::is_admin(std::string_view user) const {
    std::shared_lock lock(mutex_);
    return contents_.admins.contains(user);
}

bool chat_directory::has_room(std::string_view room) const {
    std::shared_lock lock(mutex_);
    return contents_.rooms.contains(room);
}

bool chat_directory::is_member(std::string_view room, std::string_view user) const {
    std::shared_lock lock(mutex_);
    const auto found = contents_.rooms.find(room);
    return found != contents_.rooms.end() && found->second.contains(user);
}

bool chat_directory::shares_room(std::string_view first, std::string_view second) const {
    std::shared_lock lock(mutex_);
    if (first == second) {
        return contents_.users.contains(first);
    }
    const auto first_rooms = contents_.rooms_of_user.find(first);
    const auto second_rooms = contents_.rooms_of_user.find(second);
    if (first_rooms == contents_.rooms_of_user.end() ||
        second_rooms == contents_.rooms_of_user.end()) {
        return false;
    }
    const auto& smaller = first_rooms->second.size() <= second_rooms->second.size()
                              ? first_rooms->second
                              : second_rooms->second;
    const auto& larger =
        &smaller == &first_rooms->second ? second_rooms->second : first_rooms->second;
    return std::any_of(smaller.begin(), smaller.end(),
                       [&larger](const std::string& room) { return larger.contains(room); });
}

std::optional<std::string> chat_directory::placement_room(std::string_view user) const {
    std::shared_lock lock(mutex_);
    const auto found = contents_.rooms_of_user.find(user);
    if (found == contents_.rooms_of_user.end()) {
        return std::nullopt;
    }
    const std::string* smallest = nullptr;
    std::size_t smallest_size = 0;
    for (const std::string& room : found->second) {
        const auto members = contents_.rooms.find(room);
        const std::size_t size = members == contents_.rooms.end() ? 0 : members->second.size();
        if (smallest == nullptr || size < smallest_size) {
            smallest = &room;
            smallest_size = size;
        }
    }
    return smallest == nullptr ? std::nullopt : std::optional<std::string>(*smallest);
}

std::vector<std::string> chat_directory::rooms_of(std::string_view user) const {
    std::shared_lock lock(mutex_);
    const auto found = contents_.rooms_of_user.find(user);
    if (found == contents_.rooms_of_user.end()) {
        return {};
    }
    return {found->second.begin(), found->second.end()};
}

std::vector<std::string> chat_directory::members_of(std::string_view room) const {
    std::shared_lock lock(mutex_);
    const auto found = contents_.rooms.find(room);
    if (found == contents_.rooms.end()) {
        return {};
    }
    return {found->second.begin(), found->second.end()};
}

std::vector<std::string> chat_directory::peers_of(std::string_view user) const {
    std::shared_lock lock(mutex_);
    std::set<std::string, std::less<>> peers;
    if (contents_.users.contains(user)) {
        peers.emplace(user);
    }
    const auto rooms = contents_.rooms_of_user.find(user);
    if (rooms != contents_.rooms_of_user.end()) {
        for (const std::string& room : rooms->second) {
            const auto members = contents_.rooms.find(room);
            if (members != contents_.rooms.end()) {
                peers.insert(members->second.begin(), members->second.end());
            }
        }
    }
    return {peers.begin(), peers.end()};
}

std::optional<store::room_record> chat_directory::room(std::string_view room) const {
    std::shared_lock lock(mutex_);
    const auto found = contents_.rules.rooms.find(room);
    if (found == contents_.rules.rooms.end()) {
        return std::nullopt;
    }
    return found->second;
}

std::optional<store::membership_record> chat_directory::membership(std::string_view room,
                                                                   std::string_view user) const {
    std::shared_lock lock(mutex_);
    const auto members = contents_.rules.members.find(room);
    if (members == contents_.rules.members.end()) {
        return std::nullopt;
    }
    const auto found = members->second.find(user);
    if (found == members->second.end()) {
        return std::nullopt;
    }
    return found->second;
}

bool chat_directory::is_muted(std::string_view room, std::string_view user) const {
    std::shared_lock lock(mutex_);
    const auto members = contents_.rules.members.find(room);
    if (members == contents_.rules.members.end()) {
        return false;
    }
    const auto found = members->second.find(user);
    return found != members->second.end() && found->second.is_muted;
}

bool chat_directory::is_banned_from(std::string_view room, std::string_view user) const {
    std::shared_lock lock(mutex_);
    const auto found = contents_.rules.banned.find(room);
    return found != contents_.rules.banned.end() && found->second.contains(user);
}

bool chat_directory::is_invited(std::string_view room, std::string_view user) const {
    std::shared_lock lock(mutex_);
    const auto found = contents_.rules.invitations.find(user);
    return found != contents_.rules.invitations.end() &&
           std::any_of(found->second.begin(), found->second.end(),
                       [room](const store::invitation_record& held) { return held.room == room; });
}

std::vector<store::invitation_record> chat_directory::invitations_of(std::string_view user) const {
    std::shared_lock lock(mutex_);
    const auto found = contents_.rules.invitations.find(user);
    if (found == contents_.rules.invitations.end()) {
        return {};
    }
    return found->second;
}

std::vector<store::membership_record> chat_directory::memberships_of(std::string_view room) const {
    std::shared_lock lock(mutex_);
    std::vector<store::membership_record> memberships;
    const auto members = contents_.rules.members.find(room);
    if (members != contents_.rules.members.end()) {
        for (const auto& [user, membership] : members->second) {
            memberships.push_back(membership);
        }
    }
    return memberships;
}

std::vector<store::room_record> chat_directory::public_rooms(std::string_view query,
                                                             std::string_view after,
                                                             std::size_t limit) const {
    std::shared_lock lock(mutex_);
    std::vector<store::room_record> found;
    auto room =
        after.empty() ? contents_.rules.rooms.begin() : contents_.rules.rooms.upper_bound(after);
    for (; room != contents_.rules.rooms.end() && found.size() < limit; ++room) {
        const store::room_record& held = room->second;
        if (held.visibility != store::room_visibility::open) {
            continue;
        }
        if (held.name.find(query) != std::string::npos ||
            held.display_name.find(query) != std::string::npos) {
            found.push_back(held);
        }
    }
    return found;
}

std::shared_ptr<const ban_list> chat_directory::bans() const {
    std::shared_lock lock(mutex_);
    return contents_.bans;
}

std::vector<store::acl_rule_record> chat_directory::acl_rules() const {
    std::shared_lock lock(mutex_);
    return contents_.acl_rules;
}

void chat_directory::set_outside_rules(std::shared_ptr<const outside_chat_rules> rules) {
    std::lock_guard lock(rules_mutex_);
    current_rules_.store(rules.get(), std::memory_order_release);
    kept_rules_.push_back(std::move(rules));
}

void chat_directory::add_relay_peer(std::string user) {
    std::unique_lock lock(mutex_);
    if (std::find(relay_peers_.begin(), relay_peers_.end(), user) == relay_peers_.end()) {
        relay_peers_.push_back(std::move(user));
    }
}

bool chat_directory::is_relay_peer(std::string_view user) const {
    std::shared_lock lock(mutex_);
    return std::find(relay_peers_.begin(), relay_peers_.end(), user) != relay_peers_.end();
}

} // namespace perch::gateway
