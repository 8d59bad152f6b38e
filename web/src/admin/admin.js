// Start of the admin page (docs/ADMIN.md): the login, then the admin view. The password is used
// once, to log in over MQTT and obtain a device token for this page (op token); the page keeps
// the token for this tab only and calls the admin API with it. No script is inline (CSP).
import { chat_client } from '../chat_client.js';
import { admin_api, admin_refused } from './admin_api.js';
import { admin_view } from './admin_view.js';

const device_key = 'perch.admin-device';
const login_key = 'perch.admin-login';

const login_view = document.getElementById('login-view');
const login_form = document.getElementById('login-form');
const login_user = document.getElementById('login-user');
const login_password = document.getElementById('login-password');
const login_button = document.getElementById('login-button');
const login_error = document.getElementById('login-error');

/// The admin page's own device name, kept: its token replaces the one it had.
function device_name() {
    let device = localStorage.getItem(device_key);
    if (!device) {
        const bytes = crypto.getRandomValues(new Uint8Array(6));
        device = 'admin-' + [...bytes].map((b) => b.toString(16).padStart(2, '0')).join('');
        localStorage.setItem(device_key, device);
    }
    return device;
}

function show_login(user, error) {
    login_view.hidden = false;
    login_user.value = user || login_user.value;
    login_password.value = '';
    login_error.textContent = error || '';
    login_button.disabled = false;
    (login_user.value ? login_password : login_user).focus();
}

/// Checks that `api` may administer, then shows the admin view; back to the login otherwise.
async function open_admin(api) {
    try {
        await api.overview();
    } catch (error) {
        sessionStorage.removeItem(login_key);
        const words =
            error instanceof admin_refused && error.status === 403
                ? `${api.user} is not an admin.`
                : error.message;
        show_login(api.user, words);
        return;
    }
    login_view.hidden = true;
    const view = new admin_view(api, () => {
        sessionStorage.removeItem(login_key);
        show_login(api.user, '');
    });
    await view.start();
}

async function log_in(event) {
    event.preventDefault();
    const user = login_user.value.trim();
    login_button.disabled = true;
    login_error.textContent = '';
    const client = new chat_client(user, device_name());
    let token;
    try {
        await client.connect(login_password.value);
        token = (await client.request({ op: 'token', device: client.device })).token;
    } catch (error) {
        client.close(true);
        show_login(user, error.message);
        return;
    }
    // The token outlives this MQTT session, which ends here: the page needs only the API.
    client.close(true);
    sessionStorage.setItem(login_key, JSON.stringify({ user, token }));
    await open_admin(new admin_api(user, token));
}

function start() {
    login_form.addEventListener('submit', log_in);
    let saved = null;
    try {
        saved = JSON.parse(sessionStorage.getItem(login_key) || 'null');
    } catch {
        saved = null;
    }
    if (saved && saved.user && saved.token) {
        open_admin(new admin_api(saved.user, saved.token));
    } else {
        show_login('', '');
    }
}

start();
