// Room settings, opened from the header of a room's conversation: its name, topic and
// visibility, inviting, and for owners and admins the members' moderation (kick, ban, unban,
// mute, unmute, roles below one's own) and, for owners, deleting the room; anyone may leave.
// The server decides (docs/CHAT.md "Room rules"); the panel only offers what the role permits.
import { button, element, field, form, panel } from './panel.js';

const rank = { member: 0, admin: 1, owner: 2 };

export class room_admin_view {
    /// `chat` is the chat view: the panel follows its current conversation.
    constructor(client, chat, conversation_header) {
        this.client_ = client;
        this.chat_ = chat;
        this.room_ = '';
        this.role_ = 'member';
        const { dialog, body, status } = panel('Room settings');
        this.dialog_ = dialog;
        this.status_ = status;
        this.body_ = body;
        this.open_button_ = button('Room settings', () => this.open());
        this.open_button_.classList.add('quiet', 'room-settings-button');
        this.open_button_.hidden = true;
        conversation_header.append(this.open_button_);
    }

    remove() {
        this.open_button_.remove();
        this.dialog_.remove();
    }

    /// Called when the chat view opens a conversation (or none).
    follow(conversation) {
        const is_room = Boolean(conversation) && conversation.startsWith('room/');
        this.open_button_.hidden = !is_room;
        this.room_ = is_room ? conversation.slice('room/'.length) : '';
        if (!is_room && this.dialog_.open) {
            this.dialog_.close();
        }
    }

    async open() {
        if (!this.room_) {
            return;
        }
        this.status_.textContent = '';
        this.dialog_.showModal();
        await this.load();
    }

    is_moderator() {
        return this.role_ === 'owner' || this.role_ === 'admin';
    }

    async load() {
        const room = this.room_;
        let details;
        let members;
        try {
            const rooms = await this.client_.request({ op: 'rooms' });
            details = (rooms.details || []).find((entry) => entry.room === room);
            members = await this.client_.request({ op: 'members', room });
        } catch (error) {
            this.status_.textContent = error.message;
            this.body_.replaceChildren();
            return;
        }
        if (!details || room !== this.room_) {
            this.body_.replaceChildren(element('p', '', 'You are not a member of this room.'));
            return;
        }
        this.role_ = details.role || 'member';
        const sections = [element('p', 'role', `${details.room}: you are ${this.role_}.`)];
        if (this.is_moderator()) {
            sections.push(this.render_rules(details));
        }
        sections.push(
            this.name_form('Invite user', 'Invite', (user) =>
                this.act({ op: 'invite', room, user }, (reply) =>
                    reply.pending
                        ? `Invited ${user}; the invitation waits for them.`
                        : `Added ${user}.`,
                ),
            ),
        );
        sections.push(element('h3', '', 'Members'), this.render_members(members.details || []));
        if (this.is_moderator()) {
            sections.push(
                this.name_form('Ban user', 'Ban', (user) =>
                    this.act({ op: 'ban', room, user }, () => `Banned ${user}.`),
                ),
                this.name_form('Unban user', 'Unban', (user) =>
                    this.act({ op: 'unban', room, user }, () => `Unbanned ${user}.`),
                ),
            );
        }
        sections.push(this.render_ending());
        this.body_.replaceChildren(...sections);
    }

    /// A one-field form naming a user.
    name_form(words, submit_words, on_user) {
        const user = field(words);
        user.input.required = true;
        return form([user.row], submit_words, async () => {
            const name = user.input.value.trim();
            if (name && (await on_user(name))) {
                user.input.value = '';
            }
        });
    }

    render_rules(details) {
        const name = field('Name');
        name.input.value = details.name || '';
        const topic = field('Topic');
        topic.input.value = details.topic || '';
        const visibility = field('Visibility', 'select', [
            ['public', 'Public'],
            ['private', 'Private'],
        ]);
        visibility.input.value = details.visibility || 'public';
        return form([name.row, topic.row, visibility.row], 'Save', async () => {
            const done = await this.act(
                {
                    op: 'set_room',
                    room: this.room_,
                    name: name.input.value,
                    topic: topic.input.value,
                    visibility: visibility.input.value,
                },
                () => 'Saved.',
                false,
            );
            if (done) {
                await this.chat_.load_room_names();
            }
        });
    }

    render_members(members) {
        const list = element('ul', 'panel-list members');
        list.setAttribute('aria-label', 'Members');
        for (const member of members) {
            const item = element('li');
            const words = `${member.user} (${member.role}${member.muted ? ', muted' : ''})`;
            item.append(element('span', 'label', words));
            if (this.may_moderate(member)) {
                item.append(...this.member_actions(member));
            }
            list.append(item);
        }
        return list;
    }

    may_moderate(member) {
        return (
            this.is_moderator() &&
            member.user !== this.client_.user &&
            rank[member.role] < rank[this.role_]
        );
    }

    member_actions(member) {
        const room = this.room_;
        const user = member.user;
        const actions = [
            button(
                'Kick',
                () => this.act({ op: 'kick', room, user }, () => `Removed ${user}.`),
                `Kick ${user}`,
            ),
            button(
                'Ban',
                () => this.act({ op: 'ban', room, user }, () => `Banned ${user}.`),
                `Ban ${user}`,
            ),
        ];
        const mute = member.muted ? 'unmute' : 'mute';
        actions.push(
            button(
                member.muted ? 'Unmute' : 'Mute',
                () => this.act({ op: mute, room, user }, () => `${user}: ${mute}d.`),
                `${member.muted ? 'Unmute' : 'Mute'} ${user}`,
            ),
        );
        // Owners give any role; admins make members admins (docs/CHAT.md "Room rules").
        const roles = this.role_ === 'owner' ? ['member', 'admin', 'owner'] : ['member', 'admin'];
        const role = field(
            `Role of ${user}`,
            'select',
            roles.map((name) => [name, name]),
        );
        role.row.classList.add('inline');
        role.input.value = member.role;
        role.input.addEventListener('change', () =>
            this.act(
                { op: 'role', room, user, role: role.input.value },
                () => `${user} is ${role.input.value} now.`,
            ),
        );
        actions.push(role.row);
        return actions;
    }

    render_ending() {
        const room = this.room_;
        const ending = element('div', 'panel-actions');
        ending.append(
            button('Leave room', async () => {
                if (await this.act({ op: 'leave', room }, () => `You left ${room}.`, false)) {
                    this.dialog_.close();
                    this.chat_.forget(`room/${room}`, `You left ${room}.`);
                }
            }),
        );
        if (this.role_ === 'owner') {
            const confirm = button('Confirm: delete the room for everyone', async () => {
                if (await this.act({ op: 'delete_room', room }, () => `Deleted ${room}.`, false)) {
                    this.dialog_.close();
                    this.chat_.forget(`room/${room}`, `${room} was deleted.`);
                }
            });
            confirm.hidden = true;
            confirm.classList.add('danger');
            ending.append(
                button('Delete room', () => {
                    confirm.hidden = false;
                    confirm.focus();
                }),
                confirm,
            );
        }
        return ending;
    }

    /// Sends `request`; on success says `words(reply)` and (unless `reload` is false) shows the
    /// room again. Returns whether it was done.
    async act(request, words, reload = true) {
        let reply;
        try {
            reply = await this.client_.request(request);
        } catch (error) {
            this.status_.textContent = error.message;
            return false;
        }
        if (reload) {
            await this.load();
        }
        this.status_.textContent = words(reply);
        return true;
    }
}
