// The bulk imports: parse and check the whole file against the directory, plan the changes, then
// apply them as one transaction (all or nothing) and wait for the store once.
#include "gateway/program/admin_import.hpp"

#include <cstdint>
#include <fstream>
#include <ostream>
#include <set>
#include <unordered_set>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "gateway/chat/password_hash.hpp"
#include "gateway/common/chat_names.hpp"
#include "gateway/common/stored_message_codec.hpp"

namespace perch::gateway {
namespace {

/// Reads a file line by line (a trailing CR removed), skipping blank lines and `#` comments, and
/// counts the lines reported bad. Throws when the file cannot be opened.
class import_file_reader {
public:
    import_file_reader(const std::string& file_name, std::ostream& errors)
        : file_name_(file_name), errors_(errors), file_(file_name) {
        if (!file_) {
            throw admin_import_error(fmt::format("cannot read '{}'", file_name));
        }
    }

    /// The next line worth reading; false at the end of the file.
    bool next(std::string& line) {
        while (std::getline(file_, line)) {
            ++line_number_;
            if (line.ends_with('\r')) {
                line.pop_back();
            }
            if (!line.empty() && !line.starts_with('#')) {
                return true;
            }
        }
        return false;
    }

    /// Reports a problem of the current line.
    void report(const std::string& problem) {
        errors_ << fmt::format("perch: {}:{}: {}\n", file_name_, line_number_, problem);
        ++problems_;
    }

    /// Throws when some line was reported: the file is refused as a whole.
    void refuse_if_bad() const {
        if (problems_ > 0) {
            throw admin_import_error(fmt::format("{}: nothing imported ({} bad line{})", file_name_,
                                                 problems_, problems_ == 1 ? "" : "s"));
        }
    }

private:
    const std::string& file_name_;
    std::ostream& errors_;
    std::ifstream file_;
    std::size_t line_number_ = 0;
    std::size_t problems_ = 0;
};

/// Applies `changes` all together or not at all, waits for the store and returns done, or the
/// result of the change that was refused. Throws admin_import_error when the write itself failed.
store::directory_result apply_all(store::chat_store& store,
                                  std::vector<store::directory_change> changes) {
    store::directory_result outcome = store::directory_result::failed;
    std::string failure;
    // The completion runs on the store's writer thread; flush() returns only after it, so the
    // outcome is complete and visible here.
    store.apply_directory_changes(std::move(changes),
                                  [&outcome, &failure](store::directory_result result, std::size_t,
                                                       const store::store_status& status) {
                                      outcome = result;
                                      if (result == store::directory_result::failed) {
                                          failure = status.detail;
                                      }
                                  });
    store.flush();
    if (outcome == store::directory_result::failed) {
        throw admin_import_error("store write failed, nothing imported: " + failure);
    }
    return outcome;
}

/// One valid line of a password file.
struct imported_user {
    std::string name;
    std::string password_hash;
};

std::vector<imported_user> read_password_file(const std::string& file_name, std::ostream& errors) {
    import_file_reader reader(file_name, errors);
    std::vector<imported_user> users;
    std::string line;
    while (reader.next(line)) {
        const std::size_t colon = line.find(':');
        if (colon == std::string::npos) {
            reader.report("not a 'name:hash' line");
            continue;
        }
        imported_user user{line.substr(0, colon), line.substr(colon + 1)};
        if (!is_valid_chat_name(user.name)) {
            reader.report(fmt::format("invalid user name '{}'", user.name));
        } else if (user.password_hash.starts_with("$6$")) {
            reader.report(
                fmt::format("user '{}': a $6$ (salted SHA-512) hash from Mosquitto before 2.0 "
                            "cannot be imported; add the user with a new password instead",
                            user.name));
        } else if (!is_valid_password_hash(user.password_hash)) {
            reader.report(
                fmt::format("user '{}': not a $7$ (PBKDF2-SHA512) password hash", user.name));
        } else {
            users.push_back(std::move(user));
        }
    }
    reader.refuse_if_bad();
    return users;
}

/// One valid line of a room file.
struct imported_room {
    std::string room;
    std::vector<std::string> members;
};

std::vector<std::string> split_words(const std::string& line) {
    std::vector<std::string> words;
    std::size_t at = 0;
    while (at < line.size()) {
        const std::size_t start = line.find_first_not_of(" \t", at);
        if (start == std::string::npos) {
            break;
        }
        const std::size_t end = line.find_first_of(" \t", start);
        words.push_back(line.substr(start, end == std::string::npos ? end : end - start));
        at = end == std::string::npos ? line.size() : end;
    }
    return words;
}

std::vector<imported_room> read_room_file(const std::string& file_name,
                                          const std::unordered_set<std::string>& users,
                                          std::ostream& errors) {
    import_file_reader reader(file_name, errors);
    std::vector<imported_room> rooms;
    std::string line;
    while (reader.next(line)) {
        std::vector<std::string> words = split_words(line);
        if (words.empty()) {
            continue;
        }
        std::vector<std::string> problems;
        if (!is_valid_chat_name(words[0])) {
            problems.push_back(fmt::format("invalid room name '{}'", words[0]));
        }
        for (std::size_t i = 1; i < words.size(); ++i) {
            if (!is_valid_chat_name(words[i])) {
                problems.push_back(fmt::format("invalid user name '{}'", words[i]));
            } else if (!users.contains(words[i])) {
                problems.push_back(fmt::format("unknown user '{}'", words[i]));
            }
        }
        if (!problems.empty()) {
            reader.report(fmt::format("{}", fmt::join(problems, ", ")));
            continue;
        }
        imported_room room{std::move(words[0]), {}};
        room.members.assign(std::make_move_iterator(words.begin() + 1),
                            std::make_move_iterator(words.end()));
        rooms.push_back(std::move(room));
    }
    reader.refuse_if_bad();
    return rooms;
}

} // namespace

user_import_summary import_password_file(store::chat_store& store, const std::string& file_name,
                                         std::ostream& errors) {
    const auto users = read_password_file(file_name, errors);
    std::unordered_set<std::string> known;
    for (const auto& user : store.load_directory().users) {
        known.insert(user.name);
    }
    user_import_summary summary;
    std::vector<store::directory_change> changes;
    const std::uint64_t now_ms = unix_now_ms();
    for (const auto& user : users) {
        if (known.insert(user.name).second) {
            ++summary.added;
            changes.push_back(store::directory_change::adding_user(
                store::user_record{user.name, user.password_hash, now_ms}));
        } else {
            ++summary.updated;
            changes.push_back(
                store::directory_change::setting_password(user.name, user.password_hash));
        }
    }
    if (apply_all(store, std::move(changes)) != store::directory_result::done) {
        throw admin_import_error(
            fmt::format("{}: nothing imported: the users changed while importing (a user was "
                        "added or deleted meanwhile); run the import again",
                        file_name));
    }
    return summary;
}

room_import_summary import_room_file(store::chat_store& store, const std::string& file_name,
                                     std::ostream& errors) {
    const auto directory = store.load_directory();
    std::unordered_set<std::string> users;
    for (const auto& user : directory.users) {
        users.insert(user.name);
    }
    const auto rooms = read_room_file(file_name, users, errors);
    std::unordered_set<std::string> existing_rooms;
    for (const auto& room : directory.rooms) {
        existing_rooms.insert(room.name);
    }
    std::set<std::pair<std::string, std::string>> memberships;
    for (const auto& membership : directory.memberships) {
        memberships.emplace(membership.room, membership.user);
    }
    room_import_summary summary;
    std::vector<store::directory_change> changes;
    const std::uint64_t now_ms = unix_now_ms();
    for (const auto& room : rooms) {
        if (existing_rooms.insert(room.room).second) {
            ++summary.rooms_created;
            changes.push_back(
                store::directory_change::adding_room(store::room_record{room.room, "", now_ms}));
        }
        for (const auto& member : room.members) {
            if (!memberships.emplace(room.room, member).second) {
                ++summary.already_members;
                continue;
            }
            ++summary.members_added;
            changes.push_back(store::directory_change::adding_member(
                store::membership_record{room.room, member}));
        }
    }
    if (apply_all(store, std::move(changes)) != store::directory_result::done) {
        throw admin_import_error(fmt::format("{}: nothing imported: the users or rooms changed "
                                             "while importing; run the import again",
                                             file_name));
    }
    return summary;
}

} // namespace perch::gateway
