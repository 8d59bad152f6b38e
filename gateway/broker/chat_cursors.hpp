// Where a persistent chat session stands in each conversation, so that chat messages are stored
// once (in history) and the session catches up from there (docs/DURABILITY.md "Chat messages").
// Plain state and rules; no sockets, no SQL. Touched only by the worker holding the session.
//
// Theory of operation. Ids are stamped per conversation without gaps, and every history append
// is submitted with its stamp, in id order, before the message is routed. A QoS 1 delivery of a
// chat message to a chat user's persistent session carries no store entry: the session either
// takes it (and acknowledges it later) or drops it and marks the conversation behind, and then
// reads history above what it has seen, in id order, as it has room. Per conversation two
// watermarks move: `seen` (handed to the session, or owed no more: a later copy is a duplicate)
// and `through` (owed no more: acknowledged, refused by the rules, or never existed). Only
// `through` is written to the store, so a crash re-delivers at worst what was not acknowledged.
// A conversation the session has no cursor for is read from the session's baseline time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "mqtt/lazy_vector.hpp"
#include "mqtt/message.hpp"
#include "mqtt/session.hpp"
#include "store/chat_store.hpp"

namespace perch::gateway {

/// How many history rows one catch-up read asks for.
inline constexpr std::size_t history_read_batch = 64;

/// How far a session's baseline stays behind the time it is written: a message of a conversation
/// the session has not heard of yet was stamped at most this long before it arrives.
inline constexpr std::uint64_t baseline_margin_ms = 60'000;

/// Ids seen out of order past which a conversation is read again (which settles the gaps of
/// messages whose history write failed).
inline constexpr std::size_t max_ids_above_watermark = 256;

/// One conversation of one persistent chat session.
struct conversation_position {
    /// False until `through` is known (a stored cursor, a join, or a read from the baseline).
    bool is_known = false;
    /// Every id at or below is owed no more; the durable cursor.
    std::uint64_t through = 0;
    /// Ids above `through` owed no more, in increasing order (empty nearly always: a pointer
    /// until an id arrives out of order).
    mqtt::lazy_vector<std::uint64_t> done_above;
    /// Every id at or below was seen: handed to the session, or owed no more.
    std::uint64_t seen_through = 0;
    /// Ids above `seen_through` seen, in increasing order (as done_above).
    mqtt::lazy_vector<std::uint64_t> seen_above;
    /// The cursor last submitted to the store.
    std::uint64_t written = 0;
    /// True while messages may wait in history that the session has not seen.
    bool is_behind = false;
    /// True while a read is on its way back.
    bool is_reading = false;
    /// Arrivals dropped so far; a read that overlapped a drop is followed by another.
    std::uint64_t drops = 0;
    /// `drops` when the read on its way was asked for.
    std::uint64_t drops_at_read = 0;
    /// The last id stamped in the conversation when the read on its way was asked for.
    std::uint64_t head_at_read = 0;
    /// The session state's change_count when a read found no room; no read until it changes.
    std::uint64_t full_at_change_count = ~std::uint64_t{0};
};

/// The conversations of one persistent chat session, kept in its ledger.
struct chat_cursors {
    /// Conversations without a known cursor are read from history stamped at or after this.
    std::uint64_t baseline_unix_ms = 0;
    /// The baseline last submitted to the store.
    std::uint64_t written_baseline_unix_ms = 0;
    /// When the cursors were last submitted to the store (Unix ms).
    std::uint64_t written_at_unix_ms = 0;
    /// By conversation (`room/{room}`, `dm/{a}/{b}`).
    std::unordered_map<std::string, conversation_position> conversations;
    /// Bumped when another connection binds the session: reads on their way are dropped.
    std::uint64_t generation = 0;
};

/// The conversation and id of a stamped chat message (a room or direct message carrying its
/// `id` user property); empty for anything else.
struct history_ref {
    std::string conversation;
    std::uint64_t id = 0;
};
std::optional<history_ref> history_ref_of(const mqtt::message& content);

/// The position of `conversation`, created unknown when there is none.
conversation_position& position_of(chat_cursors& cursors, std::string_view conversation);

/// The session saw `id` (handed to it): a later copy is a duplicate.
void mark_seen(conversation_position& position, std::uint64_t id);

/// `id` is owed no more (acknowledged, refused, or not for this session); also seen.
void mark_done(conversation_position& position, std::uint64_t id);

/// True when `id` was seen already.
bool is_seen(const conversation_position& position, std::uint64_t id);

/// Makes the position known with every id up to `through` owed no more (a new session or a join:
/// what was stamped before is not the session's).
void start_known(conversation_position& position, std::uint64_t through);

/// What to do with a history-backed delivery of `id` that reaches the session.
enum class history_arrival : std::uint8_t {
    /// Hand it to the session.
    deliver,
    /// Seen already (read back from history): drop it.
    duplicate,
    /// The conversation is behind (or not known yet): drop it; it is read from history.
    left_in_history,
};
history_arrival classify_history_arrival(conversation_position& position, std::uint64_t id);

/// The session could not take a history-backed delivery (offline, or its queue is full): it is
/// read from history later.
void note_dropped(conversation_position& position);

/// True when a read of `position` should be asked for now: it is behind, none is on its way, and
/// the connected session has room for a batch.
bool wants_history_read(const conversation_position& position, const mqtt::session& session,
                        const mqtt::session_limits& limits);

/// A read of history, as start_history_read asks for it.
struct history_read {
    std::uint64_t after_id = 0;
    std::uint64_t since_unix_ms = 0;
};

/// Starts a read of `position`; `head` is the last id stamped in the conversation now.
history_read start_history_read(conversation_position& position, const chat_cursors& cursors,
                                std::uint64_t head);

/// The message stamp() made for `record`: its topic and payload at QoS 1, with user properties
/// `id` and `ts`.
mqtt::message_ptr message_from_history(const store::history_record& record);

/// One subscription a catch-up read matches rows against.
struct held_filter {
    std::string topic_filter;
    mqtt::subscription held;
};

/// What the subscriptions in `filters` ask for `topic_name`, or empty when none matches;
/// subscription identifiers go to `ids`, which the result refers to.
std::optional<mqtt::delivery_options> matching_options(std::span<const held_filter> filters,
                                                       std::string_view topic_name,
                                                       std::vector<std::uint32_t>& ids);

/// What accept_history_read hands to the session: each row it may have, in id order.
struct history_delivery {
    mqtt::message_ptr content;
    std::uint64_t id = 0;
};

/// Settles a read of `position` that returned `rows` (oldest first) for `requested` rows: ids the
/// read passed over that it did not return never existed (or fell before the baseline) and are
/// owed no more. `offer` hands one row to the session and returns false when it had no room
/// (the rest is read again). Ends the behind state when the read reached the end and nothing was
/// dropped meanwhile.
void accept_history_read(conversation_position& position, std::vector<store::history_record> rows,
                         std::size_t requested,
                         const std::function<bool(const store::history_record&)>& offer);

/// The cursors to submit now: those that moved since the last write, with the baseline when it
/// changed. A full write (`is_full`) also advances the baseline to `now_unix_ms` -
/// baseline_margin_ms when every conversation of the session is known (and the baseline is more
/// than two margins old). Empty when nothing changed.
std::optional<store::session_cursors_record> cursors_to_write(chat_cursors& cursors,
                                                              const std::string& client_id,
                                                              std::uint64_t now_unix_ms,
                                                              bool is_full);

/// The catch-up state of a session restored from `stored` (empty: the store had none).
chat_cursors restored_cursors(const std::optional<store::session_cursors_record>& stored);

} // namespace perch::gateway
