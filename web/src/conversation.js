// Conversation names of the chat contract (docs/CHAT.md): `room/{room}` and `dm/{a}/{b}` with
// a < b in byte order, and the topics a conversation is written to.

/// The DM conversation of two users, both directions sharing one name.
export function dm_conversation(a, b) {
    return byte_less(a, b) ? `dm/${a}/${b}` : `dm/${b}/${a}`;
}

/// {conversation, sender, is_signal} for a room, DM or signal topic; null for anything else.
export function conversation_of_topic(topic, me) {
    const levels = topic.split('/');
    const is_signal = levels[1] === 'signal';
    const rest = is_signal ? levels.slice(2) : levels.slice(1);
    if (levels[0] !== 'chat' || rest.length !== 3) {
        return null;
    }
    const [kind, target, sender] = rest;
    if (kind === 'room') {
        return { conversation: `room/${target}`, sender, is_signal };
    }
    if (kind === 'dm' && (target === me || sender === me)) {
        return { conversation: dm_conversation(target, sender), sender, is_signal };
    }
    return null;
}

/// The topic `me` publishes to in a conversation (a signal topic when is_signal).
export function topic_for(conversation, me, is_signal = false) {
    const prefix = is_signal ? 'chat/signal/' : 'chat/';
    const levels = conversation.split('/');
    if (levels[0] === 'room') {
        return `${prefix}room/${levels[1]}/${me}`;
    }
    return `${prefix}dm/${peer_of(conversation, me)}/${me}`;
}

/// The other party of a DM conversation (oneself for a note to self).
export function peer_of(conversation, me) {
    const [, a, b] = conversation.split('/');
    return a === me ? b : a;
}

export function is_room(conversation) {
    return conversation.startsWith('room/');
}

/// The words a person sees for a conversation: the room's name or the other user.
export function label_of(conversation, me) {
    return is_room(conversation) ? conversation.slice('room/'.length) : peer_of(conversation, me);
}

function byte_less(a, b) {
    const left = new TextEncoder().encode(a);
    const right = new TextEncoder().encode(b);
    for (let i = 0; i < Math.min(left.length, right.length); ++i) {
        if (left[i] !== right[i]) {
            return left[i] < right[i];
        }
    }
    return left.length < right.length;
}
