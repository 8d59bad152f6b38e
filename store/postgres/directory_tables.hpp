// The directory's tables on one PostgreSQL connection: users, rooms, members, device tokens,
// bans, access rules, room bans, invitations and the audit log. The caller owns transactions and
// threads; a change runs inside a transaction the caller opened.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "store/chat_store.hpp"

namespace perch::store::postgres {

class connection;

/// The directory changes and queries of chat_store.hpp, with the SQLite chat store's results.
/// Every `done` change moves the directory version (a row every change locks and raises, so
/// directory changes of several gateways are applied one after the other). Every member throws
/// postgres_error on failure.
class directory_tables {
public:
    explicit directory_tables(connection& database) : database_(database) {}

    directory_result add_user(const user_record& user);
    directory_result remove_user(const std::string& name);
    directory_result set_admin(const std::string& name, bool is_admin);
    directory_result set_password(const std::string& name, const std::string& password_hash);
    directory_result upgrade_password_hash(const std::string& name, const std::string& old_hash,
                                           const std::string& new_hash);
    directory_result set_device_token(const device_token_record& token);
    directory_result remove_device_token(const std::string& user, const std::string& device);
    directory_result add_room(const room_record& room);
    directory_result remove_room(const std::string& name);
    directory_result add_member(const membership_record& membership);
    directory_result remove_member(const membership_record& membership);
    directory_result update_room(const room_record& room);
    directory_result update_member(const membership_record& membership);
    directory_result add_room_ban(const room_ban_record& ban);
    directory_result remove_room_ban(const room_ban_record& ban);
    directory_result add_invitation(const invitation_record& invitation);
    directory_result remove_invitation(const invitation_record& invitation);
    /// Appends an audit entry (the directory version stays).
    directory_result add_audit(const audit_record& audit);
    std::vector<audit_record> audit_log(const std::string& room, std::size_t limit);
    directory_result add_ban(const ban_record& ban);
    directory_result remove_ban(ban_kind kind, const std::string& value);
    directory_result add_acl_rule(const acl_rule_record& rule);
    directory_result remove_acl_rule(const acl_rule_record& rule);
    /// Applies one change of a batch.
    directory_result apply(const directory_change& change);

    /// The whole directory; call inside a snapshot transaction for a consistent one.
    chat_directory_snapshot read_directory();
    std::uint64_t directory_version();

private:
    /// `result` after raising the version when it is done.
    directory_result counted(directory_result result);
    /// done when `changed` rows, otherwise `otherwise`; raises the version when done.
    directory_result counted(std::uint64_t changed, directory_result otherwise);
    bool user_exists(const std::string& name);
    bool room_exists(const std::string& name);
    void read_people(chat_directory_snapshot& snapshot);
    void read_rules(chat_directory_snapshot& snapshot);

    connection& database_;
};

} // namespace perch::store::postgres
