// The in-memory chat store: ordered maps under one lock, completions fired after unlocking.
#include "store/memory/memory_chat_store.hpp"

#include <algorithm>
#include <iterator>

namespace perch::store::memory {
namespace {

void complete(const store_completion& done) {
    if (done) {
        done(store_status{});
    }
}

} // namespace

template <typename Change>
void memory_chat_store::change_directory(Change change, directory_completion& done) {
    directory_result result = directory_result::failed;
    {
        std::lock_guard lock(mutex_);
        result = change();
        if (result == directory_result::done) {
            ++directory_version_;
        }
    }
    if (done) {
        done(result, store_status{});
    }
}

void memory_chat_store::add_user(user_record user, directory_completion done) {
    change_directory([&] { return add_user_locked(std::move(user)); }, done);
}

void memory_chat_store::remove_user(std::string name, directory_completion done) {
    change_directory([&] { return remove_user_locked(name); }, done);
}

void memory_chat_store::set_password(std::string name, std::string password_hash,
                                     directory_completion done) {
    change_directory([&] { return set_password_locked(name, std::move(password_hash)); }, done);
}

void memory_chat_store::upgrade_password_hash(std::string name, std::string old_hash,
                                              std::string new_hash, directory_completion done) {
    change_directory(
        [&] {
            const auto user = users_.find(name);
            if (user == users_.end() || user->second.password_hash != old_hash) {
                return directory_result::not_found;
            }
            user->second.password_hash = std::move(new_hash);
            return directory_result::done;
        },
        done);
}

void memory_chat_store::set_device_token(device_token_record token, directory_completion done) {
    change_directory(
        [&] {
            if (!users_.contains(token.user)) {
                return directory_result::not_found;
            }
            auto key = std::make_pair(token.user, token.device);
            device_tokens_.insert_or_assign(std::move(key), std::move(token));
            return directory_result::done;
        },
        done);
}

void memory_chat_store::remove_device_token(std::string user, std::string device,
                                            directory_completion done) {
    change_directory(
        [&] {
            return device_tokens_.erase(std::make_pair(user, device)) == 0
                       ? directory_result::not_found
                       : directory_result::done;
        },
        done);
}

void memory_chat_store::add_ban(ban_record ban, directory_completion done) {
    change_directory([&] { return add_ban_locked(std::move(ban)); }, done);
}

void memory_chat_store::remove_ban(ban_kind kind, std::string value, directory_completion done) {
    change_directory(
        [&] {
            return bans_.erase(std::make_pair(kind, value)) == 0 ? directory_result::not_found
                                                                 : directory_result::done;
        },
        done);
}

void memory_chat_store::add_acl_rule(acl_rule_record rule, directory_completion done) {
    change_directory(
        [&] {
            auto key = std::make_tuple(rule.scope, rule.user, rule.filter);
            const auto held = acl_rules_.find(key);
            if (held != acl_rules_.end() && held->second.access == rule.access) {
                return directory_result::already_exists;
            }
            acl_rules_.insert_or_assign(std::move(key), std::move(rule));
            return directory_result::done;
        },
        done);
}

void memory_chat_store::remove_acl_rule(acl_rule_record rule, directory_completion done) {
    change_directory(
        [&] {
            return acl_rules_.erase(std::make_tuple(rule.scope, rule.user, rule.filter)) == 0
                       ? directory_result::not_found
                       : directory_result::done;
        },
        done);
}

void memory_chat_store::add_room(room_record room, directory_completion done) {
    change_directory([&] { return add_room_locked(std::move(room)); }, done);
}

void memory_chat_store::remove_room(std::string name, directory_completion done) {
    change_directory([&] { return remove_room_locked(name); }, done);
}

void memory_chat_store::add_member(membership_record membership, directory_completion done) {
    change_directory([&] { return add_member_locked(membership); }, done);
}

void memory_chat_store::remove_member(membership_record membership, directory_completion done) {
    change_directory([&] { return remove_member_locked(membership); }, done);
}

void memory_chat_store::apply_directory_changes(std::vector<directory_change> changes,
                                                directory_batch_completion done) {
    directory_result result = directory_result::done;
    std::size_t refused_index = changes.size();
    {
        std::lock_guard lock(mutex_);
        // Copies to put back when a change is refused: all or nothing, as in one transaction.
        const auto users = users_;
        const auto rooms = rooms_;
        const auto memberships = memberships_;
        const auto device_tokens = device_tokens_;
        const auto room_bans = room_bans_;
        const auto invitations = invitations_;
        const auto audit = audit_;
        const auto bans = bans_;
        const auto read_positions = read_positions_;
        const auto push_subscriptions = push_subscriptions_;
        const auto push_previews = push_previews_;
        for (std::size_t index = 0; index < changes.size(); ++index) {
            directory_change& change = changes[index];
            switch (change.what) {
            case directory_change::action::add_user:
                result = add_user_locked(std::move(change.user));
                break;
            case directory_change::action::set_password:
                result =
                    set_password_locked(change.user.name, std::move(change.user.password_hash));
                break;
            case directory_change::action::add_room:
                result = add_room_locked(std::move(change.room));
                break;
            case directory_change::action::add_member:
                result = add_member_locked(change.membership);
                break;
            case directory_change::action::update_room:
                result = update_room_locked(change.room);
                break;
            case directory_change::action::remove_room:
                result = remove_room_locked(change.room.name);
                break;
            case directory_change::action::remove_member:
                result = remove_member_locked(change.membership);
                break;
            case directory_change::action::update_member: {
                const auto member =
                    memberships_.find({change.membership.room, change.membership.user});
                result = directory_result::not_found;
                if (member != memberships_.end()) {
                    member->second.role = change.membership.role;
                    member->second.is_muted = change.membership.is_muted;
                    result = directory_result::done;
                }
                break;
            }
            case directory_change::action::add_room_ban:
                result = directory_result::not_found;
                if (rooms_.contains(change.ban.room)) {
                    auto key = std::make_pair(change.ban.room, change.ban.user);
                    room_bans_.insert_or_assign(std::move(key), std::move(change.ban));
                    result = directory_result::done;
                }
                break;
            case directory_change::action::remove_room_ban:
                result = room_bans_.erase({change.ban.room, change.ban.user}) == 0
                             ? directory_result::not_found
                             : directory_result::done;
                break;
            case directory_change::action::add_invitation:
                result = directory_result::not_found;
                if (rooms_.contains(change.invitation.room) &&
                    users_.contains(change.invitation.user)) {
                    auto key = std::make_pair(change.invitation.room, change.invitation.user);
                    invitations_.insert_or_assign(std::move(key), std::move(change.invitation));
                    result = directory_result::done;
                }
                break;
            case directory_change::action::remove_invitation:
                result = invitations_.erase({change.invitation.room, change.invitation.user}) == 0
                             ? directory_result::not_found
                             : directory_result::done;
                break;
            case directory_change::action::add_audit:
                change.audit.id = audit_.empty() ? 1 : audit_.back().id + 1;
                audit_.push_back(std::move(change.audit));
                result = directory_result::done;
                break;
            case directory_change::action::set_admin: {
                const auto user = users_.find(change.user.name);
                result = directory_result::not_found;
                if (user != users_.end()) {
                    user->second.is_admin = change.user.is_admin;
                    result = directory_result::done;
                }
                break;
            }
            case directory_change::action::remove_user:
                result = remove_user_locked(change.user.name);
                break;
            case directory_change::action::add_ban:
                result = add_ban_locked(std::move(change.server_ban));
                break;
            case directory_change::action::remove_ban:
                result = bans_.erase({change.server_ban.kind, change.server_ban.value}) == 0
                             ? directory_result::not_found
                             : directory_result::done;
                break;
            }
            if (result != directory_result::done) {
                refused_index = index;
                users_ = users;
                rooms_ = rooms;
                memberships_ = memberships;
                device_tokens_ = device_tokens;
                room_bans_ = room_bans;
                invitations_ = invitations;
                audit_ = audit;
                bans_ = bans;
                read_positions_ = read_positions;
                push_subscriptions_ = push_subscriptions;
                push_previews_ = push_previews;
                break;
            }
        }
        if (result == directory_result::done) {
            ++directory_version_;
        }
    }
    if (done) {
        done(result, refused_index, store_status{});
    }
}

directory_result memory_chat_store::remove_user_locked(const std::string& name) {
    if (users_.erase(name) == 0) {
        return directory_result::not_found;
    }
    std::erase_if(memberships_, [&](const auto& member) { return member.first.second == name; });
    std::erase_if(invitations_, [&](const auto& invited) { return invited.first.second == name; });
    std::erase_if(read_positions_,
                  [&](const auto& position) { return position.first.first == name; });
    std::erase_if(device_tokens_, [&](const auto& token) { return token.first.first == name; });
    // A deleted user's devices get no more notifications (docs/CHAT.md "Web Push").
    std::erase_if(push_subscriptions_,
                  [&](const auto& subscription) { return subscription.first.first == name; });
    push_previews_.erase(name);
    return directory_result::done;
}

directory_result memory_chat_store::add_ban_locked(ban_record ban) {
    std::erase_if(bans_, [&](const auto& held) {
        return held.second.expires_unix_ms != 0 &&
               held.second.expires_unix_ms < ban.created_unix_ms;
    });
    auto key = std::make_pair(ban.kind, ban.value);
    bans_.insert_or_assign(std::move(key), std::move(ban));
    return directory_result::done;
}

directory_result memory_chat_store::add_user_locked(user_record user) {
    const std::string name = user.name;
    return users_.emplace(name, std::move(user)).second ? directory_result::done
                                                        : directory_result::already_exists;
}

directory_result memory_chat_store::set_password_locked(const std::string& name,
                                                        std::string password_hash) {
    const auto user = users_.find(name);
    if (user == users_.end()) {
        return directory_result::not_found;
    }
    user->second.password_hash = std::move(password_hash);
    std::erase_if(device_tokens_, [&](const auto& token) { return token.first.first == name; });
    // A deleted user's devices get no more notifications (docs/CHAT.md "Web Push").
    std::erase_if(push_subscriptions_,
                  [&](const auto& subscription) { return subscription.first.first == name; });
    push_previews_.erase(name);
    return directory_result::done;
}

directory_result memory_chat_store::add_room_locked(room_record room) {
    const std::string name = room.name;
    return rooms_.emplace(name, std::move(room)).second ? directory_result::done
                                                        : directory_result::already_exists;
}

directory_result memory_chat_store::add_member_locked(const membership_record& membership) {
    if (!rooms_.contains(membership.room) || !users_.contains(membership.user)) {
        return directory_result::not_found;
    }
    return memberships_.emplace(std::make_pair(membership.room, membership.user), membership).second
               ? directory_result::done
               : directory_result::already_exists;
}

directory_result memory_chat_store::remove_member_locked(const membership_record& membership) {
    return memberships_.erase({membership.room, membership.user}) == 0 ? directory_result::not_found
                                                                       : directory_result::done;
}

directory_result memory_chat_store::update_room_locked(const room_record& room) {
    const auto found = rooms_.find(room.name);
    if (found == rooms_.end()) {
        return directory_result::not_found;
    }
    found->second.visibility = room.visibility;
    found->second.history = room.history;
    found->second.display_name = room.display_name;
    found->second.topic = room.topic;
    return directory_result::done;
}

directory_result memory_chat_store::remove_room_locked(const std::string& name) {
    if (rooms_.erase(name) == 0) {
        return directory_result::not_found;
    }
    std::erase_if(memberships_, [&](const auto& member) { return member.first.first == name; });
    std::erase_if(room_bans_, [&](const auto& ban) { return ban.first.first == name; });
    std::erase_if(invitations_, [&](const auto& invited) { return invited.first.first == name; });
    return directory_result::done;
}

std::vector<audit_record> memory_chat_store::audit_log(std::string room, std::size_t limit) {
    std::lock_guard lock(mutex_);
    std::vector<audit_record> entries;
    for (auto entry = audit_.rbegin(); entry != audit_.rend() && entries.size() < limit; ++entry) {
        if (room.empty() || entry->room == room) {
            entries.push_back(*entry);
        }
    }
    std::reverse(entries.begin(), entries.end());
    return entries;
}

chat_directory_snapshot memory_chat_store::load_directory() {
    std::lock_guard lock(mutex_);
    chat_directory_snapshot snapshot;
    for (const auto& [name, user] : users_) {
        snapshot.users.push_back(user);
    }
    for (const auto& [name, room] : rooms_) {
        snapshot.rooms.push_back(room);
    }
    for (const auto& [key, membership] : memberships_) {
        snapshot.memberships.push_back(membership);
    }
    for (const auto& [key, ban] : room_bans_) {
        snapshot.room_bans.push_back(ban);
    }
    for (const auto& [key, invitation] : invitations_) {
        snapshot.invitations.push_back(invitation);
    }
    for (const auto& [key, token] : device_tokens_) {
        snapshot.device_tokens.push_back(token);
    }
    for (const auto& [key, ban] : bans_) {
        snapshot.bans.push_back(ban);
    }
    for (const auto& [key, rule] : acl_rules_) {
        snapshot.acl_rules.push_back(rule);
    }
    snapshot.version = directory_version_;
    return snapshot;
}

std::uint64_t memory_chat_store::directory_version() {
    std::lock_guard lock(mutex_);
    return directory_version_;
}

void memory_chat_store::append_history(history_record record, store_completion done) {
    {
        std::lock_guard lock(mutex_);
        std::uint64_t& head = heads_[record.conversation];
        head = std::max(head, record.id);
        // The first write of an id wins, as in the SQLite store.
        auto& conversation = history_[record.conversation];
        std::string change = std::move(record.change);
        record.change.clear();
        const auto [stored, is_new] = conversation.emplace(record.id, std::move(record));
        if (is_new && stored->second.kind != history_kind::message) {
            history_record event = stored->second;
            event.change = std::move(change);
            apply_event_locked(conversation, event);
        }
    }
    complete(done);
}

void memory_chat_store::apply_event_locked(std::map<std::uint64_t, history_record>& records,
                                           const history_record& event) {
    const auto found = records.find(event.of_id);
    if (found == records.end() || found->second.kind != history_kind::message ||
        found->second.is_deleted) {
        return;
    }
    history_record& target = found->second;
    switch (event.kind) {
    case history_kind::message: return;
    case history_kind::edit:
        target.payload.assign(event.change.begin(), event.change.end());
        target.edited_unix_ms = event.ts_unix_ms;
        return;
    case history_kind::deletion:
        target.payload.clear();
        target.is_deleted = true;
        target.reactions.clear();
        for (auto& [id, row] : records) {
            if (row.kind == history_kind::edit && row.of_id == event.of_id) {
                row.payload.clear();
            }
        }
        return;
    case history_kind::reaction_added:
    case history_kind::reaction_removed: {
        auto reaction =
            std::lower_bound(target.reactions.begin(), target.reactions.end(), event.change,
                             [](const reaction_record& held, const std::string& emoji) {
                                 return held.emoji < emoji;
                             });
        if (event.kind == history_kind::reaction_added) {
            if (reaction == target.reactions.end() || reaction->emoji != event.change) {
                reaction = target.reactions.insert(reaction, reaction_record{event.change, {}});
            }
            auto& users = reaction->users;
            const auto at = std::lower_bound(users.begin(), users.end(), event.sender);
            if (at == users.end() || *at != event.sender) {
                users.insert(at, event.sender);
            }
            return;
        }
        if (reaction == target.reactions.end() || reaction->emoji != event.change) {
            return;
        }
        std::erase(reaction->users, event.sender);
        if (reaction->users.empty()) {
            target.reactions.erase(reaction);
        }
        return;
    }
    }
}

void memory_chat_store::find_history(std::string conversation, std::uint64_t id,
                                     history_row_completion done) {
    std::optional<history_record> row;
    {
        std::lock_guard lock(mutex_);
        const auto found = history_.find(conversation);
        if (found != history_.end()) {
            const auto record = found->second.find(id);
            if (record != found->second.end()) {
                row = record->second;
                row->reactions.clear();
            }
        }
    }
    if (done) {
        done(std::move(row), store_status{});
    }
}

void memory_chat_store::history_page(std::string conversation, std::uint64_t before_id,
                                     std::size_t limit, history_completion done) {
    std::vector<history_record> page;
    {
        std::lock_guard lock(mutex_);
        const auto found = history_.find(conversation);
        if (found != history_.end() && limit > 0) {
            const auto& records = found->second;
            auto record = before_id == 0 ? records.end() : records.lower_bound(before_id);
            // Newest first, messages only; reversed below.
            while (record != records.begin() && page.size() < limit) {
                --record;
                if (record->second.kind == history_kind::message) {
                    page.push_back(record->second);
                }
            }
            std::reverse(page.begin(), page.end());
        }
    }
    if (done) {
        done(std::move(page), store_status{});
    }
}

void memory_chat_store::read_history_after(std::string conversation, std::uint64_t after_id,
                                           std::uint64_t since_unix_ms, std::size_t limit,
                                           history_completion done) {
    std::vector<history_record> page;
    {
        std::lock_guard lock(mutex_);
        const auto found = history_.find(conversation);
        if (found != history_.end()) {
            for (auto record = found->second.upper_bound(after_id);
                 record != found->second.end() && page.size() < limit; ++record) {
                if (record->second.ts_unix_ms >= since_unix_ms) {
                    page.push_back(record->second);
                    page.back().reactions.clear();
                }
            }
        }
    }
    if (done) {
        done(std::move(page), store_status{});
    }
}

void memory_chat_store::save_session_cursors(session_cursors_record record, store_completion done) {
    {
        std::lock_guard lock(mutex_);
        auto& [baseline, cursors] = session_cursors_[record.client_id];
        if (record.baseline_unix_ms != 0) {
            baseline = record.baseline_unix_ms;
        }
        for (const conversation_cursor& cursor : record.cursors) {
            std::uint64_t& held = cursors[cursor.conversation];
            held = std::max(held, cursor.id);
        }
    }
    if (done) {
        done(store_status{});
    }
}

void memory_chat_store::remove_session_cursors(std::string client_id, store_completion done) {
    {
        std::lock_guard lock(mutex_);
        session_cursors_.erase(client_id);
    }
    if (done) {
        done(store_status{});
    }
}

std::vector<session_cursors_record> memory_chat_store::load_session_cursors() {
    std::lock_guard lock(mutex_);
    std::vector<session_cursors_record> records;
    for (const auto& [client_id, held] : session_cursors_) {
        session_cursors_record record;
        record.client_id = client_id;
        record.baseline_unix_ms = held.first;
        for (const auto& [conversation, id] : held.second) {
            record.cursors.push_back({conversation, id});
        }
        records.push_back(std::move(record));
    }
    return records;
}

std::vector<conversation_head> memory_chat_store::conversation_heads() {
    std::lock_guard lock(mutex_);
    std::vector<conversation_head> heads;
    for (const auto& [conversation, last_id] : heads_) {
        heads.push_back(conversation_head{conversation, last_id});
    }
    return heads;
}

void memory_chat_store::set_read_position(read_position_record record, store_completion done) {
    {
        std::lock_guard lock(mutex_);
        std::uint64_t& position = read_positions_[{record.user, record.conversation}];
        position = std::max(position, record.id);
    }
    complete(done);
}

void memory_chat_store::read_positions(std::string user, read_positions_completion done) {
    std::vector<read_position_record> positions;
    {
        std::lock_guard lock(mutex_);
        for (auto position = read_positions_.lower_bound({user, std::string()});
             position != read_positions_.end() && position->first.first == user; ++position) {
            positions.push_back(
                read_position_record{user, position->first.second, position->second});
        }
    }
    if (done) {
        done(std::move(positions), store_status{});
    }
}

void memory_chat_store::read_state(std::string user, std::vector<conversation_head> heads,
                                   std::uint64_t unread_cap, read_state_completion done) {
    std::vector<read_state_record> states;
    {
        std::lock_guard lock(mutex_);
        for (conversation_head& head : heads) {
            read_state_record state{std::move(head.conversation), head.last_id, 0, 0};
            const auto position = read_positions_.find({user, state.conversation});
            if (position != read_positions_.end()) {
                state.read_id = position->second;
            }
            state.read_id =
                std::max(state.read_id, std::min(head.hidden_through_id, state.last_id));
            const auto found = history_.find(state.conversation);
            if (found != history_.end()) {
                for (auto record = found->second.upper_bound(state.read_id);
                     record != found->second.end() && record->first <= state.last_id &&
                     state.unread < unread_cap;
                     ++record) {
                    const history_record& row = record->second;
                    if (row.sender != user && row.kind == history_kind::message &&
                        !row.is_deleted) {
                        ++state.unread;
                    }
                }
            }
            states.push_back(std::move(state));
        }
    }
    if (done) {
        done(std::move(states), store_status{});
    }
}

void memory_chat_store::prune_history(std::uint64_t before_unix_ms,
                                      std::size_t keep_per_conversation, store_completion done) {
    {
        std::lock_guard lock(mutex_);
        for (auto& [conversation, records] : history_) {
            // The newest `keep_per_conversation` records are never candidates.
            const std::size_t candidates =
                records.size() > keep_per_conversation ? records.size() - keep_per_conversation : 0;
            auto record = records.begin();
            for (std::size_t i = 0; i < candidates; ++i) {
                if (record->second.ts_unix_ms < before_unix_ms) {
                    record = records.erase(record);
                } else {
                    ++record;
                }
            }
        }
        std::erase_if(history_, [](const auto& item) { return item.second.empty(); });
    }
    complete(done);
}

void memory_chat_store::add_file(file_record file, store_completion done) {
    {
        std::lock_guard lock(mutex_);
        std::string id = file.id;
        files_.insert_or_assign(std::move(id), std::move(file));
    }
    complete(done);
}

void memory_chat_store::remove_file(std::string id, store_completion done) {
    {
        std::lock_guard lock(mutex_);
        files_.erase(id);
        std::erase_if(file_references_,
                      [&id](const auto& reference) { return std::get<0>(reference) == id; });
    }
    complete(done);
}

std::vector<file_record> memory_chat_store::load_files() {
    std::lock_guard lock(mutex_);
    std::vector<file_record> found;
    for (const auto& [id, file] : files_) {
        found.push_back(file);
    }
    std::sort(found.begin(), found.end(), [](const file_record& a, const file_record& b) {
        return std::tie(a.created_unix_ms, a.id) < std::tie(b.created_unix_ms, b.id);
    });
    return found;
}

void memory_chat_store::add_file_references(std::string conversation, std::uint64_t message_id,
                                            std::vector<std::string> ids, store_completion done) {
    {
        std::lock_guard lock(mutex_);
        for (std::string& id : ids) {
            file_references_.emplace(std::move(id), conversation, message_id);
        }
    }
    complete(done);
}

bool memory_chat_store::is_referencing_locked(const std::string& conversation,
                                              std::uint64_t message_id) const {
    const auto messages = history_.find(conversation);
    if (messages == history_.end()) {
        return false;
    }
    const auto message = messages->second.find(message_id);
    return message != messages->second.end() && !message->second.is_deleted;
}

void memory_chat_store::file_references(std::string id, file_references_completion done) {
    std::vector<file_reference> found;
    {
        std::lock_guard lock(mutex_);
        for (const auto& [file_id, conversation, message_id] : file_references_) {
            if (file_id == id && is_referencing_locked(conversation, message_id)) {
                found.push_back({conversation, message_id});
            }
        }
    }
    if (done) {
        done(std::move(found), store_status{});
    }
}

void memory_chat_store::unreferenced_files(std::uint64_t created_before_unix_ms, std::size_t limit,
                                           file_ids_completion done) {
    std::vector<std::string> found;
    {
        std::lock_guard lock(mutex_);
        std::vector<const file_record*> candidates;
        for (const auto& [id, file] : files_) {
            if (file.created_unix_ms >= created_before_unix_ms) {
                continue;
            }
            const bool is_referenced = std::any_of(
                file_references_.begin(), file_references_.end(), [&](const auto& reference) {
                    return std::get<0>(reference) == file.id &&
                           is_referencing_locked(std::get<1>(reference), std::get<2>(reference));
                });
            if (!is_referenced) {
                candidates.push_back(&file);
            }
        }
        std::sort(
            candidates.begin(), candidates.end(), [](const file_record* a, const file_record* b) {
                return std::tie(a->created_unix_ms, a->id) < std::tie(b->created_unix_ms, b->id);
            });
        for (std::size_t index = 0; index < candidates.size() && index < limit; ++index) {
            found.push_back(candidates[index]->id);
        }
    }
    if (done) {
        done(std::move(found), store_status{});
    }
}

} // namespace perch::store::memory
