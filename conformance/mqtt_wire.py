# MQTT 3.1.1 / 5.0 wire format, byte by byte: builds any packet (including deliberately broken
# ones) and parses what a server sends. Knows nothing about sockets or test outcomes.
"""Encoder and decoder for MQTT control packets, written for the conformance suite.

Encoding helpers return ``bytes`` so a test can splice, truncate or corrupt them before they go on
the wire. Properties are kept as ordered lists of ``(property_id, value)`` so duplicates and order
survive a round trip (both matter to the MQTT 5.0 rules under test).
"""

import struct

# Control packet types (MQTT 5.0 table 2-1; 3.1.1 has the same numbers and no AUTH).
CONNECT = 1
CONNACK = 2
PUBLISH = 3
PUBACK = 4
PUBREC = 5
PUBREL = 6
PUBCOMP = 7
SUBSCRIBE = 8
SUBACK = 9
UNSUBSCRIBE = 10
UNSUBACK = 11
PINGREQ = 12
PINGRESP = 13
DISCONNECT = 14
AUTH = 15

PACKET_NAMES = {
    CONNECT: "CONNECT",
    CONNACK: "CONNACK",
    PUBLISH: "PUBLISH",
    PUBACK: "PUBACK",
    PUBREC: "PUBREC",
    PUBREL: "PUBREL",
    PUBCOMP: "PUBCOMP",
    SUBSCRIBE: "SUBSCRIBE",
    SUBACK: "SUBACK",
    UNSUBSCRIBE: "UNSUBSCRIBE",
    UNSUBACK: "UNSUBACK",
    PINGREQ: "PINGREQ",
    PINGRESP: "PINGRESP",
    DISCONNECT: "DISCONNECT",
    AUTH: "AUTH",
}

# Protocol levels carried in CONNECT.
MQTT_311 = 4
MQTT_50 = 5

# MQTT 5.0 property identifiers (table 2-4).
PAYLOAD_FORMAT_INDICATOR = 0x01
MESSAGE_EXPIRY_INTERVAL = 0x02
CONTENT_TYPE = 0x03
RESPONSE_TOPIC = 0x08
CORRELATION_DATA = 0x09
SUBSCRIPTION_IDENTIFIER = 0x0B
SESSION_EXPIRY_INTERVAL = 0x11
ASSIGNED_CLIENT_IDENTIFIER = 0x12
SERVER_KEEP_ALIVE = 0x13
AUTHENTICATION_METHOD = 0x15
AUTHENTICATION_DATA = 0x16
REQUEST_PROBLEM_INFORMATION = 0x17
WILL_DELAY_INTERVAL = 0x18
REQUEST_RESPONSE_INFORMATION = 0x19
RESPONSE_INFORMATION = 0x1A
SERVER_REFERENCE = 0x1C
REASON_STRING = 0x1F
RECEIVE_MAXIMUM = 0x21
TOPIC_ALIAS_MAXIMUM = 0x22
TOPIC_ALIAS = 0x23
MAXIMUM_QOS = 0x24
RETAIN_AVAILABLE = 0x25
USER_PROPERTY = 0x26
MAXIMUM_PACKET_SIZE = 0x27
WILDCARD_SUBSCRIPTION_AVAILABLE = 0x28
SUBSCRIPTION_IDENTIFIER_AVAILABLE = 0x29
SHARED_SUBSCRIPTION_AVAILABLE = 0x2A

# How each property's value is encoded.
_BYTE, _U16, _U32, _VARINT, _STRING, _BINARY, _PAIR = range(7)
PROPERTY_TYPES = {
    PAYLOAD_FORMAT_INDICATOR: _BYTE,
    MESSAGE_EXPIRY_INTERVAL: _U32,
    CONTENT_TYPE: _STRING,
    RESPONSE_TOPIC: _STRING,
    CORRELATION_DATA: _BINARY,
    SUBSCRIPTION_IDENTIFIER: _VARINT,
    SESSION_EXPIRY_INTERVAL: _U32,
    ASSIGNED_CLIENT_IDENTIFIER: _STRING,
    SERVER_KEEP_ALIVE: _U16,
    AUTHENTICATION_METHOD: _STRING,
    AUTHENTICATION_DATA: _BINARY,
    REQUEST_PROBLEM_INFORMATION: _BYTE,
    WILL_DELAY_INTERVAL: _U32,
    REQUEST_RESPONSE_INFORMATION: _BYTE,
    RESPONSE_INFORMATION: _STRING,
    SERVER_REFERENCE: _STRING,
    REASON_STRING: _STRING,
    RECEIVE_MAXIMUM: _U16,
    TOPIC_ALIAS_MAXIMUM: _U16,
    TOPIC_ALIAS: _U16,
    MAXIMUM_QOS: _BYTE,
    RETAIN_AVAILABLE: _BYTE,
    USER_PROPERTY: _PAIR,
    MAXIMUM_PACKET_SIZE: _U32,
    WILDCARD_SUBSCRIPTION_AVAILABLE: _BYTE,
    SUBSCRIPTION_IDENTIFIER_AVAILABLE: _BYTE,
    SHARED_SUBSCRIPTION_AVAILABLE: _BYTE,
}


class MalformedPacket(Exception):
    """Raised by the decoder when bytes from the server do not form a valid packet."""


# ---------------------------------------------------------------------------------------------
# Primitive encoders


def encode_varint(value):
    """Variable Byte Integer (5.0 §1.5.5, 3.1.1 §2.2.3 Remaining Length), minimum length."""
    if value < 0 or value > 268_435_455:
        raise ValueError("variable byte integer out of range: %d" % value)
    out = bytearray()
    while True:
        digit = value % 128
        value //= 128
        if value > 0:
            digit |= 0x80
        out.append(digit)
        if value == 0:
            return bytes(out)


def encode_u16(value):
    return struct.pack(">H", value)


def encode_u32(value):
    return struct.pack(">I", value)


def encode_binary(data):
    """Two-byte length followed by the bytes (Binary Data, or an already-encoded string)."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    return encode_u16(len(data)) + bytes(data)


def encode_string(text):
    """UTF-8 Encoded String. ``bytes`` are sent as given, so tests can send ill-formed UTF-8."""
    return encode_binary(text)


def encode_properties(properties):
    """Property Length followed by each ``(property_id, value)`` in the given order."""
    body = bytearray()
    for property_id, value in properties or ():
        body += encode_varint(property_id)
        kind = PROPERTY_TYPES[property_id]
        if kind == _BYTE:
            body.append(value)
        elif kind == _U16:
            body += encode_u16(value)
        elif kind == _U32:
            body += encode_u32(value)
        elif kind == _VARINT:
            body += encode_varint(value)
        elif kind == _STRING:
            body += encode_string(value)
        elif kind == _BINARY:
            body += encode_binary(value)
        else:
            body += encode_string(value[0]) + encode_string(value[1])
    return encode_varint(len(body)) + bytes(body)


def packet(packet_type, flags, body):
    """Fixed header (type, flags, minimal Remaining Length) followed by ``body``."""
    return bytes([(packet_type << 4) | flags]) + encode_varint(len(body)) + bytes(body)


# ---------------------------------------------------------------------------------------------
# Client-to-server packets


def connect(
    client_id,
    version=MQTT_311,
    clean=True,
    keep_alive=60,
    will=None,
    username=None,
    password=None,
    properties=None,
    protocol_name="MQTT",
    flags_override=None,
):
    """CONNECT. ``will`` is a dict: topic, payload, qos, retain, properties (5.0).

    ``flags_override`` replaces the computed Connect Flags byte, for tests of invalid flags.
    """
    flags = 0
    if clean:
        flags |= 0x02
    payload = bytearray(encode_string(client_id))
    if will is not None:
        flags |= 0x04 | (will.get("qos", 0) << 3) | (0x20 if will.get("retain") else 0)
        if version == MQTT_50:
            payload += encode_properties(will.get("properties"))
        payload += encode_string(will["topic"]) + encode_binary(will.get("payload", b""))
    if username is not None:
        flags |= 0x80
        payload += encode_string(username)
    if password is not None:
        flags |= 0x40
        payload += encode_binary(password)
    if flags_override is not None:
        flags = flags_override
    variable = encode_string(protocol_name) + bytes([version, flags]) + encode_u16(keep_alive)
    if version == MQTT_50:
        variable += encode_properties(properties)
    return packet(CONNECT, 0, variable + payload)


def publish(
    topic,
    payload=b"",
    qos=0,
    retain=False,
    dup=False,
    packet_id=None,
    version=MQTT_311,
    properties=None,
):
    """PUBLISH. ``qos`` may be 3 to build the forbidden QoS value."""
    if isinstance(payload, str):
        payload = payload.encode("utf-8")
    flags = (0x08 if dup else 0) | (qos << 1) | (0x01 if retain else 0)
    body = bytearray(encode_string(topic))
    if qos > 0:
        body += encode_u16(packet_id if packet_id is not None else 1)
    if version == MQTT_50:
        body += encode_properties(properties)
    body += payload
    return packet(PUBLISH, flags, body)


def ack(packet_type, packet_id, version=MQTT_311, reason_code=None, properties=None, flags=None):
    """PUBACK, PUBREC, PUBREL or PUBCOMP (PUBREL gets its mandatory flags 0b0010 by default)."""
    if flags is None:
        flags = 0x02 if packet_type == PUBREL else 0x00
    body = bytearray(encode_u16(packet_id))
    if version == MQTT_50 and (reason_code not in (None, 0) or properties):
        body.append(reason_code or 0)
        if properties:
            body += encode_properties(properties)
    return packet(packet_type, flags, body)


def subscribe(packet_id, subscriptions, version=MQTT_311, properties=None, flags=0x02):
    """SUBSCRIBE. ``subscriptions`` is a list of ``(topic_filter, options_byte)``."""
    body = bytearray(encode_u16(packet_id))
    if version == MQTT_50:
        body += encode_properties(properties)
    for topic_filter, options in subscriptions:
        body += encode_string(topic_filter) + bytes([options])
    return packet(SUBSCRIBE, flags, body)


def subscription_options(qos=0, no_local=False, retain_as_published=False, retain_handling=0):
    """Subscription Options byte (5.0 §3.8.3.1); in 3.1.1 only the QoS bits exist."""
    return (
        qos
        | (0x04 if no_local else 0)
        | (0x08 if retain_as_published else 0)
        | (retain_handling << 4)
    )


def unsubscribe(packet_id, topic_filters, version=MQTT_311, properties=None, flags=0x02):
    body = bytearray(encode_u16(packet_id))
    if version == MQTT_50:
        body += encode_properties(properties)
    for topic_filter in topic_filters:
        body += encode_string(topic_filter)
    return packet(UNSUBSCRIBE, flags, body)


def pingreq():
    return packet(PINGREQ, 0, b"")


def disconnect(version=MQTT_311, reason_code=0, properties=None, flags=0):
    body = b""
    if version == MQTT_50 and (reason_code or properties):
        body = bytes([reason_code]) + (encode_properties(properties) if properties else b"")
    return packet(DISCONNECT, flags, body)


def auth(reason_code=0, properties=None):
    return packet(AUTH, 0, bytes([reason_code]) + encode_properties(properties))


# ---------------------------------------------------------------------------------------------
# Decoding


class Reader:
    """Cursor over a packet body; every read checks bounds and raises MalformedPacket."""

    def __init__(self, data):
        self.data = bytes(data)
        self.offset = 0

    def remaining(self):
        return len(self.data) - self.offset

    def take(self, count):
        if count > self.remaining():
            raise MalformedPacket("packet ends %d bytes early" % (count - self.remaining()))
        chunk = self.data[self.offset : self.offset + count]
        self.offset += count
        return chunk

    def byte(self):
        return self.take(1)[0]

    def u16(self):
        return struct.unpack(">H", self.take(2))[0]

    def u32(self):
        return struct.unpack(">I", self.take(4))[0]

    def varint(self):
        value, shift = 0, 0
        for _ in range(4):
            digit = self.byte()
            value |= (digit & 0x7F) << shift
            if not digit & 0x80:
                return value
            shift += 7
        raise MalformedPacket("variable byte integer longer than four bytes")

    def binary(self):
        return self.take(self.u16())

    def string(self):
        raw = self.binary()
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as error:
            raise MalformedPacket("ill-formed UTF-8 in string: %r" % raw) from error

    def properties(self):
        end = self.varint()
        if end > self.remaining():
            raise MalformedPacket("property length runs past the packet")
        stop = self.offset + end
        found = []
        while self.offset < stop:
            property_id = self.varint()
            kind = PROPERTY_TYPES.get(property_id)
            if kind is None:
                raise MalformedPacket("unknown property 0x%02x" % property_id)
            if kind == _BYTE:
                value = self.byte()
            elif kind == _U16:
                value = self.u16()
            elif kind == _U32:
                value = self.u32()
            elif kind == _VARINT:
                value = self.varint()
            elif kind == _STRING:
                value = self.string()
            elif kind == _BINARY:
                value = self.binary()
            else:
                value = (self.string(), self.string())
            found.append((property_id, value))
        if self.offset != stop:
            raise MalformedPacket("property length does not match the properties")
        return found


class Packet:
    """A decoded packet from the server. Fields that a type lacks stay ``None``."""

    def __init__(self, packet_type, flags, raw):
        self.type = packet_type
        self.flags = flags
        self.raw = raw
        self.packet_id = None
        self.reason_code = None
        self.reason_codes = None
        self.properties = []
        self.session_present = None
        self.connack_flags = None
        self.topic = None
        self.payload = None
        self.qos = None
        self.retain = None
        self.dup = None

    @property
    def name(self):
        return PACKET_NAMES.get(self.type, "type %d" % self.type)

    def prop(self, property_id, default=None):
        """The first value of ``property_id``, or ``default``."""
        for found_id, value in self.properties:
            if found_id == property_id:
                return value
        return default

    def props(self, property_id):
        """Every value of ``property_id`` in order (user properties, subscription ids)."""
        return [value for found_id, value in self.properties if found_id == property_id]

    def __repr__(self):
        parts = [self.name]
        if self.type == PUBLISH:
            parts.append(
                "topic=%r qos=%d retain=%d dup=%d payload=%r"
                % (self.topic, self.qos, self.retain, self.dup, self.payload[:40])
            )
        if self.packet_id is not None:
            parts.append("id=%d" % self.packet_id)
        if self.session_present is not None:
            parts.append("sp=%d" % self.session_present)
        if self.reason_code is not None:
            parts.append("rc=0x%02x" % self.reason_code)
        if self.reason_codes is not None:
            parts.append("rcs=%s" % [hex(code) for code in self.reason_codes])
        if self.properties:
            parts.append("props=%r" % (self.properties,))
        return "<" + " ".join(parts) + ">"


_EXPECTED_FLAGS = {
    CONNACK: 0,
    PUBACK: 0,
    PUBREC: 0,
    PUBREL: 2,
    PUBCOMP: 0,
    SUBACK: 0,
    UNSUBACK: 0,
    PINGRESP: 0,
    DISCONNECT: 0,
    AUTH: 0,
}


def split_frame(buffer):
    """Returns ``(first_byte, body, consumed)`` for a complete packet at the start of ``buffer``,
    or ``None`` when more bytes are needed. Raises MalformedPacket on a bad Remaining Length."""
    if len(buffer) < 2:
        return None
    length, shift, index = 0, 0, 1
    while True:
        if index >= len(buffer):
            return None
        digit = buffer[index]
        length |= (digit & 0x7F) << shift
        index += 1
        if not digit & 0x80:
            break
        shift += 7
        if index > 4:
            raise MalformedPacket("remaining length longer than four bytes")
    if len(buffer) < index + length:
        return None
    return buffer[0], bytes(buffer[index : index + length]), index + length


def decode(first_byte, body, version):
    """Decodes one server-to-client packet of protocol ``version``."""
    packet_type, flags = first_byte >> 4, first_byte & 0x0F
    result = Packet(packet_type, flags, bytes([first_byte]) + encode_varint(len(body)) + body)
    expected = _EXPECTED_FLAGS.get(packet_type)
    if expected is not None and flags != expected:
        raise MalformedPacket("%s with reserved flags 0x%x" % (result.name, flags))
    reader = Reader(body)
    v5 = version == MQTT_50
    if packet_type == CONNACK:
        result.connack_flags = reader.byte()
        result.session_present = result.connack_flags & 0x01
        result.reason_code = reader.byte()
        if v5 and reader.remaining():
            result.properties = reader.properties()
    elif packet_type == PUBLISH:
        result.dup = (flags >> 3) & 1
        result.qos = (flags >> 1) & 3
        result.retain = flags & 1
        result.topic = reader.string()
        if result.qos > 0:
            result.packet_id = reader.u16()
        if v5:
            result.properties = reader.properties()
        result.payload = reader.take(reader.remaining())
    elif packet_type in (PUBACK, PUBREC, PUBREL, PUBCOMP):
        result.packet_id = reader.u16()
        result.reason_code = 0
        if v5 and reader.remaining():
            result.reason_code = reader.byte()
            if reader.remaining():
                result.properties = reader.properties()
    elif packet_type in (SUBACK, UNSUBACK):
        result.packet_id = reader.u16()
        if v5:
            result.properties = reader.properties()
        result.reason_codes = list(reader.take(reader.remaining()))
    elif packet_type in (DISCONNECT, AUTH):
        result.reason_code = 0
        if reader.remaining():
            result.reason_code = reader.byte()
            if reader.remaining():
                result.properties = reader.properties()
    elif packet_type == PINGRESP:
        pass
    else:
        raise MalformedPacket("server sent a %s packet" % result.name)
    if reader.remaining():
        raise MalformedPacket("%d unexpected trailing bytes in %s" % (reader.remaining(), result))
    return result
