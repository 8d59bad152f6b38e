// What the app knows of one conversation: its messages by id (so a message delivered twice,
// live and again from history or a reconnect's catch-up, is shown once), the edits, deletes and
// reactions applied to them, the messages sent but not yet echoed back, and the read state.

export class conversation_state {
    constructor(name) {
        this.name = name;
        /// A room's display name; empty when it has none (the id stands for it).
        this.display_name = '';
        /// id -> {id, ts, sender, text, reply_to, edited_ts, deleted, reactions, system}
        this.messages = new Map();
        /// ids of events (edit, delete, reaction) already applied, so a repeat changes nothing.
        this.applied_events = new Set();
        /// Sent by this device and not yet seen with an id (perch sends no echo to the sending
        /// device): {sender, text, ts}; history read after the PUBACK names them.
        this.pending = [];
        this.last_id = 0;
        this.read_id = 0;
        this.unread = 0;
        this.history_loaded = false;
        this.has_older = true;
    }

    get oldest_id() {
        let oldest = 0;
        for (const id of this.messages.keys()) {
            if (oldest === 0 || id < oldest) {
                oldest = id;
            }
        }
        return oldest;
    }

    /// Messages oldest first.
    ordered() {
        return [...this.messages.values()].sort((a, b) => a.id - b.id);
    }

    /// Takes one message as the history answer gives it (its final state). Returns true when
    /// the id was new.
    add_from_history(row) {
        const is_new = !this.messages.has(row.id);
        if (is_new && !row.deleted) {
            const sent = this.pending.findIndex(
                (p) => p.sender === row.sender && p.text === text_of(row),
            );
            if (sent >= 0) {
                this.pending.splice(sent, 1);
            }
        }
        this.messages.set(row.id, {
            id: row.id,
            ts: row.ts,
            sender: row.sender,
            text: row.deleted ? '' : text_of(row),
            reply_to: row.reply_to || 0,
            edited_ts: row.edited_ts || 0,
            deleted: Boolean(row.deleted),
            reactions: copy_reactions(row.reactions),
            system: room_event_of(text_of(row)),
        });
        this.last_id = Math.max(this.last_id, row.id);
        return is_new;
    }

    /// Takes one live delivery (or catch-up). Returns 'message' for a new message, 'event' for a
    /// new edit/delete/reaction, 'duplicate' when this id was seen already.
    add_live(delivery) {
        if (delivery.id === 0) {
            return 'duplicate';
        }
        this.last_id = Math.max(this.last_id, delivery.id);
        if (delivery.event) {
            if (this.applied_events.has(delivery.id)) {
                return 'duplicate';
            }
            this.applied_events.add(delivery.id);
            this.apply_event(delivery);
            return 'event';
        }
        if (this.messages.has(delivery.id)) {
            return 'duplicate';
        }
        this.messages.set(delivery.id, {
            id: delivery.id,
            ts: delivery.ts,
            sender: delivery.sender,
            text: delivery.text,
            reply_to: delivery.reply_to,
            edited_ts: 0,
            deleted: false,
            reactions: {},
            system: room_event_of(delivery.text),
        });
        return 'message';
    }

    apply_event(delivery) {
        const target = this.messages.get(delivery.of);
        let fields;
        try {
            fields = JSON.parse(delivery.text);
        } catch {
            return;
        }
        if (!target) {
            return;
        }
        if (delivery.event === 'edit' && typeof fields.text === 'string') {
            target.text = fields.text;
            target.edited_ts = delivery.ts;
        } else if (delivery.event === 'delete') {
            target.deleted = true;
            target.text = '';
            target.reactions = {};
        } else if (delivery.event === 'reaction' && typeof fields.emoji === 'string') {
            const users = new Set(target.reactions[fields.emoji] || []);
            if (fields.on) {
                users.add(delivery.sender);
            } else {
                users.delete(delivery.sender);
            }
            if (users.size === 0) {
                delete target.reactions[fields.emoji];
            } else {
                target.reactions[fields.emoji] = [...users].sort();
            }
        }
    }
}

function text_of(row) {
    if (typeof row.payload === 'string') {
        return row.payload;
    }
    if (typeof row.payload_base64 === 'string') {
        return '(binary message)';
    }
    return '';
}

function copy_reactions(reactions) {
    const copy = {};
    for (const [emoji, users] of Object.entries(reactions || {})) {
        copy[emoji] = [...users];
    }
    return copy;
}

/// A room event the gateway announces (kick, ban, role ...) in words, or null for a message.
function room_event_of(text) {
    if (!text.startsWith('{"type":"event"')) {
        return null;
    }
    let event;
    try {
        event = JSON.parse(text);
    } catch {
        return null;
    }
    const whom = event.user ? ` ${event.user}` : '';
    const words = {
        invite: `${event.by} invited${whom}`,
        kick: `${event.by} removed${whom}`,
        ban: `${event.by} banned${whom}`,
        unban: `${event.by} lifted the ban on${whom}`,
        mute: `${event.by} muted${whom}`,
        unmute: `${event.by} unmuted${whom}`,
        role: `${event.by} made${whom} ${event.role}`,
        set_room: `${event.by} changed the room's settings`,
        delete: `${event.by} deleted the room`,
    };
    return words[event.event] || `${event.by}: ${event.event}`;
}
