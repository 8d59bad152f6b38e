// A push service stand-in for the browser tests (RFC 8030 seen from the receiving end): an HTTP
// server on 127.0.0.1 that keeps each POST, and the browser's side of RFC 8291, a P-256 key pair
// and auth secret to subscribe with and the decryption of an aes128gcm body with them.
import { createDecipheriv, createECDH, hkdfSync, randomBytes } from 'node:crypto';
import http from 'node:http';

/// What a browser's PushManager would hold for one subscription.
export class browser_push_keys {
    constructor() {
        this.ecdh_ = createECDH('prime256v1');
        this.public_key = this.ecdh_.generateKeys();
        this.auth = randomBytes(16);
    }

    get p256dh() {
        return this.public_key.toString('base64url');
    }

    get auth_base64url() {
        return this.auth.toString('base64url');
    }

    /// The plaintext of an aes128gcm body (RFC 8188 with RFC 8291's keys), one record.
    decrypt(body) {
        const salt = body.subarray(0, 16);
        const id_length = body[20];
        const server_public = body.subarray(21, 21 + id_length);
        const ciphertext = body.subarray(21 + id_length);
        const shared = this.ecdh_.computeSecret(server_public);
        const key_info = Buffer.concat([
            Buffer.from('WebPush: info\0'),
            this.public_key,
            server_public,
        ]);
        const ikm = Buffer.from(hkdfSync('sha256', shared, this.auth, key_info, 32));
        const cek = Buffer.from(
            hkdfSync('sha256', ikm, salt, Buffer.from('Content-Encoding: aes128gcm\0'), 16),
        );
        const nonce = Buffer.from(
            hkdfSync('sha256', ikm, salt, Buffer.from('Content-Encoding: nonce\0'), 12),
        );
        const decipher = createDecipheriv('aes-128-gcm', cek, nonce);
        decipher.setAuthTag(ciphertext.subarray(ciphertext.length - 16));
        const padded = Buffer.concat([
            decipher.update(ciphertext.subarray(0, ciphertext.length - 16)),
            decipher.final(),
        ]);
        // The last record ends with the delimiter 2, then zero or more zero bytes.
        let end = padded.length - 1;
        while (end >= 0 && padded[end] === 0) {
            --end;
        }
        if (padded[end] !== 2) {
            throw new Error('no last-record delimiter');
        }
        return padded.subarray(0, end).toString('utf8');
    }
}

/// The stand-in: answers 201 to every POST and keeps {path, headers, body}.
export class push_service_stand_in {
    constructor() {
        this.received = [];
        this.waiters_ = [];
        this.server_ = http.createServer((request, response) => {
            const chunks = [];
            request.on('data', (chunk) => chunks.push(chunk));
            request.on('end', () => {
                response.writeHead(201);
                response.end();
                this.received.push({
                    path: request.url,
                    headers: request.headers,
                    body: Buffer.concat(chunks),
                });
                for (const wake of this.waiters_.splice(0)) {
                    wake();
                }
            });
        });
    }

    listen() {
        return new Promise((resolve) => {
            this.server_.listen(0, '127.0.0.1', () => {
                this.port = this.server_.address().port;
                resolve();
            });
        });
    }

    endpoint(path) {
        return `http://127.0.0.1:${this.port}${path}`;
    }

    /// Resolves with the requests once there are `count` (rejects after `limit_ms`).
    async wait_for(count, limit_ms) {
        const deadline = Date.now() + limit_ms;
        while (this.received.length < count) {
            if (Date.now() > deadline) {
                throw new Error(`the push service received ${this.received.length} of ${count}`);
            }
            await new Promise((resolve) => {
                this.waiters_.push(resolve);
                setTimeout(resolve, 200);
            });
        }
        return this.received;
    }

    close() {
        return new Promise((resolve) => this.server_.close(() => resolve()));
    }
}
