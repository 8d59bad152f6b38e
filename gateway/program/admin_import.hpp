// Bulk imports of the administration commands: a mosquitto_passwd file into users, a room file
// into rooms and memberships. Every line of a file is checked before anything is written, so a
// file with a bad line changes nothing. Knows the chat store's interface, not its backend.
#pragma once

#include <cstddef>
#include <iosfwd>
#include <stdexcept>
#include <string>

#include "store/chat_store.hpp"

namespace perch::gateway {

/// A file that cannot be imported, or a store write that failed; what() is the message.
class admin_import_error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// What import_password_file changed.
struct user_import_summary {
    std::size_t added = 0;
    std::size_t updated = 0;
};

/// Imports a mosquitto_passwd file: `name:hash` lines, blank lines and `#` comments skipped. New
/// users are added, existing ones get the file's hash (the last line wins for a name listed
/// twice). Each bad line (no colon, an invalid name, a hash that is not a well-formed `$7$`
/// string, `$6$` hashes included) is written to `errors` as `perch: FILE:LINE: problem`; if there
/// was any, nothing is written and admin_import_error is thrown. Also throws it when the file
/// cannot be read or a store write fails.
user_import_summary import_password_file(store::chat_store& store, const std::string& file_name,
                                         std::ostream& errors);

/// What import_room_file changed.
struct room_import_summary {
    std::size_t rooms_created = 0;
    std::size_t members_added = 0;
    /// Memberships the file names that existed already (or were named twice).
    std::size_t already_members = 0;
};

/// Imports a room file: lines `ROOM MEMBER MEMBER ...` separated by spaces or tabs, blank lines
/// and `#` comments skipped. Missing rooms are created (a line may name a room alone), members
/// are added to them. Each bad line (an invalid room or user name, a user that does not exist)
/// is written to `errors` as `perch: FILE:LINE: problem`; if there was any, nothing is written
/// and admin_import_error is thrown. Also throws it when the file cannot be read or a store
/// write fails.
room_import_summary import_room_file(store::chat_store& store, const std::string& file_name,
                                     std::ostream& errors);

} // namespace perch::gateway
