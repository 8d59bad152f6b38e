// The admin page in headless Chromium against the real perch binary (docs/ADMIN.md): perch serves
// web/dist on a loopback WebSocket listener, which also answers /api/admin. A user who is no admin
// is told so; an admin logs in, sees the overview and the users, and bans bob while bob chats in
// another browser context: bob's session ends at once and he cannot log in again; the unban lets
// him back in.
// usage: node tests/web/admin_page.test.mjs PATH_TO_PERCH   (web/: npm ci && npm run build first)
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const web = path.join(repo, 'web');
const perch_binary = path.resolve(
    process.argv[2] || process.env.PERCH_BINARY || 'build-test/gateway/perch',
);
const chromium_path = process.env.PERCH_CHROMIUM || '/usr/bin/chromium';
const wait_ms = 20000;
// When set, docs/admin-page.png is written there.
const screenshot_folder = process.env.PERCH_WEB_SCREENSHOTS;

if (!existsSync(path.join(web, 'dist/admin.html')) || !existsSync(path.join(web, 'node_modules'))) {
    throw new Error('web/dist is missing: run "npm ci && npm run build" in web/ first');
}
const web_require = createRequire(path.join(web, 'package.json'));
const { chromium } = web_require('playwright-core');

let folder;
let config_file;
let perch;
let perch_log = '';
let base_url;
let browser;

function free_port() {
    return new Promise((resolve, reject) => {
        const server = net.createServer();
        server.once('error', reject);
        server.listen(0, '127.0.0.1', () => {
            const { port } = server.address();
            server.close(() => resolve(port));
        });
    });
}

/// Runs `perch ARGS -c CONFIG` to its end; returns its standard output.
function perch_command(...args) {
    const run = spawnSync(perch_binary, [...args, '-c', config_file], {
        encoding: 'utf8',
        timeout: 30000,
    });
    assert.equal(run.status, 0, `perch ${args.join(' ')}: ${run.stderr}`);
    return run.stdout;
}

async function wait_until_serving() {
    const deadline = Date.now() + wait_ms;
    while (Date.now() < deadline) {
        try {
            if ((await fetch(base_url + '/admin.html')).ok) {
                return;
            }
        } catch {
            // not listening yet
        }
        if (perch.exitCode !== null) {
            break;
        }
        await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(`perch did not serve the admin page:\n${perch_log}`);
}

before(async () => {
    folder = mkdtempSync(path.join(os.tmpdir(), 'perch-admin-web-'));
    const port = await free_port();
    base_url = `http://127.0.0.1:${port}`;
    config_file = path.join(folder, 'perch.conf');
    writeFileSync(
        config_file,
        [
            `data_dir ${path.join(folder, 'data')}`,
            `listener ${port} 127.0.0.1`,
            'protocol websocket',
            `web_root ${path.join(web, 'dist')}`,
            'password_iterations 1000',
            // Polled rarely: a ban reaches bob's session because the API applies it at once.
            'chat_reload_interval_ms 600000',
            '',
        ].join('\n'),
    );
    for (const user of ['root', 'alice', 'bob']) {
        perch_command('user', 'add', user, '--password', `${user}-pw`);
    }
    perch_command('user', 'admin', 'root', 'on');
    perch_command('room', 'create', 'kitchen');
    perch_command('room', 'join', 'kitchen', 'alice');
    perch_command('room', 'join', 'kitchen', 'bob');
    perch = spawn(perch_binary, ['-c', config_file], { stdio: ['ignore', 'pipe', 'pipe'] });
    process.on('exit', () => {
        if (perch.exitCode === null) {
            perch.kill('SIGKILL');
        }
        rmSync(folder, { recursive: true, force: true });
    });
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
        process.on(signal, () => process.exit(1));
    }
    perch.stdout.on('data', (chunk) => {
        perch_log += chunk;
    });
    perch.stderr.on('data', (chunk) => {
        perch_log += chunk;
    });
    await wait_until_serving();
    browser = await chromium.launch({
        executablePath: chromium_path,
        headless: true,
        handleSIGINT: false,
        handleSIGTERM: false,
        handleSIGHUP: false,
        args: [
            '--no-sandbox',
            '--headless',
            '--disable-gpu',
            '--no-first-run',
            '--disable-background-networking',
            '--disable-quic',
            '--disable-component-update',
            '--disable-sync',
        ],
    });
});

async function stop_perch() {
    if (!perch || perch.exitCode !== null || perch.signalCode !== null) {
        return { code: perch ? perch.exitCode : 0, signal: perch ? perch.signalCode : null };
    }
    const ended = new Promise((resolve) => {
        perch.once('exit', (code, signal) => resolve({ code, signal }));
    });
    perch.kill('SIGTERM');
    const timer = setTimeout(() => perch.kill('SIGKILL'), 10000);
    const ending = await ended;
    clearTimeout(timer);
    return ending;
}

after(async () => {
    if (browser) {
        await browser.close();
    }
    await stop_perch();
    if (folder) {
        rmSync(folder, { recursive: true, force: true });
    }
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
    const ending = await stop_perch();
    assert.equal(ending.code, 0, `perch ended with ${ending.code ?? ending.signal}:\n${perch_log}`);
});
