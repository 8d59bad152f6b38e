#!/usr/bin/env node
// MQTT.js client driven by tests/integration/mqttjs_test.cpp. It does one job per run and
// prints what happened as tab-separated lines on stdout; the C++ test judges them.
//
//   subscribe --url U --version 4|5 --topic T --qos Q --count N [--client-id ID]
//             [--persistent] [--timeout-ms MS] [--topic-alias-maximum A]
//       prints "connected<TAB>SESSION_PRESENT", "subscribed<TAB>GRANTED[,GRANTED...]", then one
//       "message<TAB>QOS<TAB>RETAIN<TAB>TOPIC<TAB>PAYLOAD<TAB>NAME=VALUE;...<TAB>TOPIC_ALIAS" line
//       per message (TOPIC as MQTT.js resolved it; TOPIC_ALIAS empty when the PUBLISH had none),
//       and exits 0 after N messages (3 when they do not come in time). With A, the CONNECT
//       allows the server A topic aliases (5.0).
//   publish   --url U --version 4|5 --topic T --qos Q --count N [--prefix P] [--client-id ID]
//             [--user-property NAME=VALUE]... [--retain]
//       publishes PREFIX-0 .. PREFIX-(N-1), each after the previous one is acknowledged, prints
//       "published<TAB>N" and disconnects.
//   will      --url U --version 5 --topic T --payload P [--client-id ID]
//       connects with a will on T and leaves with DISCONNECT reason 0x04 (Disconnect with Will
//       Message), printing "connected" and "disconnected".
'use strict';

const { subscribeAsync, publishAsync, endAsync } = require('./debian_modules');
const mqtt = require('mqtt');

function parseArguments(argv) {
    const options = { userProperties: [], persistent: false, retain: false };
    const [mode, ...rest] = argv;
    for (let index = 0; index < rest.length; index += 1) {
        const name = rest[index];
        switch (name) {
        case '--persistent': options.persistent = true; break;
        case '--retain': options.retain = true; break;
        case '--user-property': options.userProperties.push(rest[++index]); break;
        default:
            if (!name.startsWith('--') || index + 1 >= rest.length) {
                throw new Error(`unexpected argument ${name}`);
            }
            options[name.slice(2).replace(/-([a-z])/g, (_, letter) => letter.toUpperCase())] =
                rest[++index];
        }
    }
    options.mode = mode;
    options.version = Number(options.version || 4);
    options.qos = Number(options.qos || 0);
    options.count = Number(options.count || 1);
    options.timeoutMs = Number(options.timeoutMs || 10000);
    return options;
}

function say(...fields) {
    process.stdout.write(`${fields.join('\t')}\n`);
}

// `onMessage`, when given, is attached before CONNACK: messages a resumed session has queued can
// arrive in the same read as the CONNACK, before any later listener would be in place.
function connect(options, extra = {}, onMessage = null) {
    const connectOptions = {
        protocolVersion: options.version,
        clientId: options.clientId || `mqttjs-${process.pid}`,
        clean: !options.persistent,
        reconnectPeriod: 0,
        connectTimeout: 5000,
        ...extra,
    };
    if (options.persistent && options.version === 5) {
        connectOptions.properties = { sessionExpiryInterval: 300 };
    }
    return new Promise((resolve, reject) => {
        const client = mqtt.connect(options.url, connectOptions);
        if (onMessage) {
            client.on('message', onMessage);
        }
        client.once('connect', (connack) => resolve({ client, connack }));
        client.once('error', reject);
    });
}

function describeUserProperties(properties) {
    const pairs = [];
    const userProperties = (properties && properties.userProperties) || {};
    for (const [name, value] of Object.entries(userProperties)) {
        for (const one of [].concat(value)) {
            pairs.push(`${name}=${one}`);
        }
    }
    return pairs.join(';');
}

async function subscribe(options) {
    const received = [];
    let allReceived = null;
    const done = new Promise((resolve) => {
        allReceived = resolve;
    });
    const extra = {};
    if (options.topicAliasMaximum) {
        extra.topicAliasMaximum = Number(options.topicAliasMaximum);
    }
    const { client, connack } = await connect(options, extra, (topic, payload, packet) => {
        const alias = packet.properties && packet.properties.topicAlias;
        received.push([packet.qos, packet.retain ? 1 : 0, topic, payload.toString('utf8'),
            describeUserProperties(packet.properties), alias === undefined ? '' : alias]);
        if (received.length === options.count) {
            allReceived();
        }
    });
    // Messages queued for a resumed session may come before the CONNACK line could be printed;
    // they are printed after it, in arrival order.
    say('connected', connack.sessionPresent ? 1 : 0);
    let printed = 0;
    const printReceived = () => {
        for (; printed < received.length; printed += 1) {
            say('message', ...received[printed]);
        }
    };
    const granted = await subscribeAsync(client, options.topic, { qos: options.qos });
    say('subscribed', granted.map((grant) => grant.qos).join(','));
    printReceived();
    client.on('message', printReceived);
    await done;
    printReceived();
    await endAsync(client);
}

async function publish(options) {
    const { client } = await connect(options);
    const publishOptions = { qos: options.qos, retain: options.retain };
    if (options.userProperties.length > 0) {
        const userProperties = {};
        for (const pair of options.userProperties) {
            const [name, value] = pair.split('=');
            userProperties[name] = value;
        }
        publishOptions.properties = { userProperties };
    }
    const prefix = options.prefix || 'mqttjs';
    for (let index = 0; index < options.count; index += 1) {
        await publishAsync(client, options.topic, `${prefix}-${index}`, publishOptions);
    }
    say('published', options.count);
    await endAsync(client);
}

async function leaveWithWill(options) {
    const { client } = await connect(options, {
        will: { topic: options.topic, payload: Buffer.from(options.payload), qos: 1, retain: false },
    });
    say('connected');
    await new Promise((resolve) => {
        client.end(false, { reasonCode: 0x04 }, resolve);
    });
    say('disconnected');
}

async function main() {
    const options = parseArguments(process.argv.slice(2));
    const timer = setTimeout(() => {
        say('timeout');
        process.exit(3);
    }, options.timeoutMs);
    const jobs = { subscribe, publish, will: leaveWithWill };
    if (!jobs[options.mode]) {
        throw new Error(`unknown mode ${options.mode}`);
    }
    await jobs[options.mode](options);
    clearTimeout(timer);
}

main().catch((error) => {
    process.stderr.write(`mqttjs_client: ${error.message}\n`);
    process.exit(1);
});
