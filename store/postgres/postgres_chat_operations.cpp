// Each chat_store operation of the PostgreSQL store as a grouped write, a directory transaction,
// a query run alone on the write connection (after everything submitted before it) or a read of
// what is committed on the read connection.
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "store/postgres/connection.hpp"
#include "store/postgres/postgres_chat_store.hpp"
#include "store/postgres/postgres_id_allocator.hpp"
#include "store/postgres/search_tables.hpp"
#include "store/postgres/table_set.hpp"

namespace perch::store::postgres {

template <typename Value>
void postgres_chat_store::query_alone(std::function<Value(table_set&)> query,
                                      std::function<void(Value, const store_status&)> done) {
    submit(pending_chat_operation{
        {}, {}, [this, query = std::move(query), done = std::move(done)] {
            Value value{};
            store_status status;
            try {
                value = query(*writer_);
            } catch (const postgres_error& error) {
                value = Value{};
                status = store_status{store_errc::write_failed, error.what()};
            }
            if (done) {
                done(std::move(value), status);
            }
        }});
}

template <typename Value>
Value postgres_chat_store::read_now(std::string_view what,
                                    const std::function<Value(table_set&)>& query,
                                    bool is_snapshot) {
    std::lock_guard lock(reader_mutex_);
    try {
        if (!is_snapshot) {
            return query(*reader_);
        }
        reader_connection_->begin_snapshot();
        Value value = query(*reader_);
        reader_connection_->commit();
        return value;
    } catch (const postgres_error& error) {
        reader_connection_->rollback();
        throw store_open_error("cannot read " + std::string(what) +
                               " from PostgreSQL: " + error.what());
    }
}

// Directory.

void postgres_chat_store::add_user(user_record user, directory_completion done) {
    change_directory(
        [user = std::move(user)](table_set& tables) { return tables.directory.add_user(user); },
        std::move(done));
}

void postgres_chat_store::remove_user(std::string name, directory_completion done) {
    change_directory(
        [name = std::move(name)](table_set& tables) { return tables.directory.remove_user(name); },
        std::move(done));
}

void postgres_chat_store::set_password(std::string name, std::string password_hash,
                                       directory_completion done) {
    change_directory([name = std::move(name), hash = std::move(password_hash)](
                         table_set& tables) { return tables.directory.set_password(name, hash); },
                     std::move(done));
}

void postgres_chat_store::upgrade_password_hash(std::string name, std::string old_hash,
                                                std::string new_hash, directory_completion done) {
    change_directory(
        [name = std::move(name), old_hash = std::move(old_hash),
         new_hash = std::move(new_hash)](table_set& tables) {
            return tables.directory.upgrade_password_hash(name, old_hash, new_hash);
        },
        std::move(done));
}

void postgres_chat_store::set_device_token(device_token_record token, directory_completion done) {
    change_directory([token = std::move(token)](
                         table_set& tables) { return tables.directory.set_device_token(token); },
                     std::move(done));
}

void postgres_chat_store::remove_device_token(std::string user, std::string device,
                                              directory_completion done) {
    change_directory(
        [user = std::move(user), device = std::move(device)](table_set& tables) {
            return tables.directory.remove_device_token(user, device);
        },
        std::move(done));
}

void postgres_chat_store::add_room(room_record room, directory_completion done) {
    change_directory(
        [room = std::move(room)](table_set& tables) { return tables.directory.add_room(room); },
        std::move(done));
}

void postgres_chat_store::remove_room(std::string name, directory_completion done) {
    change_directory(
        [name = std::move(name)](table_set& tables) { return tables.directory.remove_room(name); },
        std::move(done));
}

void postgres_chat_store::add_member(membership_record membership, directory_completion done) {
    change_directory([membership = std::move(membership)](
                         table_set& tables) { return tables.directory.add_member(membership); },
                     std::move(done));
}

void postgres_chat_store::remove_member(membership_record membership, directory_completion done) {
    change_directory([membership = std::move(membership)](
                         table_set& tables) { return tables.directory.remove_member(membership); },
                     std::move(done));
}

void postgres_chat_store::add_ban(ban_record ban, directory_completion done) {
    change_directory(
        [ban = std::move(ban)](table_set& tables) { return tables.directory.add_ban(ban); },
        std::move(done));
}

void postgres_chat_store::remove_ban(ban_kind kind, std::string value, directory_completion done) {
    change_directory([kind, value = std::move(value)](
                         table_set& tables) { return tables.directory.remove_ban(kind, value); },
                     std::move(done));
}

void postgres_chat_store::add_acl_rule(acl_rule_record rule, directory_completion done) {
    change_directory(
        [rule = std::move(rule)](table_set& tables) { return tables.directory.add_acl_rule(rule); },
        std::move(done));
}

void postgres_chat_store::remove_acl_rule(acl_rule_record rule, directory_completion done) {
    change_directory([rule = std::move(rule)](
                         table_set& tables) { return tables.directory.remove_acl_rule(rule); },
                     std::move(done));
}

void postgres_chat_store::apply_directory_changes(std::vector<directory_change> changes,
                                                  directory_batch_completion done) {
    // The index of the change that was not done; the batch's size when none was refused.
    auto refused_index = std::make_shared<std::size_t>(changes.size());
    change_directory(
        [changes = std::move(changes), refused_index](table_set& tables) {
            for (std::size_t index = 0; index < changes.size(); ++index) {
                const directory_result result = tables.directory.apply(changes[index]);
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

std::vector<audit_record> postgres_chat_store::audit_log(std::string room, std::size_t limit) {
    return read_now<std::vector<audit_record>>("the audit log", [&](table_set& tables) {
        return tables.directory.audit_log(room, limit);
    });
}

chat_directory_snapshot postgres_chat_store::load_directory() {
    return read_now<chat_directory_snapshot>(
        "the chat directory", [](table_set& tables) { return tables.directory.read_directory(); },
        true);
}

std::uint64_t postgres_chat_store::directory_version() {
    return read_now<std::uint64_t>("the chat directory version", [](table_set& tables) {
        return tables.directory.directory_version();
    });
}

std::vector<std::uint8_t> postgres_chat_store::relay_key() {
    return read_now<std::vector<std::uint8_t>>("the relay key", [](table_set& tables) {
        return tables.database.run("SELECT key FROM perch_relay_key").bytes(0, 0);
    });
}

// History.

void postgres_chat_store::append_history(history_record record, store_completion done) {
    std::string description =
        "history append " + record.conversation + " #" + std::to_string(record.id);
    submit_grouped(
        std::move(description),
        [record = std::move(record)](table_set& tables) { tables.history.append_history(record); },
        std::move(done));
}

void postgres_chat_store::find_history(std::string conversation, std::uint64_t id,
                                       history_row_completion done) {
    query_alone<std::optional<history_record>>(
        [conversation = std::move(conversation), id](table_set& tables) {
            return tables.history.find_history(conversation, id);
        },
        std::move(done));
}

void postgres_chat_store::history_page(std::string conversation, std::uint64_t before_id,
                                       std::size_t limit, history_completion done) {
    query_alone<std::vector<history_record>>(
        [conversation = std::move(conversation), before_id, limit](table_set& tables) {
            return tables.history.history_page(conversation, before_id, limit);
        },
        std::move(done));
}

std::vector<conversation_head> postgres_chat_store::conversation_heads() {
    return read_now<std::vector<conversation_head>>(
        "the conversation heads",
        [](table_set& tables) { return tables.history.conversation_heads(); });
}

std::unique_ptr<id_allocator> postgres_chat_store::open_id_allocator() {
    return std::make_unique<postgres_id_allocator>(options_);
}

void postgres_chat_store::read_history_after(std::string conversation, std::uint64_t after_id,
                                             std::uint64_t since_unix_ms, std::size_t limit,
                                             history_completion done) {
    query_alone<std::vector<history_record>>(
        [conversation = std::move(conversation), after_id, since_unix_ms,
         limit](table_set& tables) {
            return tables.history.history_after(conversation, after_id, since_unix_ms, limit);
        },
        std::move(done));
}

void postgres_chat_store::save_session_cursors(session_cursors_record record,
                                               store_completion done) {
    submit_grouped(
        "session cursors of " + record.client_id,
        [record = std::move(record)](table_set& tables) {
            tables.history.save_session_cursors(record);
        },
        std::move(done));
}

void postgres_chat_store::remove_session_cursors(std::string client_id, store_completion done) {
    submit_grouped(
        "removal of the session cursors of " + client_id,
        [client_id = std::move(client_id)](table_set& tables) {
            tables.history.remove_session_cursors(client_id);
        },
        std::move(done));
}

std::vector<session_cursors_record> postgres_chat_store::load_session_cursors() {
    return read_now<std::vector<session_cursors_record>>(
        "the chat session cursors",
        [](table_set& tables) { return tables.history.session_cursors(); });
}

void postgres_chat_store::set_read_position(read_position_record record, store_completion done) {
    std::string description = "read position of " + record.user + " in " + record.conversation +
                              " at #" + std::to_string(record.id);
    submit_grouped(
        std::move(description),
        [record = std::move(record)](table_set& tables) {
            tables.history.set_read_position(record);
        },
        std::move(done));
}

void postgres_chat_store::read_positions(std::string user, read_positions_completion done) {
    query_alone<std::vector<read_position_record>>(
        [user = std::move(user)](table_set& tables) { return tables.history.read_positions(user); },
        std::move(done));
}

void postgres_chat_store::read_state(std::string user, std::vector<conversation_head> heads,
                                     std::uint64_t unread_cap, read_state_completion done) {
    query_alone<std::vector<read_state_record>>(
        [user = std::move(user), heads = std::move(heads), unread_cap](table_set& tables) {
            return tables.history.read_state(user, heads, unread_cap);
        },
        std::move(done));
}

void postgres_chat_store::prune_history(std::uint64_t before_unix_ms,
                                        std::size_t keep_per_conversation, store_completion done) {
    submit_grouped(
        "history prune",
        [before_unix_ms, keep_per_conversation](table_set& tables) {
            tables.history.prune_history(before_unix_ms, keep_per_conversation);
        },
        std::move(done));
}

void postgres_chat_store::search_history(search_request request, search_completion done) {
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
        } catch (const postgres_error& error) {
            hits.clear();
            status = store_status{store_errc::read_failed, error.what()};
        }
        if (done) {
            done(std::move(hits), status);
        }
    };
    // The writer passes it on when its turn comes: it then reads every write submitted before.
    submit(pending_chat_operation{{}, {}, [this, search = std::move(search)]() mutable {
                                      hand_over_search(std::move(search));
                                  }});
}

// Files.

void postgres_chat_store::add_file(file_record file, store_completion done) {
    submit_grouped(
        "file " + file.id,
        [file = std::move(file)](table_set& tables) { tables.files.insert_file(file); },
        std::move(done));
}

void postgres_chat_store::remove_file(std::string id, store_completion done) {
    submit_grouped(
        "removal of file " + id,
        [id = std::move(id)](table_set& tables) { tables.files.delete_file(id); }, std::move(done));
}

std::vector<file_record> postgres_chat_store::load_files() {
    return read_now<std::vector<file_record>>(
        "the files", [](table_set& tables) { return tables.files.files(); });
}

void postgres_chat_store::add_file_references(std::string conversation, std::uint64_t message_id,
                                              std::vector<std::string> ids, store_completion done) {
    std::string description =
        "file references of " + conversation + " #" + std::to_string(message_id);
    submit_grouped(
        std::move(description),
        [conversation = std::move(conversation), message_id, ids = std::move(ids)](
            table_set& tables) { tables.files.insert_references(conversation, message_id, ids); },
        std::move(done));
}

void postgres_chat_store::file_references(std::string id, file_references_completion done) {
    query_alone<std::vector<file_reference>>(
        [id = std::move(id)](table_set& tables) { return tables.files.references(id); },
        std::move(done));
}

void postgres_chat_store::unreferenced_files(std::uint64_t created_before_unix_ms,
                                             std::size_t limit, file_ids_completion done) {
    query_alone<std::vector<std::string>>(
        [created_before_unix_ms, limit](table_set& tables) {
            return tables.files.unreferenced(created_before_unix_ms, limit);
        },
        std::move(done));
}

// Web Push: one transaction each, through the directory's path, without moving its version.

void postgres_chat_store::set_push_subscription(push_subscription_record subscription,
                                                directory_completion done) {
    change_directory([subscription = std::move(subscription)](
                         table_set& tables) { return tables.push.set_subscription(subscription); },
                     std::move(done));
}

void postgres_chat_store::remove_push_subscription(std::string user, std::string device,
                                                   directory_completion done) {
    change_directory(
        [user = std::move(user), device = std::move(device)](table_set& tables) {
            return tables.push.remove_subscription(user, device);
        },
        std::move(done));
}

void postgres_chat_store::remove_push_endpoint(std::string endpoint, directory_completion done) {
    change_directory([endpoint = std::move(endpoint)](
                         table_set& tables) { return tables.push.remove_endpoint(endpoint); },
                     std::move(done));
}

void postgres_chat_store::set_push_error(std::string endpoint, std::string error,
                                         directory_completion done) {
    change_directory([endpoint = std::move(endpoint), error = std::move(error)](
                         table_set& tables) { return tables.push.set_error(endpoint, error); },
                     std::move(done));
}

void postgres_chat_store::set_push_preview(std::string user, bool is_allowed,
                                           directory_completion done) {
    change_directory([user = std::move(user), is_allowed](
                         table_set& tables) { return tables.push.set_preview(user, is_allowed); },
                     std::move(done));
}

push_state_record postgres_chat_store::push_state(std::string user) {
    return read_now<push_state_record>(
        "the push subscriptions", [&](table_set& tables) { return tables.push.state_of(user); },
        true);
}

std::vector<std::pair<std::string, std::string>> postgres_chat_store::push_subscribed_devices() {
    return read_now<std::vector<std::pair<std::string, std::string>>>(
        "the push subscriptions",
        [](table_set& tables) { return tables.push.subscribed_devices(); }, true);
}

} // namespace perch::store::postgres
