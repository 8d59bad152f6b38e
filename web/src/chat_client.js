// The app's one connection to perch: MQTT 5 over WebSocket at this origin's /mqtt, control
// requests with their replies matched by Correlation Data, and incoming traffic sorted by kind.
// Knows the chat contract (docs/CHAT.md) and nothing about the page.
import mqtt from 'mqtt';
import { conversation_of_topic } from './conversation.js';

/// A persistent session lives this long after the tab goes away, so the browser catches up from
/// history when it comes back instead of starting from the login.
const session_expiry_seconds = 7 * 24 * 3600;
const request_timeout_ms = 15000;
const reconnect_period_ms = 2000;

/// CONNACK reason codes the login form explains in words (MQTT 5, section 3.2.2.2).
const refusal_words = new Map([
    [134, 'Wrong user name or password.'],
    [135, 'Not allowed to log in.'],
    [133, "This browser's client id was refused."],
    [137, 'The server is busy; try again in a moment.'],
    [138, 'This user is banned.'],
]);

export class login_refused extends Error {}

/// One user's connection. Callers set the on_* handlers before connect().
export class chat_client {
    constructor(user, device) {
        this.user = user;
        this.device = device;
        this.client_ = null;
        this.next_request_ = 1;
        this.pending_ = new Map();
        this.on_message = () => {};
        this.on_presence = () => {};
        this.on_signal = () => {};
        this.on_read_state = () => {};
        /// A room this user was removed from (kick, ban): the room event's JSON.
        this.on_room_event = () => {};
        this.on_status = () => {};
        /// After a first acceptance, a reconnect refused for good: the words to show.
        this.on_refused = () => {};
    }

    get reply_topic() {
        return `chat/ctl/${this.user}/resp/${this.device}`;
    }

    /// Resolves once perch accepted the login; rejects with login_refused for a refused CONNECT
    /// (wrong password ...) and with an Error when perch cannot be reached. Only after a first
    /// acceptance does the client reconnect by itself.
    connect(secret) {
        const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
        const client = mqtt.connect(`${scheme}://${location.host}/mqtt`, {
            protocolVersion: 5,
            clientId: `${this.user}/${this.device}`,
            username: this.user,
            password: secret,
            clean: false,
            reconnectPeriod: 0,
            connectTimeout: 10000,
            resubscribe: false,
            properties: { sessionExpiryInterval: session_expiry_seconds },
        });
        this.client_ = client;
        client.on('message', (topic, payload, packet) =>
            this.handle_publish(topic, payload, packet),
        );
        client.on('close', () => this.on_status('offline'));
        client.on('reconnect', () => this.on_status('connecting'));
        // A browser that knows it lost the network drops the connection at once instead of
        // waiting for the keep-alive, and the reconnect timer brings it back.
        this.drop_when_offline_ = () => client.stream && client.stream.destroy();
        window.addEventListener('offline', this.drop_when_offline_);
        return new Promise((resolve, reject) => {
            let accepted = false;
            client.on('connect', () => {
                this.on_status('online');
                if (!accepted) {
                    accepted = true;
                    client.options.reconnectPeriod = reconnect_period_ms;
                    resolve();
                }
            });
            // A WebSocket that never opens, or no CONNACK within connectTimeout, ends in a close
            // without an error; a refusal's error comes first and settles the promise already.
            client.on('close', () => {
                if (!accepted) {
                    client.end(true);
                    reject(new Error('Cannot reach the server.'));
                }
            });
            client.on('error', (error) => {
                if (accepted) {
                    // A reconnect refused for its credentials (token revoked, user deleted)
                    // would only be refused again.
                    if (refusal_words.has(error.code) && error.code !== 137) {
                        this.close();
                        this.on_refused(refusal_words.get(error.code));
                    }
                    return;
                }
                client.end(true);
                const words = refusal_words.get(error.code);
                reject(words ? new login_refused(words) : new Error('Cannot reach the server.'));
            });
        });
    }

    /// Ends the connection. The session stays on the server for this browser's next login,
    /// unless end_session: then the DISCONNECT sets its expiry to 0 (a log-out).
    close(end_session = false) {
        window.removeEventListener('offline', this.drop_when_offline_);
        if (this.client_) {
            if (end_session && this.client_.connected) {
                this.client_.end(false, { properties: { sessionExpiryInterval: 0 } });
            } else {
                this.client_.end(true);
            }
            this.client_ = null;
        }
        for (const { reject, timer } of this.pending_.values()) {
            clearTimeout(timer);
            reject(new Error('closed'));
        }
        this.pending_.clear();
    }

    /// Sends a control request; resolves with the reply object when it says ok, rejects with
    /// an Error carrying the reply's error text otherwise.
    request(fields) {
        const correlation = String(this.next_request_++);
        return new Promise((resolve, reject) => {
            const timer = setTimeout(() => {
                this.pending_.delete(correlation);
                reject(new Error(`no answer to ${fields.op}`));
            }, request_timeout_ms);
            this.pending_.set(correlation, { resolve, reject, timer });
            this.client_.publish(`chat/ctl/${this.user}/req`, JSON.stringify(fields), {
                qos: 1,
                properties: {
                    responseTopic: this.reply_topic,
                    correlationData: new TextEncoder().encode(correlation),
                },
            });
        });
    }

    /// Publishes a message to a conversation at QoS 1. Resolves on PUBACK, which perch sends
    /// once the message is in history (docs/CHAT.md), so history then has its id.
    send(topic, text, reply_to) {
        const properties = {};
        if (reply_to) {
            // docs/CHAT.md "Replies that name a message": the id twice.
            properties.userProperties = { reply_to: String(reply_to) };
            properties.correlationData = new TextEncoder().encode(String(reply_to));
        }
        return new Promise((resolve, reject) => {
            this.client_.publish(topic, text, { qos: 1, properties }, (error, packet) => {
                if (error) {
                    reject(error);
                } else if (packet && packet.reasonCode && packet.reasonCode >= 0x80) {
                    reject(new Error(`refused (${packet.reasonCode})`));
                } else {
                    resolve();
                }
            });
        });
    }

    /// A signal (typing ...) at QoS 0: state, never stored.
    signal(topic, fields) {
        if (this.client_ && this.client_.connected) {
            this.client_.publish(topic, JSON.stringify(fields), { qos: 0 });
        }
    }

    handle_publish(topic, payload, packet) {
        const properties = packet.properties || {};
        if (topic.startsWith(`chat/ctl/${this.user}/resp`)) {
            this.handle_reply(topic, payload, properties);
            return;
        }
        if (topic.startsWith('chat/presence/')) {
            const presence = parse_json(payload);
            if (presence) {
                this.on_presence(presence);
            }
            return;
        }
        const found = conversation_of_topic(topic, this.user);
        if (!found) {
            return;
        }
        if (found.is_signal) {
            const fields = parse_json(payload);
            if (fields) {
                this.on_signal(found.conversation, found.sender, fields);
            }
            return;
        }
        const props = flatten(properties.userProperties);
        this.on_message(found.conversation, {
            id: props.id ? Number(props.id) : 0,
            ts: props.ts ? Number(props.ts) : Date.now(),
            sender: found.sender,
            text: new TextDecoder().decode(payload),
            reply_to: props.reply_to ? Number(props.reply_to) : 0,
            event: props.event || '',
            of: props.of ? Number(props.of) : 0,
        });
    }

    handle_reply(topic, payload, properties) {
        const reply = parse_json(payload);
        if (!reply) {
            return;
        }
        if (topic === `chat/ctl/${this.user}/resp/read_state`) {
            this.on_read_state(reply.conversations || []);
            return;
        }
        if (topic === `chat/ctl/${this.user}/resp/room_event`) {
            this.on_room_event(reply);
            return;
        }
        const correlation = properties.correlationData
            ? new TextDecoder().decode(properties.correlationData)
            : '';
        const waiting = topic === this.reply_topic ? this.pending_.get(correlation) : undefined;
        if (!waiting) {
            return;
        }
        this.pending_.delete(correlation);
        clearTimeout(waiting.timer);
        if (reply.ok) {
            waiting.resolve(reply);
        } else {
            waiting.reject(new Error(reply.detail || reply.error || 'refused'));
        }
    }
}

function parse_json(payload) {
    try {
        return JSON.parse(new TextDecoder().decode(payload));
    } catch {
        return null;
    }
}

/// MQTT.js gives a repeated user property as an array; the contract sets each name once.
function flatten(user_properties) {
    const flat = {};
    for (const [name, value] of Object.entries(user_properties || {})) {
        flat[name] = Array.isArray(value) ? value[value.length - 1] : value;
    }
    return flat;
}
