// The chat app's search, rooms, room settings and notifications, in headless Chromium against
// the real perch binary: search finds an old message and opens its room at it; an owner creates
// a private room, invites bob, bob accepts and they chat, the owner kicks bob and bob's composer
// for the room goes away; a public room is found and joined; the Notifications setting stores a
// Web Push subscription that perch then uses (a push service stand-in decrypts what it sends,
// without and with the message text), and the service worker shows a pushed notification.
// usage: node tests/web/chat_rooms.test.mjs PATH_TO_PERCH   (web/: npm ci && npm run build first)
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, test } from 'node:test';

import {
    conversation_button,
    launch_chromium,
    log_in,
    message_item,
    perch_web_server,
    send,
    wait_ms,
} from './perch_web_fixture.mjs';
import { browser_push_keys, push_service_stand_in } from './push_service_stand_in.mjs';

const perch_binary = path.resolve(
    process.argv[2] || process.env.PERCH_BINARY || 'build-test/gateway/perch',
);
const perch = new perch_web_server(perch_binary, [
    'push true',
    // The stand-in is plain http on loopback.
    'push_allow_insecure_endpoints true',
]);
const push_service = new push_service_stand_in();
const bob_keys = new browser_push_keys();
let browser;

before(async () => {
    await push_service.listen();
    await perch.prepare();
    perch.command('user', 'add', 'alice', '--password', 'alice-pw');
    perch.command('user', 'add', 'bob', '--password', 'bob-pw');
    perch.command('room', 'create', 'pantry', '--owner', 'alice');
    perch.command('room', 'join', 'pantry', 'bob');
    perch.command('room', 'set', 'pantry', 'name', 'The pantry');
    await perch.start();
    browser = await launch_chromium();
});

after(async () => {
    if (browser) {
        await browser.close();
    }
    await perch.stop();
    await push_service.close();
    perch.remove_folder();
});

async function expect_once(page, sender, text) {
    await message_item(page, sender, text).waitFor();
    assert.equal(await message_item(page, sender, text).count(), 1, `"${text}" twice`);
}

function dialog(page, name) {
    return page.getByRole('dialog', { name });
}

test('search finds an old message and opens its room at it', async () => {
    // The message is older than the newest page the room opens with.
    const client = await perch.mqtt_client('bob', 'bob-pw', 'seed');
    await client.publishAsync('chat/room/pantry/bob', 'the lighthouse keeper left a key', {
        qos: 1,
    });
    for (let n = 1; n <= 60; ++n) {
        await client.publishAsync('chat/room/pantry/bob', `filler ${n}`, { qos: 1 });
    }
    await client.endAsync();
    const alice = await log_in(browser, perch.base_url, 'alice', 'alice-pw');
    const search = alice.page.getByRole('searchbox', { name: 'Search', exact: true });
    await search.fill('lighthouse');
    await search.press('Enter');
    const results = alice.page.getByRole('list', { name: 'Search results' });
    const hit = results.getByRole('button').filter({ hasText: 'the lighthouse keeper left a key' });
    await hit.waitFor();
    assert.match(await hit.innerText(), /bob/);
    assert.match(await hit.innerText(), /#The pantry/);
    await hit.click();
    await alice.page.getByRole('heading', { name: '# The pantry' }).waitFor();
    await expect_once(alice.page, 'bob', 'the lighthouse keeper left a key');
    assert.equal(
        await alice.page.locator('li.message.found').filter({ hasText: 'lighthouse' }).count(),
        1,
    );
    await search.fill('no such word anywhere');
    await search.press('Enter');
    await alice.page.getByRole('status').filter({ hasText: 'No messages found.' }).waitFor();
    await alice.context.close();
});

test('an owner invites to a private room, chats, and kicks; the kicked composer goes', async () => {
    const alice = await log_in(browser, perch.base_url, 'alice', 'alice-pw');
    const bob = await log_in(browser, perch.base_url, 'bob', 'bob-pw');

    await alice.page.getByRole('button', { name: 'Rooms', exact: true }).click();
    const rooms = dialog(alice.page, 'Rooms');
    await rooms.getByLabel('Room id').fill('attic');
    await rooms.getByLabel('Visibility').selectOption('private');
    await rooms.getByRole('button', { name: 'Create room' }).click();
    await alice.page.getByRole('heading', { name: '# attic' }).waitFor();
    await conversation_button(alice.page, 'attic').waitFor();

    await alice.page.getByRole('button', { name: 'Room settings' }).click();
    const settings = dialog(alice.page, 'Room settings');
    await settings.getByText('attic: you are owner.').waitFor();
    await settings.getByLabel('Invite user').fill('bob');
    await settings.getByRole('button', { name: 'Invite', exact: true }).click();
    await settings.getByText('Invited bob; the invitation waits for them.').waitFor();
    await settings.getByRole('button', { name: 'Close' }).click();

    await bob.page.getByRole('button', { name: 'Rooms', exact: true }).click();
    const invitations = dialog(bob.page, 'Rooms').getByRole('list', { name: 'Invitations' });
    await invitations.getByText('attic from alice').waitFor();
    await invitations.getByRole('button', { name: 'Accept the invitation to attic' }).click();
    await bob.page.getByRole('heading', { name: '# attic' }).waitFor();
    await send(bob.page, 'hello attic');
    await conversation_button(alice.page, 'attic').click();
    await expect_once(alice.page, 'bob', 'hello attic');
    await send(alice.page, 'welcome, bob');
    await expect_once(bob.page, 'alice', 'welcome, bob');

    await alice.page.getByRole('button', { name: 'Room settings' }).click();
    const members = settings.getByRole('list', { name: 'Members' });
    await members.getByText('bob (member)').waitFor();
    // Nothing to do on oneself, the owner.
    assert.equal(await members.getByRole('button', { name: 'Kick alice' }).count(), 0);
    await members.getByRole('button', { name: 'Kick bob' }).click();
    await settings.getByText('Removed bob.').waitFor();
    assert.equal(await members.getByText('bob (member)').count(), 0);

    // bob's app is told at once: the room and its composer go.
    await bob.page.getByRole('heading', { name: 'alice removed you from attic.' }).waitFor();
    assert.equal(await bob.page.getByLabel('Message', { exact: true }).isVisible(), false);
    assert.equal(await conversation_button(bob.page, 'attic').count(), 0);
    await alice.context.close();
    await bob.context.close();
});

test('a public room is found in the Rooms panel and joined', async () => {
    const bob = await log_in(browser, perch.base_url, 'bob', 'bob-pw');
    await bob.page.getByRole('button', { name: 'Rooms', exact: true }).click();
    const rooms = dialog(bob.page, 'Rooms');
    await rooms.getByLabel('Room id').fill('porch');
    await rooms.getByLabel('Display name').fill('The porch');
    await rooms.getByRole('button', { name: 'Create room' }).click();
    await bob.page.getByRole('heading', { name: '# The porch' }).waitFor();

    const alice = await log_in(browser, perch.base_url, 'alice', 'alice-pw');
    await alice.page.getByRole('button', { name: 'Rooms', exact: true }).click();
    const found = dialog(alice.page, 'Rooms');
    await found.getByLabel('Find public rooms').fill('porch');
    await found.getByRole('button', { name: 'Find', exact: true }).click();
    await found.getByRole('button', { name: 'Join The porch' }).click();
    await alice.page.getByRole('heading', { name: '# The porch' }).waitFor();
    await send(alice.page, 'nice porch');
    await expect_once(bob.page, 'alice', 'nice porch');
    await alice.context.close();
    await bob.context.close();
});

/// A browser context whose PushManager hands out a subscription to the stand-in with
/// `bob_keys` (headless Chromium has no push service to reach offline), and may notify.
async function with_stand_in_push_manager(context) {
    await context.grantPermissions(['notifications'], { origin: perch.base_url });
    await context.addInitScript(
        (subscription) => {
            const made = () => ({
                endpoint: subscription.endpoint,
                toJSON: () => ({
                    endpoint: subscription.endpoint,
                    keys: { p256dh: subscription.p256dh, auth: subscription.auth },
                }),
                unsubscribe: async () => {
                    window.perch_test_subscription = null;
                    return true;
                },
            });
            PushManager.prototype.subscribe = async function (options) {
                const key = new Uint8Array(options.applicationServerKey);
                window.perch_test_server_key = btoa(String.fromCharCode(...key))
                    .replace(/\+/g, '-')
                    .replace(/\//g, '_')
                    .replace(/=+$/, '');
                window.perch_test_subscription = made();
                return window.perch_test_subscription;
            };
            PushManager.prototype.getSubscription = async function () {
                return window.perch_test_subscription || null;
            };
        },
        {
            endpoint: push_service.endpoint('/push/bob'),
            p256dh: bob_keys.p256dh,
            auth: bob_keys.auth_base64url,
        },
    );
}

async function open_settings(page) {
    await page.getByRole('button', { name: 'Settings' }).click();
    return dialog(page, 'Settings');
}

/// alice sends bob a DM from node once bob's presence says none of his devices is connected
/// (perch pushes only then); resolves with what the stand-in's request number `count` holds.
async function direct_message_pushed(text, count) {
    const alice = await perch.mqtt_client('alice', 'alice-pw', 'push-test');
    const bob_offline = new Promise((resolve) =>
        alice.on('message', (topic, payload) => {
            if (topic === 'chat/presence/bob' && JSON.parse(String(payload)).devices === 0) {
                resolve();
            }
        }),
    );
    await alice.subscribeAsync('chat/presence/bob', { qos: 0 });
    await bob_offline;
    await alice.publishAsync('chat/dm/bob/alice', text, { qos: 1 });
    await alice.endAsync();
    const received = await push_service.wait_for(count, wait_ms);
    return received[count - 1];
}

test('the Notifications setting subscribes this browser, and perch pushes to it', async () => {
    const bob = await log_in(browser, perch.base_url, 'bob', 'bob-pw', with_stand_in_push_manager);
    let settings = await open_settings(bob.page);
    await settings.getByLabel('Notifications', { exact: true }).check();
    await settings.getByText('Notifications are on for this browser.').waitFor();
    const server_key = await bob.page.evaluate(() => window.perch_test_server_key);
    // Offline now: no device of bob's is connected.
    await bob.context.close();

    const first = await direct_message_pushed('meet at the old mill', 1);
    assert.equal(first.path, '/push/bob');
    assert.equal(first.headers['content-encoding'], 'aes128gcm');
    // The key the app subscribed with is the one perch signs with (VAPID k=).
    assert.match(first.headers.authorization, new RegExp(`, k=${server_key}$`));
    const shown = JSON.parse(bob_keys.decrypt(first.body));
    assert.deepEqual(shown, {
        title: 'perch',
        body: 'New message from alice',
        conversation: 'dm/alice/bob',
    });

    // The service worker shows what it is pushed.
    const again = await log_in(
        browser,
        perch.base_url,
        'bob',
        'bob-pw',
        with_stand_in_push_manager,
    );
    const cdp = await again.context.newCDPSession(again.page);
    const registration = new Promise((resolve) =>
        cdp.on('ServiceWorker.workerRegistrationUpdated', ({ registrations }) => {
            const found = registrations.find((entry) => !entry.isDeleted);
            if (found) {
                resolve(found.registrationId);
            }
        }),
    );
    await cdp.send('ServiceWorker.enable');
    await again.page.evaluate(() => navigator.serviceWorker.ready);
    await cdp.send('ServiceWorker.deliverPushMessage', {
        origin: perch.base_url,
        registrationId: await registration,
        data: bob_keys.decrypt(first.body),
    });
    const notifications = await again.page.evaluate(async (limit_ms) => {
        const ready = await navigator.serviceWorker.ready;
        const deadline = Date.now() + limit_ms;
        let shown = [];
        while (shown.length === 0 && Date.now() < deadline) {
            shown = await ready.getNotifications();
            await new Promise((resolve) => setTimeout(resolve, 100));
        }
        return shown.map((n) => ({ title: n.title, body: n.body, data: n.data }));
    }, wait_ms);
    assert.deepEqual(notifications, [
        { title: 'perch', body: 'New message from alice', data: { conversation: 'dm/alice/bob' } },
    ]);

    // Message text in notifications, allowed from the same panel.
    settings = await open_settings(again.page);
    await settings.getByLabel('Show message text in notifications').check();
    await settings.getByText('Notifications show the message text.').waitFor();
    await again.context.close();
    const second = await direct_message_pushed('bring the lantern', 2);
    assert.equal(JSON.parse(bob_keys.decrypt(second.body)).body, 'bring the lantern');
});

test('unchecking Notifications deletes the subscription on the server', async () => {
    const bob = await log_in(browser, perch.base_url, 'bob', 'bob-pw', with_stand_in_push_manager);
    const settings = await open_settings(bob.page);
    const box = settings.getByLabel('Notifications', { exact: true });
    await box.check();
    await settings.getByText('Notifications are on for this browser.').waitFor();
    await box.uncheck();
    await settings.getByText('Notifications are off for this browser.').waitFor();
    const device = await bob.page.evaluate(() => localStorage.getItem('perch.device'));
    await bob.context.close();
    // The server has nothing left for this browser's device.
    const client = await perch.mqtt_client('bob', 'bob-pw', 'check');
    const reply = new Promise((resolve) =>
        client.on('message', (topic, payload) => {
            if (topic === 'chat/ctl/bob/resp/check') {
                resolve(JSON.parse(String(payload)));
            }
        }),
    );
    await client.publishAsync(
        'chat/ctl/bob/req',
        JSON.stringify({ op: 'push_unsubscribe', device }),
        {
            qos: 1,
            properties: { responseTopic: 'chat/ctl/bob/resp/check' },
        },
    );
    assert.equal((await reply).error, 'no subscription for this device');
    await client.endAsync();
});

test('perch stops cleanly after it all', async () => {
    await browser.close();
    browser = null;
    const ending = await perch.stop();
    assert.equal(ending.code, 0, `perch ended with ${ending.code ?? ending.signal}:\n${perch.log}`);
});
