// The SQLite chat store: opening the file, the writer thread that groups history writes, and the
// translation of each interface call into a grouped write, a directory transaction or a query.
#include "store/sqlite/sqlite_chat_store.hpp"

#include <algorithm>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "store/sqlite/chat_tables.hpp"
#include "store/sqlite/database.hpp"
#include "store/sqlite/file_tables.hpp"
#include "store/sqlite/push_tables.hpp"
#include "store/sqlite/schema.hpp"
#include "store/sqlite/search_index.hpp"
#include "store/sqlite/search_tables.hpp"

#include <sqlite3.h>

namespace perch::store::sqlite {
namespace {

constexpr int open_flags =
    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_URI | SQLITE_OPEN_NOMUTEX;

/// WAL frames after which a commit of the chat store's writer checkpoints (SQLite's default is
/// 1,000): at most about 40 MB of WAL with 4 KB pages.
constexpr int chat_checkpoint_pages = 10'000;

// The same settings as the message store's connection (see sqlite_message_store.cpp): WAL so
// that administration tools and the gateway share the file, the synchronous level of the
// durability, and the size cap.
void configure_writer(database& connection, const store_options& options) {
    connection.execute("PRAGMA busy_timeout = " + std::to_string(options.busy_timeout_ms));
    if (connection.is_read_only()) {
        throw sqlite_error(connection.path() + ": database is read-only", SQLITE_READONLY);
    }
    const std::string journal_mode = connection.query_text("PRAGMA journal_mode = WAL");
    if (journal_mode != "wal") {
        throw sqlite_error(connection.path() + ": cannot use write-ahead logging (journal mode " +
                               journal_mode + ")",
                           SQLITE_ERROR);
    }
    connection.execute(options.durability == durability_level::full
                           ? "PRAGMA synchronous = FULL"
                           : "PRAGMA synchronous = NORMAL");
    // A checkpoint copies each page of the WAL once, however often the groups since the last one
    // rewrote it: the history's per-conversation leaves are rewritten by many groups, so fewer,
    // larger checkpoints copy fewer pages per message (docs/DECISIONS.md "History without an
    // index by time"). The WAL file is cut back to the same bound when a checkpoint resets it.
    connection.execute("PRAGMA wal_autocheckpoint = " + std::to_string(chat_checkpoint_pages));
    connection.execute("PRAGMA journal_size_limit = " +
                       std::to_string(chat_checkpoint_pages * 4'200));
    if (options.max_database_bytes != 0) {
        const auto page_size = connection.query_integer("PRAGMA page_size");
        const auto pages = static_cast<std::int64_t>(options.max_database_bytes) / page_size;
        connection.execute("PRAGMA max_page_count = " + std::to_string(pages));
    }
}

store_status failure(const std::exception& error) {
    return store_status{store_errc::write_failed, error.what()};
}

} // namespace

sqlite_chat_store::sqlite_chat_store(store_options options) : options_(std::move(options)) {
    try {
        writer_database_ = std::make_unique<database>(options_.path, open_flags);
        configure_writer(*writer_database_, options_);
        migrate_schema(*writer_database_);
        set_search_index(*writer_database_, options_.is_search_enabled);
        search_index_batch_ = search_index_batch(*writer_database_);
        if (options_.is_search_enabled) {
            // What was written after the last batch (before a crash, or by another process) is
            // indexed now; a search would read it directly meanwhile.
            std::lock_guard writing(writer_database_->writer_lock());
            index_search_tail(*writer_database_);
        }
        writer_tables_ = std::make_unique<chat_tables>(*writer_database_);
        writer_files_ = std::make_unique<file_tables>(*writer_database_);
        writer_push_ = std::make_unique<push_tables>(*writer_database_);
        reader_database_ = std::make_unique<database>(options_.path, open_flags);
        reader_database_->execute("PRAGMA busy_timeout = " +
                                  std::to_string(options_.busy_timeout_ms));
        reader_tables_ = std::make_unique<chat_tables>(*reader_database_);
        if (options_.is_search_enabled) {
            search_database_ = std::make_unique<database>(options_.path, open_flags);
            search_database_->execute("PRAGMA busy_timeout = " +
                                      std::to_string(options_.busy_timeout_ms));
            search_tables_ = std::make_unique<search_tables>(*search_database_);
        }
        reader_files_ = std::make_unique<file_tables>(*reader_database_);
        reader_push_ = std::make_unique<push_tables>(*reader_database_);
    } catch (const sqlite_error& error) {
        throw store_open_error("cannot open chat store " + options_.path + ": " + error.what());
    }
    search_thread_ = std::thread([this] { run_searches(); });
    thread_ = std::thread([this] { run(); });
}

sqlite_chat_store::~sqlite_chat_store() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_writer_.notify_one();
    thread_.join();
    {
        std::lock_guard lock(search_mutex_);
        searches_stopping_ = true;
    }
    wake_searcher_.notify_one();
    search_thread_.join();
    if (options_.is_search_enabled) {
        // A clean stop leaves nothing for the next start to index.
        try {
            std::lock_guard writing(writer_database_->writer_lock());
            index_search_tail(*writer_database_);
        } catch (const sqlite_error& error) {
            log(std::string("chat store: indexing history for search at shutdown failed: ") +
                error.what());
        }
    }
}

void sqlite_chat_store::index_search_tail_when_due() {
    if (!options_.is_search_enabled) {
        return;
    }
    try {
        std::lock_guard writing(writer_database_->writer_lock());
        if (unindexed_rows(*writer_database_) >= search_index_batch_) {
            index_search_tail(*writer_database_);
        }
    } catch (const sqlite_error& error) {
        // The rows stay above the watermark: searched directly, indexed by a later batch.
        log(std::string("chat store: indexing history for search failed: ") + error.what());
    }
}

void sqlite_chat_store::run_searches() {
    std::unique_lock lock(search_mutex_);
    while (true) {
        if (searches_.empty()) {
            if (searches_stopping_) {
                return;
            }
            wake_searcher_.wait(lock);
            continue;
        }
        std::function<void()> search = std::move(searches_.front());
        searches_.pop_front();
        lock.unlock();
        search();
        lock.lock();
        --pending_searches_;
    }
}

void sqlite_chat_store::hand_over_search(std::function<void()> search) {
    {
        std::lock_guard lock(search_mutex_);
        searches_.push_back(std::move(search));
    }
    wake_searcher_.notify_one();
}

void sqlite_chat_store::log(std::string_view line) const {
    if (options_.log_error) {
        options_.log_error(line);
    }
}

void sqlite_chat_store::submit(pending_chat_operation operation) {
    bool should_wake = false;
    {
        std::lock_guard lock(mutex_);
        queue_.push_back(std::move(operation));
        ++submitted_;
        should_wake = queue_.wakes_writer(options_.max_batch_operations);
    }
    if (should_wake) {
        wake_writer_.notify_one();
    }
}

void sqlite_chat_store::submit_grouped(std::string description, group_write write,
                                       store_completion done) {
    submit(pending_chat_operation{
        std::move(write), std::move(done), {}, false, std::move(description)});
}

void sqlite_chat_store::change_directory(std::function<directory_result(chat_tables&)> change,
                                         directory_completion done) {
    submit(
        pending_chat_operation{{}, {}, [this, change = std::move(change), done = std::move(done)] {
                                   directory_result result = directory_result::failed;
                                   store_status status;
                                   try {
                                       std::lock_guard writing(writer_database_->writer_lock());
                                       try {
                                           writer_tables_->begin_write();
                                           result = change(*writer_tables_);
                                           if (result == directory_result::done) {
                                               writer_tables_->commit();
                                           } else {
                                               writer_tables_->rollback();
                                           }
                                       } catch (const sqlite_error&) {
                                           writer_tables_->rollback();
                                           throw;
                                       }
                                   } catch (const sqlite_error& error) {
                                       result = directory_result::failed;
                                       status = failure(error);
                                   }
                                   if (done) {
                                       done(result, status);
                                   }
                               }});
}

bool sqlite_chat_store::is_group_due(clock::time_point now) const {
    if (stopping_ || flush_waiters_ > 0 || now >= group_opened_at_ + commit_interval()) {
        return true;
    }
    return queue_.is_group_full(options_.max_batch_operations);
}

void sqlite_chat_store::run() {
    std::unique_lock lock(mutex_);
    while (true) {
        if (queue_.empty()) {
            if (stopping_) {
                return;
            }
            wake_writer_.wait(lock);
            continue;
        }
        const auto now = clock::now();
        if (queue_.front().was_attempted) {
            // A failed group waits for its retry: what stands alone runs past it.
            if (is_retry_due(now)) {
                write_next_group(lock);
            } else if (const auto job = queue_.first_standalone(); job != queue_.end()) {
                run_standalone(lock, job);
            } else {
                wake_writer_.wait_until(lock, retry_at_);
            }
            continue;
        }
        if (queue_.front().run_alone) {
            run_standalone(lock, queue_.begin());
            continue;
        }
        if (!is_group_open_) {
            is_group_open_ = true;
            group_opened_at_ = now;
        }
        if (!is_group_due(now)) {
            wake_writer_.wait_until(lock, group_opened_at_ + commit_interval());
            continue;
        }
        write_next_group(lock);
    }
}

bool sqlite_chat_store::is_retry_due(clock::time_point now) const {
    if (stopping_ || now >= retry_at_) {
        return true;
    }
    // A flush() attempts what was submitted before it: the writes that joined the retry.
    return flush_waiters_ > 0 && queue_.has_unattempted_write();
}

void sqlite_chat_store::run_standalone(std::unique_lock<std::mutex>& lock,
                                       chat_operation_queue<group_write>::iterator job) {
    pending_chat_operation taken = queue_.take(job);
    lock.unlock();
    taken.run_alone();
    lock.lock();
    ++attempted_;
    progress_.notify_all();
}

void sqlite_chat_store::log_lost(const std::vector<pending_chat_operation>& group,
                                 const std::string& detail) {
    for (const auto& pending : group) {
        log("chat store: lost at shutdown: " + pending.description);
    }
    log("chat store: " + std::to_string(group.size()) +
        " operations lost at shutdown (operations_lost): " + detail);
}

store_status sqlite_chat_store::commit_group(const std::vector<pending_chat_operation>& group) {
    try {
        std::lock_guard writing(writer_database_->writer_lock());
        try {
            writer_tables_->begin_write();
            for (const auto& pending : group) {
                pending.write(*writer_tables_);
            }
            writer_tables_->commit();
        } catch (const sqlite_error&) {
            writer_tables_->rollback();
            throw;
        }
    } catch (const sqlite_error& error) {
        return failure(error);
    }
    return store_status{};
}

void sqlite_chat_store::write_next_group(std::unique_lock<std::mutex>& lock) {
    std::vector<pending_chat_operation> group = queue_.take_group(options_.max_batch_operations);
    is_group_open_ = false;
    const bool is_retry = group.front().was_attempted;
    const bool is_stopping = stopping_;
    lock.unlock();

    const store_status status = commit_group(group);
    std::uint64_t newly_attempted = 0;
    for (auto& pending : group) {
        if (!pending.was_attempted) {
            ++newly_attempted;
            if (pending.done) {
                pending.done(status);
            }
        }
        pending.was_attempted = true;
        pending.done = {};
    }
    if (status.is_ok()) {
        // After the completions: a batch delays no acknowledgement.
        index_search_tail_when_due();
    } else if (is_stopping && is_retry) {
        log_lost(group, status.detail);
    } else {
        log("chat store: group commit failed, retrying: " + status.detail);
    }

    lock.lock();
    attempted_ += newly_attempted;
    if (!status.is_ok() && !(is_stopping && is_retry)) {
        retry_at_ = clock::now() + std::chrono::milliseconds(options_.retry_interval_ms);
        queue_.put_back(group);
    }
    progress_.notify_all();
}

void sqlite_chat_store::flush() {
    std::unique_lock lock(mutex_);
    const std::uint64_t target = submitted_;
    ++flush_waiters_;
    wake_writer_.notify_one();
    progress_.wait(lock, [&] { return attempted_ >= target; });
    --flush_waiters_;
}

void sqlite_chat_store::add_user(user_record user, directory_completion done) {
    change_directory(
        [user = std::move(user)](chat_tables& tables) { return tables.add_user(user); },
        std::move(done));
}

void sqlite_chat_store::remove_user(std::string name, directory_completion done) {
    // The user's push subscriptions and setting go in the same transaction: a deleted user's
    // devices get no more notifications (docs/CHAT.md "Web Push").
    change_directory(
        [this, name = std::move(name)](chat_tables& tables) {
            const directory_result result = tables.remove_user(name);
            if (result == directory_result::done) {
                writer_push_->remove_user(name);
            }
            return result;
        },
        std::move(done));
}

void sqlite_chat_store::set_password(std::string name, std::string password_hash,
                                     directory_completion done) {
    change_directory([name = std::move(name), password_hash = std::move(password_hash)](
                         chat_tables& tables) { return tables.set_password(name, password_hash); },
                     std::move(done));
}

void sqlite_chat_store::upgrade_password_hash(std::string name, std::string old_hash,
                                              std::string new_hash, directory_completion done) {
    change_directory(
        [name = std::move(name), old_hash = std::move(old_hash), new_hash = std::move(new_hash)](
            chat_tables& tables) { return tables.upgrade_password_hash(name, old_hash, new_hash); },
        std::move(done));
}

void sqlite_chat_store::set_device_token(device_token_record token, directory_completion done) {
    change_directory(
        [token = std::move(token)](chat_tables& tables) { return tables.set_device_token(token); },
        std::move(done));
}

void sqlite_chat_store::remove_device_token(std::string user, std::string device,
                                            directory_completion done) {
    change_directory([user = std::move(user), device = std::move(device)](
                         chat_tables& tables) { return tables.remove_device_token(user, device); },
                     std::move(done));
}

void sqlite_chat_store::add_room(room_record room, directory_completion done) {
    change_directory(
        [room = std::move(room)](chat_tables& tables) { return tables.add_room(room); },
        std::move(done));
}

void sqlite_chat_store::remove_room(std::string name, directory_completion done) {
    change_directory(
        [name = std::move(name)](chat_tables& tables) { return tables.remove_room(name); },
        std::move(done));
}

void sqlite_chat_store::add_member(membership_record membership, directory_completion done) {
    change_directory([membership = std::move(membership)](
                         chat_tables& tables) { return tables.add_member(membership); },
                     std::move(done));
}

void sqlite_chat_store::remove_member(membership_record membership, directory_completion done) {
    change_directory([membership = std::move(membership)](
                         chat_tables& tables) { return tables.remove_member(membership); },
                     std::move(done));
}

void sqlite_chat_store::add_ban(ban_record ban, directory_completion done) {
    change_directory([ban = std::move(ban)](chat_tables& tables) { return tables.add_ban(ban); },
                     std::move(done));
}

void sqlite_chat_store::remove_ban(ban_kind kind, std::string value, directory_completion done) {
    change_directory([kind, value = std::move(value)](
                         chat_tables& tables) { return tables.remove_ban(kind, value); },
                     std::move(done));
}

void sqlite_chat_store::add_acl_rule(acl_rule_record rule, directory_completion done) {
    change_directory(
        [rule = std::move(rule)](chat_tables& tables) { return tables.add_acl_rule(rule); },
        std::move(done));
}

void sqlite_chat_store::remove_acl_rule(acl_rule_record rule, directory_completion done) {
    change_directory(
        [rule = std::move(rule)](chat_tables& tables) { return tables.remove_acl_rule(rule); },
        std::move(done));
}

void sqlite_chat_store::apply_directory_changes(std::vector<directory_change> changes,
                                                directory_batch_completion done) {
    // The index of the change that was not done; the batch's size when none was refused.
    auto refused_index = std::make_shared<std::size_t>(changes.size());
    change_directory(
        [this, changes = std::move(changes), refused_index](chat_tables& tables) {
            for (std::size_t index = 0; index < changes.size(); ++index) {
                const directory_change& change = changes[index];
                directory_result result = directory_result::failed;
                switch (change.what) {
                case directory_change::action::add_user:
                    result = tables.add_user(change.user);
                    break;
                case directory_change::action::set_password:
                    result = tables.set_password(change.user.name, change.user.password_hash);
                    break;
                case directory_change::action::add_room:
                    result = tables.add_room(change.room);
                    break;
                case directory_change::action::add_member:
                    result = tables.add_member(change.membership);
                    break;
                case directory_change::action::update_room:
                    result = tables.update_room(change.room);
                    break;
                case directory_change::action::remove_room:
                    result = tables.remove_room(change.room.name);
                    break;
                case directory_change::action::remove_member:
                    result = tables.remove_member(change.membership);
                    break;
                case directory_change::action::update_member:
                    result = tables.update_member(change.membership);
                    break;
                case directory_change::action::add_room_ban:
                    result = tables.add_room_ban(change.ban);
                    break;
                case directory_change::action::remove_room_ban:
                    result = tables.remove_room_ban(change.ban);
                    break;
                case directory_change::action::add_invitation:
                    result = tables.add_invitation(change.invitation);
                    break;
                case directory_change::action::remove_invitation:
                    result = tables.remove_invitation(change.invitation);
                    break;
                case directory_change::action::add_audit:
                    result = tables.add_audit(change.audit);
                    break;
                case directory_change::action::set_admin:
                    result = tables.set_admin(change.user.name, change.user.is_admin);
                    break;
                case directory_change::action::remove_user:
                    result = tables.remove_user(change.user.name);
                    if (result == directory_result::done) {
                        writer_push_->remove_user(change.user.name);
                    }
                    break;
                case directory_change::action::add_ban:
                    result = tables.add_ban(change.server_ban);
                    break;
                case directory_change::action::remove_ban:
                    result = tables.remove_ban(change.server_ban.kind, change.server_ban.value);
                    break;
                }
                if (result != directory_result::done) {
                    // change_directory rolls the whole transaction back.
                    *refused_index = index;
                    return result;
                }
            }
            return directory_result::done;
        },
        [refused_index, done = std::move(done)](directory_result result,
                                                const store_status& status) {
            if (done) {
                done(result, *refused_index, status);
            }
        });
}

std::vector<audit_record> sqlite_chat_store::audit_log(std::string room, std::size_t limit) {
    std::lock_guard lock(reader_mutex_);
    try {
        return reader_tables_->audit_log(room, limit);
    } catch (const sqlite_error& error) {
        throw store_open_error("cannot read the audit log of " + options_.path + ": " +
                               error.what());
    }
}

chat_directory_snapshot sqlite_chat_store::load_directory() {
    std::lock_guard lock(reader_mutex_);
    try {
        reader_tables_->begin_read();
        chat_directory_snapshot snapshot = reader_tables_->read_directory();
        reader_tables_->commit();
        return snapshot;
    } catch (const sqlite_error& error) {
        reader_tables_->rollback();
        throw store_open_error("cannot read the chat directory of " + options_.path + ": " +
                               error.what());
    }
}

std::uint64_t sqlite_chat_store::directory_version() {
    std::lock_guard lock(reader_mutex_);
    try {
        return reader_tables_->directory_version();
    } catch (const sqlite_error& error) {
        throw store_open_error("cannot read the chat directory version of " + options_.path + ": " +
                               error.what());
    }
}

void sqlite_chat_store::append_history(history_record record, store_completion done) {
    std::string description =
        "history append " + record.conversation + " #" + std::to_string(record.id);
    submit_grouped(
        std::move(description),
        [record = std::move(record)](chat_tables& tables) { tables.append_history(record); },
        std::move(done));
}

void sqlite_chat_store::find_history(std::string conversation, std::uint64_t id,
                                     history_row_completion done) {
    submit(pending_chat_operation{
        {}, {}, [this, conversation = std::move(conversation), id, done = std::move(done)] {
            std::optional<history_record> row;
            store_status status;
            try {
                row = writer_tables_->find_history(conversation, id);
            } catch (const sqlite_error& error) {
                status = failure(error);
            }
            if (done) {
                done(std::move(row), status);
            }
        }});
}

void sqlite_chat_store::history_page(std::string conversation, std::uint64_t before_id,
                                     std::size_t limit, history_completion done) {
    submit(pending_chat_operation{
        {},
        {},
        [this, conversation = std::move(conversation), before_id, limit, done = std::move(done)] {
            std::vector<history_record> page;
            store_status status;
            try {
                page = writer_tables_->history_page(conversation, before_id, limit);
            } catch (const sqlite_error& error) {
                status = failure(error);
            }
            if (done) {
                done(std::move(page), status);
            }
        }});
}

std::vector<conversation_head> sqlite_chat_store::conversation_heads() {
    std::lock_guard lock(reader_mutex_);
    try {
        return reader_tables_->conversation_heads();
    } catch (const sqlite_error& error) {
        throw store_open_error("cannot read the conversation heads of " + options_.path + ": " +
                               error.what());
    }
}

void sqlite_chat_store::read_history_after(std::string conversation, std::uint64_t after_id,
                                           std::uint64_t since_unix_ms, std::size_t limit,
                                           history_completion done) {
    // Run alone on the writer connection: the group of every append submitted before it is
    // closed (and committed) first; while a group fails, this runs past it (store/README.md).
    submit(pending_chat_operation{{},
                                  {},
                                  [this, conversation = std::move(conversation), after_id,
                                   since_unix_ms, limit, done = std::move(done)] {
                                      std::vector<history_record> page;
                                      store_status status;
                                      try {
                                          page = writer_tables_->history_after(
                                              conversation, after_id, since_unix_ms, limit);
                                      } catch (const sqlite_error& error) {
                                          status = failure(error);
                                      }
                                      if (done) {
                                          done(std::move(page), status);
                                      }
                                  }});
}

void sqlite_chat_store::save_session_cursors(session_cursors_record record, store_completion done) {
    submit_grouped(
        "session cursors of " + record.client_id,
        [record = std::move(record)](chat_tables& tables) { tables.save_session_cursors(record); },
        std::move(done));
}

void sqlite_chat_store::remove_session_cursors(std::string client_id, store_completion done) {
    submit_grouped(
        "removal of the session cursors of " + client_id,
        [client_id = std::move(client_id)](chat_tables& tables) {
            tables.remove_session_cursors(client_id);
        },
        std::move(done));
}

std::vector<session_cursors_record> sqlite_chat_store::load_session_cursors() {
    std::lock_guard lock(reader_mutex_);
    try {
        return reader_tables_->session_cursors();
    } catch (const sqlite_error& error) {
        throw store_open_error("cannot read the chat session cursors of " + options_.path + ": " +
                               error.what());
    }
}

void sqlite_chat_store::set_read_position(read_position_record record, store_completion done) {
    std::string description = "read position of " + record.user + " in " + record.conversation +
                              " at #" + std::to_string(record.id);
    submit_grouped(
        std::move(description),
        [record = std::move(record)](chat_tables& tables) { tables.set_read_position(record); },
        std::move(done));
}

void sqlite_chat_store::read_positions(std::string user, read_positions_completion done) {
    submit(pending_chat_operation{{}, {}, [this, user = std::move(user), done = std::move(done)] {
                                      std::vector<read_position_record> positions;
                                      store_status status;
                                      try {
                                          positions = writer_tables_->read_positions(user);
                                      } catch (const sqlite_error& error) {
                                          status = failure(error);
                                      }
                                      if (done) {
                                          done(std::move(positions), status);
                                      }
                                  }});
}

void sqlite_chat_store::read_state(std::string user, std::vector<conversation_head> heads,
                                   std::uint64_t unread_cap, read_state_completion done) {
    // On the writer connection, like every read of history: it sees every append submitted
    // before it.
    submit(pending_chat_operation{{},
                                  {},
                                  [this, user = std::move(user), heads = std::move(heads),
                                   unread_cap, done = std::move(done)]() mutable {
                                      std::vector<read_state_record> states;
                                      store_status status;
                                      try {
                                          states = writer_tables_->read_state(
                                              user, std::move(heads), unread_cap);
                                      } catch (const sqlite_error& error) {
                                          status = failure(error);
                                          states.clear();
                                      }
                                      if (done) {
                                          done(std::move(states), status);
                                      }
                                  }});
}

void sqlite_chat_store::search_history(search_request request, search_completion done) {
    if (!options_.is_search_enabled) {
        if (done) {
            done({}, store_status{store_errc::read_failed, "the search index is off"});
        }
        return;
    }
    {
        std::lock_guard lock(search_mutex_);
        if (pending_searches_ >= std::max<std::size_t>(options_.max_pending_searches, 1)) {
            if (done) {
                done({}, store_status{store_errc::busy,
                                      std::to_string(pending_searches_) + " searches waiting"});
            }
            return;
        }
        ++pending_searches_;
    }
    auto search = [this, request = std::move(request), done = std::move(done)] {
        std::vector<search_hit> hits;
        store_status status;
        try {
            hits = search_tables_->search(request);
        } catch (const sqlite_error& error) {
            status = store_status{store_errc::read_failed, error.what()};
        }
        if (done) {
            done(std::move(hits), status);
        }
    };
    // The writer only passes it on when its turn comes, so that it reads every write submitted
    // before it.
    submit(pending_chat_operation{{}, {}, [this, search = std::move(search)]() mutable {
                                      hand_over_search(std::move(search));
                                  }});
}

void sqlite_chat_store::prune_history(std::uint64_t before_unix_ms,
                                      std::size_t keep_per_conversation, store_completion done) {
    submit_grouped(
        "history prune",
        [before_unix_ms, keep_per_conversation](chat_tables& tables) {
            tables.prune_history(before_unix_ms, keep_per_conversation);
        },
        std::move(done));
}

// Files: the writes join history's groups (on the same connection as chat_tables); the reads run
// alone on the writer connection, after everything submitted before them.

void sqlite_chat_store::add_file(file_record file, store_completion done) {
    submit_grouped(
        "file " + file.id,
        [this, file = std::move(file)](chat_tables&) { writer_files_->insert_file(file); },
        std::move(done));
}

void sqlite_chat_store::remove_file(std::string id, store_completion done) {
    submit_grouped(
        "removal of file " + id,
        [this, id = std::move(id)](chat_tables&) { writer_files_->delete_file(id); },
        std::move(done));
}

std::vector<file_record> sqlite_chat_store::load_files() {
    std::lock_guard lock(reader_mutex_);
    try {
        return reader_files_->files();
    } catch (const sqlite_error& error) {
        throw store_open_error("cannot read the files of " + options_.path + ": " + error.what());
    }
}

void sqlite_chat_store::add_file_references(std::string conversation, std::uint64_t message_id,
                                            std::vector<std::string> ids, store_completion done) {
    std::string description =
        "file references of " + conversation + " #" + std::to_string(message_id);
    submit_grouped(
        std::move(description),
        [this, conversation = std::move(conversation), message_id, ids = std::move(ids)](
            chat_tables&) { writer_files_->insert_references(conversation, message_id, ids); },
        std::move(done));
}

void sqlite_chat_store::file_references(std::string id, file_references_completion done) {
    submit(pending_chat_operation{{}, {}, [this, id = std::move(id), done = std::move(done)] {
                                      std::vector<file_reference> found;
                                      store_status status;
                                      try {
                                          found = writer_files_->references(id);
                                      } catch (const sqlite_error& error) {
                                          status = failure(error);
                                      }
                                      if (done) {
                                          done(std::move(found), status);
                                      }
                                  }});
}

void sqlite_chat_store::unreferenced_files(std::uint64_t created_before_unix_ms, std::size_t limit,
                                           file_ids_completion done) {
    submit(pending_chat_operation{
        {}, {}, [this, created_before_unix_ms, limit, done = std::move(done)] {
            std::vector<std::string> found;
            store_status status;
            try {
                found = writer_files_->unreferenced(created_before_unix_ms, limit);
            } catch (const sqlite_error& error) {
                status = failure(error);
            }
            if (done) {
                done(std::move(found), status);
            }
        }});
}

// Web Push: written through the directory's writer path (one transaction each) without moving
// directory_version(): no directory reload follows a subscription.

void sqlite_chat_store::set_push_subscription(push_subscription_record subscription,
                                              directory_completion done) {
    change_directory([this, subscription = std::move(subscription)](
                         chat_tables&) { return writer_push_->set_subscription(subscription); },
                     std::move(done));
}

void sqlite_chat_store::remove_push_subscription(std::string user, std::string device,
                                                 directory_completion done) {
    change_directory([this, user = std::move(user), device = std::move(device)](
                         chat_tables&) { return writer_push_->remove_subscription(user, device); },
                     std::move(done));
}

void sqlite_chat_store::remove_push_endpoint(std::string endpoint, directory_completion done) {
    change_directory([this, endpoint = std::move(endpoint)](
                         chat_tables&) { return writer_push_->remove_endpoint(endpoint); },
                     std::move(done));
}

void sqlite_chat_store::set_push_error(std::string endpoint, std::string error,
                                       directory_completion done) {
    change_directory([this, endpoint = std::move(endpoint), error = std::move(error)](
                         chat_tables&) { return writer_push_->set_error(endpoint, error); },
                     std::move(done));
}

void sqlite_chat_store::set_push_preview(std::string user, bool is_allowed,
                                         directory_completion done) {
    change_directory([this, user = std::move(user), is_allowed](
                         chat_tables&) { return writer_push_->set_preview(user, is_allowed); },
                     std::move(done));
}

push_state_record sqlite_chat_store::push_state(std::string user) {
    std::lock_guard lock(reader_mutex_);
    try {
        reader_tables_->begin_read();
        push_state_record state = reader_push_->state_of(user);
        reader_tables_->commit();
        return state;
    } catch (const sqlite_error& error) {
        reader_tables_->rollback();
        throw store_open_error("cannot read the push subscriptions of " + options_.path + ": " +
                               error.what());
    }
}

std::vector<std::pair<std::string, std::string>> sqlite_chat_store::push_subscribed_devices() {
    std::lock_guard lock(reader_mutex_);
    try {
        reader_tables_->begin_read();
        auto devices = reader_push_->subscribed_devices();
        reader_tables_->commit();
        return devices;
    } catch (const sqlite_error& error) {
        reader_tables_->rollback();
        throw store_open_error("cannot read the push subscriptions of " + options_.path + ": " +
                               error.what());
    }
}

} // namespace perch::store::sqlite
