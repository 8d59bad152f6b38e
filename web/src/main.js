// Start of the chat app: the login (a password once, then this browser's device token), and the
// hand-over to the chat view. The page's markup is index.html; no script is inline (CSP).
import { chat_client, login_refused } from './chat_client.js';
import { chat_view } from './chat_view.js';
import { room_admin_view } from './room_admin_view.js';
import { rooms_view } from './rooms_view.js';
import { search_view } from './search_view.js';
import { settings_view } from './settings_view.js';

const device_key = 'perch.device';
const login_key = 'perch.login';

const login_view = document.getElementById('login-view');
const login_form = document.getElementById('login-form');
const login_user = document.getElementById('login-user');
const login_password = document.getElementById('login-password');
const login_button = document.getElementById('login-button');
const login_error = document.getElementById('login-error');

/// This browser's device name, made once and kept, so its client id `{user}/{device}` and the
/// session perch keeps for it stay the same from one visit to the next.
function device_name() {
    let device = localStorage.getItem(device_key);
    if (!device) {
        const bytes = crypto.getRandomValues(new Uint8Array(6));
        device = 'web-' + [...bytes].map((b) => b.toString(16).padStart(2, '0')).join('');
        localStorage.setItem(device_key, device);
    }
    return device;
}

function saved_login() {
    try {
        const saved = JSON.parse(localStorage.getItem(login_key) || 'null');
        return saved && saved.user && saved.token ? saved : null;
    } catch {
        return null;
    }
}

function show_login(user, error) {
    login_view.hidden = false;
    login_user.value = user || login_user.value;
    login_password.value = '';
    login_error.textContent = error || '';
    login_button.disabled = false;
    (login_user.value ? login_password : login_user).focus();
}

/// What the app says when a room is taken from this user (a kick, a ban, the room deleted).
function removal_words(event) {
    if (event.event === 'delete') {
        return `${event.room} was deleted.`;
    }
    const words = event.event === 'ban' ? 'banned you from' : 'removed you from';
    return `${event.by} ${words} ${event.room}.`;
}

/// The panels beside the chat view: settings, rooms, search, room settings. Returns them.
function attach_panels(client, view) {
    const sidebar_header = document.querySelector('.sidebar-header');
    const room_admin = new room_admin_view(
        client,
        view,
        document.querySelector('.conversation-header'),
    );
    view.on_select = (name) => room_admin.follow(name);
    client.on_room_event = (event) => {
        view.forget(`room/${event.room}`, removal_words(event));
    };
    return [
        new settings_view(client, sidebar_header),
        new rooms_view(client, view, sidebar_header),
        new search_view(
            client,
            document.getElementById('conversation-list'),
            (name) => view.label(name),
            (name, id) => view.reveal(name, id),
        ),
        room_admin,
    ];
}

async function open_chat(client) {
    login_view.hidden = true;
    // Log out (no words) or a reconnect refused for good (its words): either way the saved
    // token goes; a log-out also revokes it and ends this browser's session on the server.
    const view = new chat_view(client, async (refused_words) => {
        localStorage.removeItem(login_key);
        panels.forEach((shown) => shown.remove());
        view.hide();
        if (!refused_words) {
            await client.request({ op: 'revoke_token', device: client.device }).catch(() => {});
            client.close(true);
        }
        show_login(client.user, refused_words ? 'Please log in again.' : '');
    });
    const panels = attach_panels(client, view);
    // A notification's click opens the app at its conversation (service_worker.js).
    const wanted = new URLSearchParams(location.hash.slice(1)).get('conversation');
    if (wanted) {
        localStorage.setItem('perch.conversation', wanted);
        history.replaceState(null, '', location.pathname);
    }
    navigator.serviceWorker?.addEventListener('message', (event) => {
        if (event.data && event.data.type === 'open-conversation' && event.data.conversation) {
            view.select(event.data.conversation, true);
        }
    });
    await view.start();
}

async function log_in_with_password(event) {
    event.preventDefault();
    const user = login_user.value.trim();
    const password = login_password.value;
    login_button.disabled = true;
    login_error.textContent = '';
    const client = new chat_client(user, device_name());
    try {
        await client.connect(password);
    } catch (error) {
        show_login(user, error.message);
        return;
    }
    // A device token costs the server one hash per login instead of a password's PBKDF2, and
    // keeps the password out of the browser's storage (docs/CHAT.md, "Device tokens").
    try {
        const reply = await client.request({ op: 'token', device: client.device });
        localStorage.setItem(login_key, JSON.stringify({ user, token: reply.token }));
    } catch {
        localStorage.removeItem(login_key);
    }
    await open_chat(client);
}

async function start() {
    login_form.addEventListener('submit', log_in_with_password);
    const saved = saved_login();
    if (!saved) {
        show_login('', '');
        return;
    }
    const client = new chat_client(saved.user, device_name());
    try {
        await client.connect(saved.token);
    } catch (error) {
        if (error instanceof login_refused) {
            localStorage.removeItem(login_key);
            show_login(saved.user, 'Please log in again.');
        } else {
            show_login(saved.user, error.message);
        }
        return;
    }
    await open_chat(client);
}

// The service worker keeps the app's files for opening without the network and for installing
// to a home screen. Browsers allow it on https and on loopback addresses only; elsewhere the app
// simply runs without it.
if ('serviceWorker' in navigator) {
    navigator.serviceWorker.register('/sw.js').catch(() => {});
}

start();
