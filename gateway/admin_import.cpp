// The bulk imports: parse and check the whole file against the directory, plan the changes, then
// submit them all at once and wait for the store to finish them (one wait, not one per change).
#include "gateway/admin_import.hpp"

#include <chrono>
#include <cstdint>
#include <fstream>
#include <functional>
#include <ostream>
#include <set>
#include <unordered_set>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "gateway/chat_names.hpp"
#include "gateway/password_hash.hpp"

namespace perch::gateway {
namespace {

std::uint64_t unix_now_ms() {
    return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                          std::chrono::system_clock::now().time_since_epoch())
                                          .count());
}

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

/// Directory changes submitted together; run() waits once for all of them.
class directory_batch {
public:
    using change = std::function<void(store::chat_store&, store::directory_completion)>;

    void add(change submit) { changes_.push_back(std::move(submit)); }

    /// Submits every change, waits for the store to finish them and returns their results in
    /// order. Throws admin_import_error when a write failed.
    std::vector<store::directory_result> run(store::chat_store& store) {
        std::vector<store::directory_result> results(changes_.size(),
                                                     store::directory_result::failed);
        // Completions run on the store's writer thread, one after another; flush() returns only
        // after the last of them, so the results are complete and visible here.
        std::string failure;
        for (std::size_t index = 0; index < changes_.size(); ++index) {
            changes_[index](store, [&results, &failure, index](store::directory_result result,
                                                               const store::store_status& status) {
                results[index] = result;
                if (result == store::directory_result::failed && failure.empty()) {
                    failure = status.detail;
                }
            });
        }
        store.flush();
        for (const auto result : results) {
            if (result == store::directory_result::failed) {
                throw admin_import_error("store write failed: " + failure);
            }
        }
        return results;
    }

private:
    std::vector<change> changes_;
};

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
    directory_batch batch;
    const std::uint64_t now_ms = unix_now_ms();
    for (const auto& user : users) {
        if (known.insert(user.name).second) {
            ++summary.added;
            batch.add([&user, now_ms](store::chat_store& target, store::directory_completion done) {
                target.add_user(store::user_record{user.name, user.password_hash, now_ms},
                                std::move(done));
            });
        } else {
            ++summary.updated;
            batch.add([&user](store::chat_store& target, store::directory_completion done) {
                target.set_password(user.name, user.password_hash, std::move(done));
            });
        }
    }
    const auto results = batch.run(store);
    for (const auto result : results) {
        if (result != store::directory_result::done) {
            throw admin_import_error(fmt::format(
                "{}: the users changed while importing (a user was added or deleted meanwhile); "
                "run the import again",
                file_name));
        }
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
    directory_batch batch;
    const std::uint64_t now_ms = unix_now_ms();
    for (const auto& room : rooms) {
        if (existing_rooms.insert(room.room).second) {
            ++summary.rooms_created;
            batch.add([&room, now_ms](store::chat_store& target, store::directory_completion done) {
                target.add_room(store::room_record{room.room, "", now_ms}, std::move(done));
            });
        }
        for (const auto& member : room.members) {
            if (!memberships.emplace(room.room, member).second) {
                ++summary.already_members;
                continue;
            }
            ++summary.members_added;
            batch.add(
                [&room, &member](store::chat_store& target, store::directory_completion done) {
                    target.add_member(store::membership_record{room.room, member}, std::move(done));
                });
        }
    }
    const auto results = batch.run(store);
    for (const auto result : results) {
        if (result == store::directory_result::not_found) {
            throw admin_import_error(fmt::format(
                "{}: a user or room was deleted while importing; run the import again", file_name));
        }
    }
    return summary;
}

} // namespace perch::gateway
