// Makes the Node packages Debian installs under /usr/share/nodejs (node-mqtt: MQTT.js, node-ws)
// resolvable from the test clients, whichever Node runs them. Require this before 'mqtt'.
'use strict';

const Module = require('module');
const path = require('path');

const debianModules = '/usr/share/nodejs';
const paths = (process.env.NODE_PATH || '').split(path.delimiter).filter(Boolean);
if (!paths.includes(debianModules)) {
    process.env.NODE_PATH = [debianModules, ...paths].join(path.delimiter);
    Module._initPaths();
}

/// client.subscribe / publish / end as promises (MQTT.js 4 has callbacks only).
function subscribeAsync(client, topic, options) {
    return new Promise((resolve, reject) => {
        client.subscribe(topic, options, (error, granted) => (error ? reject(error) : resolve(granted)));
    });
}
function publishAsync(client, topic, payload, options) {
    return new Promise((resolve, reject) => {
        client.publish(topic, payload, options, (error, packet) => (error ? reject(error) : resolve(packet)));
    });
}
function endAsync(client) {
    return new Promise((resolve) => client.end(false, {}, () => resolve()));
}

module.exports = { subscribeAsync, publishAsync, endAsync };
