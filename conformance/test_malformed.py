# Conformance tests for malformed packets and error handling (3.1.1 chapters 2 and 4.8, 5.0
# chapters 1.5, 2 and 4.13): bad Remaining Length, reserved packet types, bad properties.
"""Malformed packet and protocol error conformance tests."""

import mqtt_wire as wire
from suite import case


def error_ids(v4_extra=(), v5_extra=()):
    return {"v4": ("MQTT-4.8.0-1",) + v4_extra, "v5": ("MQTT-4.13.1-1",) + v5_extra}


@case("Remaining Length of five bytes is malformed", **error_ids(v5_extra=("MQTT-1.5.5-1",)))
def remaining_length_five_bytes(t):
    client = t.client()
    client.send(bytes([0xC0, 0x80, 0x80, 0x80, 0x80, 0x01]))  # PINGREQ, 5-byte length
    t.expect_error_close(client, what="a five-byte Remaining Length")


@case("packet type 0 is reserved", **error_ids())
def reserved_packet_type(t):
    client = t.client()
    client.send(bytes([0x00, 0x00]))
    t.expect_error_close(client, what="a packet of type 0")


@case("CONNACK sent by a client is a protocol violation", **error_ids())
def client_sends_connack(t):
    client = t.client()
    client.send(bytes([0x20, 0x02, 0x00, 0x00]))
    t.expect_error_close(client, what="a CONNACK from the client")


@case("PUBLISH string length running past the packet is malformed", **error_ids())
def string_length_past_packet(t):
    client = t.client()
    client.send(bytes([0x30, 0x04, 0x00, 0x10]) + b"ab")
    t.expect_error_close(client, what="a topic length beyond the packet")


@case("a property given twice is a protocol error", v5=("MQTT-4.13.1-1", "MQTT-3.1.4-1"))
def duplicate_property(t):
    topic = t.topic()
    watcher = t.client()
    watcher.subscribe([topic])
    client = t.client()
    properties = [(wire.PAYLOAD_FORMAT_INDICATOR, 0), (wire.PAYLOAD_FORMAT_INDICATOR, 1)]
    client.send(wire.publish(topic, b"twice", version=t.version, properties=properties))
    t.expect_error_close(client, what="a PUBLISH with two Payload Format Indicators")
    t.check(not watcher.messages(0.3), "PUBLISH with a duplicated property was delivered")
    rogue = t.raw()
    rogue.send(wire.connect(t.client_id(), version=t.version,
                            properties=[(wire.SESSION_EXPIRY_INTERVAL, 1),
                                        (wire.SESSION_EXPIRY_INTERVAL, 2)]))
    closed, seen = rogue.wait_closed(3.0)
    t.check(closed, "server accepted a CONNECT with two Session Expiry Intervals")
    t.check(all(got.type == wire.CONNACK and got.reason_code >= 0x80 for got in seen),
            "answered a CONNECT with a duplicated property with %r" % seen)


@case("a property not allowed in the packet is malformed", v5="MQTT-4.13.1-1")
def property_in_wrong_packet(t):
    client = t.client()
    client.send(wire.publish(t.topic(), b"x", version=t.version,
                             properties=[(wire.SESSION_EXPIRY_INTERVAL, 10)]))
    t.expect_error_close(client, what="a Session Expiry Interval inside PUBLISH")


@case("unknown property identifier is malformed", v5="MQTT-4.13.1-1")
def unknown_property(t):
    client = t.client()
    body = wire.encode_string(t.topic()) + bytes([0x02, 0x7F, 0x00]) + b"payload"
    client.send(wire.packet(wire.PUBLISH, 0, body))
    t.expect_error_close(client, what="property identifier 0x7F")


@case("Property Length running past the packet is malformed", v5="MQTT-4.13.1-1")
def property_length_past_packet(t):
    client = t.client()
    body = wire.encode_string(t.topic()) + bytes([0x20, 0x01, 0x00])
    client.send(wire.packet(wire.PUBLISH, 0, body))
    t.expect_error_close(client, what="a Property Length of 32 with 2 bytes left")


@case("AUTH without an Authentication Method in CONNECT is a protocol error",
      v5=("MQTT-4.12.0-7", "MQTT-4.13.1-1"))
def unexpected_auth(t):
    client = t.client()
    client.send(wire.auth(0x19))
    t.expect_error_close(client, what="AUTH on a connection without authentication method")
