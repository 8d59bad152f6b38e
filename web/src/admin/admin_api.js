// The admin API at this origin's /api/admin (docs/ADMIN.md): JSON requests with HTTP Basic
// credentials, the user name and a device token. Knows nothing about the page.

export class admin_refused extends Error {
    constructor(status, message) {
        super(message);
        this.status = status;
    }
}

export class admin_api {
    constructor(user, token) {
        this.user = user;
        this.authorization = 'Basic ' + btoa(unescape(encodeURIComponent(`${user}:${token}`)));
    }

    /// Resolves with the answer's JSON; rejects with admin_refused carrying the status and the
    /// server's words for a 4xx or 5xx.
    async call(method, path, body) {
        const options = {
            method,
            headers: { Authorization: this.authorization },
            cache: 'no-store',
            credentials: 'omit',
        };
        if (body !== undefined) {
            options.headers['Content-Type'] = 'application/json';
            options.body = JSON.stringify(body);
        }
        const response = await fetch(`/api/admin${path}`, options);
        const answer = await response.json().catch(() => ({}));
        if (!response.ok) {
            throw new admin_refused(response.status, answer.detail || `HTTP ${response.status}`);
        }
        return answer;
    }

    overview() {
        return this.call('GET', '/overview');
    }
    users() {
        return this.call('GET', '/users');
    }
    rooms() {
        return this.call('GET', '/rooms');
    }
    bans() {
        return this.call('GET', '/bans');
    }
    add_user(name, password) {
        return this.call('POST', '/users', { name, password });
    }
    ban(name) {
        return this.call('POST', `/users/${encodeURIComponent(name)}/ban`, {});
    }
    unban(name) {
        return this.call('DELETE', `/users/${encodeURIComponent(name)}/ban`);
    }
    set_admin(name, is_admin) {
        return this.call('PUT', `/users/${encodeURIComponent(name)}/admin`, { admin: is_admin });
    }
    delete_user(name) {
        return this.call('DELETE', `/users/${encodeURIComponent(name)}`);
    }
    delete_room(name) {
        return this.call('DELETE', `/rooms/${encodeURIComponent(name)}`);
    }
}
