// The Rooms panel, for everyone: create a room (public or private), the invitations waiting for
// this user (accept or decline), and the public rooms to browse and join (docs/CHAT.md "Room
// rules": create, invitations, join, decline, public_rooms).
import { button, element, field, form, panel } from './panel.js';

export class rooms_view {
    /// `chat` is the chat view: rooms joined are listed and opened through it.
    constructor(client, chat, sidebar_header) {
        this.client_ = client;
        this.chat_ = chat;
        const { dialog, body, status } = panel('Rooms');
        this.dialog_ = dialog;
        this.status_ = status;

        this.room_id_ = field('Room id');
        this.room_id_.input.required = true;
        this.room_name_ = field('Display name');
        this.visibility_ = field('Visibility', 'select', [
            ['public', 'Public: anyone may join'],
            ['private', 'Private: by invitation'],
        ]);
        const create = form(
            [this.room_id_.row, this.room_name_.row, this.visibility_.row],
            'Create room',
            () => this.create(),
        );
        this.invitations_ = element('ul', 'panel-list');
        this.invitations_.setAttribute('aria-label', 'Invitations');
        this.public_query_ = field('Find public rooms', 'search');
        const find = form([this.public_query_.row], 'Find', () => this.load_public());
        this.public_ = element('ul', 'panel-list');
        this.public_.setAttribute('aria-label', 'Public rooms');
        body.append(
            element('h3', '', 'New room'),
            create,
            element('h3', '', 'Invitations'),
            this.invitations_,
            element('h3', '', 'Public rooms'),
            find,
            this.public_,
        );
        this.open_button_ = button('Rooms', () => this.open());
        this.open_button_.classList.add('quiet');
        sidebar_header.append(this.open_button_);
    }

    remove() {
        this.open_button_.remove();
        this.dialog_.remove();
    }

    async open() {
        this.status_.textContent = '';
        this.dialog_.showModal();
        await Promise.all([this.load_invitations(), this.load_public()]);
    }

    async run(request, words) {
        try {
            const reply = await this.client_.request(request);
            this.status_.textContent = words;
            return reply;
        } catch (error) {
            this.status_.textContent = error.message;
            return null;
        }
    }

    /// Lists the room and opens it (the session holds its subscriptions once the reply came).
    async enter(room) {
        await this.chat_.load_room_names();
        this.dialog_.close();
        await this.chat_.select(`room/${room}`, true);
    }

    async create() {
        const room = this.room_id_.input.value.trim();
        const request = { op: 'create', room, visibility: this.visibility_.input.value };
        const name = this.room_name_.input.value.trim();
        if (name) {
            request.name = name;
        }
        if (await this.run(request, `Created ${room}.`)) {
            this.room_id_.input.value = '';
            this.room_name_.input.value = '';
            await this.enter(room);
        }
    }

    async load_invitations() {
        let reply;
        try {
            reply = await this.client_.request({ op: 'invitations' });
        } catch (error) {
            this.status_.textContent = error.message;
            return;
        }
        const items = (reply.invitations || []).map((invitation) => {
            const room = invitation.room;
            const item = element('li');
            item.append(
                element('span', 'label', `${invitation.name || room} from ${invitation.by}`),
                button(
                    'Accept',
                    async () => {
                        if (await this.run({ op: 'join', room }, `Joined ${room}.`)) {
                            await this.enter(room);
                        }
                    },
                    `Accept the invitation to ${invitation.name || room}`,
                ),
                button(
                    'Decline',
                    async () => {
                        await this.run({ op: 'decline', room }, `Declined ${room}.`);
                        await this.load_invitations();
                    },
                    `Decline the invitation to ${invitation.name || room}`,
                ),
            );
            return item;
        });
        if (items.length === 0) {
            items.push(element('li', 'empty', 'No invitations.'));
        }
        this.invitations_.replaceChildren(...items);
    }

    async load_public() {
        const request = { op: 'public_rooms', limit: 50 };
        const query = this.public_query_.input.value.trim();
        if (query) {
            request.query = query;
        }
        let reply;
        try {
            reply = await this.client_.request(request);
        } catch (error) {
            this.status_.textContent = error.message;
            return;
        }
        const items = (reply.rooms || []).map((room) => {
            const item = element('li');
            const words = room.name || room.room;
            const count = `${room.members} member${room.members === 1 ? '' : 's'}`;
            item.append(element('span', 'label', `${words} (${count})`));
            if (room.topic) {
                item.append(element('span', 'topic', room.topic));
            }
            if (this.chat_.is_member_of(room.room)) {
                item.append(button('Open', () => this.enter(room.room), `Open ${words}`));
            } else {
                item.append(
                    button(
                        'Join',
                        async () => {
                            if (
                                await this.run({ op: 'join', room: room.room }, `Joined ${words}.`)
                            ) {
                                await this.enter(room.room);
                            }
                        },
                        `Join ${words}`,
                    ),
                );
            }
            return item;
        });
        if (items.length === 0) {
            items.push(element('li', 'empty', 'No public rooms found.'));
        }
        this.public_.replaceChildren(...items);
    }
}
