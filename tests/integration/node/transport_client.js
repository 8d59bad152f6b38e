#!/usr/bin/env node
// Transport checks driven by tests/integration/transport_test.cpp: MQTT.js over ws://, wss:// and
// mqtts://, and raw WebSocket frames the broker must refuse. One job per run; results are
// tab-separated lines on stdout for the C++ test to judge.
//
//   subscribe --url U --ca FILE --topic T --count N   prints "subscribed", then "message<TAB>P"
//                                                     per message; exits 0 after N messages
//   publish   --url U --ca FILE --topic T --payload P prints "published" once acknowledged
//             (subscribe and publish take --tls-max TLSv1.2 to cap the TLS version)
//   chat      --url U --topic T --count N [--ca FILE]  with permessage-deflate on every message
//             (threshold 0, as browsers do; ws offers client_max_window_bits), subscribes to
//             T/#, publishes N chat-like JSON messages to T/ROOM/SENDER at QoS 1; prints
//             "extensions<TAB>RESPONSE" (the broker's Sec-WebSocket-Extensions), then
//             "received<TAB>N" once every message came back intact, or "mismatch<TAB>I"
//   raw-frame --url U --kind text|binary|random|ping --size N [--protocol mqtt]
//             prints "open<TAB>PROTOCOL" or "unexpected-response<TAB>STATUS", then
//             "close<TAB>CODE" when the broker closes the WebSocket; with ping, sends a ping of
//             N bytes, prints "pong<TAB>N" when the matching pong arrives and closes (1000)
'use strict';

require('./debian_modules');
const fs = require('fs');
const mqtt = require('mqtt');
const WebSocket = require('ws');

function parseArguments(argv) {
    const [mode, ...rest] = argv;
    const options = { mode };
    for (let index = 0; index + 1 < rest.length; index += 2) {
        options[rest[index].slice(2)] = rest[index + 1];
    }
    return options;
}

function say(...fields) {
    process.stdout.write(`${fields.join('\t')}\n`);
}

function connect(options) {
    const connectOptions = { reconnectPeriod: 0, connectTimeout: 5000, protocolVersion: 5 };
    if (options.ca) {
        connectOptions.ca = fs.readFileSync(options.ca);
        connectOptions.rejectUnauthorized = true;
    }
    if (options['tls-max']) {
        connectOptions.maxVersion = options['tls-max'];
    }
    if (options.wsOptions) {
        connectOptions.wsOptions = options.wsOptions;
    }
    const client = mqtt.connect(options.url, connectOptions);
    client.on('error', (error) => {
        say('error', error.message);
        process.exit(2);
    });
    return client;
}

function subscribe(options) {
    const client = connect(options);
    let remaining = Number(options.count || 1);
    client.on('message', (topic, payload) => {
        say('message', payload.toString());
        remaining -= 1;
        if (remaining === 0) {
            client.end(false, () => process.exit(0));
        }
    });
    client.on('connect', () => {
        client.subscribe(options.topic, { qos: 1 }, (error) => {
            if (error) {
                say('error', error.message);
                process.exit(2);
            }
            say('subscribed');
        });
    });
}

function publish(options) {
    const client = connect(options);
    client.on('connect', () => {
        client.publish(options.topic, options.payload, { qos: 1 }, (error) => {
            say(error ? 'error' : 'published', error ? error.message : '');
            client.end(false, () => process.exit(error ? 2 : 0));
        });
    });
}

function chat(options) {
    // MQTT.js opens its ws socket itself: the upgrade answer is caught on its way out.
    const emit = WebSocket.prototype.emit;
    WebSocket.prototype.emit = function (event, ...rest) {
        if (event === 'upgrade') {
            say('extensions', rest[0].headers['sec-websocket-extensions'] || '');
        }
        return emit.call(this, event, ...rest);
    };
    const count = Number(options.count);
    const sent = [];
    for (let index = 0; index < count; index += 1) {
        const room = `room${index % 3}`;
        const sender = `user${index % 5}`;
        const words = Array.from({ length: 3 + (index % 17) }, (_, word) => `word${(index * 7 + word * 13) % 41}`);
        sent.push([`${options.topic}/${room}/${sender}`,
            JSON.stringify({ type: 'message', room, sender, id: index, text: words.join(' ') })]);
    }
    const client = connect(Object.assign({}, options, {
        wsOptions: { perMessageDeflate: { threshold: 0 } },
    }));
    let received = 0;
    client.on('message', (topic, payload) => {
        const [wantedTopic, wantedPayload] = sent[received];
        if (topic !== wantedTopic || payload.toString() !== wantedPayload) {
            say('mismatch', received);
            process.exit(2);
        }
        received += 1;
        if (received === count) {
            say('received', received);
            client.end(false, () => process.exit(0));
        }
    });
    client.on('connect', () => {
        client.subscribe(`${options.topic}/#`, { qos: 1 }, (error) => {
            if (error) {
                say('error', error.message);
                process.exit(2);
            }
            for (const [topic, payload] of sent) {
                client.publish(topic, payload, { qos: 1 });
            }
        });
    });
}

function rawFrame(options) {
    const protocols = options.protocol ? [options.protocol] : [];
    const socket = new WebSocket(options.url, protocols);
    socket.on('unexpected-response', (request, response) => {
        say('unexpected-response', response.statusCode);
        process.exit(0);
    });
    socket.on('open', () => {
        say('open', socket.protocol);
        const size = Number(options.size || 4);
        if (options.kind === 'ping') {
            const data = Buffer.alloc(size, 0x70);
            socket.on('pong', (answer) => {
                say('pong', answer.equals(data) ? answer.length : 'mismatch');
                socket.close(1000);
            });
            socket.ping(data);
        } else if (options.kind === 'text') {
            socket.send('x'.repeat(size));
        } else if (options.kind === 'random') {
            socket.send(require('crypto').randomBytes(size));
        } else {
            socket.send(Buffer.alloc(size, 0x30));
        }
    });
    socket.on('close', (code) => {
        say('close', code);
        process.exit(0);
    });
    socket.on('error', (error) => say('error', error.message));
}

const options = parseArguments(process.argv.slice(2));
setTimeout(() => {
    say('timeout');
    process.exit(3);
}, Number(options['timeout-ms'] || 10000));
({ subscribe, publish, chat, 'raw-frame': rawFrame })[options.mode](options);
