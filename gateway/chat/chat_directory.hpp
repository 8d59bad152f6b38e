// The chat directory in memory: users with their password hashes and device tokens, rooms,
// members, and each user's rooms. Read on the hot path under a shared lock; replaced as a whole
// when the store's directory changes. Knows nothing about sessions or sockets.
//
// Theory of operation. The gateway loads the directory from the chat store at start
// (replace()), then a poller compares directory_version() with version() and, when it moved,
// loads the store again and calls replace(), which returns what changed (diff) so that live
// sessions can follow: rooms joined and left, users deleted, passwords changed.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "gateway/chat/ban_list.hpp"
#include "gateway/common/topic_acl.hpp"
#include "store/chat_store.hpp"

namespace perch::gateway {

/// What changed between two directory snapshots.
struct directory_changes {
    /// Memberships present now and not before (a room or user created with them included).
    std::vector<store::membership_record> joined;
    /// Memberships present before and not now (a room or user deleted with them included).
    std::vector<store::membership_record> left;
    /// Users present now and not before.
    std::vector<std::string> added_users;
    /// Users present before and not now.
    std::vector<std::string> removed_users;
    /// Rooms present before and not now (deleted); their members are in `left`.
    std::vector<std::string> removed_rooms;
    /// Users whose password hash changed.
    std::vector<std::string> changed_passwords;
    /// True when a ban was added, changed or removed: live connections are checked again.
    bool are_bans_changed = false;
    /// True when the topic access rules held in the store changed.
    bool are_acl_rules_changed = false;
    /// True when nothing changed.
    bool is_empty() const {
        return joined.empty() && left.empty() && added_users.empty() && removed_users.empty() &&
               removed_rooms.empty() && changed_passwords.empty() && !are_bans_changed &&
               !are_acl_rules_changed;
    }
};

/// The rules of the rooms (docs/CHAT.md "Room rules"): settings, member roles and mutes, room
/// bans and pending invitations.
struct room_rules {
    /// Room name -> the room as stored (visibility, history visibility, name, topic).
    std::map<std::string, store::room_record, std::less<>> rooms;
    /// Room name -> user -> membership (role, mute, join point).
    std::map<std::string, std::map<std::string, store::membership_record, std::less<>>, std::less<>>
        members;
    /// Room name -> users banned from it.
    std::map<std::string, std::set<std::string, std::less<>>, std::less<>> banned;
    /// User name -> their pending invitations, by room.
    std::map<std::string, std::vector<store::invitation_record>, std::less<>> invitations;
};

/// The directory contents without the lock: the value replace() installs.
struct directory_contents {
    /// User name -> password hash.
    std::map<std::string, std::string, std::less<>> users;
    /// The users with the admin flag (docs/ADMIN.md).
    std::set<std::string, std::less<>> admins;
    /// Room name -> members.
    std::map<std::string, std::set<std::string, std::less<>>, std::less<>> rooms;
    /// User name -> rooms the user belongs to.
    std::map<std::string, std::set<std::string, std::less<>>, std::less<>> rooms_of_user;
    /// User name -> device -> the hash of that device's token.
    std::map<std::string, std::map<std::string, std::string, std::less<>>, std::less<>>
        device_tokens;
    /// The bans as stored, and the list built from them.
    std::vector<store::ban_record> ban_records;
    std::shared_ptr<const ban_list> bans = std::make_shared<const ban_list>();
    /// The topic access rules held in the store.
    std::vector<store::acl_rule_record> acl_rules;
    /// Room settings, roles, mutes, room bans and invitations.
    room_rules rules;
    std::uint64_t version = 0;
};

/// Builds the contents of a snapshot (memberships naming an unknown user or room are ignored).
directory_contents make_directory_contents(const store::chat_directory_snapshot& snapshot);

/// What changed from `before` to `after`.
directory_changes diff_directories(const directory_contents& before,
                                   const directory_contents& after);

/// The rules for topics outside chat/ (docs/ACCESS.md), replaced as a whole at start and on
/// reload so that a check holds one consistent set.
struct outside_chat_rules {
    /// The parsed acl_file joined with the rules held in the store; nullptr when there are
    /// neither.
    std::shared_ptr<const topic_acl> acl;
    /// Without an acl: whether anonymous clients may publish and subscribe outside chat/ (true
    /// when every listener is loopback-only).
    bool is_anonymous_open = true;
};

/// The shared directory. Every member is thread-safe: queries take a shared lock, replace() an
/// exclusive one.
class chat_directory {
public:
    /// Installs `snapshot` and returns what changed from the previous contents.
    directory_changes replace(const store::chat_directory_snapshot& snapshot);

    /// The directory_version() of the installed snapshot.
    std::uint64_t version() const;

    /// The password hash of `user`, or empty when there is no such user.
    std::optional<std::string> password_hash(std::string_view user) const;
    /// True when one of the device tokens of `user` has the hash `token_hash` (compared in
    /// constant time with each).
    bool has_device_token(std::string_view user, std::string_view token_hash) const;
    /// True when `user` exists.
    bool has_user(std::string_view user) const;
    /// True when `user` exists and has the admin flag (docs/ADMIN.md).
    bool is_admin(std::string_view user) const;
    /// True when `room` exists.
    bool has_room(std::string_view room) const;
    /// True when `user` is a member of `room`.
    bool is_member(std::string_view room, std::string_view user) const;
    /// True when `first` and `second` are members of at least one common room, or are the same
    /// existing user.
    bool shares_room(std::string_view first, std::string_view second) const;
    /// The rooms of `user`, sorted.
    std::vector<std::string> rooms_of(std::string_view user) const;
    /// The room of `user` with the fewest members (the first by name among equals): where the
    /// broker places the user's connections (docs/DESIGN.md "Connection placement"); empty when
    /// the user belongs to no room.
    std::optional<std::string> placement_room(std::string_view user) const;
    /// The members of `room`, sorted; empty for an unknown room.
    std::vector<std::string> members_of(std::string_view room) const;
    /// The users whose presence `user` may see: `user` itself (when it exists) and everyone
    /// sharing a room with it; sorted, each once.
    std::vector<std::string> peers_of(std::string_view user) const;

    // Room rules (docs/CHAT.md "Room rules").

    /// The room as stored (visibility, history visibility, name, topic), when it exists.
    std::optional<store::room_record> room(std::string_view room) const;
    /// The membership of `user` in `room` (role, mute, join point), when a member.
    std::optional<store::membership_record> membership(std::string_view room,
                                                       std::string_view user) const;
    /// True when `user` is a member of `room` and muted there.
    bool is_muted(std::string_view room, std::string_view user) const;
    /// True when `user` is banned from `room`.
    bool is_banned_from(std::string_view room, std::string_view user) const;
    /// True when `user` has a pending invitation into `room`.
    bool is_invited(std::string_view room, std::string_view user) const;
    /// The pending invitations of `user`, by room.
    std::vector<store::invitation_record> invitations_of(std::string_view user) const;
    /// The members of `room` with their roles, by user.
    std::vector<store::membership_record> memberships_of(std::string_view room) const;
    /// The public rooms whose name or display name contains `query` (case-sensitive bytes; every
    /// public room when empty), by name, starting after the room named `after` (empty: from the
    /// first), at most `limit`.
    std::vector<store::room_record> public_rooms(std::string_view query, std::string_view after,
                                                 std::size_t limit) const;

    /// The bans now in force.
    std::shared_ptr<const ban_list> bans() const;
    /// The topic access rules held in the store.
    std::vector<store::acl_rule_record> acl_rules() const;

    /// Installs the rules outside chat/; checks made after it returns use them. The rules
    /// replaced stay alive until the directory ends (a check in flight may still read them).
    void set_outside_rules(std::shared_ptr<const outside_chat_rules> rules);
    /// The rules outside chat/ now in force (default: no acl, anonymous clients open). Valid as
    /// long as the directory.
    const outside_chat_rules& outside_rules() const {
        return *current_rules_.load(std::memory_order_acquire);
    }

    /// Makes `user` a relay peer: the local user of a bridge with bridge_chat, the only one who
    /// may publish, subscribe to and receive `chat/relay/...` (docs/BRIDGES.md). Set at start.
    void add_relay_peer(std::string user);
    /// True when `user` is a relay peer.
    bool is_relay_peer(std::string_view user) const;

private:
    // The relay peers; few (one per bridge), set at start. Lock: mutex_.
    std::vector<std::string> relay_peers_;
    // Every set of rules ever installed: reloads are rare (SIGHUP), and keeping them lets a
    // check, asked for every delivery, cost one atomic load instead of a lock and a count.
    // Owner: the server (start and reload). Lock: rules_mutex_ for kept_rules_.
    std::mutex rules_mutex_;
    std::vector<std::shared_ptr<const outside_chat_rules>> kept_rules_{
        std::make_shared<const outside_chat_rules>()};
    std::atomic<const outside_chat_rules*> current_rules_{kept_rules_.front().get()};
    // Owner: shared by all workers and the reload thread. Lock: mutex_ (shared for queries).
    mutable std::shared_mutex mutex_;
    directory_contents contents_;
};

} // namespace perch::gateway
