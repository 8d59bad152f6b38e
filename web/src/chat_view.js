// The chat once logged in: the conversation list with unread counts and presence, the open
// conversation's timeline (history paged back, live messages, edits, deletes, reactions,
// replies), typing signals, read positions and the composer. Only textContent is ever written,
// so no message can inject markup.
import { attachments, message_content, payload_with_file } from './attachments.js';
import { conversation_state } from './conversation_state.js';
import { dm_conversation, is_room, label_of, peer_of, topic_for } from './conversation.js';

const history_page = 50;
const typing_shown_ms = 6000;
const typing_sent_every_ms = 3000;
const quick_reaction = '👍';
const current_key = 'perch.conversation';

function element(tag, class_name, text) {
    const node = document.createElement(tag);
    if (class_name) {
        node.className = class_name;
    }
    if (text !== undefined) {
        node.textContent = text;
    }
    return node;
}

function button(text, on_click, label) {
    const node = element('button', '', text);
    node.type = 'button';
    if (label) {
        node.setAttribute('aria-label', label);
    }
    node.addEventListener('click', on_click);
    return node;
}

function clock(ts) {
    const when = new Date(ts);
    return when.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

export class chat_view {
    constructor(client, on_logout) {
        this.client_ = client;
        this.me_ = client.user;
        this.conversations_ = new Map();
        this.presence_ = new Map();
        this.typing_ = new Map();
        this.current_ = null;
        this.mode_ = { kind: 'send', id: 0 };
        this.last_typing_sent_ = 0;
        this.read_in_flight_ = false;
        this.loading_older_ = false;
        this.root_ = document.getElementById('chat-view');
        this.list_ = document.getElementById('conversation-list');
        this.title_ = document.getElementById('conversation-title');
        this.scroller_ = document.getElementById('timeline-scroller');
        this.timeline_ = document.getElementById('timeline');
        this.load_older_ = document.getElementById('load-older');
        this.typing_line_ = document.getElementById('typing');
        this.composer_ = document.getElementById('composer');
        this.message_ = document.getElementById('message');
        this.mode_bar_ = document.getElementById('composer-mode');
        this.mode_text_ = document.getElementById('composer-mode-text');
        this.status_ = document.getElementById('connection-status');
        this.banner_ = document.getElementById('connection-banner');
        this.listeners_ = new AbortController();
        const signal = { signal: this.listeners_.signal };
        this.files_ = new attachments(
            client,
            (id) => this.send_file(id),
            (words) => (this.typing_line_.textContent = words),
        );
        this.files_.add_to(this.composer_, document.getElementById('send-button'));
        this.files_.on_loaded = () => this.render_timeline();

        client.on_message = (conversation, delivery) => this.handle_message(conversation, delivery);
        client.on_presence = (presence) => this.handle_presence(presence);
        client.on_signal = (conversation, sender, fields) =>
            this.handle_signal(conversation, sender, fields);
        client.on_read_state = (entries) => this.handle_read_state(entries);
        client.on_status = (status) => this.handle_status(status);
        client.on_refused = (words) => on_logout(words);

        document.getElementById('me').textContent = this.me_;
        document
            .getElementById('logout-button')
            .addEventListener('click', () => on_logout(''), signal);
        document
            .getElementById('back-button')
            .addEventListener('click', () => this.show_list(), signal);
        document
            .getElementById('composer-cancel')
            .addEventListener('click', () => this.set_mode('send', 0), signal);
        document
            .getElementById('open-dm-form')
            .addEventListener('submit', (event) => this.open_dm(event), signal);
        this.load_older_.addEventListener('click', () => this.load_older(), signal);
        this.scroller_.addEventListener(
            'scroll',
            () => {
                if (this.scroller_.scrollTop < 40) {
                    this.load_older();
                }
            },
            signal,
        );
        this.composer_.addEventListener(
            'submit',
            (event) => {
                event.preventDefault();
                this.submit();
            },
            signal,
        );
        this.message_.addEventListener(
            'keydown',
            (event) => {
                if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
                    event.preventDefault();
                    this.submit();
                } else if (event.key === 'Escape') {
                    this.set_mode('send', 0);
                }
            },
            signal,
        );
        this.message_.addEventListener('input', () => this.send_typing(), signal);
        document.addEventListener('visibilitychange', () => this.mark_read(), signal);
    }

    async start() {
        this.root_.hidden = false;
        this.handle_status('online');
        try {
            const reply = await this.client_.request({ op: 'read_state' });
            this.handle_read_state(reply.conversations || []);
        } catch {
            // The read state pushed at login fills the list all the same.
        }
        await this.load_room_names();
        const last = localStorage.getItem(current_key);
        if (last && this.conversations_.has(last)) {
            await this.select(last, false);
        }
    }

    /// Rooms show their display name (`name`, set by an owner) where they have one.
    async load_room_names() {
        try {
            const reply = await this.client_.request({ op: 'rooms' });
            for (const room of reply.details || []) {
                this.conversation(`room/${room.room}`).display_name = room.name || '';
            }
            this.render_list();
        } catch {
            // Room ids stand in for their names.
        }
    }

    /// The words for a conversation: a room's display name or id, or the other user.
    label(name) {
        const state = this.conversations_.get(name);
        return (state && state.display_name) || label_of(name, this.me_);
    }

    hide() {
        this.listeners_.abort();
        this.root_.hidden = true;
        this.banner_.textContent = '';
        this.list_.replaceChildren();
        this.timeline_.replaceChildren();
        this.composer_.hidden = true;
        this.title_.textContent = 'Choose a conversation';
    }

    conversation(name) {
        let state = this.conversations_.get(name);
        if (!state) {
            state = new conversation_state(name);
            this.conversations_.set(name, state);
        }
        return state;
    }

    handle_status(status) {
        const online = status === 'online';
        this.status_.textContent = online ? 'online' : 'offline';
        this.banner_.textContent = online ? '' : 'Connection lost, reconnecting…';
    }

    handle_read_state(entries) {
        for (const entry of entries) {
            const state = this.conversation(entry.conversation);
            state.last_id = Math.max(state.last_id, entry.last_id || 0);
            state.read_id = Math.max(state.read_id, entry.read_id || 0);
            state.unread =
                entry.conversation === this.current_ && this.is_reading() ? 0 : entry.unread || 0;
        }
        this.render_list();
    }

    handle_presence(presence) {
        if (presence.user) {
            this.presence_.set(presence.user, presence.status === 'online');
            this.render_list();
        }
    }

    handle_signal(conversation, sender, fields) {
        if (sender === this.me_ || fields.type !== 'typing') {
            return;
        }
        const key = `${conversation} ${sender}`;
        clearTimeout(this.typing_.get(key));
        this.typing_.set(
            key,
            setTimeout(() => {
                this.typing_.delete(key);
                this.render_typing();
            }, typing_shown_ms),
        );
        this.render_typing();
    }

    handle_message(conversation, delivery) {
        const is_new_conversation = !this.conversations_.has(conversation);
        const state = this.conversation(conversation);
        const outcome = state.add_live(delivery);
        const typing_key = `${conversation} ${delivery.sender}`;
        if (outcome === 'message' && this.typing_.has(typing_key)) {
            clearTimeout(this.typing_.get(typing_key));
            this.typing_.delete(typing_key);
            this.render_typing();
        }
        if (outcome === 'message' && delivery.sender !== this.me_ && delivery.id > state.read_id) {
            if (conversation === this.current_ && this.is_reading()) {
                this.mark_read();
            } else {
                state.unread += 1;
            }
        }
        if (outcome !== 'duplicate' || is_new_conversation) {
            this.render_list();
        }
        if (conversation === this.current_) {
            this.render_timeline();
        }
    }

    is_reading() {
        return document.visibilityState === 'visible';
    }

    render_list() {
        const names = [...this.conversations_.keys()].sort((a, b) => {
            if (is_room(a) !== is_room(b)) {
                return is_room(a) ? -1 : 1;
            }
            return this.label(a).localeCompare(this.label(b));
        });
        const items = names.map((name) => {
            const state = this.conversations_.get(name);
            const item = element('li');
            const entry = button('', () => this.select(name, true));
            entry.dataset.conversation = name;
            entry.setAttribute('aria-current', name === this.current_ ? 'true' : 'false');
            const kind = element('span', 'kind', is_room(name) ? '#' : '@');
            kind.setAttribute('aria-hidden', 'true');
            entry.append(kind, element('span', 'label', this.label(name)));
            if (!is_room(name)) {
                const online = this.presence_.get(peer_of(name, this.me_)) === true;
                const dot = element('span', online ? 'presence online' : 'presence');
                dot.setAttribute('aria-hidden', 'true');
                entry.append(dot, element('span', 'visually-hidden', online ? '(online)' : ''));
            }
            if (state.unread > 0) {
                const badge = element(
                    'span',
                    'badge',
                    state.unread >= 999 ? '999+' : String(state.unread),
                );
                badge.setAttribute('aria-label', `${state.unread} unread`);
                entry.append(badge);
            }
            item.append(entry);
            return item;
        });
        this.list_.replaceChildren(...items);
    }

    async select(name, focus_composer) {
        this.current_ = name;
        localStorage.setItem(current_key, name);
        this.set_mode('send', 0);
        const state = this.conversation(name);
        this.title_.textContent = is_room(name) ? `# ${this.label(name)}` : this.label(name);
        this.composer_.hidden = false;
        this.root_.classList.add('showing-conversation');
        this.render_list();
        this.render_timeline();
        this.render_typing();
        if (!state.history_loaded) {
            await this.load_history(state, 0);
        }
        this.scroller_.scrollTop = this.scroller_.scrollHeight;
        this.mark_read();
        if (focus_composer) {
            this.message_.focus();
        }
    }

    show_list() {
        this.root_.classList.remove('showing-conversation');
        const current = this.list_.querySelector('[aria-current="true"]');
        if (current) {
            current.focus();
        }
    }

    open_dm(event) {
        event.preventDefault();
        const input = document.getElementById('open-dm-user');
        const user = input.value.trim();
        if (user) {
            input.value = '';
            this.select(dm_conversation(this.me_, user), true);
        }
    }

    /// Reads a page of history (the newest, or the one before `before`) into the conversation;
    /// `keep_paging` leaves what is known about older pages as it was.
    async load_history(state, before, keep_paging = false) {
        const request = { op: 'history', conversation: state.name, limit: history_page };
        if (before) {
            request.before = before;
        }
        let reply;
        try {
            reply = await this.client_.request(request);
        } catch {
            state.has_older = false;
            this.render_timeline();
            return;
        }
        const messages = reply.messages || [];
        for (const row of messages) {
            state.add_from_history(row);
        }
        if (!keep_paging || !state.history_loaded) {
            state.has_older = messages.length === history_page;
        }
        state.history_loaded = true;
        if (state.name === this.current_) {
            this.render_timeline();
        }
    }

    async load_older() {
        const state = this.current_ && this.conversations_.get(this.current_);
        if (!state || !state.history_loaded || !state.has_older || this.loading_older_) {
            return;
        }
        this.loading_older_ = true;
        const from_bottom = this.scroller_.scrollHeight - this.scroller_.scrollTop;
        await this.load_history(state, state.oldest_id);
        this.loading_older_ = false;
        this.scroller_.scrollTop = this.scroller_.scrollHeight - from_bottom;
    }

    render_timeline() {
        const state = this.current_ && this.conversations_.get(this.current_);
        if (!state) {
            this.timeline_.replaceChildren();
            return;
        }
        const at_bottom =
            this.scroller_.scrollHeight - this.scroller_.scrollTop - this.scroller_.clientHeight <
            40;
        const items = state.ordered().map((message) => this.render_message(state, message));
        for (const sent of state.pending) {
            const item = element('li', 'message pending');
            item.append(
                element('span', 'sender', sent.sender),
                element('time', '', 'sending…'),
                element('span', 'text', message_content(sent.text).text),
            );
            items.push(item);
        }
        this.timeline_.replaceChildren(...items);
        this.load_older_.hidden = !(state.history_loaded && state.has_older);
        if (at_bottom) {
            this.scroller_.scrollTop = this.scroller_.scrollHeight;
        }
    }

    render_message(state, message) {
        if (message.system) {
            const item = element('li', 'message system', message.system);
            item.dataset.id = String(message.id);
            return item;
        }
        const item = element('li', message.deleted ? 'message deleted' : 'message');
        item.dataset.id = String(message.id);
        if (message.reply_to) {
            const answered = state.messages.get(message.reply_to);
            let words = `in reply to message ${message.reply_to}`;
            if (answered) {
                const quoted = answered.deleted ? 'deleted message' : answered.text.slice(0, 80);
                words = `in reply to ${answered.sender}: ${quoted}`;
            }
            item.append(element('span', 'reply', words));
        }
        const when = element('time', '', clock(message.ts));
        when.dateTime = new Date(message.ts).toISOString();
        item.append(element('span', 'sender', message.sender), when);
        if (message.edited_ts) {
            item.append(element('span', 'edited', ' (edited)'));
        }
        const content = message_content(message.text);
        item.append(element('span', 'text', message.deleted ? 'message deleted' : content.text));
        if (message.deleted) {
            return item;
        }
        for (const id of content.files) {
            item.append(this.files_.render(id));
        }
        const reactions = element('div', 'reactions');
        for (const [emoji, users] of Object.entries(message.reactions)) {
            const mine = users.includes(this.me_);
            const chip = button(
                `${emoji} ${users.length}`,
                () => this.react(message, emoji, !mine),
                `${emoji} from ${users.join(', ')}`,
            );
            chip.setAttribute('aria-pressed', mine ? 'true' : 'false');
            reactions.append(chip);
        }
        if (reactions.childElementCount > 0) {
            item.append(reactions);
        }
        const actions = element('div', 'actions');
        actions.append(
            button('Reply', () => this.set_mode('reply', message.id), `Reply to ${message.sender}`),
        );
        const has_quick = (message.reactions[quick_reaction] || []).includes(this.me_);
        actions.append(
            button(
                quick_reaction,
                () => this.react(message, quick_reaction, !has_quick),
                `React ${quick_reaction}`,
            ),
        );
        if (message.sender === this.me_) {
            actions.append(button('Edit', () => this.set_mode('edit', message.id), 'Edit message'));
            actions.append(button('Delete', () => this.remove(message), 'Delete message'));
        }
        item.append(actions);
        return item;
    }

    render_typing() {
        const who = [];
        for (const key of this.typing_.keys()) {
            const [conversation, sender] = key.split(' ');
            if (conversation === this.current_) {
                who.push(sender);
            }
        }
        const verb = who.length === 1 ? 'is' : 'are';
        this.typing_line_.textContent = who.length === 0 ? '' : `${who.join(', ')} ${verb} typing…`;
    }

    set_mode(kind, id) {
        this.mode_ = { kind, id };
        const state = this.current_ && this.conversations_.get(this.current_);
        const target = state && state.messages.get(id);
        if (kind === 'send' || !target) {
            this.mode_ = { kind: 'send', id: 0 };
            this.mode_bar_.hidden = true;
            return;
        }
        this.mode_bar_.hidden = false;
        this.mode_text_.textContent =
            kind === 'edit' ? 'Editing your message' : `Replying to ${target.sender}`;
        if (kind === 'edit') {
            this.message_.value = target.text;
        }
        this.message_.focus();
    }

    send_typing() {
        const now = Date.now();
        if (
            !this.current_ ||
            now - this.last_typing_sent_ < typing_sent_every_ms ||
            this.message_.value === ''
        ) {
            return;
        }
        this.last_typing_sent_ = now;
        this.client_.signal(topic_for(this.current_, this.me_, true), { type: 'typing' });
    }

    async submit() {
        const text = this.message_.value;
        if (!this.current_ || text.trim() === '') {
            return;
        }
        const state = this.conversation(this.current_);
        const mode = this.mode_;
        this.message_.value = '';
        // A message ends the typing the others were shown; the next keystroke says so again.
        this.last_typing_sent_ = 0;
        this.set_mode('send', 0);
        if (mode.kind === 'edit') {
            await this.client_
                .request({ op: 'edit', conversation: state.name, id: mode.id, text })
                .catch(() => {});
            return;
        }
        await this.send_payload(state, text, mode.kind === 'reply' ? mode.id : 0);
    }

    /// Sends the message naming file `id` (uploaded just now) with the composer's text.
    async send_file(id) {
        if (!this.current_) {
            return;
        }
        const text = this.message_.value.trim();
        this.message_.value = '';
        await this.send_payload(this.conversation(this.current_), payload_with_file(text, id), 0);
    }

    /// Shows `text` as sending, publishes it, then reads the newest history page.
    async send_payload(state, text, reply_to) {
        const sent = { sender: this.me_, text, ts: Date.now() };
        state.pending.push(sent);
        this.render_timeline();
        this.scroller_.scrollTop = this.scroller_.scrollHeight;
        try {
            await this.client_.send(topic_for(state.name, this.me_), text, reply_to);
        } catch (error) {
            state.pending = state.pending.filter((entry) => entry !== sent);
            this.typing_line_.textContent = `Not sent: ${error.message}`;
            this.render_timeline();
            return;
        }
        // The newest page of history holds the message with its id and time now.
        await this.load_history(state, 0, true);
    }

    react(message, emoji, on) {
        this.client_
            .request({
                op: on ? 'react' : 'unreact',
                conversation: this.current_,
                id: message.id,
                emoji,
            })
            .catch(() => {});
    }

    remove(message) {
        this.client_
            .request({ op: 'delete', conversation: this.current_, id: message.id })
            .catch(() => {});
    }

    /// Moves the read position to the newest message shown, once at a time.
    mark_read() {
        const state = this.current_ && this.conversations_.get(this.current_);
        if (
            !state ||
            !this.is_reading() ||
            this.read_in_flight_ ||
            state.last_id <= state.read_id ||
            state.last_id === 0
        ) {
            if (state && this.is_reading()) {
                state.unread = 0;
            }
            return;
        }
        const id = state.last_id;
        this.read_in_flight_ = true;
        state.unread = 0;
        this.render_list();
        // Newer messages that arrived meanwhile are marked next; a refused or lost request is
        // not repeated until something new arrives.
        this.client_
            .request({ op: 'read', conversation: state.name, id })
            .then(() => {
                this.read_in_flight_ = false;
                state.read_id = Math.max(state.read_id, id);
                if (state.last_id > state.read_id) {
                    this.mark_read();
                }
            })
            .catch(() => {
                this.read_in_flight_ = false;
            });
    }
}
