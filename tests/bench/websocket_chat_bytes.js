#!/usr/bin/env node
// Wire bytes of a browser-like WebSocket client on chat traffic: Node's ws compressing every
// message (threshold 0, client_max_window_bits offered, context takeover as browsers do), or not
// at all with "plain". Connects, subscribes to rooms/#, publishes bench_tls's 1,000-message chat
// stream one message at a time (each waits for its copy to come back) and prints the broker's
// Sec-WebSocket-Extensions answer and the bytes its TCP socket sent and received for the stream.
// usage: node websocket_chat_bytes.js ws://127.0.0.1:PORT/mqtt [plain]
'use strict';

require('../integration/node/debian_modules');
const WebSocket = require('ws');

/// bench_tls's chat_stream (same generator and seed).
function chatStream(count) {
    const words = ['the', 'release', 'is', 'ready', 'can', 'you', 'review', 'my', 'patch', 'before',
        'lunch', 'ok', 'thanks', 'see', 'at', 'standup', 'build', 'failed', 'again', 'on', 'arm64',
        'fixed', 'it', 'with', 'a', 'retry', 'who', 'owns', 'dashboard', 'meeting', 'moved', 'to',
        '3pm', 'coffee', 'anyone', 'lgtm', 'merged', 'deploy', 'tonight', 'rollback'];
    const rooms = ['general', 'dev', 'ops', 'random'];
    const people = ['alice', 'bob', 'carol', 'dave', 'erin'];
    const mask = (1n << 64n) - 1n;
    let state = 0x9E3779B97F4A7C15n;
    const next = (bound) => {
        state ^= (state << 13n) & mask;
        state ^= state >> 7n;
        state ^= (state << 17n) & mask;
        return Number(state % BigInt(bound));
    };
    const messages = [];
    for (let index = 0; index < count; index += 1) {
        const room = rooms[next(rooms.length)];
        const from = people[next(people.length)];
        let text = '';
        const textBytes = 10 + next(220);
        while (text.length < textBytes) {
            text += (text.length ? ' ' : '') + words[next(words.length)];
        }
        const ts = 1764000000000n + BigInt(index) * 1371n;
        messages.push([`rooms/${room}/${from}`,
            `{"id":"${1700000 + index}","from":"${from}","room":"${room}","text":"${text}","ts":${ts}}`]);
    }
    return messages;
}

function publishPacket(topic, payload) {
    const name = Buffer.from(topic);
    const body = Buffer.concat([Buffer.from([name.length >> 8, name.length & 0xff]), name,
        Buffer.from(payload)]);
    const length = [];
    let left = body.length;
    do {
        let byte = left % 128;
        left = Math.floor(left / 128);
        if (left > 0) {
            byte |= 0x80;
        }
        length.push(byte);
    } while (left > 0);
    return Buffer.concat([Buffer.from([0x30, ...length]), body]);
}

const [url, mode] = process.argv.slice(2);
const socket = new WebSocket(url, ['mqtt'],
    { perMessageDeflate: mode === 'plain' ? false : { threshold: 0 } });
const messages = chatStream(1000);
let extensions = '';
let stage = 'connack';
let sent = 0;
let start = [0, 0];
socket.on('upgrade', (response) => {
    extensions = response.headers['sec-websocket-extensions'] || '';
});
socket.on('open', () => {
    const id = Buffer.from('chat-bytes');
    const body = Buffer.concat([Buffer.from([0, 4, 77, 81, 84, 84, 4, 2, 0, 60, 0, id.length]), id]);
    socket.send(Buffer.concat([Buffer.from([0x10, body.length]), body]));
});
socket.on('message', () => {
    if (stage === 'connack') {
        stage = 'suback';
        socket.send(Buffer.from([0x82, 0x0c, 0x00, 0x01, 0x00, 0x07, ...Buffer.from('rooms/#'), 0x00]));
        return;
    }
    if (stage === 'suback') {
        stage = 'chat';
        start = [socket._socket.bytesWritten, socket._socket.bytesRead];
    } else if (sent === messages.length) {
        console.log(`extensions="${extensions}" client_to_broker=${socket._socket.bytesWritten - start[0]}`
            + ` broker_to_client=${socket._socket.bytesRead - start[1]}`);
        socket.close();
        process.exit(0);
    }
    socket.send(publishPacket(...messages[sent]));
    sent += 1;
});
setTimeout(() => {
    console.log(`timeout after ${sent} messages`);
    process.exit(3);
}, 30000);
