// The admin page in headless Chromium against the real perch binary (docs/ADMIN.md): perch serves
// web/dist on a loopback WebSocket listener, which also answers /api/admin. A user who is no admin
// is told so; an admin logs in, sees the overview and the users, and bans bob while bob chats in
// another browser context: bob's session ends at once and he cannot log in again; the unban lets
// him back in.
// usage: node tests/web/admin_page.test.mjs PATH_TO_PERCH   (web/: npm ci && npm run build first)
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, test } from 'node:test';

import { launch_chromium, perch_web_server, wait_ms } from './perch_web_fixture.mjs';

const perch_binary = path.resolve(
    process.argv[2] || process.env.PERCH_BINARY || 'build-test/gateway/perch',
);
// When set, docs/admin-page.png is written there.
const screenshot_folder = process.env.PERCH_WEB_SCREENSHOTS;

// Polled rarely: a ban reaches bob's session because the API applies it at once.
const perch = new perch_web_server(perch_binary, ['chat_reload_interval_ms 600000']);
let base_url;
let browser;

before(async () => {
    await perch.prepare();
    base_url = perch.base_url;
    for (const user of ['root', 'alice', 'bob']) {
        perch.command('user', 'add', user, '--password', `${user}-pw`);
    }
    perch.command('user', 'admin', 'root', 'on');
    perch.command('room', 'create', 'kitchen');
    perch.command('room', 'join', 'kitchen', 'alice');
    perch.command('room', 'join', 'kitchen', 'bob');
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

/// A new browser context on `page_path`, logged in as `user` through the login form.
async function log_in(page_path, user, password, viewport) {
    const context = await browser.newContext(viewport ? { viewport } : {});
    const page = await context.newPage();
    page.setDefaultTimeout(wait_ms);
    await page.goto(base_url + page_path);
    await page.getByLabel('User', { exact: true }).fill(user);
    await page.getByLabel('Password', { exact: true }).fill(password);
    await page.getByRole('button', { name: 'Log in' }).click();
    return { context, page };
}

test('a user who is no admin is told so', async () => {
    const { context, page } = await log_in('/admin.html', 'alice', 'alice-pw');
    await page.getByRole('alert').filter({ hasText: 'alice is not an admin.' }).waitFor();
    assert.equal(await page.getByRole('heading', { name: 'Users' }).isVisible(), false);
    await context.close();
});

test('an admin bans a chatting user: his session ends, he cannot log in again', async () => {
    const bob = await log_in('/', 'bob', 'bob-pw');
    const kitchen = bob.page
        .getByRole('navigation', { name: 'Conversations' })
        .getByRole('button', { name: 'kitchen' });
    await kitchen.waitFor();

    const admin = await log_in('/admin.html', 'root', 'root-pw', { width: 1100, height: 900 });
    await admin.page.getByRole('heading', { name: 'Overview' }).waitFor();
    const users = admin.page.locator('#users');
    await users.getByRole('row').filter({ hasText: 'bob' }).filter({ hasText: 'online' }).waitFor();
    await admin.page.getByRole('term').filter({ hasText: 'Connections' }).waitFor();
    if (screenshot_folder) {
        await admin.page.screenshot({
            path: path.join(screenshot_folder, 'admin-page.png'),
            fullPage: true,
        });
    }

    await admin.page.getByRole('button', { name: 'Ban bob' }).click();
    await admin.page.getByRole('button', { name: 'Unban bob' }).waitFor();
    await admin.page.locator('#bans').getByText('user bob').waitFor();
    // bob's app loses its session and, refused as banned on reconnecting, asks for a login.
    await bob.page.getByRole('button', { name: 'Log in' }).waitFor();
    assert.equal(await kitchen.count(), 0);
    await bob.page.getByLabel('Password', { exact: true }).fill('bob-pw');
    await bob.page.getByRole('button', { name: 'Log in' }).click();
    await bob.page.getByRole('alert').filter({ hasText: 'This user is banned.' }).waitFor();
    const audit = await (
        await fetch(base_url + '/api/admin/audit', {
            headers: { Authorization: 'Basic ' + Buffer.from('root:root-pw').toString('base64') },
        })
    ).json();
    const is_ban_of_bob = (entry) =>
        entry.actor === 'root' && entry.action === 'ban' && entry.target === 'bob';
    assert.ok(audit.audit.some(is_ban_of_bob), JSON.stringify(audit));

    await admin.page.getByRole('button', { name: 'Unban bob' }).click();
    await admin.page.getByRole('button', { name: 'Ban bob' }).waitFor();
    await bob.page.getByLabel('Password', { exact: true }).fill('bob-pw');
    await bob.page.getByRole('button', { name: 'Log in' }).click();
    await kitchen.waitFor();
    await bob.context.close();
    await admin.context.close();
});

test('perch stops cleanly after it all', async () => {
    await browser.close();
    browser = null;
    const ending = await perch.stop();
    assert.equal(ending.code, 0, `perch ended with ${ending.code ?? ending.signal}:\n${perch.log}`);
});
