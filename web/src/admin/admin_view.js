// The admin page once logged in: the overview (refreshed every few seconds), the users with
// their buttons, the rooms and the bans. Everything goes through admin_api.js.

const refresh_interval_ms = 3000;

function element(tag, properties = {}, children = []) {
    const made = Object.assign(document.createElement(tag), properties);
    for (const child of children) {
        made.append(child);
    }
    return made;
}

function button(label, accessible_name, action) {
    const made = element('button', { type: 'button', textContent: label, className: 'small' });
    made.setAttribute('aria-label', accessible_name);
    made.addEventListener('click', action);
    return made;
}

function rate(value) {
    return `${(Number(value) || 0).toFixed(1)}/s`;
}

export class admin_view {
    constructor(api, on_logout) {
        this.api = api;
        this.on_logout = on_logout;
        this.timer_ = null;
        this.view_ = document.getElementById('admin-view');
        this.error_ = document.getElementById('admin-error');
        this.overview_ = document.getElementById('overview');
        this.users_ = document.getElementById('users');
        this.rooms_ = document.getElementById('rooms');
        this.bans_ = document.getElementById('bans');
        this.add_form_ = document.getElementById('add-user-form');
        this.logout_ = document.getElementById('logout-button');
        this.submit_new_user_ = (event) => this.add_user(event);
        this.log_out_ = () => this.stop() || this.on_logout();
    }

    async start() {
        document.getElementById('me').textContent = this.api.user;
        this.add_form_.addEventListener('submit', this.submit_new_user_);
        this.logout_.addEventListener('click', this.log_out_);
        this.view_.hidden = false;
        await this.refresh();
        this.timer_ = setInterval(() => this.refresh_overview(), refresh_interval_ms);
    }

    stop() {
        clearInterval(this.timer_);
        this.add_form_.removeEventListener('submit', this.submit_new_user_);
        this.logout_.removeEventListener('click', this.log_out_);
        this.view_.hidden = true;
    }

    /// Runs `work`, shows its error if any, then reloads the lists.
    async act(work) {
        this.error_.textContent = '';
        try {
            await work();
        } catch (error) {
            this.error_.textContent = error.message;
        }
        await this.refresh();
    }

    async refresh() {
        await Promise.all([this.refresh_overview(), this.refresh_lists()]);
    }

    async refresh_overview() {
        try {
            const figures = await this.api.overview();
            const rows = [
                ['Connections', figures.connections],
                ['Sessions', figures.sessions],
                ['Messages in', rate(figures.messages_received_per_second)],
                ['Messages out', rate(figures.messages_sent_per_second)],
                ['Queued messages', figures.queued_messages],
                ['Queued bytes', figures.queued_bytes],
                ['Output buffers', `${figures.output_queue_bytes} bytes`],
                [
                    'Store',
                    figures.store.healthy ? 'healthy' : `unhealthy: ${figures.store.problem}`,
                ],
                ['Store operations waiting', figures.store.pending_operations],
                ['Users', figures.users],
                ['Rooms', figures.rooms],
            ];
            this.overview_.replaceChildren(
                ...rows.map(([name, value]) =>
                    element('div', { className: 'figure' }, [
                        element('dt', { textContent: name }),
                        element('dd', { textContent: String(value) }),
                    ]),
                ),
            );
        } catch (error) {
            this.error_.textContent = error.message;
        }
    }

    async refresh_lists() {
        try {
            const [users, rooms, bans] = await Promise.all([
                this.api.users(),
                this.api.rooms(),
                this.api.bans(),
            ]);
            this.users_.replaceChildren(...users.users.map((user) => this.user_row(user)));
            this.rooms_.replaceChildren(...rooms.rooms.map((room) => this.room_row(room)));
            this.bans_.replaceChildren(
                ...bans.bans.map((ban) =>
                    element('li', {
                        textContent:
                            `${ban.kind} ${ban.value}` +
                            (ban.reason ? ` (${ban.reason})` : '') +
                            (ban.expires_unix_ms
                                ? ` until ${new Date(ban.expires_unix_ms).toLocaleString()}`
                                : ''),
                    }),
                ),
            );
            if (bans.bans.length === 0) {
                this.bans_.append(element('li', { textContent: 'No bans.' }));
            }
        } catch (error) {
            this.error_.textContent = error.message;
        }
    }

    user_row(user) {
        const name = user.name;
        const actions = element('td', { className: 'actions' }, [
            user.banned
                ? button('Unban', `Unban ${name}`, () => this.act(() => this.api.unban(name)))
                : button('Ban', `Ban ${name}`, () => this.act(() => this.api.ban(name))),
            user.admin
                ? button('Admin off', `Admin off for ${name}`, () =>
                      this.act(() => this.api.set_admin(name, false)),
                  )
                : button('Admin on', `Admin on for ${name}`, () =>
                      this.act(() => this.api.set_admin(name, true)),
                  ),
            button('Delete', `Delete user ${name}`, () => {
                if (confirm(`Delete the user ${name}?`)) {
                    this.act(() => this.api.delete_user(name));
                }
            }),
        ]);
        return element('tr', {}, [
            element('th', { scope: 'row', textContent: name }),
            element('td', { textContent: user.online ? 'online' : 'offline' }),
            element('td', { textContent: user.admin ? 'yes' : 'no' }),
            element('td', { textContent: user.banned ? 'banned' : 'no' }),
            actions,
        ]);
    }

    room_row(room) {
        const name = room.name;
        return element('tr', {}, [
            element('th', {
                scope: 'row',
                textContent: room.display_name ? `${room.display_name} (${name})` : name,
            }),
            element('td', { textContent: String(room.members) }),
            element('td', { textContent: room.visibility }),
            element('td', { className: 'actions' }, [
                button('Delete', `Delete room ${name}`, () => {
                    if (confirm(`Delete the room ${name}?`)) {
                        this.act(() => this.api.delete_room(name));
                    }
                }),
            ]),
        ]);
    }

    async add_user(event) {
        event.preventDefault();
        const name = document.getElementById('new-user');
        const password = document.getElementById('new-password');
        await this.act(() => this.api.add_user(name.value.trim(), password.value));
        password.value = '';
        if (!this.error_.textContent) {
            name.value = '';
        }
    }
}
