// History's SQL in PostgreSQL. Retention deletes a message's reactions and file references with
// it in the same statement (the SQLite store does it by trigger).
#include "store/postgres/history_tables.hpp"

#include <algorithm>
#include <limits>
#include <utility>

#include "store/postgres/connection.hpp"

namespace perch::store::postgres {
namespace {

constexpr std::string_view row_columns = "conversation, id, sender, topic, ts_unix_ms, payload, "
                                         "reply_to, event, of_id, edited_unix_ms, is_deleted";

constexpr auto no_bound = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());

std::int64_t capped(std::size_t value) {
    return static_cast<std::int64_t>(
        std::min<std::size_t>(value, static_cast<std::size_t>(std::numeric_limits<int>::max())));
}

/// The history row `row` of `rows`, selected with row_columns.
history_record history_row(const result& rows, int row) {
    history_record record{rows.text(row, 0), rows.unsigned_integer(row, 1), rows.text(row, 2),
                          rows.text(row, 3), rows.unsigned_integer(row, 4), rows.bytes(row, 5)};
    record.reply_to = rows.unsigned_integer(row, 6);
    record.kind = static_cast<history_kind>(rows.integer(row, 7));
    record.of_id = rows.unsigned_integer(row, 8);
    record.edited_unix_ms = rows.unsigned_integer(row, 9);
    record.is_deleted = rows.boolean(row, 10);
    return record;
}

std::vector<history_record> history_rows(const result& rows) {
    std::vector<history_record> records;
    records.reserve(static_cast<std::size_t>(rows.rows()));
    for (int row = 0; row < rows.rows(); ++row) {
        records.push_back(history_row(rows, row));
    }
    return records;
}

// What goes with the rows a retention statement deleted (its CTE `gone`): their reactions and
// the file references of their messages.
constexpr std::string_view with_gone_rows =
    " RETURNING conversation, id), reactions AS (DELETE FROM chat_reactions AS r USING gone "
    "WHERE r.conversation = gone.conversation AND r.id = gone.id) DELETE FROM chat_file_refs AS f "
    "USING gone WHERE f.conversation = gone.conversation AND f.message_id = gone.id";

} // namespace

void history_tables::append_history(const history_record& record) {
    const auto changed =
        database_
            .run("INSERT INTO chat_history (conversation, id, sender, topic, ts_unix_ms, payload, "
                 "reply_to, event, of_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) "
                 "ON CONFLICT DO NOTHING",
                 parameters()
                     .text(record.conversation)
                     .unsigned_integer(record.id)
                     .text(record.sender)
                     .text(record.topic)
                     .unsigned_integer(record.ts_unix_ms)
                     .bytes(record.payload)
                     .unsigned_integer(record.reply_to)
                     .integer(static_cast<std::int64_t>(record.kind))
                     .unsigned_integer(record.of_id))
            .changed();
    if (record.kind != history_kind::message && changed > 0) {
        apply_event(record);
    }
}

void history_tables::apply_event(const history_record& event) {
    const auto target = parameters().text(event.conversation).unsigned_integer(event.of_id);
    switch (event.kind) {
    case history_kind::message: return;
    case history_kind::edit: {
        auto arguments = target;
        arguments
            .bytes(std::span(reinterpret_cast<const std::uint8_t*>(event.change.data()),
                             event.change.size()))
            .unsigned_integer(event.ts_unix_ms);
        database_.run("UPDATE chat_history SET payload = $3, edited_unix_ms = $4 WHERE "
                      "conversation = $1 AND id = $2 AND event = 0 AND NOT is_deleted",
                      arguments);
        return;
    }
    case history_kind::deletion:
        if (database_
                .run("UPDATE chat_history SET payload = ''::bytea, is_deleted = TRUE WHERE "
                     "conversation = $1 AND id = $2 AND event = 0 AND NOT is_deleted",
                     target)
                .changed() == 0) {
            return;
        }
        database_.run("UPDATE chat_history SET payload = ''::bytea WHERE conversation = $1 AND "
                      "of_id = $2 AND event = 1",
                      target);
        database_.run("DELETE FROM chat_reactions WHERE conversation = $1 AND id = $2", target);
        database_.run("DELETE FROM chat_file_refs WHERE conversation = $1 AND message_id = $2",
                      target);
        return;
    case history_kind::reaction_added:
    case history_kind::reaction_removed: {
        auto arguments = target;
        arguments.text(event.change).text(event.sender);
        database_.run(event.kind == history_kind::reaction_added
                          ? "INSERT INTO chat_reactions (conversation, id, emoji, user_name) "
                            "SELECT $1::text, $2::bigint, $3::text, $4::text WHERE EXISTS (SELECT "
                            "1 FROM chat_history WHERE conversation = $1::text AND id = "
                            "$2::bigint AND event = 0 AND NOT is_deleted) ON CONFLICT DO NOTHING"
                          : "DELETE FROM chat_reactions WHERE conversation = $1 AND id = $2 AND "
                            "emoji = $3 AND user_name = $4",
                      arguments);
        return;
    }
    }
}

std::optional<history_record> history_tables::find_history(const std::string& conversation,
                                                           std::uint64_t id) {
    const result rows = database_.run(std::string("SELECT ") + std::string(row_columns) +
                                          " FROM chat_history WHERE conversation = $1 AND id = $2",
                                      parameters().text(conversation).unsigned_integer(id));
    if (rows.rows() == 0) {
        return std::nullopt;
    }
    return history_row(rows, 0);
}

void history_tables::add_reactions(std::vector<history_record>& page) {
    if (page.empty()) {
        return;
    }
    const result rows =
        database_.run("SELECT id, emoji, user_name FROM chat_reactions WHERE conversation = $1 "
                      "AND id >= $2 AND id <= $3 ORDER BY id, emoji, user_name",
                      parameters()
                          .text(page.front().conversation)
                          .unsigned_integer(page.front().id)
                          .unsigned_integer(page.back().id));
    auto message = page.begin();
    for (int row = 0; row < rows.rows(); ++row) {
        const std::uint64_t id = rows.unsigned_integer(row, 0);
        while (message != page.end() && message->id < id) {
            ++message;
        }
        if (message == page.end()) {
            break;
        }
        if (message->id != id) {
            continue;
        }
        std::string emoji = rows.text(row, 1);
        if (message->reactions.empty() || message->reactions.back().emoji != emoji) {
            message->reactions.push_back({std::move(emoji), {}});
        }
        message->reactions.back().users.push_back(rows.text(row, 2));
    }
}

void history_tables::set_read_position(const read_position_record& record) {
    database_.run(
        "INSERT INTO chat_read_positions (user_name, conversation, id) VALUES ($1, $2, "
        "$3) ON CONFLICT (user_name, conversation) DO UPDATE SET id = "
        "GREATEST(chat_read_positions.id, excluded.id)",
        parameters().text(record.user).text(record.conversation).unsigned_integer(record.id));
}

void history_tables::save_session_cursors(const session_cursors_record& record) {
    if (record.baseline_unix_ms != 0) {
        database_.run(
            "INSERT INTO chat_session_baselines (client_id, baseline_unix_ms) VALUES "
            "($1, $2) ON CONFLICT (client_id) DO UPDATE SET baseline_unix_ms = "
            "excluded.baseline_unix_ms",
            parameters().text(record.client_id).unsigned_integer(record.baseline_unix_ms));
    }
    for (const conversation_cursor& cursor : record.cursors) {
        database_.run("INSERT INTO chat_session_cursors (client_id, conversation, id) VALUES "
                      "($1, $2, $3) ON CONFLICT (client_id, conversation) DO UPDATE SET id = "
                      "GREATEST(chat_session_cursors.id, excluded.id)",
                      parameters()
                          .text(record.client_id)
                          .text(cursor.conversation)
                          .unsigned_integer(cursor.id));
    }
}

void history_tables::remove_session_cursors(const std::string& client_id) {
    database_.run("DELETE FROM chat_session_cursors WHERE client_id = $1",
                  parameters().text(client_id));
    database_.run("DELETE FROM chat_session_baselines WHERE client_id = $1",
                  parameters().text(client_id));
}

void history_tables::prune_history(std::uint64_t before_unix_ms,
                                   std::size_t keep_per_conversation) {
    // Heads first, in the same transaction: ids keep increasing after a conversation's last rows
    // are pruned.
    database_.run("INSERT INTO chat_conversations (conversation, last_id) SELECT conversation, "
                  "max(id) FROM chat_history GROUP BY conversation ON CONFLICT (conversation) DO "
                  "UPDATE SET last_id = GREATEST(chat_conversations.last_id, excluded.last_id)");
    const auto before = static_cast<std::int64_t>(std::min(before_unix_ms, no_bound));
    if (keep_per_conversation == 0) {
        database_.run(std::string("WITH gone AS (DELETE FROM chat_history WHERE ts_unix_ms < $1") +
                          std::string(with_gone_rows),
                      parameters().integer(before));
        return;
    }
    // A row goes when it is old enough and at least `keep` newer rows of its conversation exist:
    // the keep-th newest id is then a bound it lies below.
    database_.run(std::string("WITH gone AS (DELETE FROM chat_history AS h WHERE h.ts_unix_ms < "
                              "$1::bigint AND h.id < (SELECT newer.id FROM chat_history AS newer "
                              "WHERE newer.conversation = h.conversation ORDER BY newer.id DESC "
                              "LIMIT 1 OFFSET $2::bigint - 1)") +
                      std::string(with_gone_rows),
                  parameters().integer(before).integer(capped(keep_per_conversation)));
}

std::vector<history_record> history_tables::history_page(const std::string& conversation,
                                                         std::uint64_t before_id,
                                                         std::size_t limit) {
    if (limit == 0) {
        return {};
    }
    const std::uint64_t bound = before_id == 0 ? no_bound : std::min(before_id, no_bound);
    std::vector<history_record> page = history_rows(database_.run(
        std::string("SELECT ") + std::string(row_columns) +
            " FROM chat_history WHERE conversation = $1 AND id < $2 AND event = 0 ORDER BY id "
            "DESC LIMIT $3",
        parameters().text(conversation).unsigned_integer(bound).integer(capped(limit))));
    std::reverse(page.begin(), page.end());
    add_reactions(page);
    return page;
}

std::vector<history_record> history_tables::history_after(const std::string& conversation,
                                                          std::uint64_t after_id,
                                                          std::uint64_t since_unix_ms,
                                                          std::size_t limit) {
    if (limit == 0) {
        return {};
    }
    return history_rows(database_.run(
        std::string("SELECT ") + std::string(row_columns) +
            " FROM chat_history WHERE conversation = $1 AND id > $2 AND ts_unix_ms >= $3 ORDER "
            "BY id LIMIT $4",
        parameters()
            .text(conversation)
            .unsigned_integer(std::min(after_id, no_bound))
            .unsigned_integer(std::min(since_unix_ms, no_bound))
            .integer(capped(limit))));
}

std::vector<session_cursors_record> history_tables::session_cursors() {
    // Every client id with a baseline or a cursor, in order, with both.
    const result rows = database_.run(
        "SELECT coalesce(b.client_id, c.client_id) AS client, coalesce(b.baseline_unix_ms, 0), "
        "c.conversation, coalesce(c.id, 0) FROM chat_session_baselines AS b FULL JOIN "
        "chat_session_cursors AS c ON c.client_id = b.client_id ORDER BY client, c.conversation");
    std::vector<session_cursors_record> records;
    for (int row = 0; row < rows.rows(); ++row) {
        std::string client_id = rows.text(row, 0);
        if (records.empty() || records.back().client_id != client_id) {
            records.push_back({std::move(client_id), rows.unsigned_integer(row, 1), {}});
        }
        if (!rows.is_null(row, 2)) {
            records.back().cursors.push_back({rows.text(row, 2), rows.unsigned_integer(row, 3)});
        }
    }
    return records;
}

std::vector<read_state_record> history_tables::read_state(const std::string& user,
                                                          std::vector<conversation_head> heads,
                                                          std::uint64_t unread_cap) {
    std::vector<read_position_record> positions = read_positions(user);
    std::vector<read_state_record> states;
    states.reserve(heads.size());
    for (conversation_head& head : heads) {
        read_state_record state{std::move(head.conversation), head.last_id, 0, 0};
        // Positions come ordered by conversation.
        const auto position =
            std::lower_bound(positions.begin(), positions.end(), state.conversation,
                             [](const read_position_record& held, const std::string& conversation) {
                                 return held.conversation < conversation;
                             });
        if (position != positions.end() && position->conversation == state.conversation) {
            state.read_id = position->id;
        }
        state.read_id = std::max(state.read_id, std::min(head.hidden_through_id, state.last_id));
        if (state.read_id < state.last_id && unread_cap > 0) {
            // Bounded: the inner LIMIT stops the walk of the (conversation, id) key at the cap.
            state.unread =
                database_
                    .run("SELECT count(*) FROM (SELECT 1 FROM chat_history WHERE conversation = "
                         "$1 AND id > $2 AND id <= $3 AND sender <> $4 AND event = 0 AND NOT "
                         "is_deleted LIMIT $5) AS unread",
                         parameters()
                             .text(state.conversation)
                             .unsigned_integer(state.read_id)
                             .unsigned_integer(state.last_id)
                             .text(user)
                             .unsigned_integer(std::min(unread_cap, no_bound)))
                    .unsigned_integer(0, 0);
        }
        states.push_back(std::move(state));
    }
    return states;
}

std::vector<read_position_record> history_tables::read_positions(const std::string& user) {
    const result rows =
        database_.run("SELECT user_name, conversation, id FROM chat_read_positions WHERE "
                      "user_name = $1 ORDER BY conversation",
                      parameters().text(user));
    std::vector<read_position_record> positions;
    for (int row = 0; row < rows.rows(); ++row) {
        positions.push_back({rows.text(row, 0), rows.text(row, 1), rows.unsigned_integer(row, 2)});
    }
    return positions;
}

std::vector<conversation_head> history_tables::conversation_heads() {
    const result rows = database_.run(
        "SELECT conversation, max(last_id) FROM (SELECT conversation, last_id FROM "
        "chat_conversations UNION ALL SELECT conversation, max(id) FROM chat_history GROUP BY "
        "conversation) AS heads GROUP BY conversation ORDER BY conversation");
    std::vector<conversation_head> heads;
    for (int row = 0; row < rows.rows(); ++row) {
        heads.push_back(conversation_head{rows.text(row, 0), rows.unsigned_integer(row, 1)});
    }
    return heads;
}

} // namespace perch::store::postgres
