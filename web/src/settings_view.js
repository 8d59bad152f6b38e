// The Settings panel: Web Push notifications for this browser (docs/WEB_APP.md "Notifications")
// and whether they may show the message text. Subscribing asks the browser's permission, takes
// the server's VAPID key (push_key), subscribes the service worker's PushManager with it and
// hands the subscription to perch (push_subscribe); unchecking undoes both sides.
import { button, field, panel } from './panel.js';

const preview_key = 'perch.push_preview';

/// The VAPID key as the bytes PushManager.subscribe takes.
function key_bytes(base64url) {
    const base64 = base64url.replace(/-/g, '+').replace(/_/g, '/');
    const padded = base64 + '='.repeat((4 - (base64.length % 4)) % 4);
    return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
}

function can_push() {
    return 'serviceWorker' in navigator && 'PushManager' in window && 'Notification' in window;
}

export class settings_view {
    constructor(client, sidebar_header) {
        this.client_ = client;
        const { dialog, body, status } = panel('Settings');
        this.dialog_ = dialog;
        this.status_ = status;
        this.notifications_ = field('Notifications', 'checkbox');
        this.preview_ = field('Show message text in notifications', 'checkbox');
        this.preview_.input.checked = localStorage.getItem(preview_key) === 'on';
        this.notifications_.input.addEventListener('change', () => this.toggle_notifications());
        this.preview_.input.addEventListener('change', () => this.toggle_preview());
        body.append(this.notifications_.row, this.preview_.row);
        this.open_button_ = button('Settings', () => this.open());
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
        this.notifications_.input.checked = (await this.subscription()) !== null;
    }

    /// This browser's push subscription, or null.
    async subscription() {
        if (!can_push() || Notification.permission !== 'granted') {
            return null;
        }
        const registration = await navigator.serviceWorker.getRegistration();
        return registration ? registration.pushManager.getSubscription() : null;
    }

    async toggle_notifications() {
        const box = this.notifications_.input;
        box.disabled = true;
        try {
            if (box.checked) {
                await this.subscribe();
                this.status_.textContent = 'Notifications are on for this browser.';
            } else {
                await this.unsubscribe();
                this.status_.textContent = 'Notifications are off for this browser.';
            }
        } catch (error) {
            box.checked = !box.checked;
            this.status_.textContent = error.message;
        } finally {
            box.disabled = false;
        }
    }

    async subscribe() {
        if (!can_push()) {
            throw new Error('This browser cannot receive notifications from this address.');
        }
        if ((await Notification.requestPermission()) !== 'granted') {
            throw new Error('Notifications are blocked for this site in the browser.');
        }
        const { public_key } = await this.client_.request({ op: 'push_key' });
        const registration = await navigator.serviceWorker.ready;
        let subscription = await registration.pushManager.getSubscription();
        if (subscription) {
            // One made for another server key cannot be used with this one.
            await subscription.unsubscribe();
        }
        subscription = await registration.pushManager.subscribe({
            userVisibleOnly: true,
            applicationServerKey: key_bytes(public_key),
        });
        const { endpoint, keys } = subscription.toJSON();
        await this.client_.request({
            op: 'push_subscribe',
            device: this.client_.device,
            endpoint,
            keys: { p256dh: keys.p256dh, auth: keys.auth },
        });
        // The setting is the user's on the server; this browser sends what it shows.
        await this.send_preview();
    }

    async unsubscribe() {
        const subscription = await this.subscription();
        if (subscription) {
            await subscription.unsubscribe();
        }
        await this.client_
            .request({ op: 'push_unsubscribe', device: this.client_.device })
            .catch((error) => {
                if (!/no subscription/.test(error.message)) {
                    throw error;
                }
            });
    }

    send_preview() {
        const value = this.preview_.input.checked ? 'on' : 'off';
        localStorage.setItem(preview_key, value);
        return this.client_.request({ op: 'push_preview', preview: value });
    }

    async toggle_preview() {
        try {
            await this.send_preview();
            this.status_.textContent = this.preview_.input.checked
                ? 'Notifications show the message text.'
                : 'Notifications say only who wrote.';
        } catch (error) {
            this.preview_.input.checked = !this.preview_.input.checked;
            this.status_.textContent = error.message;
        }
    }
}
