// The catch-up positions of persistent chat sessions: watermarks, reads of history and cursor
// writes.
#include "gateway/broker/chat_cursors.hpp"

#include <algorithm>
#include <charconv>
#include <memory>
#include <utility>

#include "gateway/chat/chat_control.hpp"
#include "gateway/chat/chat_topic.hpp"
#include "mqtt/topic.hpp"

namespace perch::gateway {

namespace {

/// Raises `watermark` over the ids of `above` that follow it without a gap; releases the storage
/// of `above` once it is empty.
void settle(std::uint64_t& watermark, mqtt::lazy_vector<std::uint64_t>& above) {
    while (!above.empty() && *above.begin() <= watermark + 1) {
        watermark = std::max(watermark, *above.begin());
        above.erase(above.begin());
    }
    if (above.empty()) {
        above.clear();
    }
}

/// Adds `id` to the ids above `watermark` (nothing when it is at or below), then settles. The id
/// that follows the watermark, as nearly every id does, raises it without touching `above`.
void add_above(std::uint64_t& watermark, mqtt::lazy_vector<std::uint64_t>& above,
               std::uint64_t id) {
    if (id <= watermark) {
        return;
    }
    if (id == watermark + 1) {
        watermark = id;
    } else {
        const auto at = std::lower_bound(above.begin(), above.end(), id);
        if (at == above.end() || *at != id) {
            above.insert(at, id);
        }
    }
    settle(watermark, above);
}

void raise_to(std::uint64_t& watermark, mqtt::lazy_vector<std::uint64_t>& above,
              std::uint64_t floor) {
    if (floor > watermark) {
        watermark = floor;
        while (!above.empty() && *above.begin() <= floor) {
            above.erase(above.begin());
        }
    }
    settle(watermark, above);
}

} // namespace

std::optional<history_ref> history_ref_of(const mqtt::message& content) {
    const chat_topic topic = parse_chat_topic(content.topic_name);
    if (topic.kind != chat_topic_kind::room_message &&
        topic.kind != chat_topic_kind::direct_message) {
        return std::nullopt;
    }
    for (const mqtt::user_property& property : content.props.user_properties) {
        if (property.name != "id") {
            continue;
        }
        std::uint64_t id = 0;
        const char* end = property.value.data() + property.value.size();
        const auto parsed = std::from_chars(property.value.data(), end, id);
        if (parsed.ec != std::errc{} || parsed.ptr != end || id == 0) {
            return std::nullopt;
        }
        return history_ref{conversation_of(topic), id};
    }
    return std::nullopt;
}

conversation_position& position_of(chat_cursors& cursors, std::string_view conversation) {
    auto found = cursors.conversations.find(std::string(conversation));
    if (found == cursors.conversations.end()) {
        found =
            cursors.conversations.emplace(std::string(conversation), conversation_position{}).first;
    }
    return found->second;
}

void mark_seen(conversation_position& position, std::uint64_t id) {
    add_above(position.seen_through, position.seen_above, id);
}

void mark_done(conversation_position& position, std::uint64_t id) {
    mark_seen(position, id);
    add_above(position.through, position.done_above, id);
}

bool is_seen(const conversation_position& position, std::uint64_t id) {
    return id <= position.seen_through ||
           std::binary_search(position.seen_above.begin(), position.seen_above.end(), id);
}

void start_known(conversation_position& position, std::uint64_t through) {
    position.is_known = true;
    raise_to(position.through, position.done_above, through);
    raise_to(position.seen_through, position.seen_above, through);
}

history_arrival classify_history_arrival(conversation_position& position, std::uint64_t id) {
    if (is_seen(position, id)) {
        return history_arrival::duplicate;
    }
    if (!position.is_known || position.is_behind) {
        note_dropped(position);
        return history_arrival::left_in_history;
    }
    return history_arrival::deliver;
}

void note_dropped(conversation_position& position) {
    position.is_behind = true;
    ++position.drops;
    position.full_at_change_count = ~std::uint64_t{0};
}

bool wants_history_read(const conversation_position& position, const mqtt::session& session,
                        const mqtt::session_limits& limits) {
    if (!position.is_behind || position.is_reading || !session.is_connected()) {
        return false;
    }
    const mqtt::session_state& state = session.state();
    if (position.full_at_change_count == state.change_count) {
        return false;
    }
    const std::size_t max_messages = std::max(limits.max_queued_messages, history_read_batch);
    return state.queued.size() + history_read_batch <= max_messages &&
           state.queued_bytes <= limits.max_queued_bytes / 2;
}

history_read start_history_read(conversation_position& position, const chat_cursors& cursors,
                                std::uint64_t head) {
    position.is_reading = true;
    position.drops_at_read = position.drops;
    position.head_at_read = head;
    if (!position.is_known) {
        return {0, cursors.baseline_unix_ms};
    }
    return {position.seen_through, 0};
}

mqtt::message_ptr message_from_history(const store::history_record& record) {
    auto content = std::make_shared<mqtt::message>();
    content->topic_name = record.topic;
    content->payload = mqtt::shared_bytes::copy_of(std::string_view(
        reinterpret_cast<const char*>(record.payload.data()), record.payload.size()));
    content->qos_level = mqtt::qos::at_least_once;
    content->props.user_properties.push_back({"id", std::to_string(record.id)});
    content->props.user_properties.push_back({"ts", std::to_string(record.ts_unix_ms)});
    if (record.reply_to != 0) {
        content->props.user_properties.push_back({"reply_to", std::to_string(record.reply_to)});
    }
    if (record.kind != store::history_kind::message) {
        content->props.user_properties.push_back(
            {"event", std::string(gateway::event_name(record.kind))});
        content->props.user_properties.push_back({"of", std::to_string(record.of_id)});
        content->props.payload_format_indicator = 1;
        content->props.content_type = "application/json";
    }
    return content;
}

std::optional<mqtt::delivery_options> matching_options(std::span<const held_filter> filters,
                                                       std::string_view topic_name,
                                                       std::vector<std::uint32_t>& ids) {
    ids.clear();
    std::optional<mqtt::delivery_options> options;
    for (const auto& [topic_filter, held] : filters) {
        if (topic_filter.starts_with("$share/") || !mqtt::topic_matches(topic_filter, topic_name)) {
            continue;
        }
        if (!options) {
            options.emplace();
            options->granted_qos = mqtt::qos::at_most_once;
        }
        if (static_cast<std::uint8_t>(held.options.maximum_qos) >
            static_cast<std::uint8_t>(options->granted_qos)) {
            options->granted_qos = held.options.maximum_qos;
        }
        options->is_retain_as_published |= held.options.is_retain_as_published;
        if (held.subscription_id != 0) {
            ids.push_back(held.subscription_id);
        }
    }
    if (options) {
        options->subscription_ids = ids;
    }
    return options;
}

void accept_history_read(conversation_position& position, std::vector<store::history_record> rows,
                         std::size_t requested,
                         const std::function<bool(const store::history_record&)>& offer) {
    position.is_reading = false;
    if (!position.is_known) {
        // Read from the baseline: ids below the first row (or up to the head, when there was
        // none) are older than the session's baseline and not owed.
        const std::uint64_t floor = rows.empty() ? position.head_at_read : rows.front().id - 1;
        start_known(position, floor);
    }
    for (const store::history_record& row : rows) {
        // Ids between the watermark and this row that the read passed over never reached
        // history (their write failed): nothing is owed for them.
        for (std::uint64_t id = position.seen_through + 1; id < row.id; ++id) {
            if (!is_seen(position, id)) {
                mark_done(position, id);
            }
        }
        if (is_seen(position, row.id)) {
            continue;
        }
        if (!offer(row)) {
            return;
        }
    }
    if (rows.size() < requested) {
        // The read reached the end: every id stamped before it was asked for is accounted for.
        for (std::uint64_t id = position.seen_through + 1; id <= position.head_at_read; ++id) {
            if (!is_seen(position, id)) {
                mark_done(position, id);
            }
        }
        if (position.drops == position.drops_at_read) {
            position.is_behind = false;
        }
    }
}

std::optional<store::session_cursors_record> cursors_to_write(chat_cursors& cursors,
                                                              const std::string& client_id,
                                                              std::uint64_t now_unix_ms,
                                                              bool is_full) {
    store::session_cursors_record record;
    record.client_id = client_id;
    bool is_all_known = true;
    for (auto& [conversation, position] : cursors.conversations) {
        if (!position.is_known) {
            is_all_known = false;
            continue;
        }
        if (position.through > position.written) {
            position.written = position.through;
            record.cursors.push_back({conversation, position.through});
        }
    }
    if (is_full && is_all_known && now_unix_ms > 2 * baseline_margin_ms &&
        cursors.baseline_unix_ms < now_unix_ms - 2 * baseline_margin_ms) {
        // Moved in steps of a margin at least, so that it is not written again at every call.
        cursors.baseline_unix_ms = now_unix_ms - baseline_margin_ms;
    }
    if (cursors.baseline_unix_ms != cursors.written_baseline_unix_ms) {
        cursors.written_baseline_unix_ms = cursors.baseline_unix_ms;
        record.baseline_unix_ms = cursors.baseline_unix_ms;
    }
    cursors.written_at_unix_ms = now_unix_ms;
    if (record.cursors.empty() && record.baseline_unix_ms == 0) {
        return std::nullopt;
    }
    return record;
}

chat_cursors restored_cursors(const std::optional<store::session_cursors_record>& stored) {
    chat_cursors cursors;
    if (!stored) {
        return cursors;
    }
    cursors.baseline_unix_ms = stored->baseline_unix_ms;
    cursors.written_baseline_unix_ms = stored->baseline_unix_ms;
    for (const store::conversation_cursor& cursor : stored->cursors) {
        conversation_position& position = position_of(cursors, cursor.conversation);
        start_known(position, cursor.id);
        position.written = cursor.id;
    }
    return cursors;
}

} // namespace perch::gateway
