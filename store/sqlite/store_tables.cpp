// Store operations as SQL: one prepared statement per write, the cascades of delete_session, the
// reference counting of shared message rows, expiry, and the start-up reads.
#include "store/sqlite/store_tables.hpp"

#include <string_view>
#include <unordered_map>
#include <variant>

#include <sqlite3.h>

namespace perch::store::sqlite {
namespace {

std::vector<std::uint8_t> encode_subscription_ids(const std::vector<std::uint32_t>& ids) {
    std::vector<std::uint8_t> bytes;
    bytes.reserve(ids.size() * 4);
    for (const std::uint32_t id : ids) {
        for (int shift = 0; shift < 32; shift += 8) {
            bytes.push_back(static_cast<std::uint8_t>(id >> shift));
        }
    }
    return bytes;
}

std::vector<std::uint32_t> decode_subscription_ids(const std::vector<std::uint8_t>& bytes) {
    std::vector<std::uint32_t> ids;
    for (std::size_t offset = 0; offset + 4 <= bytes.size(); offset += 4) {
        std::uint32_t id = 0;
        for (int index = 3; index >= 0; --index) {
            id = (id << 8) | bytes[offset + static_cast<std::size_t>(index)];
        }
        ids.push_back(id);
    }
    return ids;
}

std::int64_t as_integer(std::uint64_t value) {
    return static_cast<std::int64_t>(value);
}

std::uint64_t as_unsigned(std::int64_t value) {
    return static_cast<std::uint64_t>(value);
}

/// The columns read_session reads, in its order.
constexpr std::string_view session_columns =
    "SELECT client_id, protocol_level, session_expiry_interval_s, expires_at_unix_ms, "
    "will_topic, will_payload, will_qos, will_retain, will_properties, will_delay_interval_s, "
    "next_packet_id, disconnected_at_unix_ms, owner FROM sessions";

stored_session read_session(statement& row) {
    stored_session session;
    session.client_id = row.column_text(0);
    session.protocol_level = static_cast<std::uint8_t>(row.column_integer(1));
    session.session_expiry_interval_s = static_cast<std::uint32_t>(row.column_integer(2));
    session.expires_at_unix_ms = as_unsigned(row.column_integer(3));
    if (!row.column_is_null(4)) {
        stored_will will;
        will.topic = row.column_text(4);
        will.payload = row.column_blob(5);
        will.qos = static_cast<std::uint8_t>(row.column_integer(6));
        will.is_retained = row.column_integer(7) != 0;
        will.properties = row.column_blob(8);
        will.will_delay_interval_s = static_cast<std::uint32_t>(row.column_integer(9));
        session.will = std::move(will);
    }
    session.next_packet_id = static_cast<std::uint16_t>(row.column_integer(10));
    session.disconnected_at_unix_ms = as_unsigned(row.column_integer(11));
    if (!row.column_is_null(12)) {
        session.owner = row.column_text(12);
    }
    return session;
}

// The columns read_queue_row() reads, for a query that appends its WHERE and ORDER BY.
constexpr std::string_view queue_columns =
    "SELECT q.client_id, q.sequence, q.message_id, q.packet_id, q.state, q.qos, q.retain, "
    "q.subscription_ids, m.topic, m.payload, m.qos, m.retain, m.properties, m.expiry_unix_ms, "
    "m.created_unix_ms FROM queue q JOIN messages m ON m.message_id = q.message_id ";

// One row of a queue_columns query; entries of one message share the message read first.
loaded_queue_entry
read_queue_row(statement& row,
               std::unordered_map<std::uint64_t, std::shared_ptr<const stored_message>>& messages) {
    loaded_queue_entry loaded;
    queue_entry& entry = loaded.entry;
    entry.client_id = row.column_text(0);
    entry.sequence = as_unsigned(row.column_integer(1));
    entry.message_id = as_unsigned(row.column_integer(2));
    entry.packet_id = static_cast<std::uint16_t>(row.column_integer(3));
    entry.state = static_cast<delivery_state>(row.column_integer(4));
    entry.qos = static_cast<std::uint8_t>(row.column_integer(5));
    entry.is_retained = row.column_integer(6) != 0;
    entry.subscription_ids = decode_subscription_ids(row.column_blob(7));
    auto& message = messages[entry.message_id];
    if (!message) {
        auto fresh = std::make_shared<stored_message>();
        fresh->message_id = entry.message_id;
        fresh->topic = row.column_text(8);
        fresh->payload = row.column_blob(9);
        fresh->qos = static_cast<std::uint8_t>(row.column_integer(10));
        fresh->is_retained = row.column_integer(11) != 0;
        fresh->properties = row.column_blob(12);
        fresh->expiry_unix_ms = as_unsigned(row.column_integer(13));
        fresh->created_unix_ms = as_unsigned(row.column_integer(14));
        message = std::move(fresh);
    }
    loaded.message = message;
    return loaded;
}

} // namespace

store_tables::store_tables(database& connection)
    : connection_(connection), begin_(connection, "BEGIN IMMEDIATE"), commit_(connection, "COMMIT"),
      rollback_(connection, "ROLLBACK"),
      upsert_session_(connection,
                      "INSERT OR REPLACE INTO sessions (client_id, protocol_level, "
                      "session_expiry_interval_s, expires_at_unix_ms, will_topic, will_payload, "
                      "will_qos, will_retain, will_properties, will_delay_interval_s, "
                      "next_packet_id, disconnected_at_unix_ms, owner) VALUES (?1, ?2, ?3, ?4, "
                      "?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)"),
      delete_session_(connection, "DELETE FROM sessions WHERE client_id = ?1"),
      delete_session_subscriptions_(connection, "DELETE FROM subscriptions WHERE client_id = ?1"),
      delete_session_inbound_(connection, "DELETE FROM inbound_qos2 WHERE client_id = ?1"),
      select_session_messages_(connection, "SELECT message_id FROM queue WHERE client_id = ?1"),
      delete_session_queue_(connection, "DELETE FROM queue WHERE client_id = ?1"),
      upsert_subscription_(connection,
                           "INSERT OR REPLACE INTO subscriptions (client_id, topic_filter, "
                           "options, subscription_id) VALUES (?1, ?2, ?3, ?4)"),
      delete_subscription_(connection,
                           "DELETE FROM subscriptions WHERE client_id = ?1 AND topic_filter = ?2"),
      insert_message_(connection, "INSERT INTO messages (message_id, topic, payload, qos, retain, "
                                  "properties, expiry_unix_ms, created_unix_ms) VALUES (?1, ?2, "
                                  "?3, ?4, ?5, ?6, ?7, ?8)"),
      insert_queue_entry_(connection,
                          "INSERT INTO queue (sequence, client_id, message_id, packet_id, state, "
                          "qos, retain, subscription_ids) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"),
      update_queue_entry_(connection, "UPDATE queue SET packet_id = ?3, state = ?4 "
                                      "WHERE sequence = ?2 AND client_id = ?1"),
      select_queue_entry_message_(
          connection, "SELECT message_id FROM queue WHERE sequence = ?2 AND client_id = ?1"),
      delete_queue_entry_(connection, "DELETE FROM queue WHERE client_id = ?1 AND sequence = ?2"),
      delete_message_(connection, "DELETE FROM messages WHERE message_id = ?1"),
      upsert_retained_(connection,
                       "INSERT OR REPLACE INTO retained (topic, message_id, payload, qos, "
                       "properties, expiry_unix_ms, created_unix_ms) VALUES (?1, ?2, ?3, ?4, ?5, "
                       "?6, ?7)"),
      delete_retained_(connection, "DELETE FROM retained WHERE topic = ?1"),
      insert_inbound_(connection,
                      "INSERT OR IGNORE INTO inbound_qos2 (client_id, packet_id) VALUES (?1, ?2)"),
      delete_inbound_(connection,
                      "DELETE FROM inbound_qos2 WHERE client_id = ?1 AND packet_id = ?2"),
      select_any_expired_(connection, "SELECT 1 FROM messages WHERE expiry_unix_ms != 0 "
                                      "AND expiry_unix_ms <= ?1 LIMIT 1"),
      select_expired_entries_(connection,
                              "SELECT q.client_id, q.sequence, q.message_id FROM queue q "
                              "JOIN messages m ON m.message_id = q.message_id "
                              "WHERE q.state = 0 AND m.expiry_unix_ms != 0 "
                              "AND m.expiry_unix_ms <= ?1"),
      delete_expired_retained_(connection, "DELETE FROM retained WHERE expiry_unix_ms != 0 "
                                           "AND expiry_unix_ms <= ?1"),
      select_session_queue_(connection,
                            std::string(queue_columns) +
                                "WHERE q.client_id = ?1 AND q.sequence > ?2 ORDER BY q.sequence "
                                "LIMIT ?3") {}

void store_tables::begin() {
    reference_changes_.clear();
    begin_.reset();
    begin_.run();
}

void store_tables::commit() {
    commit_.reset();
    commit_.run();
    for (const auto& [message_id, change] : reference_changes_) {
        const std::int64_t count = references(message_id);
        if (count <= 0) {
            references_.erase(message_id);
        } else {
            references_[message_id] = static_cast<std::uint32_t>(count);
        }
    }
    reference_changes_.clear();
}

void store_tables::rollback() noexcept {
    reference_changes_.clear();
    if (sqlite3_get_autocommit(connection_.handle()) == 0) {
        try {
            rollback_.reset();
            rollback_.run();
        } catch (const sqlite_error&) {
            // A failed rollback leaves SQLite to roll back on the next statement; nothing to add.
        }
    }
}

void store_tables::apply(const store_operation& operation, group_effects& effects) {
    std::visit([&](const auto& concrete) { write(concrete, effects); }, operation);
}

void store_tables::write(const save_session_operation& operation, group_effects&) {
    const stored_session& session = operation.session;
    upsert_session_.reset();
    upsert_session_.bind_text(1, session.client_id);
    upsert_session_.bind_integer(2, session.protocol_level);
    upsert_session_.bind_integer(3, session.session_expiry_interval_s);
    upsert_session_.bind_integer(4, as_integer(session.expires_at_unix_ms));
    if (session.will) {
        const stored_will& will = *session.will;
        upsert_session_.bind_text(5, will.topic);
        upsert_session_.bind_blob(6, will.payload);
        upsert_session_.bind_integer(7, will.qos);
        upsert_session_.bind_integer(8, will.is_retained ? 1 : 0);
        upsert_session_.bind_blob(9, will.properties);
        upsert_session_.bind_integer(10, will.will_delay_interval_s);
    } else {
        for (int index = 5; index <= 10; ++index) {
            upsert_session_.bind_null(index);
        }
    }
    upsert_session_.bind_integer(11, session.next_packet_id);
    upsert_session_.bind_integer(12, as_integer(session.disconnected_at_unix_ms));
    if (session.owner) {
        upsert_session_.bind_text(13, *session.owner);
    } else {
        upsert_session_.bind_null(13);
    }
    upsert_session_.run();
}

void store_tables::write(const delete_session_operation& operation, group_effects&) {
    std::vector<std::uint64_t> message_ids;
    select_session_messages_.reset();
    select_session_messages_.bind_text(1, operation.client_id);
    while (select_session_messages_.step()) {
        message_ids.push_back(as_unsigned(select_session_messages_.column_integer(0)));
    }
    select_session_messages_.reset();
    for (statement* each : {&delete_session_queue_, &delete_session_subscriptions_,
                            &delete_session_inbound_, &delete_session_}) {
        each->reset();
        each->bind_text(1, operation.client_id);
        each->run();
    }
    for (const std::uint64_t message_id : message_ids) {
        release_message(message_id);
    }
}

void store_tables::write(const add_subscription_operation& operation, group_effects&) {
    const stored_subscription& subscription = operation.subscription;
    upsert_subscription_.reset();
    upsert_subscription_.bind_text(1, subscription.client_id);
    upsert_subscription_.bind_text(2, subscription.topic_filter);
    upsert_subscription_.bind_integer(3, subscription.options);
    upsert_subscription_.bind_integer(4, subscription.subscription_id);
    upsert_subscription_.run();
}

void store_tables::write(const remove_subscription_operation& operation, group_effects&) {
    delete_subscription_.reset();
    delete_subscription_.bind_text(1, operation.client_id);
    delete_subscription_.bind_text(2, operation.topic_filter);
    delete_subscription_.run();
}

void store_tables::write(const enqueue_operation& operation, group_effects& effects) {
    bool has_message_row = false;
    for (const queue_entry& entry : operation.entries) {
        if (entry.sequence == 0) {
            continue;
        }
        if (!has_message_row) {
            const stored_message& message = *operation.message;
            insert_message_.reset();
            insert_message_.bind_integer(1, as_integer(entry.message_id));
            insert_message_.bind_text(2, message.topic);
            insert_message_.bind_blob(3, message.payload);
            insert_message_.bind_integer(4, message.qos);
            insert_message_.bind_integer(5, message.is_retained ? 1 : 0);
            insert_message_.bind_blob(6, message.properties);
            insert_message_.bind_integer(7, as_integer(message.expiry_unix_ms));
            insert_message_.bind_integer(8, as_integer(message.created_unix_ms));
            insert_message_.run();
            has_message_row = true;
        }
        insert_queue_entry_.reset();
        insert_queue_entry_.bind_integer(1, as_integer(entry.sequence));
        insert_queue_entry_.bind_text(2, entry.client_id);
        insert_queue_entry_.bind_integer(3, as_integer(entry.message_id));
        insert_queue_entry_.bind_integer(4, entry.packet_id);
        insert_queue_entry_.bind_integer(5, static_cast<std::int64_t>(entry.state));
        insert_queue_entry_.bind_integer(6, entry.qos);
        insert_queue_entry_.bind_integer(7, entry.is_retained ? 1 : 0);
        insert_queue_entry_.bind_blob(8, encode_subscription_ids(entry.subscription_ids));
        insert_queue_entry_.run();
        ++reference_changes_[entry.message_id];
        ++effects.queue_rows_written;
    }
}

void store_tables::write(const mark_sent_operation& operation, group_effects&) {
    update_queue_entry_.reset();
    update_queue_entry_.bind_text(1, operation.client_id);
    update_queue_entry_.bind_integer(2, as_integer(operation.sequence));
    update_queue_entry_.bind_integer(3, operation.packet_id);
    update_queue_entry_.bind_integer(4, static_cast<std::int64_t>(operation.state));
    update_queue_entry_.run();
}

void store_tables::write(const ack_operation& operation, group_effects&) {
    select_queue_entry_message_.reset();
    select_queue_entry_message_.bind_text(1, operation.client_id);
    select_queue_entry_message_.bind_integer(2, as_integer(operation.sequence));
    if (!select_queue_entry_message_.step()) {
        select_queue_entry_message_.reset();
        return;
    }
    const std::uint64_t message_id = as_unsigned(select_queue_entry_message_.column_integer(0));
    select_queue_entry_message_.reset();
    delete_queue_entry_.reset();
    delete_queue_entry_.bind_text(1, operation.client_id);
    delete_queue_entry_.bind_integer(2, as_integer(operation.sequence));
    delete_queue_entry_.run();
    release_message(message_id);
}

void store_tables::write(const put_retained_operation& operation, group_effects&) {
    const stored_message& message = operation.message;
    upsert_retained_.reset();
    upsert_retained_.bind_text(1, message.topic);
    upsert_retained_.bind_integer(2, as_integer(message.message_id));
    upsert_retained_.bind_blob(3, message.payload);
    upsert_retained_.bind_integer(4, message.qos);
    upsert_retained_.bind_blob(5, message.properties);
    upsert_retained_.bind_integer(6, as_integer(message.expiry_unix_ms));
    upsert_retained_.bind_integer(7, as_integer(message.created_unix_ms));
    upsert_retained_.run();
}

void store_tables::write(const clear_retained_operation& operation, group_effects&) {
    delete_retained_.reset();
    delete_retained_.bind_text(1, operation.topic);
    delete_retained_.run();
}

void store_tables::write(const add_inbound_qos2_operation& operation, group_effects&) {
    insert_inbound_.reset();
    insert_inbound_.bind_text(1, operation.record.client_id);
    insert_inbound_.bind_integer(2, operation.record.packet_id);
    insert_inbound_.run();
}

void store_tables::write(const remove_inbound_qos2_operation& operation, group_effects&) {
    delete_inbound_.reset();
    delete_inbound_.bind_text(1, operation.record.client_id);
    delete_inbound_.bind_integer(2, operation.record.packet_id);
    delete_inbound_.run();
}

void store_tables::write(const expire_messages_operation& operation, group_effects& effects) {
    struct expired_entry {
        std::string client_id;
        std::uint64_t sequence;
        std::uint64_t message_id;
    };
    std::vector<expired_entry> expired;
    select_any_expired_.reset();
    select_any_expired_.bind_integer(1, as_integer(operation.now_unix_ms));
    const bool has_expired = select_any_expired_.step();
    select_any_expired_.reset();
    if (!has_expired) {
        // Nothing has expired (the usual case): no need to look at the queue.
        return;
    }
    select_expired_entries_.reset();
    select_expired_entries_.bind_integer(1, as_integer(operation.now_unix_ms));
    while (select_expired_entries_.step()) {
        expired.push_back({select_expired_entries_.column_text(0),
                           as_unsigned(select_expired_entries_.column_integer(1)),
                           as_unsigned(select_expired_entries_.column_integer(2))});
    }
    select_expired_entries_.reset();
    for (const auto& entry : expired) {
        delete_queue_entry_.reset();
        delete_queue_entry_.bind_text(1, entry.client_id);
        delete_queue_entry_.bind_integer(2, as_integer(entry.sequence));
        delete_queue_entry_.run();
        release_message(entry.message_id);
        effects.expired_entries.emplace_back(entry.client_id, entry.sequence);
    }
    delete_expired_retained_.reset();
    delete_expired_retained_.bind_integer(1, as_integer(operation.now_unix_ms));
    delete_expired_retained_.run();
    effects.expired_messages +=
        expired.size() + static_cast<std::uint64_t>(sqlite3_changes(connection_.handle()));
}

void store_tables::write(const no_operation&, group_effects&) {}

std::int64_t store_tables::references(std::uint64_t message_id) const {
    std::int64_t count = 0;
    if (const auto found = references_.find(message_id); found != references_.end()) {
        count = found->second;
    }
    if (const auto found = reference_changes_.find(message_id); found != reference_changes_.end()) {
        count += found->second;
    }
    return count;
}

void store_tables::release_message(std::uint64_t message_id) {
    --reference_changes_[message_id];
    if (references(message_id) > 0) {
        return;
    }
    delete_message_.reset();
    delete_message_.bind_integer(1, as_integer(message_id));
    delete_message_.run();
}

void store_tables::count_references() {
    references_.clear();
    reference_changes_.clear();
    statement query(connection_, "SELECT message_id, COUNT(*) FROM queue GROUP BY message_id");
    while (query.step()) {
        references_[as_unsigned(query.column_integer(0))] =
            static_cast<std::uint32_t>(query.column_integer(1));
    }
}

std::uint64_t store_tables::remove_orphans() {
    const char* const statements[] = {
        "DELETE FROM subscriptions WHERE client_id NOT IN (SELECT client_id FROM sessions)",
        "DELETE FROM inbound_qos2 WHERE client_id NOT IN (SELECT client_id FROM sessions)",
        "DELETE FROM queue WHERE client_id NOT IN (SELECT client_id FROM sessions) "
        "OR message_id NOT IN (SELECT message_id FROM messages)",
        "DELETE FROM messages WHERE message_id NOT IN (SELECT message_id FROM queue)",
    };
    std::uint64_t removed = 0;
    for (const char* sql : statements) {
        connection_.execute(sql);
        removed += static_cast<std::uint64_t>(sqlite3_changes(connection_.handle()));
    }
    count_references();
    return removed;
}

std::vector<loaded_queue_entry> store_tables::read_queue(const std::string& client_id,
                                                         std::uint64_t after_sequence,
                                                         std::size_t max_count) {
    std::vector<loaded_queue_entry> entries;
    std::unordered_map<std::uint64_t, std::shared_ptr<const stored_message>> messages;
    select_session_queue_.reset();
    select_session_queue_.bind_text(1, client_id);
    select_session_queue_.bind_integer(2, static_cast<std::int64_t>(after_sequence));
    select_session_queue_.bind_integer(3, static_cast<std::int64_t>(max_count));
    while (select_session_queue_.step()) {
        entries.push_back(read_queue_row(select_session_queue_, messages));
    }
    select_session_queue_.reset();
    return entries;
}

loaded_state store_tables::read_state() {
    loaded_state state;
    std::unordered_map<std::string, std::size_t> session_index;

    statement sessions(connection_, std::string(session_columns) + " ORDER BY client_id");
    while (sessions.step()) {
        loaded_session loaded;
        loaded.session = read_session(sessions);
        const stored_session& session = loaded.session;
        session_index.emplace(session.client_id, state.sessions.size());
        state.sessions.push_back(std::move(loaded));
    }
    const auto owner = [&](const std::string& client_id) -> loaded_session* {
        const auto found = session_index.find(client_id);
        return found == session_index.end() ? nullptr : &state.sessions[found->second];
    };

    statement subscriptions(connection_, "SELECT client_id, topic_filter, options, subscription_id "
                                         "FROM subscriptions ORDER BY client_id, topic_filter");
    while (subscriptions.step()) {
        stored_subscription subscription;
        subscription.client_id = subscriptions.column_text(0);
        subscription.topic_filter = subscriptions.column_text(1);
        subscription.options = static_cast<std::uint8_t>(subscriptions.column_integer(2));
        subscription.subscription_id = static_cast<std::uint32_t>(subscriptions.column_integer(3));
        if (loaded_session* session = owner(subscription.client_id)) {
            session->subscriptions.push_back(std::move(subscription));
        }
    }

    std::unordered_map<std::uint64_t, std::shared_ptr<const stored_message>> messages;
    statement queue(connection_, std::string(queue_columns) + "ORDER BY q.client_id, q.sequence");
    while (queue.step()) {
        loaded_queue_entry loaded = read_queue_row(queue, messages);
        if (loaded_session* session = owner(loaded.entry.client_id)) {
            session->queue.push_back(std::move(loaded));
        }
    }

    statement inbound(connection_, "SELECT client_id, packet_id FROM inbound_qos2 "
                                   "ORDER BY client_id, packet_id");
    while (inbound.step()) {
        if (loaded_session* session = owner(inbound.column_text(0))) {
            session->inbound_qos2_packet_ids.push_back(
                static_cast<std::uint16_t>(inbound.column_integer(1)));
        }
    }

    statement retained(connection_, "SELECT topic, message_id, payload, qos, properties, "
                                    "expiry_unix_ms, created_unix_ms FROM retained ORDER BY topic");
    while (retained.step()) {
        stored_message message;
        message.topic = retained.column_text(0);
        message.message_id = as_unsigned(retained.column_integer(1));
        message.payload = retained.column_blob(2);
        message.qos = static_cast<std::uint8_t>(retained.column_integer(3));
        message.is_retained = true;
        message.properties = retained.column_blob(4);
        message.expiry_unix_ms = as_unsigned(retained.column_integer(5));
        message.created_unix_ms = as_unsigned(retained.column_integer(6));
        state.retained.push_back(std::move(message));
    }
    return state;
}

std::vector<ledger_row> store_tables::read_ledger() {
    std::vector<ledger_row> rows;
    statement query(connection_, "SELECT q.client_id, q.sequence, q.message_id, "
                                 "length(m.payload) FROM queue q "
                                 "JOIN messages m ON m.message_id = q.message_id");
    while (query.step()) {
        rows.push_back({query.column_text(0), as_unsigned(query.column_integer(1)),
                        as_unsigned(query.column_integer(2)),
                        as_unsigned(query.column_integer(3))});
    }
    return rows;
}

std::pair<std::uint64_t, std::uint64_t> store_tables::highest_identifiers() {
    statement query(connection_, "SELECT max(coalesce((SELECT max(message_id) FROM messages), 0), "
                                 "coalesce((SELECT max(message_id) FROM retained), 0)), "
                                 "coalesce((SELECT max(sequence) FROM queue), 0)");
    query.step();
    return {as_unsigned(query.column_integer(0)), as_unsigned(query.column_integer(1))};
}

std::vector<stored_session> store_tables::delete_expired_sessions(std::uint64_t now_unix_ms) {
    std::vector<stored_session> expired;
    statement query(connection_, std::string(session_columns) +
                                     " WHERE expires_at_unix_ms != 0 AND expires_at_unix_ms <= ?1 "
                                     "ORDER BY client_id");
    query.bind_integer(1, as_integer(now_unix_ms));
    while (query.step()) {
        expired.push_back(read_session(query));
    }
    group_effects effects;
    for (const stored_session& session : expired) {
        write(delete_session_operation{session.client_id}, effects);
    }
    return expired;
}

} // namespace perch::store::sqlite
