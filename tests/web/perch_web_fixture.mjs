// What the browser tests of the chat app share: perch started on a loopback WebSocket listener
// that serves web/dist, with a temporary data_dir; `perch` commands against its config; Debian's
// chromium through playwright-core; a login in a fresh browser context.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const web = path.join(repo, 'web');
export const wait_ms = 20000;

if (!existsSync(path.join(web, 'dist/index.html')) || !existsSync(path.join(web, 'node_modules'))) {
    throw new Error('web/dist is missing: run "npm ci && npm run build" in web/ first');
}
const web_require = createRequire(path.join(web, 'package.json'));
export const { chromium } = web_require('playwright-core');
export const mqtt = web_require('mqtt');

export function free_port() {
    return new Promise((resolve, reject) => {
        const server = net.createServer();
        server.once('error', reject);
        server.listen(0, '127.0.0.1', () => {
            const { port } = server.address();
            server.close(() => resolve(port));
        });
    });
}

/// One perch serving the app. `extra_config` lines are added to its config.
export class perch_web_server {
    constructor(perch_binary, extra_config = []) {
        this.binary_ = perch_binary;
        this.extra_config_ = extra_config;
        this.log = '';
        this.process_ = null;
    }

    async prepare() {
        this.folder = mkdtempSync(path.join(os.tmpdir(), 'perch-web-'));
        this.port = await free_port();
        this.base_url = `http://127.0.0.1:${this.port}`;
        this.config_file = path.join(this.folder, 'perch.conf');
        writeFileSync(
            this.config_file,
            [
                `data_dir ${path.join(this.folder, 'data')}`,
                `listener ${this.port} 127.0.0.1`,
                'protocol websocket',
                `web_root ${path.join(web, 'dist')}`,
                // Test logins need no brute-force resistance.
                'password_iterations 1000',
                ...this.extra_config_,
                '',
            ].join('\n'),
        );
    }

    /// Runs `perch ARGS -c CONFIG` to its end; returns its standard output.
    command(...args) {
        const run = spawnSync(this.binary_, [...args, '-c', this.config_file], {
            encoding: 'utf8',
            timeout: 30000,
        });
        assert.equal(run.status, 0, `perch ${args.join(' ')}: ${run.stderr}`);
        return run.stdout;
    }

    async start() {
        this.process_ = spawn(this.binary_, ['-c', this.config_file], {
            stdio: ['ignore', 'pipe', 'pipe'],
        });
        process.on('exit', () => {
            if (this.process_.exitCode === null) {
                this.process_.kill('SIGKILL');
            }
            rmSync(this.folder, { recursive: true, force: true });
        });
        for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
            process.on(signal, () => process.exit(1));
        }
        this.process_.stdout.on('data', (chunk) => {
            this.log += chunk;
        });
        this.process_.stderr.on('data', (chunk) => {
            this.log += chunk;
        });
        const deadline = Date.now() + wait_ms;
        while (Date.now() < deadline) {
            try {
                if ((await fetch(this.base_url + '/')).ok) {
                    return;
                }
            } catch {
                // not listening yet
            }
            if (this.process_.exitCode !== null) {
                break;
            }
            await new Promise((resolve) => setTimeout(resolve, 100));
        }
        throw new Error(`perch did not serve the app:\n${this.log}`);
    }

    /// Stops perch with SIGTERM (SIGKILL after 10 s); resolves with {code, signal}.
    async stop() {
        const child = this.process_;
        if (!child || child.exitCode !== null || child.signalCode !== null) {
            return { code: child ? child.exitCode : 0, signal: child ? child.signalCode : null };
        }
        const ended = new Promise((resolve) => {
            child.once('exit', (code, signal) => resolve({ code, signal }));
        });
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 10000);
        const ending = await ended;
        clearTimeout(timer);
        return ending;
    }

    remove_folder() {
        if (this.folder) {
            rmSync(this.folder, { recursive: true, force: true });
        }
    }

    /// An MQTT.js client of `user` in node, beside the browsers.
    async mqtt_client(user, password, device) {
        return mqtt.connectAsync(`ws://127.0.0.1:${this.port}/mqtt`, {
            protocolVersion: 5,
            clientId: `${user}/${device}`,
            username: user,
            password,
            reconnectPeriod: 0,
        });
    }
}

export function launch_chromium() {
    return chromium.launch({
        executablePath: process.env.PERCH_CHROMIUM || '/usr/bin/chromium',
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
}

/// Logs `user` in, in a new browser context; `prepare(context)` runs before the page opens.
export async function log_in(browser, base_url, user, password, prepare) {
    const context = await browser.newContext();
    if (prepare) {
        await prepare(context);
    }
    const page = await context.newPage();
    page.setDefaultTimeout(wait_ms);
    await page.goto(base_url + '/');
    await page.getByLabel('User', { exact: true }).fill(user);
    await page.getByLabel('Password', { exact: true }).fill(password);
    await page.getByRole('button', { name: 'Log in' }).click();
    await page.getByRole('button', { name: 'Log out' }).waitFor();
    return { context, page };
}

export function conversation_button(page, name) {
    return page
        .getByRole('navigation', { name: 'Conversations' })
        .locator('.conversation-list')
        .getByRole('button', { name });
}

export function message_item(page, sender, text) {
    return page
        .locator('#timeline')
        .getByRole('listitem')
        .filter({ hasText: text })
        .filter({ hasText: sender });
}

export async function send(page, text) {
    await page.getByLabel('Message', { exact: true }).fill(text);
    await page.getByLabel('Message', { exact: true }).press('Enter');
}
