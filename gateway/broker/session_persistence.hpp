// The link between the gateway's persistent sessions and the durable store: which subscriber ids
// are persistent sessions, which store queue entries each session holds in memory (queued or in
// flight), and where it reads back those it had no room for. Knows nothing about sockets; no SQL.
//
// Theory of operation. A QoS 1/2 message routed to a persistent session is enqueued in the store
// on the publisher's worker; the delivery carries its store sequence to the recipient's worker,
// which records it in the session's ledger (tracked_entry) when the session accepted it, or
// leaves it in the store when the session's memory queue was full (spill_state): such entries are
// read back from the store, in order, as the session makes room. After every turn the recipient
// compares its ledger with the session state (reconcile_ledger): an entry now in flight is marked
// sent, and an entry that left the session (acknowledged, expired, dropped) is acked in the store.
// The comparison walks the oldest entries only, as far as the in-flight window reaches (a session
// sends from the front of its queue), so that draining a deep queue costs in proportion to the
// window, not the queue, per change; what does not line up so (a drop from the middle of the
// queue, an untracked delivery in front, a rebind) is compared in full.
//
// The session record (store::stored_session) follows the connection: written at CONNECT with the
// Will and "connected" (no expiry time); the CONNACK waits for that commit. When the connection
// ends the record gets the disconnect time and expires_at = then + Session Expiry Interval; when
// the will is published or discarded the record is written without it (sync_session_record).
// The end's record of a session without a will waits deferred_record_delay before it is
// submitted (deferred_record_writer): a session back before then takes it back unwritten, and
// when the store still holds its committed connected record and the CONNECT changes nothing a
// restart reads (restores_alike), its CONNECT writes nothing either and its CONNACK goes at once.
// A crash meanwhile restores the session as connected at the crash, counted from the restart:
// it may live longer than its stored expiry would have let it, never shorter.
// After a restart, a session's remaining time and its will's remaining delay count from the
// stored disconnect time; a session that was connected when the broker stopped has no disconnect
// time and counts from the restart (offline_timing_at).
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "gateway/broker/chat_cursors.hpp"
#include "gateway/broker/deferred_record_writer.hpp"
#include "gateway/broker/delivery.hpp"
#include "gateway/chat/access_policy.hpp"
#include "mqtt/lazy_deque.hpp"
#include "mqtt/message.hpp"
#include "mqtt/session.hpp"
#include "store/message_store.hpp"

namespace perch::gateway {

/// session_ledger::reconciled_change_count before the first full comparison (the ledger was
/// bound to a session state): the next reconcile_ledger compares in full.
inline constexpr std::uint64_t unreconciled = ~std::uint64_t{0};
/// session_ledger::reconciled_change_count after an entry was tracked that the session sent at
/// once: the next reconcile_ledger compares, from the oldest entries where it can.
inline constexpr std::uint64_t sent_since_reconciled = unreconciled - 1;

/// How many entries one read of an overflowed queue asks the store for.
inline constexpr std::size_t spill_read_batch = 64;

/// A persistent session whose memory queue overflowed: its newer entries stay in the store only
/// and are read back in sequence order as the session makes room (DESIGN.md "Overload").
/// Deliveries that arrive meanwhile carry nothing the store does not hold: they only say that
/// there is more to read. Sequences in (covered_from, read_through] have been read back, so a
/// delivery of one of them that arrives late is a duplicate.
struct spill_state {
    /// True while entries may wait in the store that the session has not seen.
    bool is_active = false;
    /// True while a read is on its way back.
    bool is_reading = false;
    /// The sequence before the first entry this episode reads.
    std::uint64_t covered_from = 0;
    /// The last sequence read back (or skipped as already held); the next read starts above it.
    std::uint64_t read_through = 0;
    /// The highest sequence of a delivery left in the store this episode.
    std::uint64_t highest_left = 0;
    /// read_through when the read on its way was asked for.
    std::uint64_t read_from = 0;
    /// highest_left when the read on its way was asked for.
    std::uint64_t highest_left_at_read = 0;
    /// The session state's change_count when a read found no room; no read until it changes.
    std::uint64_t full_at_change_count = ~std::uint64_t{0};
    /// Entries acked while a read was on its way (it may still return them).
    std::vector<std::uint64_t> acked_while_reading;
};

/// What to do with a delivery of a store entry that reaches its persistent session.
enum class stored_arrival : std::uint8_t {
    /// Hand it to the session.
    deliver,
    /// The entry was read back from the store already: drop it.
    already_read,
    /// The session's queue overflowed: the entry waits in the store and is read from there.
    left_in_store,
};

/// One store queue entry, or one chat message backed by history, that the session holds (queued
/// in memory or in flight).
struct tracked_entry {
    /// The routed message, used only as an identity to find the entry in the session state.
    mqtt::message_ptr content;
    /// The store queue entry; 0 for a history-backed chat message.
    std::uint64_t sequence = 0;
    std::uint16_t packet_id = 0;
    store::delivery_state state = store::delivery_state::queued;
    /// A history-backed chat message: its conversation and id (chat_cursors.hpp).
    std::string conversation{};
    std::uint64_t history_id = 0;
};

/// What the store's record of a persistent session says beyond the ledger's client id and owner
/// (store::stored_session without the two strings and with the rare will behind a pointer): every
/// persistent session keeps one, so it is a fraction of the full record's size.
struct session_record {
    /// When the session ends if its client stays away (Unix ms); 0 while connected.
    std::uint64_t expires_at_unix_ms = 0;
    /// When its last connection ended (Unix ms); 0 while connected.
    std::uint64_t disconnected_at_unix_ms = 0;
    std::uint32_t session_expiry_interval_s = 0;
    std::uint16_t next_packet_id = 1;
    /// 4 = MQTT 3.1.1, 5 = MQTT 5.0.
    std::uint8_t protocol_level = 4;
    /// The will still owed; null when there is none.
    std::unique_ptr<store::stored_will> will;
};

/// Packet identifiers of inbound QoS 2 messages, in a vector: a session holds none or a few, and
/// an empty vector costs a third of an empty hash set in every persistent session's ledger.
class packet_id_set {
public:
    bool empty() const { return ids_.empty(); }
    bool contains(std::uint16_t packet_id) const;
    /// Adds `packet_id` unless held already.
    void insert(std::uint16_t packet_id);
    void clear() { ids_ = {}; }
    auto begin() const { return ids_.begin(); }
    auto end() const { return ids_.end(); }

private:
    std::vector<std::uint16_t> ids_;
};

/// The store entries of one persistent session. Touched only by the worker that holds the session
/// at the time (a takeover hands it over together with the session state).
struct session_ledger {
    std::string client_id;
    /// Whose session this is: the chat user, or empty for a client outside the chat layer. Set
    /// when the ledger is made and never changed (a session is never given to another identity),
    /// so that other workers may read it, like client_id, to check what the session may receive.
    std::string owner;
    /// Entries the session holds, oldest first. Empty for most of a chat session's life (its
    /// messages are tracked only while in flight), so it costs a pointer until then.
    mqtt::lazy_deque<tracked_entry> tracked;
    /// Entries in the store the session had no room for; made when its queue first overflows
    /// (begin_spill), so that a session that never overflows pays a pointer.
    std::unique_ptr<spill_state> spill;
    /// The session state's change_count when reconcile_ledger last compared the two; unreconciled
    /// when a connection (re)binds the ledger to a session state, sent_since_reconciled after an
    /// entry the session sent at once was tracked.
    std::uint64_t reconciled_change_count = unreconciled;
    /// The conversations of a chat user's session, which catches up from history
    /// (chat_cursors.hpp); null for a client outside the chat layer.
    std::unique_ptr<chat_cursors> chat;
    /// Inbound QoS 2 packet identifiers recorded in the store, awaiting PUBREL.
    packet_id_set inbound_qos2;
    /// The session record as last submitted to the store (full_record); empty until the first.
    std::optional<session_record> record;
    /// The connection whose CONNACK (and everything after it) waits for the commit of the
    /// session record written at its CONNECT; 0 when none waits.
    mqtt::subscriber_id connack_held_for = 0;
};

/// True when a restart would restore the two records alike: both connected (no disconnect or
/// expiry time), without a will, for the same owner, protocol level and Session Expiry Interval.
/// The next packet identifier is not compared: a restored session skips the identifiers in use.
bool restores_alike(const store::stored_session& first, const store::stored_session& second);

/// Notes that an entry just tracked was sent at once, so that the next reconcile_ledger compares
/// (in full still when the ledger was bound anew since the last one).
inline void note_sent_at_once(session_ledger& ledger) {
    if (ledger.reconciled_change_count != unreconciled) {
        ledger.reconciled_change_count = sent_since_reconciled;
    }
}

/// Keeps `stored` as `ledger.record` (its client id and owner are the ledger's own).
void keep_record(session_ledger& ledger, const store::stored_session& stored);

/// The full store record of `ledger`'s session as `ledger.record` says it; `ledger.record` must
/// be set.
store::stored_session full_record(const session_ledger& ledger);

/// When a restored offline session ends and when its will is due, in seconds from now.
struct offline_timing {
    /// Seconds left until the session ends (0: it has ended); never_expires when it never does.
    std::uint32_t session_left_s = 0;
    /// Seconds left until the will is published (0: at once).
    std::uint32_t will_delay_left_s = 0;
};

/// The Session Expiry Interval that means "never" [MQTT-3.1.2-11 (5.0)].
inline constexpr std::uint32_t never_expires = 0xFFFF'FFFF;

/// The store and the index of persistent sessions. Thread-safe.
class session_persistence {
public:
    /// Takes ownership of an open store; the end's records wait `record_delay`
    /// (deferred_record_writer).
    explicit session_persistence(std::unique_ptr<store::message_store> store,
                                 std::chrono::milliseconds record_delay = deferred_record_delay);

    /// The store.
    store::message_store& store() { return *store_; }

    /// The ledger of `client_id`, created empty for `owner` when there is none. A caller whose
    /// identity differs from an existing ledger's owner discards that session first (is_owned_by).
    std::shared_ptr<session_ledger> ledger_for(const std::string& client_id,
                                               const std::string& owner);

    /// True unless the store holds a session for `client_id` that belongs to someone other than
    /// `owner` (see session_ledger::owner).
    bool is_owned_by(const std::string& client_id, std::string_view owner) const;

    /// True when the store holds (or is about to hold) a session for `client_id`.
    bool has_ledger(const std::string& client_id) const;

    /// Forgets the ledger of `client_id` (its session was deleted from the store).
    void forget(const std::string& client_id);

    /// Marks `subscriber` as a persistent session whose deliveries go through the store.
    void bind(mqtt::subscriber_id subscriber, std::shared_ptr<session_ledger> ledger);

    /// `subscriber` is no longer a persistent session (ended, or moved to another id).
    void unbind(mqtt::subscriber_id subscriber);

    /// The ledger of a persistent session, or nullptr when `subscriber` is not one.
    std::shared_ptr<session_ledger> find(mqtt::subscriber_id subscriber) const;

    /// Keeps the Will of the CONNECT of `connection` (a persistent session) until the session
    /// is accepted and its record written.
    void hold_connect_will(mqtt::subscriber_id connection, mqtt::will_message will);

    /// Removes and returns the Will held for `connection`; empty when none is held.
    std::optional<mqtt::will_message> take_connect_will(mqtt::subscriber_id connection);

    /// Submits the session record `record` now; a held (deferred) record of the session is
    /// dropped first, so that it is never written after this one. `done` runs with the outcome.
    void save_record(store::stored_session record, store::store_completion done = {});

    /// Holds the end's `record` of a session (deferred_record_writer::defer); `stored` is the
    /// record the store holds meanwhile.
    void defer_record(store::stored_session record, store::stored_session stored);

    /// True when every session record of `client_id` submitted through save_record (or a held
    /// record) has committed. A write that failed completes silently when it is retried, so the
    /// session counts as uncommitted until a later write of it commits.
    bool is_record_committed(const std::string& client_id) const;

    /// Takes the held record of `client_id` back unwritten: the record the store holds instead,
    /// or empty when none was held.
    std::optional<store::stored_session> take_deferred_record(const std::string& client_id);

    /// Deletes the stored session of `client_id` (message_store::delete_session); a held record
    /// of it is dropped first.
    void delete_session(const std::string& client_id);

private:
    /// Submits `record`, noting it uncommitted until its completion says otherwise.
    void submit_record(store::stored_session record, store::store_completion done);

    // Owner: shared by all workers and the store's thread. Lock: uncommitted_mutex_ (taken
    // inside deferred_record_writer's lock, never around it). Declared before store_: the
    // store's last completions still find them.
    mutable std::mutex uncommitted_mutex_;
    /// The client ids with a record write not committed yet, each with the number of its latest.
    std::unordered_map<std::string, std::uint64_t> uncommitted_records_;
    std::uint64_t record_writes_ = 0;
    std::unique_ptr<store::message_store> store_;
    /// Declared after store_: destroyed (submitting what it holds) while the store still runs.
    std::unique_ptr<deferred_record_writer> deferred_;
    // Owner: shared by all workers. Lock: mutex_ (shared for lookups).
    mutable std::shared_mutex mutex_;
    std::unordered_map<std::string, std::shared_ptr<session_ledger>> ledgers_;
    std::unordered_map<mqtt::subscriber_id, std::shared_ptr<session_ledger>> bound_;
    std::unordered_map<mqtt::subscriber_id, mqtt::will_message> connect_wills_;
};

/// Decides what becomes of the delivery of store entry `sequence` (see spill_state).
stored_arrival classify_arrival(session_ledger& ledger, std::uint64_t sequence);

/// The session had no room for the delivery of store entry `sequence`: it and whatever follows
/// are read back from the store.
void begin_spill(session_ledger& ledger, std::uint64_t sequence);

/// A connection (re)binds the ledger: a read on its way to an earlier holder is forgotten.
void rebind_spill(session_ledger& ledger);

/// True when a read of the overflowed queue should be asked for now: none is on its way and the
/// session has room for a batch.
bool wants_spill_read(const session_ledger& ledger, const mqtt::session_state& state,
                      const mqtt::session_limits& limits);

/// A read of the entries above ledger.spill->read_through is being asked for (after
/// wants_spill_read, so ledger.spill is set).
void start_spill_read(session_ledger& ledger);

/// Feeds entries a read of `requested` returned to `session`, in order, until its queue is full:
/// those already held or acked are skipped, those `reader` may not receive or that expired are
/// acked, the rest are tracked. Ends the overflow when the store had nothing more. A read made
/// stale by a late delivery (read_through moved back) is dropped; the next one starts there.
void accept_spill_read(session_ledger& ledger, std::vector<store::loaded_queue_entry> entries,
                       std::size_t requested, mqtt::session& session, const access_policy& reader,
                       store::message_store& store, mqtt::time_point now,
                       std::uint64_t now_unix_ms);

/// Acks store entry `sequence` of the session (its delivery is over), minding a read on its way.
void ack_entry(session_ledger& ledger, store::message_store& store, std::uint64_t sequence);

/// Brings the store in line with `state` after the session changed: entries now in flight are
/// marked sent, entries no longer held are acked (PUBACK/PUBCOMP received, or dropped), inbound
/// QoS 2 identifiers released by PUBREL are removed; a history-backed chat message no longer
/// held is owed no more (mark_done). Runs on the session's worker.
void reconcile_ledger(session_ledger& ledger, const mqtt::session_state& state,
                      store::message_store& store);

/// The session state a loaded session resumes with: subscriptions, in-flight entries with their
/// packet identifiers and stage, queued entries, inbound QoS 2 identifiers. Fills `ledger` with
/// the entries. Entries whose message cannot be decoded are acked and skipped. What `reader` (the
/// session's owner) may not read is removed from the store: subscriptions it may not hold and
/// entries it may not receive (left by an earlier version, or by rules that changed while the
/// broker was down), and a chat session's filters for presence and direct messages of the form
/// earlier versions held for it (the chat layer delivers both itself). Queued entries past the
/// session's queue bounds in `limits` stay in the
/// store and are read back as the session makes room (spill_state).
mqtt::session_state restore_session_state(const store::loaded_session& loaded,
                                          session_ledger& ledger, store::message_store& store,
                                          const access_policy& reader,
                                          const mqtt::session_limits& limits, mqtt::time_point now,
                                          std::uint64_t now_unix_ms);

/// The store record of a persistent session as it stands now.
store::stored_session to_stored_session(const mqtt::session_state& state,
                                        std::uint64_t expires_at_unix_ms);

/// The record of a session that has just connected (no expiry time, no disconnect time), with
/// the Will of its CONNECT; also kept as `ledger.record`.
store::stored_session connected_session_record(session_ledger& ledger,
                                               const mqtt::session_state& state,
                                               const std::optional<mqtt::will_message>& will);

/// `ledger.record` with the session's current next packet identifier (what SUBSCRIBE and
/// UNSUBSCRIBE write again); from `state` alone when the ledger has no record yet.
store::stored_session current_session_record(session_ledger& ledger,
                                             const mqtt::session_state& state);

/// Stores the subscriptions a SUBSCRIBE of `ledger`'s session added or replaced, then the session
/// record again (current_session_record); `done` runs once both are committed (DESIGN.md
/// "Durability contract": the SUBACK of a persistent session follows the commit).
void save_subscriptions(session_ledger& ledger, const mqtt::session_state& state,
                        std::vector<store::stored_subscription> subscriptions,
                        store::message_store& store, store::store_completion done);

/// Removes `topic_filters` from the stored subscriptions of `ledger`'s session, then writes the
/// session record again; `done` runs once committed (the UNSUBACK follows the commit).
void remove_subscriptions(session_ledger& ledger, const mqtt::session_state& state,
                          std::span<const std::string> topic_filters, store::message_store& store,
                          store::store_completion done);

/// Writes the session record again when the session changed what it says: the connection ended
/// (disconnect time, expires_at = now + Session Expiry Interval) or the will was published or
/// discarded (written without it). The end of a session whose store record is connected and
/// without a will is deferred (session_persistence::defer_record); the rest is submitted at once.
/// Does nothing for a session that ended or has no record. Runs on the session's worker after
/// its actions.
void sync_session_record(session_ledger& ledger, const mqtt::session& session,
                         session_persistence& persistence, std::uint64_t now_unix_ms);

/// The remaining session time and will delay of `session`, loaded at `now_unix_ms`. Counted from
/// the stored disconnect time; a session with none (it was connected when the broker stopped)
/// counts from now. Rounded up to whole seconds.
offline_timing offline_timing_at(const store::stored_session& session, std::uint64_t now_unix_ms);

/// The options byte of `options` as a SUBSCRIBE carries it, which the store keeps.
std::uint8_t stored_options_byte(const mqtt::subscription_options& options);

} // namespace perch::gateway
