// The chat app in headless Chromium against the real perch binary: perch serves web/dist on a
// loopback WebSocket listener, two browser contexts log in as alice and bob and chat in a room
// and by direct message; a reload keeps the history, a reconnect (at phone width) duplicates
// nothing, edits, reactions, replies, presence and typing show on the other side, a wrong
// password is refused, the keyboard alone is enough, log out revokes the device token.
// usage: node tests/web/chat_app.test.mjs PATH_TO_PERCH   (web/: npm ci && npm run build first)
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, test } from 'node:test';

import {
    conversation_button,
    launch_chromium,
    message_item,
    perch_web_server,
    send,
    wait_ms,
} from './perch_web_fixture.mjs';

const perch_binary = path.resolve(
    process.argv[2] || process.env.PERCH_BINARY || 'build-test/gateway/perch',
);
// When set, the pictures of docs/WEB_APP.md are written there (desktop and phone width).
const screenshot_folder = process.env.PERCH_WEB_SCREENSHOTS;

const perch = new perch_web_server(perch_binary);
let base_url;
let browser;

before(async () => {
    await perch.prepare();
    base_url = perch.base_url;
    perch.command('user', 'add', 'alice', '--password', 'alice-pw');
    perch.command('user', 'add', 'bob', '--password', 'bob-pw');
    perch.command('room', 'create', 'kitchen');
    perch.command('room', 'join', 'kitchen', 'alice');
    perch.command('room', 'join', 'kitchen', 'bob');
    perch.command('room', 'create', 'pantry');
    perch.command('room', 'join', 'pantry', 'alice');
    perch.command('room', 'join', 'pantry', 'bob');
    perch.command('user', 'add', 'carol', '--password', 'carol-pw');
    perch.command('room', 'join', 'pantry', 'carol');
    perch.command('room', 'set', 'pantry', 'name', 'The pantry');
    await perch.start();
    browser = await launch_chromium();
});

after(async () => {
    if (browser) {
        await browser.close();
    }
    await perch.stop();
    perch.remove_folder();
});

/// A new browser context with the login form filled in and sent (a refusal is a test's too).
async function log_in(user, password) {
    const context = await browser.newContext();
    const page = await context.newPage();
    page.setDefaultTimeout(wait_ms);
    await page.goto(base_url + '/');
    await page.getByLabel('User', { exact: true }).fill(user);
    await page.getByLabel('Password', { exact: true }).fill(password);
    await page.getByRole('button', { name: 'Log in' }).click();
    return { context, page };
}

async function expect_once(page, sender, text) {
    await message_item(page, sender, text).waitFor();
    assert.equal(
        await message_item(page, sender, text).count(),
        1,
        `"${text}" shown more than once`,
    );
}

let alice;
let bob;

test('a wrong password is refused with a message', async () => {
    const { context, page } = await log_in('alice', 'not-her-password');
    await page.getByRole('alert').filter({ hasText: 'Wrong user name or password' }).waitFor();
    assert.equal(await conversation_button(page, 'kitchen').count(), 0);
    await context.close();
});

test('a server that does not answer MQTT gets an error, not a wait', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    page.setDefaultTimeout(wait_ms);
    await page.routeWebSocket(/\/mqtt$/, (socket) => socket.close());
    await page.goto(base_url + '/');
    await page.getByLabel('User', { exact: true }).fill('alice');
    await page.getByLabel('Password', { exact: true }).fill('alice-pw');
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('alert').filter({ hasText: 'Cannot reach the server.' }).waitFor();
    assert.equal(await page.getByRole('button', { name: 'Log in' }).isEnabled(), true);
    await context.close();
});

test('the app keeps its files for opening without the network', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    page.setDefaultTimeout(wait_ms);
    await page.goto(base_url + '/');
    const manifest = await (await fetch(base_url + '/manifest.webmanifest')).json();
    assert.equal(manifest.start_url, '/');
    const kept = await page.evaluate(async (limit_ms) => {
        await Promise.race([
            navigator.serviceWorker.ready,
            new Promise((_, reject) =>
                setTimeout(() => reject(new Error('no service worker')), limit_ms),
            ),
        ]);
        const urls = [];
        for (const name of await caches.keys()) {
            for (const request of await (await caches.open(name)).keys()) {
                urls.push(new URL(request.url).pathname);
            }
        }
        return urls.sort();
    }, wait_ms);
    const script = await page.locator('script[type="module"]').getAttribute('src');
    assert.ok(kept.includes('/') && kept.includes(script), `kept: ${kept.join(' ')}`);
    await context.setOffline(true);
    await page.reload();
    await page.getByRole('button', { name: 'Log in' }).waitFor();
    await context.close();
});

test('alice and bob chat in a room', async () => {
    alice = await log_in('alice', 'alice-pw');
    bob = await log_in('bob', 'bob-pw');
    await conversation_button(alice.page, 'kitchen').click();
    await conversation_button(bob.page, 'kitchen').click();
    await send(alice.page, 'dinner is ready');
    await expect_once(bob.page, 'alice', 'dinner is ready');
    await bob.page.getByLabel('Message', { exact: true }).fill('coming');
    await bob.page.getByRole('button', { name: 'Send' }).click();
    await expect_once(alice.page, 'bob', 'coming');
    // The sender's own copy is the stamped one once its echo arrives: shown once, not pending.
    await alice.page
        .locator('li.message[data-id]')
        .filter({ hasText: 'dinner is ready' })
        .waitFor();
    await expect_once(alice.page, 'alice', 'dinner is ready');
});

test('a reload keeps the history', async () => {
    await bob.page.reload();
    await expect_once(bob.page, 'alice', 'dinner is ready');
    await expect_once(bob.page, 'bob', 'coming');
});

test('scrolling back loads older pages of history', async () => {
    // 60 messages, more than the app's first page of 50, sent by alice from MQTT.js in node.
    const client = await perch.mqtt_client('alice', 'alice-pw', 'seed');
    for (let n = 1; n <= 60; ++n) {
        await client.publishAsync('chat/room/pantry/alice', `note ${String(n).padStart(2, '0')}`, {
            qos: 1,
        });
    }
    await client.endAsync();
    // carol was never connected, so all she sees comes from history.
    const carol = await log_in('carol', 'carol-pw');
    // A room with a display name is listed and titled by it.
    await conversation_button(carol.page, 'The pantry').click();
    await carol.page.getByRole('heading', { name: '# The pantry' }).waitFor();
    await expect_once(carol.page, 'alice', 'note 60');
    await expect_once(carol.page, 'alice', 'note 11');
    assert.equal(await message_item(carol.page, 'alice', 'note 10').count(), 0);
    // Scrolling to the top reads the page before (the Load older messages button at the top
    // does the same for a keyboard, and is scrolled past on the way).
    await carol.page.locator('#timeline-scroller').evaluate((scroller) => {
        scroller.scrollTop = 0;
    });
    await expect_once(carol.page, 'alice', 'note 01');
    await expect_once(carol.page, 'alice', 'note 10');
    assert.equal(await carol.page.locator('li.message[data-id]').count(), 60);
    await carol.context.close();
});

test('a direct message reaches the other user', async () => {
    await alice.page.getByLabel('Message a user').fill('bob');
    await alice.page.getByRole('button', { name: 'Open' }).click();
    await send(alice.page, 'bring the wine');
    const conversation = conversation_button(bob.page, 'alice');
    await conversation.filter({ hasText: '1' }).waitFor();
    await conversation.click();
    await expect_once(bob.page, 'alice', 'bring the wine');
    // Presence: each sees the other online in the DM's entry.
    await conversation_button(bob.page, 'alice (online)').waitFor();
    await conversation_button(alice.page, 'bob (online)').waitFor();
    // Typing: alice types, bob's open conversation says so.
    await alice.page.getByLabel('Message', { exact: true }).pressSequentially('one more th');
    await bob.page.getByText('alice is typing…').waitFor();
    await alice.page.getByLabel('Message', { exact: true }).fill('');
});

test('a reconnect catches up without a gap or a duplicate', async () => {
    // bob is on a phone: the list and the conversation take the screen in turn.
    await bob.page.setViewportSize({ width: 390, height: 740 });
    await bob.page.getByRole('button', { name: 'Back to conversations' }).click();
    await conversation_button(bob.page, 'kitchen').click();
    assert.equal(await conversation_button(bob.page, 'kitchen').isVisible(), false);
    await bob.context.setOffline(true);
    await bob.page.getByRole('status').filter({ hasText: 'reconnecting' }).waitFor();
    await conversation_button(alice.page, 'kitchen').click();
    await send(alice.page, 'first while away');
    await send(alice.page, 'second while away');
    await expect_once(alice.page, 'alice', 'second while away');
    await bob.context.setOffline(false);
    await expect_once(bob.page, 'alice', 'first while away');
    await expect_once(bob.page, 'alice', 'second while away');
    await expect_once(bob.page, 'alice', 'dinner is ready');
    await bob.page.setViewportSize({ width: 1280, height: 720 });
});

test('the keyboard alone opens a conversation and sends', async () => {
    await conversation_button(bob.page, 'kitchen').focus();
    await bob.page.keyboard.press('Enter');
    // Opening a conversation puts the focus in its composer.
    await bob.page.keyboard.type('typed without a mouse');
    await bob.page.keyboard.press('Enter');
    await expect_once(alice.page, 'bob', 'typed without a mouse');
});

test('an edit and a reaction show on the other side', async () => {
    const mine = alice.page.locator('li.message[data-id]').filter({ hasText: 'second while away' });
    await mine.hover();
    await mine.getByRole('button', { name: 'Edit message' }).click();
    await alice.page.getByLabel('Message', { exact: true }).fill('second, edited');
    await alice.page.getByLabel('Message', { exact: true }).press('Enter');
    await expect_once(bob.page, 'alice', 'second, edited');
    await bob.page
        .getByRole('listitem')
        .filter({ hasText: 'second, edited' })
        .filter({ hasText: '(edited)' })
        .waitFor();

    const theirs = bob.page.locator('li.message[data-id]').filter({ hasText: 'first while away' });
    await theirs.hover();
    await theirs.getByRole('button', { name: 'React 👍' }).click();
    await alice.page
        .locator('li.message[data-id]')
        .filter({ hasText: 'first while away' })
        .getByRole('button', { name: '👍 from bob' })
        .waitFor();

    // A reply names the message it answers.
    await theirs.getByRole('button', { name: 'Reply to alice' }).click();
    await bob.page.getByLabel('Message', { exact: true }).fill('yes, that one');
    await bob.page.getByLabel('Message', { exact: true }).press('Enter');
    await alice.page
        .getByRole('listitem')
        .filter({ hasText: 'yes, that one' })
        .filter({ hasText: 'in reply to alice: first while away' })
        .waitFor();
    if (screenshot_folder) {
        await alice.page.mouse.move(0, 0);
        await alice.page.setViewportSize({ width: 1100, height: 640 });
        await alice.page.screenshot({ path: path.join(screenshot_folder, 'web-app-desktop.png') });
        await bob.page.setViewportSize({ width: 390, height: 740 });
        await bob.page.screenshot({ path: path.join(screenshot_folder, 'web-app-phone.png') });
        await alice.page.setViewportSize({ width: 1280, height: 720 });
        await bob.page.setViewportSize({ width: 1280, height: 720 });
    }
});

test('an image alice attaches shows inline for bob', async () => {
    // A 1x1 PNG.
    const png = Buffer.from(
        'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==',
        'base64',
    );
    await conversation_button(alice.page, 'kitchen').click();
    await conversation_button(bob.page, 'kitchen').click();
    await alice.page.getByLabel('Message', { exact: true }).fill('the view from here');
    assert.equal(await alice.page.getByRole('button', { name: 'Attach' }).count(), 1);
    await alice.page
        .getByLabel('File', { exact: true })
        .setInputFiles({ name: 'view.png', mimeType: 'image/png', buffer: png });
    const item = bob.page
        .locator('li.message[data-id]')
        .filter({ hasText: 'the view from here' })
        .filter({ hasText: 'alice' });
    const image = item.getByRole('img', { name: 'view.png' });
    await image.waitFor();
    // Loaded from /files with alice's message's reference, through a blob: URL.
    await bob.page.waitForFunction(
        (element) => element.complete && element.naturalWidth > 0,
        await image.elementHandle(),
    );
    assert.equal(await image.evaluate((element) => element.naturalWidth), 1);
    assert.match(await image.getAttribute('src'), /^blob:/);
    // The message's text shows as text, not as the JSON that carries the reference.
    assert.equal(await item.filter({ hasText: '"files"' }).count(), 0);
    await expect_once(alice.page, 'alice', 'the view from here');
});

test('a reconnect refused for a revoked token asks for the password', async () => {
    const device = perch.command('user', 'tokens', 'bob').split(' ')[0];
    // Revoked through a control request of bob's, whose reply comes once the gateway applied it.
    const client = await perch.mqtt_client('bob', 'bob-pw', 'admin');
    const reply = new Promise((resolve) =>
        client.on('message', (topic, payload) => {
            if (topic === 'chat/ctl/bob/resp/admin') {
                resolve(JSON.parse(String(payload)));
            }
        }),
    );
    await client.publishAsync('chat/ctl/bob/req', JSON.stringify({ op: 'revoke_token', device }), {
        qos: 1,
        properties: { responseTopic: 'chat/ctl/bob/resp/admin' },
    });
    assert.equal((await reply).ok, true);
    await client.endAsync();
    await bob.context.setOffline(true);
    await bob.page.getByRole('status').filter({ hasText: 'reconnecting' }).waitFor();
    await bob.context.setOffline(false);
    await bob.page.getByRole('alert').filter({ hasText: 'Please log in again.' }).waitFor();
    assert.equal(await conversation_button(bob.page, 'kitchen').count(), 0);
});

test('log out forgets the login and revokes the device token', async () => {
    assert.match(perch.command('user', 'tokens', 'alice'), /^web-[0-9a-f]{12} /m);
    await alice.page.getByRole('button', { name: 'Log out' }).click();
    await alice.page.getByRole('button', { name: 'Log in' }).waitFor();
    assert.equal(perch.command('user', 'tokens', 'alice'), '');
    await alice.page.reload();
    await alice.page.getByRole('button', { name: 'Log in' }).waitFor();
    assert.equal(await conversation_button(alice.page, 'kitchen').count(), 0);
    await alice.page.getByLabel('User', { exact: true }).fill('alice');
    await alice.page.getByLabel('Password', { exact: true }).fill('alice-pw');
    await alice.page.getByRole('button', { name: 'Log in' }).click();
    await conversation_button(alice.page, 'kitchen').waitFor();
    await alice.context.close();
    await bob.context.close();
});

test('perch stops cleanly after it all', async () => {
    await browser.close();
    browser = null;
    // Exit status 0: a sanitizer build reports leaks and errors through it too.
    const ending = await perch.stop();
    assert.equal(ending.code, 0, `perch ended with ${ending.code ?? ending.signal}:\n${perch.log}`);
});
